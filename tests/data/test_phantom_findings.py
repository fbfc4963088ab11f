"""Findings are drawn where their boxes say: the image differs from the same study without them
inside the box and (almost) nowhere else. Anatomy and noise come from streams the findings do not
touch, so the difference image is the finding alone."""

from __future__ import annotations

import numpy as np
import pytest

from radrl_dist.data.phantom import render_study
from radrl_dist.data.phantom.findings import DEVICES, KINDS, Finding

CASES = [
    Finding("effusion", side="left", severity=0.6),
    Finding("effusion", side="right", severity=0.2),
    Finding("effusion", side="bilateral", severity=0.5),
    Finding("consolidation", side="right", severity=0.5),
    Finding("opacity", side="left", severity=0.7),
    Finding("nodule", side="right", severity=0.6),
    Finding("pneumothorax", side="left", severity=0.6),
    Finding("atelectasis", side="right", severity=0.6),
] + [Finding("device", device=d, severity=0.5) for d in DEVICES]


def _box_mask(shape, boxes):
    m = np.zeros(shape, bool)
    for x1, y1, x2, y2 in boxes:
        m[max(0, int(np.floor(y1))):int(np.ceil(y2)), max(0, int(np.floor(x1))):int(np.ceil(x2))] = True
    return m


@pytest.mark.parametrize("finding", CASES, ids=lambda f: f"{f.kind}-{f.side or f.device}")
@pytest.mark.parametrize("index", [0, 1])
def test_finding_changes_the_image_inside_its_box(finding, index):
    f = Finding(finding.kind, side=finding.side, severity=finding.severity, device=finding.device)
    normal = render_study(11, "train", index, findings=[]).image.astype(float)
    sick = render_study(11, "train", index, findings=[f]).image.astype(float)
    assert f.boxes, f"{f.kind} produced no box"
    assert len(f.boxes) == (2 if f.side == "bilateral" else 1)
    diff = np.abs(sick - normal)
    inside = _box_mask(diff.shape, f.boxes)
    changed = diff > 6
    assert changed.sum() > 0
    # The change lives in the box (a 1-px blur halo may spill over).
    grown = _box_mask(diff.shape, [(x1 - 2, y1 - 2, x2 + 2, y2 + 2) for x1, y1, x2, y2 in f.boxes])
    assert changed[grown].sum() >= 0.95 * changed.sum()
    if f.kind == "device":  # a thin line in a long box: bright along it, not on average
        assert diff[inside].max() > 30
    else:
        assert diff[inside].mean() > 8, diff[inside].mean()
    if f.kind in ("effusion", "consolidation", "opacity", "nodule", "atelectasis"):
        assert (sick - normal)[inside].mean() > 8  # denser than the aerated lung it replaces
    for x1, y1, x2, y2 in f.boxes:
        assert 0 <= x1 < x2 <= 128 and 0 <= y1 < y2 <= 160


def test_effusion_box_sits_in_its_costophrenic_angle():
    for side in ("left", "right"):
        f = Finding("effusion", side=side, severity=0.5)
        ps = render_study(4, "train", 0, findings=[f])
        (x1, y1, x2, y2), = f.boxes
        cx = (x1 + x2) / 2 / 128
        assert (cx > ps.anatomy.mid) == (side == "left")  # PA view: patient's left on the image right
        assert y2 / 160 > 0.6  # at the base


def test_cardiomegaly_is_a_wide_heart():
    ratios = {}
    for label, findings in (("normal", []), ("cardiomegaly", [Finding("cardiomegaly", severity=0.5)])):
        ps = render_study(2, "train", 5, findings=findings)
        ratios[label] = ps.anatomy.ctr
        if findings:
            (x1, _, x2, _), = findings[0].boxes
            assert (x2 - x1) / 128 / ps.anatomy.thorax_width > 0.5  # box spans the enlarged heart
    assert ratios["normal"] < 0.5 < ratios["cardiomegaly"]


def test_pneumothorax_rim_has_no_lung_markings():
    f = Finding("pneumothorax", side="right", severity=0.8)
    normal = render_study(9, "train", 2, findings=[]).image.astype(float)
    sick = render_study(9, "train", 2, findings=[f]).image.astype(float)
    (x1, y1, x2, y2), = f.boxes
    # The rim is the lateral part of the box, against the chest wall (image left for the right lung).
    rim = (slice(int(y1) + 4, int(y2) - 4), slice(int(x1), int(x1) + 4))
    assert sick[rim].mean() < normal[rim].mean() - 5


def test_every_kind_is_covered():
    assert {f.kind for f in CASES} | {"cardiomegaly"} == set(KINDS)
