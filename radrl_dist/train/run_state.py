"""The driver's part of a checkpoint (step, weight version, data cursor, RNG) and finding one to resume.

A run checkpoint is a directory `checkpoints/step_000012/` holding `driver_state.json` (this file's
data), `learner/` (the learner group's state) and `adapter/`. It is complete only once its
`manifest.json` (sizes and sha256 of every other file, radrl_dist.train.checkpoint_manifest) exists:
that is written last, so a run killed mid-save never resumes from a half-written checkpoint, and a
checkpoint whose files changed since is refused by name. `resume: auto` takes the newest checkpoint
that verifies and says which newer ones it skipped and why.
"""

from __future__ import annotations

import ast
import json
import os
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radrl_dist.train.checkpoint_manifest import MANIFEST, CheckpointInvalid, verify_checkpoint

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
    p = Path(ckpt_dir) / STATE_FILE
    try:
        text = p.read_text()
        data = json.loads(text)
    except FileNotFoundError:
        raise CheckpointInvalid(f"{p}: missing") from None
    except (ValueError, UnicodeDecodeError) as exc:
        why = "empty file" if p.stat().st_size == 0 else f"not valid JSON: {exc}"
        raise CheckpointInvalid(f"{p}: {why}") from None
    try:
        return DriverState(**data)
    except TypeError as exc:
        raise CheckpointInvalid(f"{p}: not a driver state ({exc})") from None


def _step_dirs_newest_first(root: Path) -> list[Path]:
    return sorted((p for p in root.glob("step_*") if p.is_dir()), reverse=True)


def latest_checkpoint(root: str | Path) -> Path | None:
    """The newest complete checkpoint under root (those without a manifest are skipped; not verified)."""
    root = Path(root)
    if not root.is_dir():
        return None
    done = [p for p in _step_dirs_newest_first(root) if (p / MANIFEST).is_file()]
    return done[0] if done else None


def prune_checkpoints(root: str | Path, keep_last: int) -> None:
    done = [p for p in _step_dirs_newest_first(Path(root)) if (p / MANIFEST).is_file()]
    for p in done[keep_last:]:
        shutil.rmtree(p, ignore_errors=True)


def open_checkpoint(ckpt_dir: str | Path) -> DriverState:
    """Verify every file against the manifest, then read the driver state; CheckpointInvalid otherwise."""
    verify_checkpoint(ckpt_dir)
    return read_driver_state(ckpt_dir)


@dataclass
class ResumePoint:
    path: Path
    state: DriverState


def resolve_resume(resume: str, root: str | Path) -> tuple[ResumePoint | None, list[str]]:
    """'never' -> None; 'auto' -> the newest checkpoint under root that verifies; else that directory.

    Also returns one line per newer checkpoint that `auto` skipped, with the reason. `auto` starts
    fresh when no checkpoint was ever completed, and refuses when complete ones exist but none
    verifies (starting over silently would discard the run). An explicit directory must verify.
    """
    if resume == "never":
        return None, []
    if resume != "auto":
        p = Path(resume)
        try:
            return ResumePoint(p, open_checkpoint(p)), []
        except CheckpointInvalid as exc:
            raise CheckpointInvalid(f"checkpoint.resume={resume!r}: {exc}") from None
    root = Path(root)
    skipped: list[str] = []
    any_complete = False
    for d in _step_dirs_newest_first(root) if root.is_dir() else []:
        any_complete |= (d / MANIFEST).is_file()
        try:
            return ResumePoint(d, open_checkpoint(d)), skipped
        except CheckpointInvalid as exc:
            skipped.append(f"skipped checkpoint {d.name}: {exc}")
    if any_complete:
        raise CheckpointInvalid(f"checkpoint.resume=auto: no checkpoint under {root} verifies; "
                                + "; ".join(skipped))
    return None, skipped
