"""Composite reward: per task, a weighted sum of named components; every component is returned.

    spec = CompositeSpec.from_dict({"report": {"mccs": 0.75, "format_report": 0.25},
                                    "grounding": {"iou": 1.0, "format_answer": 1.0}})
    result = CompositeReward(spec, labeler=build_labeler("rules")).score(batch)
    result.total                # float [N]
    result.components["report/mccs"]   # float [N], NaN for samples of other tasks
    result.diagnostics          # counts: empty outputs, missing answer tags, box parse failures

Empty (whitespace) outputs score 0 on every component (or the component's `empty_value`, e.g.
-3 for neg_radcliq). A component may return (values, {part: values}); parts are logged as
`task/name.part`, never weighted. A missing or malformed answer block is
counted; content rewards then score the raw text or 0 (`on_missing`: "raw" | "zero"). Box text that
cannot be parsed gives no boxes (so IoU 0) and is counted. The total is never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from radrl_dist.boxes.box import Box
from radrl_dist.constants import TASKS
from radrl_dist.labelers.base import Labeler, as_text
from radrl_dist.labelers.rules import RuleLabeler
from radrl_dist.models.families import get_codec
from radrl_dist.rewards.format import MISSING_MODES, extract_answer
from radrl_dist.rewards.registry import check_params, get_reward

DEFAULT_TAGS = {"report": "report", "grounding": "answer"}


@dataclass(frozen=True)
class CompositeSpec:
    """weights[task][component]; params[component] are keyword arguments of that component."""

    weights: Mapping[str, Mapping[str, float]]
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    answer_tags: Mapping[str, str | None] = field(default_factory=lambda: dict(DEFAULT_TAGS))
    on_missing: str = "raw"
    codec: str = "qwen2_vl"

    def __post_init__(self) -> None:
        for task, comps in self.weights.items():
            if task not in TASKS:
                raise ValueError(f"reward spec: unknown task {task!r}; tasks are {TASKS}")
            for name, w in comps.items():
                get_reward(name)  # unknown names fail here, listing the known ones
                if not isinstance(w, (int, float)) or isinstance(w, bool) or not math.isfinite(w):
                    raise ValueError(f"reward spec: weight of {task}/{name} must be a finite number, got {w!r}")
        for name, given in self.params.items():
            check_params(name, given)  # unknown component or parameter: error names reward.params.<c>.<p>
        if self.on_missing not in MISSING_MODES:
            raise ValueError(f"reward spec: on_missing must be one of {MISSING_MODES}, got {self.on_missing!r}")
        get_codec(self.codec)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CompositeSpec:
        """Either {"weights": {...}, "params": ..., ...} or just the weights {"report": {...}, ...}."""
        if "weights" in d:
            return cls(**{k: v for k, v in d.items()})
        return cls(weights=dict(d))


@dataclass
class RewardBatch:
    """Samples to score. `candidate_labels` may be precomputed (e.g. by a labeler actor) on the
    extracted answers; `reference_labels` may come from the data. Missing ones use the labeler."""

    tasks: Sequence[str]
    texts: Sequence[str]
    reference_reports: Sequence[str] | None = None
    reference_labels: np.ndarray | None = None
    boxes: Sequence[Sequence[Box]] | None = None
    image_sizes: Sequence[Sequence[float]] | None = None
    model_sizes: Sequence[Sequence[float] | None] | None = None
    candidate_labels: np.ndarray | None = None
    # {component: {part: float [N]}} computed by the reward pool's actors (model-based rewards)
    pair_scores: Mapping[str, Mapping[str, np.ndarray]] | None = None

    def __len__(self) -> int:
        return len(self.texts)


class TaskView:
    """The samples of one task, with lazily computed features (see registry.py)."""

    def __init__(self, batch: RewardBatch, idx: np.ndarray, task: str, spec: CompositeSpec, owner: CompositeReward):
        self.batch, self.idx, self.task, self.spec, self.owner = batch, idx, task, spec, owner
        self.texts = [as_text(batch.texts[i]) for i in idx]
        self.reference_reports = [as_text(batch.reference_reports[i]) if batch.reference_reports else "" for i in idx]
        self.boxes = [list(batch.boxes[i]) if batch.boxes else [] for i in idx]
        self.image_sizes = [batch.image_sizes[i] if batch.image_sizes else None for i in idx]

    @cached_property
    def _extracted(self) -> tuple[list[str], np.ndarray]:
        tag = self.spec.answer_tags.get(self.task, DEFAULT_TAGS.get(self.task))
        if tag is None:  # plain output format: the whole text is the answer
            return [t.strip() for t in self.texts], np.ones(len(self.texts), dtype=bool)
        pairs = [extract_answer(t, tag, self.spec.on_missing) for t in self.texts]
        return [p[0] for p in pairs], np.array([p[1] for p in pairs], dtype=bool)

    @property
    def answers(self) -> list[str]:
        return self._extracted[0]

    @property
    def answer_ok(self) -> np.ndarray:
        return self._extracted[1]

    @cached_property
    def candidate_labels(self) -> np.ndarray:
        if self.batch.candidate_labels is not None:
            return np.asarray(self.batch.candidate_labels)[self.idx]
        return self.owner.labeler.label(self.answers)

    @cached_property
    def reference_labels(self) -> np.ndarray:
        if self.batch.reference_labels is not None:
            return np.asarray(self.batch.reference_labels)[self.idx]
        if not self.batch.reference_reports:
            raise ValueError("label rewards need reference_labels or reference_reports in the batch")
        return self.owner.labeler.label(self.reference_reports)

    @cached_property
    def _parsed(self) -> tuple[list[list[Box]], np.ndarray]:
        codec = get_codec(self.spec.codec)
        out, ok = [], []
        for j, i in enumerate(self.idx):
            size = self.image_sizes[j]
            if size is None:
                raise ValueError(f"sample {i}: grounding rewards need image_sizes (source width, height)")
            model = self.batch.model_sizes[i] if self.batch.model_sizes else None
            boxes, good = codec.parse(self.answers[j], size, model)
            out.append(boxes)
            ok.append(good)
        return out, np.array(ok, dtype=bool)

    @property
    def parsed_boxes(self) -> list[list[Box]]:
        return self._parsed[0]


@dataclass
class CompositeResult:
    total: np.ndarray
    components: dict[str, np.ndarray]
    diagnostics: dict[str, int]

    def summary(self) -> dict[str, float]:
        """Mean and std of the total and of each component over the samples it applies to, plus
        the diagnostic counts: one flat dict for the metrics log."""
        out: dict[str, float] = {"reward/mean": float(self.total.mean()) if self.total.size else 0.0,
                                 "reward/std": float(self.total.std()) if self.total.size else 0.0}
        for name, v in self.components.items():
            v = v[~np.isnan(v)]
            if v.size:
                out[f"reward/{name}/mean"], out[f"reward/{name}/std"] = float(v.mean()), float(v.std())
        out.update({f"reward/{k}": float(n) for k, n in self.diagnostics.items()})
        return out


class CompositeReward:
    """Scores a RewardBatch under a CompositeSpec. Pure apart from the labeler it is given."""

    def __init__(self, spec: CompositeSpec | Mapping[str, Any], labeler: Labeler | None = None) -> None:
        self.spec = spec if isinstance(spec, CompositeSpec) else CompositeSpec.from_dict(spec)
        self._labeler = labeler

    @property
    def labeler(self) -> Labeler:
        if self._labeler is None:  # the default when no checkpoint is configured
            self._labeler = RuleLabeler()
        return self._labeler

    def score(self, batch: RewardBatch) -> CompositeResult:
        n = len(batch)
        if len(batch.tasks) != n:
            raise ValueError(f"batch has {len(batch.tasks)} tasks but {n} texts")
        total = np.zeros(n)
        components: dict[str, np.ndarray] = {}
        diag = {"samples": n, "empty_output": 0, "missing_answer_tag": 0, "box_parse_failure": 0}
        empty = np.array([not as_text(t).strip() for t in batch.texts], dtype=bool)
        diag["empty_output"] = int(empty.sum())
        tasks = np.asarray(batch.tasks, dtype=object)
        for task in sorted(set(batch.tasks)):
            if task not in self.spec.weights:
                raise ValueError(f"no reward weights for task {task!r}; spec has {sorted(self.spec.weights)}")
            idx = np.flatnonzero(tasks == task)
            view = TaskView(batch, idx, task, self.spec, self)
            live = ~empty[idx]
            for name, w in self.spec.weights[task].items():
                fn = get_reward(name)
                out, parts = fn(view, **dict(self.spec.params.get(name, {}))), {}
                if isinstance(out, tuple):  # (values, {part: values}): parts are logged, not weighted
                    out, parts = out
                vals = np.asarray(out, dtype=np.float64)
                if vals.shape != (len(idx),):
                    raise ValueError(f"reward component {name!r} returned shape {vals.shape}, expected ({len(idx)},)")
                vals = np.where(live & np.isfinite(vals), vals, float(getattr(fn, "empty_value", 0.0)))
                full = np.full(n, np.nan)
                full[idx] = vals
                components[f"{task}/{name}"] = full
                total[idx] += w * vals
                for part, pv in parts.items():
                    full = np.full(n, np.nan)
                    full[idx] = np.asarray(pv, dtype=np.float64)
                    components[f"{task}/{name}.{part}"] = full
            if "_extracted" in view.__dict__:
                diag["missing_answer_tag"] += int((~view.answer_ok & live).sum())
            if "_parsed" in view.__dict__:
                diag["box_parse_failure"] += int((~view._parsed[1] & live).sum())
        return CompositeResult(total, components, diag)
