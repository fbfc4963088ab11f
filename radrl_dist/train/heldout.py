"""Held-out reward of the current policy: greedy (or sampled) outputs on fixed studies, scored by the pool.

The same studies every time, so START and END numbers of a run compare like with like, study by
study: the gain's confidence interval is a paired bootstrap over studies (each study's mean over its
samples), because studies differ far more from each other than START from END on one study.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from ray.exceptions import ObjectLostError

from radrl_dist.data.schema import Study
from radrl_dist.metrics.stats import paired_comparison
from radrl_dist.models.prompt_encoding import request_for
from radrl_dist.rewards.pool.step_scores import reward_metrics
from radrl_dist.train.assemble import score_requests

HELDOUT_SUMMARY = "heldout_summary.json"  # written at the end of a run: what bench/learning.py reads
GALLERY_STUDIES = 8  # held-out studies whose first sample each evaluation logs (the gallery's rows)

# How the end-of-run line names a metric (`train.heldout_metric`); others are printed as given.
METRIC_LABELS = {"reward": "reward", "iou": "IoU", "iou_radvlm_code": "IoU (soft-F1, RadVLM code)", "mccs": "MCCS"}


@dataclass
class HeldOut:
    mean_reward: float
    per_study: list[float]
    metrics: dict[str, float]
    samples: list[dict]
    study_ids: list[str] = field(default_factory=list)

    def study_values(self, metric: str = "reward") -> dict[str, float]:
        """study_id -> mean over its samples of `metric` (the reward, or one reward component)."""
        return study_means(self.samples, self.study_ids, metric)


def study_means(samples: Sequence[dict], study_ids: Sequence[str], metric: str = "reward") -> dict[str, float]:
    """Each study's mean of `metric` over its samples; a study without samples (its rollout failed)
    scores 0 and is counted, never dropped. A component no sample has is a config error, said once."""
    vals: dict[str, list[float]] = {sid: [] for sid in study_ids}
    for s in samples:
        if metric == "reward":
            v = s["reward"]
        else:
            comps = s.get("components") or {}
            if metric not in comps:
                raise ValueError(f"train.heldout_metric={metric!r} is not a reward component of the held-out "
                                 f"samples (they have: {', '.join(sorted(comps)) or 'none'})")
            v = comps[metric]
        vals.setdefault(s["study_id"], []).append(float(v))
    return {sid: float(np.mean(v)) if v else 0.0 for sid, v in vals.items()}


@dataclass(frozen=True)
class HeldOutGain:
    """START -> END of one held-out metric with the 95% CI of the gain (paired bootstrap over studies)."""

    metric: str
    start: float
    end: float
    gain: float
    ci_low: float
    ci_high: float
    p_bootstrap: float  # one-sided P(gain <= 0) under the bootstrap
    n_studies: int
    n_boot: int
    seed: int

    def line(self) -> str:
        label = METRIC_LABELS.get(self.metric, self.metric)
        return (f"held-out {label}: {self.start:.4f} -> {self.end:.4f} "
                f"(95% CI of the gain: [{self.ci_low:+.4f}, {self.ci_high:+.4f}])")

    def as_dict(self) -> dict:
        return asdict(self)


def paired_gain(start: Mapping[str, float], end: Mapping[str, float], metric: str = "reward",
                n_boot: int = 2000, seed: int = 0) -> HeldOutGain:
    """Paired bootstrap of END - START over the studies both evaluations scored (seeded)."""
    ids = [sid for sid in start if sid in end]
    if not ids:
        raise ValueError("no held-out study was scored at both START and END")
    a = np.array([start[i] for i in ids], dtype=float)
    b = np.array([end[i] for i in ids], dtype=float)
    pc = paired_comparison(a, b, n_boot=n_boot, seed=seed)
    return HeldOutGain(metric, float(a.mean()), float(b.mean()), pc.mean_diff, pc.ci_low, pc.ci_high,
                       pc.p_bootstrap, len(ids), n_boot, seed)


def write_heldout_summary(path: str | Path, gain: HeldOutGain, reward_start: float, reward_end: float,
                          steps: int) -> Path:
    """The finished run's held-out result as one JSON object (atomic: a reader never sees half of it)."""
    p = Path(path)
    row = {**gain.as_dict(), "heldout_reward_start": reward_start, "heldout_reward_end": reward_end, "steps": steps}
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(row, indent=1))
    os.replace(tmp, p)
    return p


def gallery_samples(samples: Sequence[dict], n_studies: int = GALLERY_STUDIES) -> list[dict]:
    """The first sample of each of the first `n_studies` studies: the same studies at START and END,
    so a gallery can show one study's output before and after training side by side."""
    seen: dict[str, dict] = {}
    for s in samples:
        if s["study_id"] not in seen:
            if len(seen) == n_studies:
                break
            seen[s["study_id"]] = s
    return list(seen.values())


def _generate_and_fetch(rollout_pool, reqs: list, n: int, greedy: bool) -> list:
    """The studies' rollouts in request order. A node lost after handing in chunks takes their
    results with it (its object store): generate again on the replicas left (rollout.max_retries)."""
    order = [r.study_id for r in reqs]
    tries = rollout_pool.cfg.max_retries
    for attempt in range(1, tries + 1):
        try:
            return rollout_pool.generate(reqs, n=n, greedy=greedy).fetch(order)
        except ObjectLostError:
            print(f"held-out rollout results lost with their node; generating them again ({attempt}/{tries})", flush=True)
    return rollout_pool.generate(reqs, n=n, greedy=greedy).fetch(order)  # a loss now fails the evaluation


def evaluate_heldout(rollout_pool, reward_pool, studies: Sequence[Study], formats: dict[str, str], box_format: str,
                     tag: str, greedy: bool = True, n: int = 1, prompts: dict | None = None,
                     model_family: str | None = None) -> HeldOut:
    reqs = [request_for(s, formats, box_format) for s in studies]
    rolls = _generate_and_fetch(rollout_pool, reqs, n, greedy)
    score_reqs = score_requests(f"eval-{tag}", studies, rolls, box_format, prompts, model_family)
    results = reward_pool.score(score_reqs)
    by_id = {s.study_id: s for s in studies}
    samples = []
    owners = [(by_id[r.study_id], c) for r in rolls for c in r.candidates]
    for (st, c), r in zip(owners, results):
        samples.append({"study_id": st.study_id, "task": st.task, "text": c.text, "reference": st.reference_report,
                        "reward": r.reward, "components": r.components})
    means = list(study_means(samples, [s.study_id for s in studies]).values())
    metrics = reward_metrics(results, prefix="heldout")
    metrics["heldout/failed_studies"] = float(sum(1 for r in rolls if not r.ok))
    return HeldOut(float(np.mean(means)), means, metrics, samples, [s.study_id for s in studies])
