"""Learner state for resume, and the adapter in standard PEFT format.

Resume state = DeepSpeed checkpoint (module + optimizer + LR scheduler, ZeRO-partitioned per rank)
+ each rank's RNG state + the caller's `client_state` (step, weight version, data cursor).
The adapter copy (`adapter_config.json` + `adapter_model.safetensors`) is what
`PeftModel.from_pretrained(base, dir)` loads, independent of DeepSpeed and of the world size.
All functions that touch the engine are collective: every rank calls them.

Nothing here unpickles code: the RNG state is JSON, and DeepSpeed's own files are read with
`torch.load(weights_only=True)` (forced for every load DeepSpeed makes), with only the few
DeepSpeed classes its optimizer state holds allow-listed. The run's checkpoint manifest
(radrl_dist.train.checkpoint_manifest) checks the files' digests before any of this runs.
"""

from __future__ import annotations

import base64
import json
import os
import random
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file


def _b64(t: torch.Tensor) -> str:
    return base64.b64encode(t.cpu().numpy().tobytes()).decode("ascii")


def _unb64(s: str) -> torch.Tensor:
    return torch.frombuffer(bytearray(base64.b64decode(s)), dtype=torch.uint8).clone()


def rng_state() -> dict:
    """This process's torch/NumPy/Python (and CUDA) RNG state as JSON-ready data."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {"torch": _b64(torch.get_rng_state()),
             "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
             "python": [version, list(internal), gauss_next]}
    if torch.cuda.is_available():
        state["cuda"] = [_b64(s) for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(_unb64(state["torch"]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_unb64(s) for s in state["cuda"]])


def rng_file(ckpt_dir: str | Path, tag: str, rank: int) -> Path:
    return Path(ckpt_dir) / tag / f"rng_rank{rank}.json"


def deepspeed_safe_globals() -> list:
    """The non-tensor classes DeepSpeed pickles into its optimizer states (ZeRO 1-3, fp16/bf16)."""
    from deepspeed.runtime.fp16.loss_scaler import DynamicLossScaler, LossScaler  # lazy: deepspeed, learner ranks only
    from deepspeed.runtime.zero.config import ZeroStageEnum  # lazy: deepspeed, learner ranks only
    from deepspeed.utils.tensor_fragment import fragment_address  # lazy: deepspeed, learner ranks only

    return [LossScaler, DynamicLossScaler, ZeroStageEnum, fragment_address]


@contextmanager
def weights_only_loads():
    """Every torch.load in this block (DeepSpeed's own pass weights_only=False) loads weights only.

    torch reads TORCH_FORCE_WEIGHTS_ONLY_LOAD at each call; the learner actor loads on one thread.
    """
    before = os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    try:
        with torch.serialization.safe_globals(deepspeed_safe_globals()):
            yield
    finally:
        if before is None:
            os.environ.pop("TORCH_FORCE_WEIGHTS_ONLY_LOAD", None)
        else:
            os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = before


def save_learner_state(engine, ckpt_dir: str | Path, tag: str, rank: int, client_state: dict) -> Path:
    """Collective. Writes <ckpt_dir>/<tag>/ (DeepSpeed files + rng_rank<r>.json) and <ckpt_dir>/latest."""
    engine.save_checkpoint(str(ckpt_dir), tag=tag, client_state=dict(client_state))
    out = Path(ckpt_dir) / tag
    rng_file(ckpt_dir, tag, rank).write_text(json.dumps(rng_state()))
    return out


def load_learner_state(engine, ckpt_dir: str | Path, rank: int, tag: str | None = None) -> dict:
    """Collective. Restores module, optimizer, scheduler and this rank's RNG; returns the client_state."""
    tag = tag or (Path(ckpt_dir) / "latest").read_text().strip()
    rng = rng_file(ckpt_dir, tag, rank)
    if not rng.exists():
        raise FileNotFoundError(f"{rng} missing: was the checkpoint written with the same number of learner ranks?")
    try:
        rng_data = json.loads(rng.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{rng}: not a JSON RNG state ({exc})") from None
    with weights_only_loads():
        try:
            path, client = engine.load_checkpoint(str(ckpt_dir), tag=tag, load_optimizer_states=True,
                                                  load_lr_scheduler_states=True)
        except Exception as exc:  # noqa: BLE001 - DeepSpeed's errors do not say which checkpoint
            raise RuntimeError(f"learner checkpoint {Path(ckpt_dir) / tag} failed to load: "
                               f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    if path is None:
        raise FileNotFoundError(f"no DeepSpeed checkpoint under {ckpt_dir} (tag {tag})")
    set_rng_state(rng_data)
    return client or {}


def write_peft_adapter(peft_config, tensors: list[tuple[str, torch.Tensor]], out_dir: str | Path) -> Path:
    """Rank 0: the gathered adapter tensors (get_peft_model_state_dict names) in PEFT's own format."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file({n: t.contiguous() for n, t in tensors}, str(out / "adapter_model.safetensors"))
    peft_config.save_pretrained(str(out))
    return out
