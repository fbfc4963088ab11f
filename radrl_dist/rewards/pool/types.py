"""What crosses the reward pool's boundary: score requests in, score records out, and its errors.

Plain dataclasses (picklable, no Ray) so the driver, the router and the tests share one shape.
`candidate_id` is the idempotency key: scoring the same id twice returns the first record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from radrl_dist.boxes.box import Box
from radrl_dist.constants import NUM_OBSERVATIONS, TASKS


@dataclass(frozen=True)
class ScoreRequest:
    """One candidate to score. `reference_labels` (14 class ids) skips labelling the reference;
    `image_size` (source width, height) and `reference_boxes` feed the grounding rewards;
    `box_format` picks the box codec (`model_size` only for formats in model-input pixels)."""

    candidate_id: str
    task: str
    text: str
    reference_text: str = ""
    reference_labels: tuple[int, ...] | None = None
    reference_boxes: tuple[Box, ...] = ()
    image_size: tuple[float, float] | None = None
    box_format: str = "qwen2_vl"
    model_size: tuple[float, float] | None = None

    def check(self) -> None:
        """A ValueError naming the candidate and the field at fault (caller bugs, not model output)."""
        if not isinstance(self.candidate_id, str) or not self.candidate_id:
            raise ValueError(f"score request: candidate_id must be a non-empty string, got {self.candidate_id!r}")
        if self.task not in TASKS:
            raise ValueError(f"candidate {self.candidate_id}: task must be one of {TASKS}, got {self.task!r}")
        if self.reference_labels is not None and len(self.reference_labels) != NUM_OBSERVATIONS:
            raise ValueError(f"candidate {self.candidate_id}: reference_labels needs {NUM_OBSERVATIONS} entries, "
                             f"got {len(self.reference_labels)}")
        if self.task == "grounding" and self.image_size is None:
            raise ValueError(f"candidate {self.candidate_id}: grounding needs image_size (source width, height)")

    def capped(self, max_chars: int) -> tuple[ScoreRequest, bool]:
        """(request with `text` cut to `max_chars`, whether it was cut). An output longer than the
        longest response the policy may write is hostile or broken; parsing all of it only costs."""
        if isinstance(self.text, str) and len(self.text) > max_chars:
            return dataclasses.replace(self, text=self.text[:max_chars]), True
        return self, False

    def fingerprint(self) -> tuple:
        """What must match when the same candidate id is sent twice."""
        return (self.task, self.text, self.reference_text, self.reference_labels, self.reference_boxes,
                self.image_size, self.box_format, self.model_size)


@dataclass(frozen=True)
class ScoreResult:
    """The composite reward of one candidate with every component of its task, and who labelled it
    (`labeler_*` None when the task needed no labels)."""

    candidate_id: str
    task: str
    reward: float
    components: dict[str, float]
    labeler_name: str | None = None
    labeler_version: str | None = None
    actor_id: str | None = None
    attempts: int = 0
    flags: dict[str, bool] = field(default_factory=dict)


class RewardPoolError(RuntimeError):
    """A candidate could not be scored (retries exhausted, no live actors); names the candidates."""

    def __init__(self, message: str, candidate_ids: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.candidate_ids = list(candidate_ids)


class RouterLostError(RewardPoolError):
    """The router died and did not come back within its restarts or the client's recovery bound: the
    run stops (its last checkpoint is intact), as when a learner dies."""


class SwapError(RuntimeError):
    """New labeler actors did not start; the old ones keep serving. The message says why."""
