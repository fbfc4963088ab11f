"""`run(cfg)`: what `python -m radrl_dist.train` calls. The loop itself lives in loop.py."""

from __future__ import annotations

from dataclasses import dataclass, field

from radrl_dist.config.schema import RadRLConfig


class LearnerDiedError(RuntimeError):
    """A learner worker died: the run stops; the last checkpoint is intact."""


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

    if cfg.train.warm_start_sft:
        cfg = warm_start(cfg)

    with TrainingRun(cfg) as tr:
        return tr.train()


def warm_start(cfg: RadRLConfig) -> RadRLConfig:
    """Run the SFT stage (or reuse its finished checkpoint) and point the policy at it."""
    from pathlib import Path

    from radrl_dist.sft.trainer import run_sft

    out = Path(cfg.sft.output_dir)
    if (out / "sft_summary.json").is_file() and cfg.checkpoint.resume != "never":
        print(f"warm start: reusing SFT checkpoint {out}", flush=True)
    else:
        run_sft(cfg)
    return cfg.model_copy(update={"model": cfg.model.model_copy(update={"path": str(out)})})
