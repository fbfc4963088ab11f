"""What a rollout chunk hands on, by reference: the driver gets small metadata holding object refs.

The rollout actor has already encoded each study's prompt (image included) for its engine, so it
returns those inputs with the candidates and the chunk's score requests as separate objects, and the
pool fetches only a small summary: a `ChunkRefs` holds the rest by reference. The reward pool reads
the score requests (texts, reference labels, boxes; no pixel tensors), the learner workers read the
candidates and prompt inputs, both straight from the object store. Why: a driver that pulls every
candidate, encodes every image again and ships the pixels to the learner does work that grows with
studies x G (issue 21).

Who owns what: the rollout actor *returns* these objects (RolloutWorker.generate_for_learner), so
the caller (the driver) owns them and they survive the replica that made them. Ray keeps a returned
object in the producing node's object store, except objects under its inline limit
(`max_direct_call_object_size`, 100 KiB unless the cluster sets RAY_max_direct_call_object_size),
which it ships inline to the owner's in-process store; the driver never deserialises them, and the
pool reports their total as `payload_inline_bytes` (logged as `driver/payload_inline_bytes`).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

from radrl_dist.data.schema import Study
from radrl_dist.models.families import get_codec
from radrl_dist.models.prompt_inputs import PromptInputs, model_input_size
from radrl_dist.rewards.pool.types import ScoreRequest
from radrl_dist.rollout.types import StudyRollout

INLINE_LIMIT = 100 * 1024  # Ray's default max_direct_call_object_size: smaller returns go inline


def payload_size(obj: Any) -> int:
    """Serialised size of a returned payload (pickle protocol 5, as Ray ships plain Python objects)."""
    return len(pickle.dumps(obj, protocol=5))


def candidate_id(tag: int | str, study_id: str, sample_index: int) -> str:
    """Unique per step (or evaluation tag) and sample: the reward pool's idempotency key."""
    return f"s{tag}/{study_id}/{sample_index}"


def study_score_requests(tag: int | str, study: Study, rollout: StudyRollout, box_format: str,
                         prompt: PromptInputs | None = None, model_family: str | None = None) -> list[ScoreRequest]:
    """One study's candidates as score requests, in candidate order. `prompt` and the model's family give the model-input size that box formats in model-input pixels
    (qwen2_5_vl) need; other formats ignore them."""
    msize = None
    if prompt is not None and get_codec(box_format).needs_model_size:
        if model_family is None:
            raise ValueError(f"box format {box_format} needs the model-input size: pass model_family with the prompt")
        msize = model_input_size(prompt, model_family)
    labels = None if study.reference_labels is None else tuple(int(v) for v in study.reference_labels)
    size = tuple(float(v) for v in study.image_size) if study.task == "grounding" else None
    return [ScoreRequest(candidate_id=candidate_id(tag, study.study_id, c.sample_index), task=study.task, text=c.text,
                         reference_text=study.reference_report, reference_labels=labels,
                         reference_boxes=tuple(study.boxes), image_size=size, box_format=box_format, model_size=msize)
            for c in rollout.candidates]


@dataclass(frozen=True)
class ChunkRefs:
    """One served chunk: its studies (request order), how many candidates each has (0: failed), and
    refs to what stays in the object store. Nothing in it grows with G or generated tokens."""

    study_ids: list[str]
    candidates_per_study: list[int]
    rollouts: Any  # ObjectRef -> list[StudyRollout]: texts, token ids, behaviour log-probs
    prompts: Any  # ObjectRef -> dict[study_id, PromptInputs]: prompt ids and pixel tensors (ok studies)
    score_requests: Any  # ObjectRef -> list[ScoreRequest]: study order, then candidate order

    @property
    def learner_part(self) -> tuple[Any, Any]:
        """(rollouts, prompts) refs: what a learner worker fetches to build its candidates."""
        return self.rollouts, self.prompts
