"""Pure glue of one GRPO step on the driver: rewards -> advantages, score requests for held-out
evaluation, and the rows logged as samples.

The driver holds refs, not candidates (radrl_dist.rollout.handoff): the rollout actors build a
step's score requests and keep its candidates and prompt inputs; the reward pool returns one reward
per candidate; what is computed here is small (advantages per study) and goes to the learner with
the refs (learner.batch.LearnerHandoff). Kept free of Ray so it is tested alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from radrl_dist.data.schema import Study
from radrl_dist.grpo.advantages import group_advantages
from radrl_dist.models.prompt_inputs import PromptInputs
from radrl_dist.rewards.pool.step_scores import StepScores
from radrl_dist.rewards.pool.types import ScoreRequest
from radrl_dist.rollout.handoff import ChunkRefs, study_score_requests
from radrl_dist.rollout.types import StudyRollout


def score_requests(tag: int | str, studies: Sequence[Study], rollouts: Sequence[StudyRollout], box_format: str,
                   prompts: dict[str, PromptInputs] | None = None, model_family: str | None = None) -> list[ScoreRequest]:
    """Score requests of rollouts the caller holds (held-out evaluation), in rollout then candidate order;
    `model_family` computes model-input sizes from `prompts`."""
    by_id = {s.study_id: s for s in studies}
    return [q for roll in rollouts
            for q in study_score_requests(tag, by_id[roll.study_id], roll, box_format, (prompts or {}).get(roll.study_id),
                                          model_family)]


@dataclass
class StepAdvantages:
    """`by_study`: advantages of the kept groups (what the learner trains on); `rewards_by_study`:
    every scored study's rewards in candidate order (samples); `rewards`: the (groups, G) matrix."""

    by_study: dict[str, list[float]]
    rewards_by_study: dict[str, list[float]]
    rewards: np.ndarray
    zero_spread_fraction: float
    dropped_groups: int

    @property
    def num_candidates(self) -> int:
        """Candidates handed to the learner (kept groups; empty completions included)."""
        return sum(len(v) for v in self.by_study.values())


def step_advantages(chunks: Sequence[ChunkRefs], scores: StepScores, mode: str, eps: float,
                    skip_zero_spread: bool) -> StepAdvantages:
    """Group each chunk's rewards by study (a study is a group) and compute the advantages.

    Every candidate of every successful study must have a score (the pool guarantees it); a count
    that does not add up is a bug, raised here rather than trained around.
    """
    if len(scores.rewards) != len(chunks):
        raise ValueError(f"{len(scores.rewards)} reward arrays for {len(chunks)} rollout chunks")
    rewards_by_study: dict[str, list[float]] = {}
    for ch, rew in zip(chunks, scores.rewards):
        if sum(ch.candidates_per_study) != len(rew):
            raise ValueError(f"chunk {ch.study_ids}: {len(rew)} rewards for {sum(ch.candidates_per_study)} candidates")
        start = 0
        for sid, n in zip(ch.study_ids, ch.candidates_per_study):
            if n:
                rewards_by_study[sid] = [float(v) for v in rew[start : start + n]]
            start += n
    ids = list(rewards_by_study)
    if not ids:
        return StepAdvantages({}, {}, np.zeros((0, 0)), 0.0, 0)
    rewards = np.array([rewards_by_study[s] for s in ids], dtype=np.float64)
    adv = group_advantages(torch.as_tensor(rewards), mode=mode, eps=eps, skip_zero_spread=skip_zero_spread)
    by_study = {s: adv.advantages[i].tolist() for i, s in enumerate(ids) if bool(adv.keep[i])}
    return StepAdvantages(by_study, rewards_by_study, rewards, adv.zero_spread_fraction, int((~adv.keep).sum()))


def sample_rows(studies: Sequence[Study], rollouts: dict[str, StudyRollout], rewards: dict[str, list[float]],
                limit: int) -> list[dict]:
    """The first `limit` candidates in study order as samples.jsonl rows (text, reference, reward)."""
    rows = []
    for s in studies:
        roll = rollouts.get(s.study_id)
        if roll is None or s.study_id not in rewards:
            continue
        for c, r in zip(roll.candidates, rewards[s.study_id]):
            rows.append({"study_id": s.study_id, "task": s.task, "reference": s.reference_report, "text": c.text,
                         "reward": r, "version": c.weight_version})
            if len(rows) == limit:
                return rows
    return rows
