"""Merge a PEFT LoRA adapter into base weights on the receiving side: W = W0 + scale * B @ A.

Why merging: vLLM 0.32's LoRARequest needs an adapter directory on disk (no in-memory tensors), and a
merged model runs at base speed with the same numerics as HF. The receiver keeps W0 for every
targeted weight, so each new adapter version is merged against the base, never on top of the last.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch

_PREFIX = "base_model.model."


def base_name(lora_name: str) -> tuple[str, str]:
    """('model.language_model.layers.0.self_attn.q_proj.weight', 'A'|'B') of a PEFT tensor name."""
    name = lora_name[len(_PREFIX):] if lora_name.startswith(_PREFIX) else lora_name
    for part in ("A", "B"):
        tag = f".lora_{part}."
        if tag in name:
            head, tail = name.split(tag, 1)
            # PEFT names are '<module>.lora_A.weight' or '<module>.lora_A.<adapter>.weight'
            return f"{head}.weight", part
    raise ValueError(f"LoRA tensor {lora_name!r} is neither lora_A nor lora_B (embedding/bias adapters are not supported)")


def lora_scale(lora_config: Mapping[str, Any]) -> float:
    r, alpha = int(lora_config["r"]), float(lora_config["lora_alpha"])
    return alpha / math.sqrt(r) if lora_config.get("use_rslora") else alpha / r


def lora_deltas(tensors: Iterable[tuple[str, torch.Tensor]], lora_config: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """{base weight name: scale * B @ A} (float32) from named adapter tensors."""
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for name, t in tensors:
        base, part = base_name(name)
        pairs.setdefault(base, {})[part] = t
    scale = lora_scale(lora_config)
    out = {}
    for base, ab in pairs.items():
        if set(ab) != {"A", "B"}:
            raise ValueError(f"LoRA manifest has lora_{''.join(ab)} but not both A and B for {base}")
        out[base] = scale * (ab["B"].float() @ ab["A"].float())
    return out


def merge_into(base: Mapping[str, torch.Tensor], deltas: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """{name: W0 + delta} in W0's dtype; every delta must name a known base weight of the same shape."""
    unknown = sorted(set(deltas) - set(base))
    if unknown:
        raise KeyError(f"LoRA targets weights the model does not have: {unknown[:5]}{' ...' if len(unknown) > 5 else ''}")
    merged = {}
    for name, d in deltas.items():
        w0 = base[name]
        if tuple(w0.shape) != tuple(d.shape):
            raise ValueError(f"LoRA delta for {name} has shape {tuple(d.shape)}, weight has {tuple(w0.shape)}")
        merged[name] = (w0.float() + d.to(w0.device)).to(w0.dtype)  # deltas are CPU; an engine's W0 may be on GPU
    return merged
