"""Resolve and load the policy: a local checkpoint, or a tiny model built locally for tests/demo.

No code path downloads weights: a `model.path` that is not a local directory is an error. The
checkpoint's family (config.json `model_type`) must be `model.family`: the family spec decides the
stop and vision tokens, box format and weight names the rest of the run uses.
Weights load from safetensors only (`use_safetensors=True`, no remote code): a pickled
`pytorch_model.bin` can run code when unpickled, so a folder holding only pickle weights is refused.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from transformers import AutoProcessor

from radrl_dist.config.schema import ModelConfig
from radrl_dist.models.families import family_of_checkpoint
from radrl_dist.models.families.spec import resolve
from radrl_dist.models.tiny_vlm import ensure_tiny_vlm

_DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}



class ModelDirError(ValueError):
    """A model folder that would need pickle loading, or holds a file that does not parse."""

def resolve_model_path(cfg: ModelConfig) -> Path:
    """The local directory of the policy checkpoint (building the tiny model when path is null)."""
    if cfg.path is None:
        return ensure_tiny_vlm(cfg.family, cfg.tiny, cfg.min_pixels, cfg.max_pixels)
    path = Path(cfg.path).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"model.path={cfg.path!r} is not a local Hugging Face checkpoint directory (no config.json); "
            "radrl_dist never downloads weights: download them yourself and give the directory"
        )
    check_model_dir(path)
    found = family_of_checkpoint(path)
    if found.name != cfg.family:
        raise ValueError(f"model.path={cfg.path!r} holds a {found.name} checkpoint but model.family={cfg.family!r}; "
                         f"set model.family={found.name}")
    return path


PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")


def check_model_dir(path: Path) -> None:
    """Weights as safetensors (pickle files beside them are never read), and every JSON and safetensors
    header readable, so a damaged or swapped file is named here rather than deep inside transformers."""
    weights = sorted(path.glob("*.safetensors"))
    if not weights:
        pickles = sorted(p.name for pat in PICKLE_WEIGHTS for p in path.glob(pat))
        found = f"only pickle files ({', '.join(pickles)})" if pickles else "no *.safetensors file"
        raise ModelDirError(f"model.path={str(path)!r} holds {found}: radrl_dist loads weights from safetensors only "
                         "(unpickling can run code); convert them with safetensors.torch.save_file")
    for f in sorted(path.glob("*.json")):
        try:
            json.loads(f.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ModelDirError(f"{f}: not a JSON file ({type(exc).__name__}: {exc})") from None
    for f in sorted([*path.glob("*.jinja"), *path.glob("*.txt")]):
        try:
            f.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ModelDirError(f"{f}: not a UTF-8 text file ({exc})") from None
    for f in weights:
        try:
            with safe_open(str(f), framework="pt"):
                pass
        except (SafetensorError, OSError) as exc:
            raise ModelDirError(f"{f}: not a safetensors file ({exc})") from None


def load_processor(path: str | Path, min_pixels: int | None = None, max_pixels: int | None = None):
    """AutoProcessor from a local dir, with the pixel bounds of the config (they decide image tokens)
    for families whose processor resizes within bounds (a fixed-size processor keeps its own size)."""
    proc = AutoProcessor.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
    bounded = family_of_checkpoint(path).pixel_bounds
    if bounded and (min_pixels is not None or max_pixels is not None):  # transformers 5: bounds live in `size`
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
    """The family's HF model class for training/scoring/HF generation; clear error when flash-attn is
    asked but absent."""
    if attn_implementation == "flash_attention_2":
        if importlib.util.find_spec("flash_attn") is None:
            raise ImportError(
                "model.attn_implementation=flash_attention_2 but flash-attn is not installed; "
                "install the 'flash' extra on a CUDA machine or use 'sdpa'"
            )
    model_cls = resolve(family_of_checkpoint(path).model_class)
    return model_cls.from_pretrained(
        str(path), dtype=getattr(torch, _DTYPES[dtype]), attn_implementation=attn_implementation, local_files_only=True,
        use_safetensors=True, trust_remote_code=False,
    )
