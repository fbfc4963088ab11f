"""Target texts for the supervised stages, built from a study's report, labels and boxes.

- plain report (MRG-R1's SFT baseline, BoxMed-RL phase II);
- `<think>` cold-start targets (RadVLM-GRPO): a short reasoning listing the observations, then the
  report in <report></report> or the boxes in <answer></answer>;
- BoxMed-RL's structured chain (phase I-a, medical concept learning): each findings sentence ->
  its CheXpert category -> an anatomical region from the paper's 12-region list;
- grounding targets in each model family's box format (radrl_dist/boxes/codecs.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from radrl_dist.constants import CHEXPERT_OBSERVATIONS, NEGATIVE, NO_FINDING_INDEX, OBSERVATION_INDEX, POSITIVE, UNCERTAIN
from radrl_dist.data.schema import Study
from radrl_dist.models.families import get_codec

# BoxMed-RL's 12 anatomical regions, with the words that place a sentence in each (first match wins;
# order puts the specific regions before the whole-lung ones).
REGIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("trachea", ("trachea", "endotracheal", "carina")),
    ("spine", ("spine", "vertebra", "thoracic spine", "degenerative")),
    ("abdomen", ("abdomen", "abdominal", "bowel", "subdiaphragmatic", "free air")),
    ("cardiac silhouette", ("heart", "cardiac", "cardiomegaly", "pericardial")),
    ("mediastinum", ("mediastin", "aort", "cardiomediastinal")),
    ("left apical zone", ("left apical", "left apex", "left upper zone")),
    ("right apical zone", ("right apical", "right apex", "right upper zone")),
    ("left hilar structures", ("left hil",)),
    ("right hilar structures", ("right hil",)),
    ("left lung", ("left",)),
    ("right lung", ("right",)),
    ("whole lung", ("lung", "pulmonary", "bilateral", "pleural", "airspace", "pneumothorax", "edema")),
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def region_of(sentence: str) -> str:
    s = sentence.lower()
    for region, words in REGIONS:
        if any(w in s for w in words):
            return region
    return "whole lung"


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def reasoning_from_labels(labels: Sequence[int] | None) -> str:
    """'Positive: cardiomegaly. Uncertain: consolidation. Negative: pleural effusion.' from 14 labels."""
    if labels is None:
        return "The image is reviewed for cardiopulmonary findings."
    groups = {POSITIVE: [], UNCERTAIN: [], NEGATIVE: []}
    for i, v in enumerate(labels):
        if i != NO_FINDING_INDEX and int(v) in groups:
            groups[int(v)].append(CHEXPERT_OBSERVATIONS[i].lower())
    parts = [f"{name}: {', '.join(groups[c])}." for c, name in ((POSITIVE, "Positive"), (UNCERTAIN, "Uncertain"), (NEGATIVE, "Negative")) if groups[c]]
    return " ".join(parts) if parts else "No abnormality is seen."


def plain_report_target(study: Study) -> str:
    return study.reference_report.strip()


def think_report_target(study: Study) -> str:
    return f"<think>{reasoning_from_labels(study.reference_labels)}</think><report>{plain_report_target(study)}</report>"


def structured_chain_target(study: Study, labeler) -> str:
    """BoxMed-RL MCL chain: 'Finding: ... -> Disease: ... -> Region: ...' per finding.

    A report row gives one line per findings sentence; a phrase-grounding row (MS-CXR, LATTE-CXR, the
    paper's phase I-a data) one line per boxed phrase, its category the box's CheXpert label when it
    has one. `labeler` labels each finding alone (batched), so the category is what it asserts.
    """
    if study.task == "grounding":
        findings = [b.phrase or b.label or "" for b in study.boxes]
        given = [b.label if b.label in OBSERVATION_INDEX else None for b in study.boxes]
    else:
        findings = split_sentences(study.reference_report)
        given = [None] * len(findings)
    findings = [f.strip() for f in findings]
    if not any(findings):
        return ""
    lines = []
    for text, label, row in zip(findings, given, labeler.label(findings)):
        found = [label] if label else [CHEXPERT_OBSERVATIONS[i] for i, v in enumerate(row)
                                       if i != NO_FINDING_INDEX and int(v) in (POSITIVE, UNCERTAIN)]
        disease = ", ".join(found) if found else "No Finding"
        lines.append(f"Finding: {text} -> Disease: {disease} -> Region: {region_of(text)}")
    return "\n".join(lines)


def grounding_target(study: Study, family: str, think: bool = True, model_size: Sequence[float] | None = None) -> str:
    """Boxes of the study in the family's format, optionally as <think>..</think><answer>..</answer>."""
    boxes_text = get_codec(family).encode(study.boxes, study.image_size, model_size)
    if not think:
        return boxes_text
    target = study.prompt_vars.get("target") or "the finding"
    regions = sorted({region_of(b.phrase or b.label or "") for b in study.boxes})
    return f"<think>Looking for {target} in the {', '.join(regions) or 'lungs'}.</think><answer>{boxes_text}</answer>"


def build_target(study: Study, kind: str, family: str, labeler=None, model_size: Sequence[float] | None = None) -> str:
    """Dispatch by target kind: plain | think_report | structured_chain | grounding | grounding_think."""
    if kind == "plain":
        return plain_report_target(study)
    if kind == "think_report":
        return think_report_target(study)
    if kind == "structured_chain":
        if labeler is None:
            raise ValueError("structured_chain targets need a labeler")
        return structured_chain_target(study, labeler)
    if kind in ("grounding", "grounding_think"):
        return grounding_target(study, family, think=kind == "grounding_think", model_size=model_size)
    raise ValueError(f"unknown SFT target kind {kind!r}")
