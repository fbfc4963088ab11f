"""The composite reward over a batch of score requests, beside the router (pure, no Ray): which texts
need labels, then labels and pair scores -> one ScoreResult per request. (Not train/assemble.py, which
turns a GRPO step's rewards into learner batches.)

The router splits scoring in two: the labeller actors only turn texts into 14-way labels; everything
else (answer extraction, format, IoU, NLG, the weighted sum) runs here, beside the router, through
the very same `CompositeReward` code an in-process caller uses, so pool and direct scores agree
bit for bit. Which texts need labels is decided up front: the extracted answer of every candidate
whose task weights a label component, plus its reference text when no reference labels came along.
Model-based components (BERTScore, RadCliQ, ...) are computed by the same actors on (answer,
reference text) pairs and come back as `pair_scores`, which the composite reads instead of loading
any model beside the router.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from radrl_dist.constants import NUM_OBSERVATIONS
from radrl_dist.labelers.base import Labeler, as_text
from radrl_dist.rewards.composite import DEFAULT_TAGS, CompositeReward, CompositeSpec, RewardBatch, TaskView
from radrl_dist.rewards.model_based.factory import MODEL_COMPONENTS
from radrl_dist.rewards.pool.types import ScoreRequest, ScoreResult

# Components that read `view.candidate_labels` / `view.reference_labels`.
LABEL_COMPONENTS = frozenset({"mccs", "ccs", "ce_f1"})
PROMPT_FORMAT_TAGS: dict[str, str | None] = {"plain": None, "think_report": "report", "think_answer": "answer",
                                              "concept_chain": None}


def spec_from_config(cfg, prompt_formats: Mapping[str, str] | None = None) -> CompositeSpec:
    """CompositeSpec from a RewardConfig (and data.prompt_format, which decides the answer tags)."""
    tags = dict(DEFAULT_TAGS)
    for task, fmt in (prompt_formats or {}).items():
        if fmt not in PROMPT_FORMAT_TAGS:
            raise ValueError(f"prompt format of {task!r} must be one of {sorted(PROMPT_FORMAT_TAGS)}, got {fmt!r}")
        tags[task] = PROMPT_FORMAT_TAGS[fmt]
    return CompositeSpec(weights={t: dict(w) for t, w in cfg.weights.items()}, params=component_params(cfg),
                         answer_tags=tags, on_missing=cfg.missing_tag)


def component_params(cfg) -> dict[str, dict]:
    """{component: kwargs}: MCCS/CCS from reward.mccs_margin / both_blank, then `reward.params` on top
    (the composite checks every name against the component's signature), model-based ones from
    reward.model_rewards."""
    params: dict[str, dict] = {"mccs": {"margin": cfg.mccs_margin, "both_blank": cfg.both_blank},
                               "ccs": {"both_blank": cfg.both_blank}}
    for name, given in cfg.params.items():
        if name in MODEL_COMPONENTS:
            raise ValueError(f"reward.params.{name}: model-based components take their settings from "
                             "reward.model_rewards")
        params[name] = {**params.get(name, {}), **given}
    params.update(model_params(cfg))
    return params


def model_params(cfg) -> dict[str, dict]:
    """Params of the model-based components the weights name (their local paths), if any."""
    named = {n for w in cfg.weights.values() for n in w if n in MODEL_COMPONENTS}
    if not named:
        return {}
    mr = cfg.model_rewards.model_dump()
    if not mr.get("chexbert") and str(cfg.labeler).startswith("chexbert:"):
        mr["chexbert"], mr["chexbert_tokenizer"] = cfg.labeler.partition(":")[2], cfg.labeler_tokenizer
    return {n: dict(mr) for n in sorted(named)}


def model_components(spec: CompositeSpec) -> dict[str, dict]:
    """{component: params} of the model-based components in `spec` (what the actors host)."""
    named = sorted({n for w in spec.weights.values() for n in w if n in MODEL_COMPONENTS})
    return {n: dict(spec.params.get(n, {})) for n in named}


def task_scorers(spec: CompositeSpec, task: str) -> tuple[str, ...]:
    return tuple(n for n in spec.weights.get(task, {}) if n in MODEL_COMPONENTS)


def needs_labels(spec: CompositeSpec, task: str) -> bool:
    if task not in spec.weights:
        raise ValueError(f"no reward weights for task {task!r}; the pool's spec has {sorted(spec.weights)}")
    return any(name in LABEL_COMPONENTS for name in spec.weights[task])


@dataclass(frozen=True)
class LabelJob:
    """Texts one candidate needs labelled, always in one actor batch so both rows share a version."""

    answer: str
    reference: str | None  # None: reference labels were given
    label: bool = True  # False: the task weights no label component
    scorers: tuple[str, ...] = ()  # model-based components to score on (answer, pair_reference)
    pair_reference: str = ""


def extract_answers(spec: CompositeSpec, requests: Sequence[ScoreRequest]) -> tuple[list[str], list[bool]]:
    """(answer text, well-formed tag) per request, exactly as the composite extracts them."""
    tasks = [r.task for r in requests]
    batch = RewardBatch(tasks=tasks, texts=[r.text for r in requests])
    answers, ok = [""] * len(requests), [True] * len(requests)
    for task in set(tasks):
        idx = np.flatnonzero(np.asarray(tasks, dtype=object) == task)
        view = TaskView(batch, idx, task, spec, owner=None)  # owner only serves labels; unused here
        for j, i in enumerate(idx):
            answers[i], ok[i] = view.answers[j], bool(view.answer_ok[j])
    return answers, ok


def label_jobs(spec: CompositeSpec, requests: Sequence[ScoreRequest]) -> list[LabelJob | None]:
    """One job per request whose task needs labels or model-based scores, None for the others."""
    answers, _ = extract_answers(spec, requests)
    out: list[LabelJob | None] = []
    for r, a in zip(requests, answers):
        lab, scorers = needs_labels(spec, r.task), task_scorers(spec, r.task)
        ref = None if r.reference_labels is not None or not lab else as_text(r.reference_text)
        out.append(LabelJob(a, ref, lab, scorers, as_text(r.reference_text)) if lab or scorers else None)
    return out


def label_with(labeler: Labeler, jobs: Sequence[LabelJob]) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Label a batch of jobs with one labeler call over the distinct texts (what an actor does)."""
    texts = unique_texts(jobs)
    rows = labeler.label(texts)
    return split_rows(jobs, texts, rows)


def unique_texts(jobs: Sequence[LabelJob]) -> list[str]:
    """Distinct texts of the jobs in first-seen order (a group's G candidates share one reference)."""
    seen: dict[str, None] = {}
    for j in jobs:
        if not j.label:
            continue
        seen.setdefault(j.answer, None)
        if j.reference is not None:
            seen.setdefault(j.reference, None)
    return list(seen)


def split_rows(jobs: Sequence[LabelJob], texts: Sequence[str], rows: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
    rows = np.asarray(rows)
    if rows.shape != (len(texts), NUM_OBSERVATIONS):
        raise ValueError(f"labeler returned shape {rows.shape} for {len(texts)} texts, expected ({len(texts)}, 14)")
    at = {t: i for i, t in enumerate(texts)}
    return [(rows[at[j.answer]], None if j.reference is None else rows[at[j.reference]]) if j.label else None
            for j in jobs]


def _pair_arrays(spec: CompositeSpec, rows: Sequence[Mapping[str, Mapping[str, float]] | None]) -> dict:
    """Per-request {component: {part: value}} -> {component: {part: float [N]}} (NaN where absent).
    Always a dict, so components never fall back to loading a model beside the router."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for j, row in enumerate(rows):
        for comp, parts in (row or {}).items():
            for part, v in parts.items():
                out.setdefault(comp, {}).setdefault(part, np.full(len(rows), np.nan))[j] = v
    return out


class _NoLabeler(Labeler):
    """Stands in for the labeler beside the router: labels must come from the actors."""

    name, version = "none", "none"

    def label(self, texts):  # noqa: D401
        raise RuntimeError("a reward component asked for labels the pool did not compute; add its name "
                           "to radrl_dist.rewards.pool.composite_scoring.LABEL_COMPONENTS")


@dataclass(frozen=True)
class Provenance:
    """Who labelled one candidate (all None when its task needs no labels)."""

    labeler_name: str | None = None
    labeler_version: str | None = None
    actor_id: str | None = None
    attempts: int = 0


def assemble(spec: CompositeSpec, requests: Sequence[ScoreRequest],
             labels: Sequence[tuple[np.ndarray, np.ndarray | None] | None],
             provenance: Sequence[Provenance],
             pair_scores: Sequence[Mapping[str, Mapping[str, float]] | None] | None = None) -> list[ScoreResult]:
    """Composite reward of every request, one CompositeReward call per box format.
    `pair_scores[i]`: {component: {part: value}} the actors computed for request i."""
    out: list[ScoreResult | None] = [None] * len(requests)
    by_format: dict[str, list[int]] = {}
    for i, r in enumerate(requests):
        by_format.setdefault(r.box_format, []).append(i)
    _, answer_ok = extract_answers(spec, requests)
    for box_format, idx in by_format.items():
        fspec = spec if spec.codec == box_format else dataclasses.replace(spec, codec=box_format)
        reqs = [requests[i] for i in idx]
        cand = np.zeros((len(idx), NUM_OBSERVATIONS), dtype=np.int8)
        ref = np.zeros((len(idx), NUM_OBSERVATIONS), dtype=np.int8)
        for j, (r, lab) in enumerate(zip(reqs, (labels[i] for i in idx))):
            if r.reference_labels is not None:
                ref[j] = np.asarray(r.reference_labels, dtype=np.int8)
            if lab is not None:
                cand[j] = lab[0]
                if lab[1] is not None:
                    ref[j] = lab[1]
        batch = RewardBatch(tasks=[r.task for r in reqs], texts=[r.text for r in reqs],
                            reference_reports=[as_text(r.reference_text) for r in reqs], reference_labels=ref,
                            boxes=[list(r.reference_boxes) for r in reqs],
                            image_sizes=[r.image_size for r in reqs], model_sizes=[r.model_size for r in reqs],
                            candidate_labels=cand, pair_scores=_pair_arrays(spec, [pair_scores[i] if pair_scores
                                                                                 else None for i in idx]))
        res = CompositeReward(fspec, labeler=_NoLabeler()).score(batch)
        for j, i in enumerate(idx):
            r, p = reqs[j], provenance[i]
            comps = {k.split("/", 1)[1]: float(v[j]) for k, v in res.components.items() if k.startswith(f"{r.task}/")}
            flags = {"empty_output": not as_text(r.text).strip(), "answer_ok": answer_ok[i]}
            out[i] = ScoreResult(r.candidate_id, r.task, float(res.total[j]), comps, p.labeler_name,
                                 p.labeler_version, p.actor_id, p.attempts, flags)
    return out  # type: ignore[return-value]
