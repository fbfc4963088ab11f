"""Rank 0's view of the trained weights, gathered ZeRO-3-aware, as named tensors ready to pack.

Three kinds:
  lora   - adapter tensors under `get_peft_model_state_dict` names, plus the LoRA config;
  full   - full fine-tuning: the language-model parameters under HF `state_dict` names
           (the vision tower only when it is trained; a frozen tower is never re-sent);
  merged - a LoRA run exported as full weights: W + scaling * B @ A for every adapted layer, so an
           engine without LoRA support can serve it.
Gathering is collective under ZeRO-3 (`deepspeed.zero.GatheredParameters`), so every rank calls
`gather_export` with the same arguments; only rank 0 gets tensors back. Parameters are gathered in
chunks of at most `chunk_bytes` so a large model is never materialised whole on one rank.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from peft import get_peft_model_state_dict
from peft.tuners.lora import LoraLayer

from radrl_dist.learner.engine_setup import is_vision_param

ExportKind = Literal["lora", "full", "merged"]


@dataclass
class _Unit:
    name: str  # output name
    params: list[torch.nn.Parameter]
    make: Callable[[], torch.Tensor]  # called while `params` are gathered


def _numel(p: torch.nn.Parameter) -> int:
    return int(getattr(p, "ds_numel", p.numel()))


def _base_name(peft_name: str) -> str:
    name = peft_name.removeprefix("base_model.model.")
    return name.replace(".base_layer.", ".")


def _units(model, kind: ExportKind, include_vision: bool, adapter: str = "default") -> list[_Unit]:
    wanted = lambda n: include_vision or not is_vision_param(n)  # noqa: E731
    if kind == "lora":
        return [_Unit(n, [p], lambda p=p: p.data) for n, p in model.named_parameters() if "lora_" in n and wanted(n)]
    if kind == "full":
        return [_Unit(n, [p], lambda p=p: p.data) for n, p in model.named_parameters() if wanted(n)]
    if kind != "merged":
        raise ValueError(f"export kind must be 'lora', 'full' or 'merged', got {kind!r}")
    units, covered = [], set()
    for mname, mod in model.named_modules():
        if isinstance(mod, LoraLayer) and adapter in getattr(mod, "lora_A", {}):
            base = mod.get_base_layer()
            lora_params = list(mod.lora_A[adapter].parameters()) + list(mod.lora_B[adapter].parameters())

            def merged(mod=mod, base=base):
                w = base.weight.data
                return (w.float() + mod.get_delta_weight(adapter).float()).to(w.dtype)

            units.append(_Unit(_base_name(f"{mname}.base_layer.weight"), [base.weight, *lora_params], merged))
            covered.add(id(base.weight))
            covered.update(id(p) for p in lora_params)
    for n, p in model.named_parameters():
        if id(p) not in covered and "lora_" not in n and wanted(n):
            units.append(_Unit(_base_name(n), [p], lambda p=p: p.data))
    return units


def gather_export(
    model, kind: ExportKind, is_rank0: bool, include_vision: bool, chunk_bytes: int = 256 << 20
) -> list[tuple[str, torch.Tensor]]:
    """Collective: rank 0 returns (name, tensor) pairs; other ranks return [].

    Under ZeRO-3 each tensor is a CPU copy (the gathered parameter is freed when its chunk is done).
    Otherwise parameters are whole on every rank, so the tensor is the live parameter data, on
    its device, not copied: pack it (the transport copies it once, straight into its bucket) before
    the next optimizer step.
    """
    import deepspeed  # lazy: deepspeed, only on learner ranks

    units = _units(model, kind, include_vision)
    out: list[tuple[str, torch.Tensor]] = []
    i = 0
    while i < len(units):
        chunk, size = [], 0
        while i < len(units) and (not chunk or size + sum(_numel(p) * 4 for p in units[i].params) <= chunk_bytes):
            chunk.append(units[i])
            size += sum(_numel(p) * 4 for p in units[i].params)
            i += 1
        params = [p for u in chunk for p in u.params]
        with deepspeed.zero.GatheredParameters(params, modifier_rank=None):
            if is_rank0:
                for u in chunk:
                    t = u.make().detach()
                    out.append((u.name, t.to("cpu", copy=True) if any(hasattr(p, "ds_id") for p in u.params) else t))
    if kind == "lora" and is_rank0:
        out = list(get_peft_model_state_dict(model, state_dict=dict(out)).items())
    return out


def lora_config_dict(model, adapter: str = "default") -> dict:
    """The adapter's PEFT config as JSON-able dict (what `adapter_config.json` holds)."""
    cfg = model.peft_config[adapter].to_dict()
    return {k: (sorted(v) if isinstance(v, set) else v) for k, v in cfg.items()}
