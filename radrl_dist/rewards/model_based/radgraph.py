"""RadGraph F1 (Jain et al. 2021; Delbrouck et al. 2022) from entity/relation extractions.

The F1 itself is pure and works on the `radgraph` package's output format, one annotation per text:
    {"entities": {"1": {"tokens": "effusion", "label": "OBS-DP", "relations": [["located_at", "2"]]}, ...}}
Levels as the package defines them (either side without entities scores 0):
- simple:   entities as (tokens, label)
- partial:  (tokens, label), plus True when the entity has any relation
- complete: entities without relations as (tokens, label); each relation as
            (source tokens lower, source label, relation, target tokens lower)
RadCliQ's input is another one, `radcliq_combined`: mean of entity F1 over (tokens, label) and
relation F1 over ((src), (tgt), type) sets, 0 for an empty set pair (RadEval / CXR-Report-Metric).

Extractors are pluggable (radgraph_extract.py): "radgraph:DIR" runs the `radgraph` package's model
from a local directory; "lexicon" is a small rule stand-in for tests and smoke runs (NOT RadGraph:
its scores are not comparable with published RadGraph F1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from radrl_dist.rewards.model_based.base import PairScorer, check_pairs

LEVELS = ("simple", "partial", "complete")
Annotation = Mapping[str, Mapping]


def set_f1(hyp: set, ref: set) -> tuple[float, float, float]:
    """(F1, precision, recall) of two sets; 0 where a denominator is 0."""
    tp = len(hyp & ref)
    p = tp / len(hyp) if hyp else 0.0
    r = tp / len(ref) if ref else 0.0
    return (2 * p * r / (p + r) if p + r else 0.0), p, r


def _entities(ann: Annotation) -> Mapping[str, Mapping]:
    return ann.get("entities", {}) or {}


def level_items(ann: Annotation, level: str) -> set:
    """The items one annotation contributes at a RadGraph reward level."""
    ents, out = _entities(ann), set()
    for e in ents.values():
        tok, lab, rels = e["tokens"], e["label"], e.get("relations") or []
        if level == "simple" or not rels:
            out.add((tok, lab))
        elif level == "partial":
            out.add((tok, lab, True))
        elif level == "complete":
            out.update((tok.lower(), lab, r[0], ents[r[1]]["tokens"].lower()) for r in rels if r[1] in ents)
        else:
            raise ValueError(f"RadGraph level must be one of {LEVELS}, got {level!r}")
    return out


def radgraph_f1(hyp: Annotation, ref: Annotation, level: str = "partial") -> tuple[float, float, float]:
    """(F1, precision, recall) at `level`, the `radgraph` package's F1RadGraph per pair."""
    if level not in LEVELS:
        raise ValueError(f"RadGraph level must be one of {LEVELS}, got {level!r}")
    if not _entities(hyp) or not _entities(ref):
        return 0.0, 0.0, 0.0
    return set_f1(level_items(hyp, level), level_items(ref, level))


def entity_set(ann: Annotation) -> set:
    return {(e["tokens"], e["label"]) for e in _entities(ann).values()}


def relation_set(ann: Annotation) -> set:
    ents, out = _entities(ann), set()
    for e in ents.values():
        for rel, tgt in e.get("relations") or []:
            if tgt in ents:
                out.add(((e["tokens"], e["label"]), (ents[tgt]["tokens"], ents[tgt]["label"]), rel))
    return out


def radcliq_combined(hyp: Annotation, ref: Annotation) -> float:
    """RadCliQ's RadGraph input: (entity F1 + relation F1) / 2."""
    return (set_f1(entity_set(hyp), entity_set(ref))[0] + set_f1(relation_set(hyp), relation_set(ref))[0]) / 2


class RadGraphF1(PairScorer):
    """Parts: value (F1 at `level`), precision, recall, radcliq (RadCliQ's combined F1)."""

    name = "radgraph_f1"

    def __init__(self, extractor, level: str = "partial") -> None:
        if level not in LEVELS:
            raise ValueError(f"RadGraph level must be one of {LEVELS}, got {level!r}")
        self.extractor, self.level = extractor, level

    @property
    def version(self) -> str:
        return f"radgraph-f1-{self.level}-{self.extractor.name}"

    def annotate(self, texts: Sequence[str]) -> dict[str, Annotation]:
        """One extraction per distinct non-empty text; empty texts get no entities."""
        uniq = [t for t in dict.fromkeys(texts) if t.strip()]
        out = dict(zip(uniq, self.extractor.extract(uniq))) if uniq else {}
        return {t: out.get(t, {"entities": {}}) for t in texts}

    def score_parts(self, candidates: Sequence[str], references: Sequence[str]) -> dict[str, np.ndarray]:
        cands, refs = check_pairs(candidates, references)
        ann = self.annotate(cands + refs)
        prf = np.array([radgraph_f1(ann[c], ann[r], self.level) for c, r in zip(cands, refs)]).reshape(-1, 3)
        comb = np.array([radcliq_combined(ann[c], ann[r]) for c, r in zip(cands, refs)], dtype=np.float64)
        return {"value": prf[:, 0], "precision": prf[:, 1], "recall": prf[:, 2], "radcliq": comb}
