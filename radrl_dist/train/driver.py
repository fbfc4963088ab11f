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

    with TrainingRun(cfg) as tr:
        return tr.train()
