"""Integration: a 1-worker DeepSpeed LoRA learner on the tiny model of every family whose weight
layout the other learner tests (default family, qwen2_vl) do not cover: a GRPO step, the merged
manifest and the exported HF checkpoint give the learner's own log-probs, and the export loads as
its family with the published weight names. Qwen2.5-VL and Qwen3-VL share Qwen2-VL's layout, vision
module and token-type names (one group here costs ~60 s on the loaded 2-core CI).
"""

import json

import pytest
import torch

from radrl_dist.config.schema import ModelConfig, RadRLConfig
from radrl_dist.learner.batch import collate
from radrl_dist.learner.engine_setup import is_vision_param
from radrl_dist.learner.logprobs import completion_logprobs
from radrl_dist.models.families import FAMILY_NAMES, get_family
from radrl_dist.models.loading import load_policy, load_processor, resolve_model_path
from radrl_dist.models.tokenizer import vision_token_ids
from radrl_dist.weight_sync.manifest import manifest_tensors

pytestmark = pytest.mark.slow
_DEFAULT = get_family(ModelConfig().family)
OTHER_LAYOUTS = [f for f in FAMILY_NAMES if (get_family(f).checkpoint_prefixes, get_family(f).vision_modules,
                                             get_family(f).token_type_key) != (_DEFAULT.checkpoint_prefixes,
                                                                               _DEFAULT.vision_modules, _DEFAULT.token_type_key)]


def _cfg(family: str) -> RadRLConfig:
    return RadRLConfig.model_validate({
        "model": {"family": family},
        "learner": {"num_workers": 1, "zero_stage": 2, "cpus_per_worker": 1, "micro_batch_size": 2, "lr": 1e-2,
                    "lora": {"r": 4, "alpha": 8}},
        "train": {"steps": 2},
    })


def _logprobs(model, cands, suppress):
    with torch.no_grad():
        lp, _ = completion_logprobs(model.eval(), collate(cands, 0), suppress_ids=suppress)
    return [lp[i, : c.completion_ids.shape[0]] for i, c in enumerate(cands)]


@pytest.mark.parametrize("family", OTHER_LAYOUTS)
def test_lora_step_merged_manifest_and_hf_export(family, ray_local, tmp_path):
    from radrl_dist.learner.group import LearnerGroup
    from radrl_dist.learner.hf_export import export_hf_checkpoint
    from radrl_dist.learner.synthetic import synthetic_candidates

    cfg, spec = _cfg(family), get_family(family)
    path = resolve_model_path(cfg.model)
    cands = synthetic_candidates(path, n_prompts=2, group_size=2, max_len=6, seed=0)
    suppress = vision_token_ids(load_processor(path).tokenizer, spec)
    group = LearnerGroup(cfg, path)
    try:
        metrics = group.train_step(cands)
        assert metrics["updates"] == 1 and all(torch.isfinite(torch.tensor(float(v))) for v in metrics.values())
        lora = group.export(kind="lora")
        assert lora.names() and not any(is_vision_param(n, spec) for n in lora.names())  # tower frozen, no adapter on it
        learner = group.logprobs(cands)
        assert not torch.allclose(learner[0], cands[0].behaviour_logps, atol=1e-4)  # the step moved the weights

        merged = group.export(kind="merged")
        model = load_policy(path)
        res = model.load_state_dict({n: t.clone() for n, t in manifest_tensors(merged)}, strict=False)
        assert not res.unexpected_keys and not any(is_vision_param(n, spec) for n in merged.names())
        for a, b in zip(_logprobs(model, cands, suppress), learner):
            assert torch.allclose(a, b, atol=2e-5), (a - b).abs().max()

        out = export_hf_checkpoint(group, cfg, path, load_processor(path), tmp_path / "export")
        exported = resolve_model_path(ModelConfig(family=family, path=str(out)))  # its family, checked
        with open(exported / "model.safetensors", "rb") as f:
            keys = set(json.loads(f.read(int.from_bytes(f.read(8), "little")))) - {"__metadata__"}
        with open(path / "model.safetensors", "rb") as f:
            assert keys == set(json.loads(f.read(int.from_bytes(f.read(8), "little")))) - {"__metadata__"}  # published layout
        for a, b in zip(_logprobs(load_policy(exported), cands, suppress), learner):
            assert torch.allclose(a, b, atol=2e-5), (a - b).abs().max()
    finally:
        group.shutdown()
