"""The driver's part of a checkpoint: step, weight version, data cursor and RNG, written atomically.

A run checkpoint is a directory `checkpoints/step_000012/` holding `driver_state.json` (this file's
data) and `learner/` (the learner group's state). It is complete only once `driver_state.json`
exists: it is written last, through a temp file and rename, so a run killed mid-save never resumes
from a half-written checkpoint.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

STATE_FILE = "driver_state.json"


@dataclass
class DriverState:
    step: int = 0  # number of completed GRPO steps
    weight_version: int = 0
    data_cursor: dict[str, Any] = field(default_factory=dict)
    python_rng: Any = None
    numpy_rng: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def capture_rng(state: DriverState) -> None:
    state.python_rng = repr(random.getstate())
    np_state = np.random.get_state()
    state.numpy_rng = [np_state[0], np_state[1].tolist(), *np_state[2:]]


def restore_rng(state: DriverState) -> None:
    if state.python_rng is not None:
        import ast

        random.setstate(_to_tuple(ast.literal_eval(state.python_rng)))
    if state.numpy_rng is not None:
        s = state.numpy_rng
        np.random.set_state((s[0], np.array(s[1], dtype=np.uint32), *s[2:]))


def _to_tuple(x):
    return tuple(_to_tuple(i) for i in x) if isinstance(x, (list, tuple)) else x


def step_dir(root: str | Path, step: int) -> Path:
    return Path(root) / f"step_{step:06d}"


def write_driver_state(ckpt_dir: str | Path, state: DriverState) -> None:
    d = Path(ckpt_dir)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(asdict(state)))
    os.replace(tmp, d / STATE_FILE)


def read_driver_state(ckpt_dir: str | Path) -> DriverState:
    return DriverState(**json.loads((Path(ckpt_dir) / STATE_FILE).read_text()))


def latest_checkpoint(root: str | Path) -> Path | None:
    """The newest complete checkpoint under root (incomplete ones, without driver_state.json, are skipped)."""
    root = Path(root)
    if not root.is_dir():
        return None
    done = sorted(p for p in root.glob("step_*") if (p / STATE_FILE).is_file())
    return done[-1] if done else None


def prune_checkpoints(root: str | Path, keep_last: int) -> None:
    done = sorted(p for p in Path(root).glob("step_*") if (p / STATE_FILE).is_file())
    for p in done[:-keep_last]:
        shutil.rmtree(p, ignore_errors=True)


def resolve_resume(resume: str, root: str | Path) -> Path | None:
    """'never' -> None; 'auto' -> latest complete checkpoint or None; else that directory (must exist)."""
    if resume == "never":
        return None
    if resume == "auto":
        return latest_checkpoint(root)
    p = Path(resume)
    if not (p / STATE_FILE).is_file():
        raise FileNotFoundError(f"checkpoint.resume={resume!r}: no {STATE_FILE} there (incomplete or wrong path)")
    return p
