"""The learner's weights as an HF checkpoint directory (model + tokenizer + processor) that a later
stage loads with `model.path`: SFT's output, and a GRPO run's final model.

Here, in the learner, because both stages call it and neither may import the other for it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from radrl_dist.config.schema import RadRLConfig
from radrl_dist.models.checkpoint_layout import write_published_layout
from radrl_dist.models.loading import load_policy
from radrl_dist.weight_sync.manifest import manifest_tensors


def export_hf_checkpoint(learner, cfg: RadRLConfig, base_path: Path, processor, out_dir: Path) -> Path:
    """Merged weights -> an HF checkpoint dir (model + tokenizer + processor) that GRPO loads."""
    kind = "merged" if cfg.learner.lora.enabled else "full"
    manifest = learner.export(kind)
    model = load_policy(base_path, "float32", cfg.model.attn_implementation)
    state = model.state_dict()
    for name, t in manifest_tensors(manifest):
        if name not in state:
            raise KeyError(f"exported tensor {name!r} is not a parameter of the base model")
        state[name].copy_(t)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    write_published_layout(tmp, cfg.model.family)  # weight names as downloaded checkpoints have them (vLLM loads those)
    processor.save_pretrained(tmp)
    if (base_path / "radrl_tiny.json").exists():
        shutil.copy(base_path / "radrl_tiny.json", tmp / "radrl_tiny.json")
    if cfg.learner.lora.enabled:
        learner.save_adapter(str(tmp / "adapter"))
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return out_dir
