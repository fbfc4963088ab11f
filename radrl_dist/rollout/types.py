"""What crosses the rollout boundary: per-study results of G candidates out (requests in are
`radrl_dist.models.prompt_encoding.RolloutRequest`, shared with the learner and SFT).

Plain dataclasses (picklable, no torch) so they travel through Ray's object store cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SampledCompletion:
    """One completion an engine sampled: text, token ids, behaviour log-probs (the learner's
    `TrainingSample` is built from it plus the prompt inputs and an advantage).

    `logprobs[i]` is the behaviour log-prob of `token_ids[i]`: log-softmax of the logits the sampler
    drew from (vision tokens masked, divided by the temperature; greedy: temperature 1).
    `token_ids` include the EOS token when finish_reason is "stop".
    """

    study_id: str
    task: str
    sample_index: int
    text: str
    token_ids: list[int]
    logprobs: list[float]
    prompt_token_ids: list[int]
    finish_reason: str  # "stop" | "length"
    weight_version: int
    engine_id: str
    gen_seconds: float  # wall time of the engine call that made it, shared by its batch

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)


@dataclass
class StudyRollout:
    """The G candidates of one study, or the reason there are none (a per-study error, never silent)."""

    study_id: str
    candidates: list[SampledCompletion] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class StaleVersionError(RuntimeError):
    """An engine was asked to serve a weight version it has not loaded (e.g. after a restart)."""

    def __init__(self, served: int, wanted: int, engine_id: str):
        super().__init__(f"engine {engine_id} serves weight version {served}, step wants {wanted}")
        self.served, self.wanted, self.engine_id = served, wanted, engine_id

    def __reduce__(self):  # picklable across Ray (the default would call __init__ with the message only)
        return (StaleVersionError, (self.served, self.wanted, self.engine_id))


class RolloutError(RuntimeError):
    """The pool could not produce candidates for some studies within its retry budget."""
