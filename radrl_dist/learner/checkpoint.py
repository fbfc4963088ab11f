"""Learner state for resume, and the adapter in standard PEFT format.

Resume state = DeepSpeed checkpoint (module + optimizer + LR scheduler, ZeRO-partitioned per rank)
+ each rank's RNG state + the caller's `client_state` (step, weight version, data cursor).
The adapter copy (`adapter_config.json` + `adapter_model.safetensors`) is what
`PeftModel.from_pretrained(base, dir)` loads, independent of DeepSpeed and of the world size.
All functions that touch the engine are collective: every rank calls them.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_learner_state(engine, ckpt_dir: str | Path, tag: str, rank: int, client_state: dict) -> Path:
    """Collective. Writes <ckpt_dir>/<tag>/ (DeepSpeed files + rng_rank<r>.pt) and <ckpt_dir>/latest."""
    engine.save_checkpoint(str(ckpt_dir), tag=tag, client_state=dict(client_state))
    out = Path(ckpt_dir) / tag
    torch.save(rng_state(), out / f"rng_rank{rank}.pt")
    return out


def load_learner_state(engine, ckpt_dir: str | Path, rank: int, tag: str | None = None) -> dict:
    """Collective. Restores module, optimizer, scheduler and this rank's RNG; returns the client_state."""
    path, client = engine.load_checkpoint(str(ckpt_dir), tag=tag, load_optimizer_states=True,
                                          load_lr_scheduler_states=True)
    if path is None:
        raise FileNotFoundError(f"no DeepSpeed checkpoint under {ckpt_dir} (tag {tag or 'latest'})")
    tag = tag or (Path(ckpt_dir) / "latest").read_text().strip()
    rng = Path(ckpt_dir) / tag / f"rng_rank{rank}.pt"
    if not rng.exists():
        raise FileNotFoundError(f"{rng} missing: was the checkpoint written with the same number of learner ranks?")
    set_rng_state(torch.load(rng, weights_only=False))
    return client or {}


def write_peft_adapter(peft_config, tensors: list[tuple[str, torch.Tensor]], out_dir: str | Path) -> Path:
    """Rank 0: the gathered adapter tensors (get_peft_model_state_dict names) in PEFT's own format."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file({n: t.contiguous() for n, t in tensors}, str(out / "adapter_model.safetensors"))
    peft_config.save_pretrained(str(out))
    return out
