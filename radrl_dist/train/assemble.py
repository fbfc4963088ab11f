"""Pure glue of one GRPO step: candidates -> score requests, rewards -> advantages -> learner batch.

Kept free of Ray so it is tested alone; the driver only moves what these functions return.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from radrl_dist.data.schema import Study
from radrl_dist.grpo.advantages import group_advantages
from radrl_dist.learner.batch import Candidate as TrainCandidate
from radrl_dist.learner.batch import PromptInputs
from radrl_dist.rewards.pool.types import ScoreRequest, ScoreResult
from radrl_dist.rollout.types import StudyRollout


def unique_units(studies: Sequence[Study]) -> list[Study]:
    """Studies keyed per (study, task) for one step: rows of the same study with two tasks, or one row
    drawn twice when an epoch wraps, become distinct units ("<id>|<task>", then "#k" for repeats)."""
    from dataclasses import replace

    seen: dict[str, int] = {}
    out = []
    for s in studies:
        key = f"{s.study_id}|{s.task}"
        k = seen.get(key, 0)
        seen[key] = k + 1
        out.append(replace(s, study_id=key if k == 0 else f"{key}#{k}"))
    return out


def candidate_id(step: int | str, study_id: str, sample_index: int) -> str:
    """Unique per step and sample: the reward pool's idempotency key."""
    return f"s{step}/{study_id}/{sample_index}"


def model_input_size(prompt: PromptInputs | None, patch_size: int = 14) -> tuple[float, float] | None:
    """(width, height) of the resized model input, for box formats in model-input pixels (Qwen2.5-VL)."""
    if prompt is None or prompt.image_grid_thw is None:
        return None
    from radrl_dist.boxes.codecs import model_size_from_grid

    return model_size_from_grid(prompt.image_grid_thw[0].tolist(), patch_size)


def score_requests(step: int | str, studies: Sequence[Study], rollouts: Sequence[StudyRollout], family: str,
                   prompts: dict[str, PromptInputs] | None = None) -> list[ScoreRequest]:
    by_id = {s.study_id: s for s in studies}
    out = []
    for roll in rollouts:
        st = by_id[roll.study_id]
        msize = model_input_size((prompts or {}).get(st.study_id)) if family == "qwen2_5_vl" else None
        for c in roll.candidates:
            out.append(ScoreRequest(
                candidate_id=candidate_id(step, st.study_id, c.sample_index), task=st.task, text=c.text,
                reference_text=st.reference_report,
                reference_labels=None if st.reference_labels is None else tuple(int(v) for v in st.reference_labels),
                reference_boxes=tuple(st.boxes), image_size=tuple(float(v) for v in st.image_size) if st.task == "grounding" else None,
                model_family=family, model_size=msize))
    return out


@dataclass
class StepBatch:
    candidates: list[TrainCandidate]
    rewards: np.ndarray  # (groups, G)
    zero_spread_fraction: float
    dropped_groups: int


def build_train_batch(step: int, rollouts: Sequence[StudyRollout], results: Sequence[ScoreResult],
                      prompts: dict[str, PromptInputs], mode: str, eps: float, skip_zero_spread: bool) -> StepBatch:
    """Group rewards by study, compute advantages, and make the learner's candidates.

    Every candidate of every successful study must have a score (the pool guarantees it); a missing
    one is a bug, raised here rather than trained around.
    """
    by_cid = {r.candidate_id: r for r in results}
    groups = [r for r in rollouts if r.ok and r.candidates]
    rewards = np.array([[by_cid[candidate_id(step, g.study_id, c.sample_index)].reward for c in g.candidates] for g in groups],
                       dtype=np.float64)
    adv = group_advantages(torch.as_tensor(rewards), mode=mode, eps=eps, skip_zero_spread=skip_zero_spread)
    cands = []
    for gi, g in enumerate(groups):
        if not bool(adv.keep[gi]):
            continue
        prompt = prompts[g.study_id]
        if list(prompt.input_ids.tolist()) != list(g.candidates[0].prompt_token_ids):
            raise RuntimeError(f"study {g.study_id}: learner prompt tokens differ from the engine's; "
                               "processor or chat template mismatch")
        for ci, c in enumerate(g.candidates):
            if not c.token_ids:
                continue  # an empty completion carries no token to train on (its reward still counted)
            cands.append(TrainCandidate(prompt=prompt, completion_ids=torch.tensor(c.token_ids, dtype=torch.long),
                                        behaviour_logps=torch.tensor(c.logprobs, dtype=torch.float32),
                                        advantage=float(adv.advantages[gi, ci]), version=c.weight_version, group=gi,
                                        meta={"study_id": g.study_id, "sample_index": c.sample_index}))
    return StepBatch(cands, rewards, adv.zero_spread_fraction, int((~adv.keep).sum()))


def reward_metrics(results: Sequence[ScoreResult], prefix: str = "reward") -> dict[str, float]:
    """Mean/std of the total and of every component, per task; labeler versions and failure counts."""
    out: dict[str, float] = {}
    if not results:
        return out
    total = np.array([r.reward for r in results], dtype=np.float64)
    out[f"{prefix}/mean"], out[f"{prefix}/std"] = float(total.mean()), float(total.std())
    comps: dict[str, list[float]] = defaultdict(list)
    for r in results:
        for k, v in r.components.items():
            comps[k].append(float(v))
        for k, v in (r.flags or {}).items():
            comps[f"flag/{k}"].append(float(bool(v)))
    for k, vals in sorted(comps.items()):
        arr = np.array(vals)
        out[f"{prefix}/{k}/mean"] = float(arr.mean())
        if not k.startswith("flag/"):
            out[f"{prefix}/{k}/std"] = float(arr.std())
    return out
