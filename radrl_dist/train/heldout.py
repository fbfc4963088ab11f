"""Held-out reward of the current policy: greedy (or sampled) outputs on fixed studies, scored by the pool.

The same studies every time, so START and END numbers of a run compare like with like.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from radrl_dist.data.schema import Study
from radrl_dist.rollout.types import RolloutRequest


@dataclass
class HeldOut:
    mean_reward: float
    per_study: list[float]
    metrics: dict[str, float]
    samples: list[dict]


def evaluate_heldout(rollout_pool, reward_pool, studies: Sequence[Study], formats: dict[str, str], box_format: str,
                     tag: str, greedy: bool = True, n: int = 1, prompts: dict | None = None) -> HeldOut:
    from radrl_dist.train.assemble import reward_metrics, score_requests

    reqs = [RolloutRequest(s, formats[s.task]) for s in studies]
    rolls = rollout_pool.generate(reqs, n=n, greedy=greedy).fetch([s.study_id for s in studies])
    score_reqs = score_requests(f"eval-{tag}", studies, rolls, box_format, prompts)
    results = reward_pool.score(score_reqs)
    by_id = {s.study_id: s for s in studies}
    per_study: dict[str, list[float]] = {s.study_id: [] for s in studies}
    samples = []
    owners = [(by_id[r.study_id], c) for r in rolls for c in r.candidates]
    for (st, c), r in zip(owners, results):
        per_study[st.study_id].append(r.reward)
        samples.append({"study_id": st.study_id, "task": st.task, "text": c.text, "reference": st.reference_report,
                        "reward": r.reward, "components": r.components})
    # A study whose rollout failed (e.g. unreadable image) scores 0 and is counted, never dropped.
    study_means = [float(np.mean(v)) if v else 0.0 for v in per_study.values()]
    metrics = reward_metrics(results, prefix="heldout")
    metrics["heldout/failed_studies"] = float(sum(1 for r in rolls if not r.ok))
    return HeldOut(float(np.mean(study_means)), study_means, metrics, samples)
