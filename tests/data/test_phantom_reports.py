"""Report templates: the labels each template declares agree with what its words say, checked by
a small independent keyword labeler (mention + clause-level negation/uncertainty cues)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from radrl_dist.constants import (
    BLANK, CHEXPERT_OBSERVATIONS, NEGATIVE, NO_FINDING_INDEX, OBSERVATION_INDEX, POSITIVE, UNCERTAIN,
)
from radrl_dist.data.phantom.findings import KINDS, Finding, sample_findings
from radrl_dist.data.phantom.reports import (
    EXTRA_T, HEDGED_T, LOCATIONS, NEGATED_T, POSITIVE_T, Statement, merge_labels, phrase, write_report,
)

MENTIONS = {
    "Cardiomegaly": r"cardiomegaly|\bheart\b|\bcardiac\b",
    "Enlarged Cardiomediastinum": r"mediastin",
    "Lung Opacity": r"opacit",
    "Consolidation": r"consolidat",
    "Lung Lesion": r"nodul|\bmass\b",
    "Pneumothorax": r"pneumothorax",
    "Pleural Effusion": r"effusion",
    "Atelectasis": r"atelecta",
    "Support Devices": r"\btube\b|catheter",
    "Edema": r"edema|vascular congestion",
    "Pneumonia": r"pneumonia",
    "Fracture": r"fracture",
}
UNCERTAIN_CUES = r"\bpossibl|\bmay\b|questionable|\blikely\b|borderline|cannot be excluded"
NEGATION_CUES = r"\bno\b|\bnot\b|\bwithout\b|\bnormal\b"
RANK = {BLANK: 0, NEGATIVE: 1, UNCERTAIN: 2, POSITIVE: 3}


def keyword_labels(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for clause in re.split(r"[.,;]", text.lower()):
        cls = UNCERTAIN if re.search(UNCERTAIN_CUES, clause) else NEGATIVE if re.search(NEGATION_CUES, clause) else POSITIVE
        for obs, pat in MENTIONS.items():
            if re.search(pat, clause) and RANK[cls] > RANK[out.get(obs, BLANK)]:
                out[obs] = cls
    if out.get("Consolidation") == POSITIVE:
        out["Lung Opacity"] = POSITIVE
    return out


def _variants():
    fmt_sets = []
    for (side, zone), locs in LOCATIONS.items():
        for loc in locs:
            fmt_sets.append(dict(side=side, Side=side.capitalize(), loc=loc, size="small", Size="Small", deg="mildly",
                                 deg2="mild", Deg2="Mild", mm="12", device="nasogastric tube",
                                 Device="Nasogastric tube", terminus="stomach"))
    for table_name, table in (("positive", POSITIVE_T), ("hedged", HEDGED_T), ("negated", NEGATED_T), ("extra", EXTRA_T)):
        for key, templates in table.items():
            for i, (text, labels) in enumerate(templates):
                for fmt in fmt_sets[:: 1 if "{loc}" in text else 6]:
                    yield pytest.param(text.format(**fmt), labels, table_name, id=f"{table_name}-{key}-{i}-{fmt['loc']}")


@pytest.mark.parametrize("text,labels,table", list(_variants()))
def test_template_labels_match_its_words(text, labels, table):
    expected = dict(labels)
    if expected.get("Consolidation") == POSITIVE:
        expected["Lung Opacity"] = POSITIVE
    assert keyword_labels(text) == expected, text
    if table == "hedged":
        assert UNCERTAIN in labels.values()
    if table == "negated":
        assert set(labels.values()) <= {NEGATIVE}


def test_each_kind_has_varied_phrasings():
    for kind in KINDS:
        assert len(POSITIVE_T[kind]) >= 3, kind
        if kind != "device":
            assert len(HEDGED_T[kind]) >= 2 and len(NEGATED_T[kind]) >= 1, kind
    names = {n for t in (POSITIVE_T, HEDGED_T, NEGATED_T, EXTRA_T) for v in t.values() for _, d in v for n in d}
    assert names <= set(CHEXPERT_OBSERVATIONS)


def test_reports_label_findings_as_drawn():
    rng = np.random.default_rng(0)
    texts = set()
    for _ in range(400):
        findings = sample_findings(rng)
        for f in findings:
            f.zone = f.zone or "lower"
        text, statements = write_report(findings, rng)
        labels = merge_labels(statements)
        texts.add(text)
        assert keyword_labels(text) == {n: c for n, c in zip(CHEXPERT_OBSERVATIONS, labels) if c != BLANK and n != "No Finding"}
        for f in findings:
            assert labels[OBSERVATION_INDEX[f.observation]] == (UNCERTAIN if f.hedged else POSITIVE), (text, f)
        present = {f.observation for f in findings}
        for obs in ("Pleural Effusion", "Pneumothorax", "Cardiomegaly", "Support Devices", "Lung Lesion", "Atelectasis"):
            if obs not in present:
                assert labels[OBSERVATION_INDEX[obs]] in (BLANK, NEGATIVE), (text, obs)
        abnormal = [f for f in findings if f.kind != "device"]
        assert labels[NO_FINDING_INDEX] == (BLANK if abnormal else POSITIVE)
        if not findings:
            assert NEGATIVE in labels  # normal reports negate several findings
            assert sum(c == NEGATIVE for c in labels) >= 2
    assert len(texts) > 250  # wording varies, not one report per label set


def test_merge_precedence_and_no_finding():
    s = [Statement("No pleural effusion.", {"Pleural Effusion": NEGATIVE}),
         Statement("Possible small left pleural effusion.", {"Pleural Effusion": UNCERTAIN})]
    labels = merge_labels(s)
    assert labels[OBSERVATION_INDEX["Pleural Effusion"]] == UNCERTAIN and labels[NO_FINDING_INDEX] == BLANK
    labels = merge_labels(s + [Statement("Small left pleural effusion.", {"Pleural Effusion": POSITIVE})])
    assert labels[OBSERVATION_INDEX["Pleural Effusion"]] == POSITIVE
    labels = merge_labels([Statement("There is consolidation in the lingula.", {"Consolidation": POSITIVE}),
                           Statement("No focal opacity.", {"Lung Opacity": NEGATIVE})])
    assert labels[OBSERVATION_INDEX["Lung Opacity"]] == POSITIVE
    labels = merge_labels([Statement("Nasogastric tube in place.", {"Support Devices": POSITIVE}),
                           Statement("No pneumothorax.", {"Pneumothorax": NEGATIVE})])
    assert labels[NO_FINDING_INDEX] == POSITIVE  # CheXpert: devices alone are still "no finding"


def test_grounding_phrases_name_side_and_place():
    assert phrase(Finding("effusion", side="left")) == "left pleural effusion"
    assert phrase(Finding("effusion", side="bilateral")) == "bilateral pleural effusions"
    assert phrase(Finding("consolidation", side="right", zone="lower")) == "consolidation in the right lower lobe"
    assert phrase(Finding("device", device="endotracheal tube")) == "endotracheal tube"
