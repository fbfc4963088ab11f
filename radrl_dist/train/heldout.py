"""Held-out reward of the current policy: greedy (or sampled) outputs on fixed studies, scored by the pool.

The same studies every time, so START and END numbers of a run compare like with like.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from radrl_dist.data.schema import Study
from radrl_dist.rewards.pool.types import ScoreRequest
from radrl_dist.rollout.types import RolloutRequest


@dataclass
class HeldOut:
    mean_reward: float
    per_study: list[float]
    metrics: dict[str, float]
    samples: list[dict]


def evaluate_heldout(rollout_pool, reward_pool, studies: Sequence[Study], formats: dict[str, str], family: str,
                     tag: str, greedy: bool = True, n: int = 1) -> HeldOut:
    from radrl_dist.train.assemble import reward_metrics

    reqs = [RolloutRequest(s, formats[s.task]) for s in studies]
    rolls = rollout_pool.generate(reqs, n=n, greedy=greedy).fetch([s.study_id for s in studies])
    score_reqs, owners = [], []
    for st, roll in zip(studies, rolls):
        for c in roll.candidates:
            score_reqs.append(ScoreRequest(
                candidate_id=f"eval-{tag}/{st.study_id}/{c.sample_index}", task=st.task, text=c.text,
                reference_text=st.reference_report,
                reference_labels=None if st.reference_labels is None else tuple(int(v) for v in st.reference_labels),
                reference_boxes=tuple(st.boxes),
                image_size=tuple(float(v) for v in st.image_size) if st.task == "grounding" else None,
                model_family=family))
            owners.append((st, c))
    results = reward_pool.score(score_reqs)
    per_study: dict[str, list[float]] = {s.study_id: [] for s in studies}
    samples = []
    for (st, c), r in zip(owners, results):
        per_study[st.study_id].append(r.reward)
        samples.append({"study_id": st.study_id, "task": st.task, "text": c.text, "reference": st.reference_report,
                        "reward": r.reward, "components": r.components})
    # A study whose rollout failed (e.g. unreadable image) scores 0 and is counted, never dropped.
    study_means = [float(np.mean(v)) if v else 0.0 for v in per_study.values()]
    metrics = reward_metrics(results, prefix="heldout")
    metrics["heldout/failed_studies"] = float(sum(1 for r in rolls if not r.ok))
    return HeldOut(float(np.mean(study_means)), study_means, metrics, samples)
