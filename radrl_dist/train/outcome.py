"""How a training run ends: its result, or the error that stopped it.

Its own module so the loop (which raises and returns these) and the driver and CLI (which catch and
print them) share them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class RunStoppedError(RuntimeError):
    """A role the run cannot go on without is gone: the run stops; the last checkpoint is intact."""


class LearnerDiedError(RunStoppedError):
    """A learner worker died."""


class RewardPoolLostError(RunStoppedError):
    """The reward router died and did not come back within its restarts."""


class RolloutLostError(RunStoppedError):
    """A step's rollout results were lost with their node each time it was generated (rollout.max_retries)."""


@dataclass
class TrainResult:
    ok: bool
    steps_done: int
    heldout_start: float | None = None
    heldout_end: float | None = None
    output_dir: str = ""
    history: list[dict] = field(default_factory=list)
