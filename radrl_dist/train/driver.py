"""`run(cfg)`: what `python -m radrl_dist.train` calls. The loop itself lives in loop.py."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from radrl_dist.config.schema import RadRLConfig
from radrl_dist.train.data_check import check_run_data
from radrl_dist.train.run_dir import prepare_output_dir, resolve_output_dir


class RunStoppedError(RuntimeError):
    """A role the run cannot go on without is gone: the run stops; the last checkpoint is intact."""


class LearnerDiedError(RunStoppedError):
    """A learner worker died."""


class RewardPoolLostError(RunStoppedError):
    """The reward router died and did not come back within its restarts."""


@dataclass
class TrainResult:
    ok: bool
    steps_done: int
    heldout_start: float | None = None
    heldout_end: float | None = None
    output_dir: str = ""
    history: list[dict] = field(default_factory=list)


def run(cfg: RadRLConfig) -> TrainResult:
    from radrl_dist.train.loop import TrainingRun

    out = prepare_output_dir(cfg.logging.output_dir, cfg.logging.run_root, cfg.checkpoint.resume)
    cfg = cfg.model_copy(update={"logging": cfg.logging.model_copy(update={"output_dir": str(out)})})
    cfg = check_run_data(cfg)  # every bad row named before any actor starts
    if cfg.train.warm_start_sft:
        cfg = warm_start(cfg)

    with TrainingRun(cfg) as tr:
        return tr.train()


def warm_start(cfg: RadRLConfig) -> RadRLConfig:
    """Run the SFT stage (or reuse its finished checkpoint) and point the policy at it."""
    from radrl_dist.sft.trainer import run_sft

    out = resolve_output_dir(cfg.sft.output_dir, cfg.logging.run_root, os.environ, Path.cwd())
    cfg = cfg.model_copy(update={"sft": cfg.sft.model_copy(update={"output_dir": str(out)})})
    if (out / "sft_summary.json").is_file() and cfg.checkpoint.resume != "never":
        print(f"warm start: reusing SFT checkpoint {out}", flush=True)
    else:
        run_sft(cfg)
    return cfg.model_copy(update={"model": cfg.model.model_copy(update={"path": str(out)})})
