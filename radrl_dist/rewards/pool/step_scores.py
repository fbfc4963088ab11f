"""A training step's scores, summarised beside the router: one reward per candidate and the step's
metric means, not one record per candidate.

Why: the driver needs each candidate's reward (advantages) and the step's reward metrics. The
records (components, flags, provenance per candidate) grow with studies x G; `score_step` runs as a
small Ray task that sends each chunk's score requests to the router *by reference* (the rollout
actors put them in the object store), receives the records itself, and hands the driver only this
summary. The task holds no state: a retry scores the same candidate ids, which the router answers
from its cache.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import ray

from radrl_dist.rewards.pool.types import ScoreResult


@dataclass
class StepScores:
    """`rewards[k]`: chunk k's rewards in its score-request order (float64, 8 bytes a candidate);
    `metrics`: `reward_metrics` of every record of the step."""

    rewards: list[np.ndarray]
    metrics: dict[str, float]
    labeler_version: str | None
    scored: int


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


def summarise(chunks: Sequence[Sequence[ScoreResult]]) -> StepScores:
    """The StepScores of per-chunk record lists (pure; what `score_step` returns)."""
    flat = [r for c in chunks for r in c]
    return StepScores([np.array([r.reward for r in c], dtype=np.float64) for c in chunks], reward_metrics(flat),
                      flat[0].labeler_version if flat else None, len(flat))


@ray.remote(num_cpus=0)
def score_step(router: Any, request_refs: list[Any]) -> StepScores:
    """Score each chunk's requests (refs, resolved in the router, not here) and summarise the records.

    `request_refs` arrives wrapped in a list so Ray does not resolve it into this task."""
    calls = [router.score.options(max_task_retries=-1).remote(ref) for ref in request_refs]
    return summarise(ray.get(calls))
