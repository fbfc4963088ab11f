"""Resolve and load the policy: a local checkpoint, or a tiny model built locally for tests/demo.

No code path downloads weights: a `model.path` that is not a local directory is an error.
"""

from __future__ import annotations

from pathlib import Path

from radrl_dist.config.schema import ModelConfig

_DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


def resolve_model_path(cfg: ModelConfig) -> Path:
    """The local directory of the policy checkpoint (building the tiny model when path is null)."""
    if cfg.path is None:
        from radrl_dist.models.tiny_vlm import ensure_tiny_vlm

        return ensure_tiny_vlm(cfg.family, cfg.tiny, cfg.min_pixels, cfg.max_pixels)
    path = Path(cfg.path).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"model.path={cfg.path!r} is not a local Hugging Face checkpoint directory (no config.json); "
            "radrl_dist never downloads weights: download them yourself and give the directory"
        )
    return path


def load_processor(path: str | Path, min_pixels: int | None = None, max_pixels: int | None = None):
    """AutoProcessor from a local dir, with the pixel bounds of the config (they decide image tokens)."""
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(str(path), local_files_only=True)
    if min_pixels is not None or max_pixels is not None:  # transformers 5: pixel bounds live in `size`
        ip = proc.image_processor
        size = dict(ip.size or {})
        size["shortest_edge"] = min_pixels if min_pixels is not None else size.get("shortest_edge")
        size["longest_edge"] = max_pixels if max_pixels is not None else size.get("longest_edge")
        ip.size = size
        for attr in ("min_pixels", "max_pixels"):  # deprecated mirrors; keep them equal or unset
            if getattr(ip, attr, None) is not None:
                setattr(ip, attr, None)
    proc.tokenizer.padding_side = "left"
    return proc


def load_policy(path: str | Path, dtype: str = "float32", attn_implementation: str = "sdpa"):
    """The HF model for training/scoring/HF generation; clear error when flash-attn is asked but absent."""
    import torch
    from transformers import AutoModelForImageTextToText

    if attn_implementation == "flash_attention_2":
        import importlib.util

        if importlib.util.find_spec("flash_attn") is None:
            raise ImportError(
                "model.attn_implementation=flash_attention_2 but flash-attn is not installed; "
                "install the 'flash' extra on a CUDA machine or use 'sdpa'"
            )
    return AutoModelForImageTextToText.from_pretrained(
        str(path), dtype=getattr(torch, _DTYPES[dtype]), attn_implementation=attn_implementation, local_files_only=True
    )
