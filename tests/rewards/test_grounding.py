"""Grounding reward: IoU (BoxMed-RL eq. 6-7) and multi-box soft-F1 with Hungarian matching."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radrl_dist.boxes.box import Box
from radrl_dist.boxes.geometry import iou
from radrl_dist.rewards.grounding import iou_reward, matched_iou, soft_f1

REF = Box(0.38, 0.47, 0.76, 0.62)
GOOD = Box(0.35, 0.51, 0.75, 0.64)
BAD = Box(0.84, 0.34, 0.91, 0.50)


def test_test_vectors_single_box():
    assert iou(GOOD.as_tuple(), REF.as_tuple()) == pytest.approx(0.5959, abs=1e-4)
    assert soft_f1([GOOD], [REF]) == pytest.approx(0.5959, abs=1e-4)  # one vs one = IoU (eq. 7)
    assert soft_f1([BAD], [REF]) == 0.0


def test_extra_and_missing_boxes_are_penalised():
    v = 0.5959
    # 2 predictions, 1 reference: P = v/2, R = v -> F1 = 2 v / 3
    assert soft_f1([GOOD, BAD], [REF]) == pytest.approx(2 * v / 3, abs=1e-4)
    assert soft_f1([BAD, GOOD], [REF]) == soft_f1([GOOD, BAD], [REF])  # order does not matter
    # 1 prediction, 2 references: P = v, R = v/2 -> same F1
    assert soft_f1([GOOD], [REF, BAD]) == pytest.approx(2 * v / 3, abs=1e-4)
    assert soft_f1([], [REF]) == 0.0 and soft_f1([GOOD], []) == 0.0
    assert soft_f1([], []) == 1.0 and soft_f1([], [], both_empty=0.0) == 0.0


def test_hungarian_beats_greedy():
    # greedy would pair p0 with r0 (IoU 0.6) and leave p1 with r1 = 0; optimal pairs p0-r1, p1-r0
    r0, r1 = Box(0, 0, 10, 10), Box(4, 0, 14, 10)
    p0, p1 = Box(2, 0, 12, 10), Box(0, 0, 10, 10)
    m = matched_iou([p0, p1], [r0, r1])
    assert m.sum() == pytest.approx(1.0 + iou(p0.as_tuple(), r1.as_tuple()))
    assert soft_f1([p0, p1], [r0, r1]) == pytest.approx(m.sum() / 2)


def test_degenerate_and_outside_boxes():
    ref = [Box(10, 10, 50, 50)]
    assert soft_f1([Box(50, 50, 10, 10)], ref) == 0.0  # inverted
    assert soft_f1([Box(20, 20, 20, 40)], ref) == 0.0  # zero area
    assert soft_f1([Box(200, 200, 300, 300)], ref, image_size=(100, 100)) == 0.0  # outside: zero area
    # partly outside: clipped to the image, then exact
    assert soft_f1([Box(10, 10, 150, 50)], [Box(10, 10, 100, 50)], image_size=(100, 100)) == pytest.approx(1.0)
    assert soft_f1([Box(10, 10, 150, 50)], [Box(10, 10, 100, 50)]) == pytest.approx(90 / 140)
    assert soft_f1([Box(float("nan"), 0, 1, 1)], ref) == 0.0


def test_label_agreement():
    p = [Box(0, 0, 10, 10, label="pleural effusion"), Box(20, 0, 30, 10, label="Nodule")]
    r = [Box(0, 0, 10, 10, label="Pleural-Effusion"), Box(20, 0, 30, 10, label="Mass")]
    assert soft_f1(p, r) == pytest.approx(1.0)
    assert soft_f1(p, r, match_labels=True) == pytest.approx(0.5)


def test_vector_form():
    out = iou_reward([[GOOD], [], [BAD]], [[REF], [], [REF]])
    np.testing.assert_allclose(out, [0.5959, 1.0, 0.0], atol=1e-4)
    with pytest.raises(ValueError, match="prediction lists"):
        iou_reward([[GOOD]], [])


coord = st.one_of(st.floats(-50, 150), st.sampled_from([float("nan"), float("inf"), -float("inf")]))
box = st.builds(Box, coord, coord, coord, coord, st.sampled_from([None, "a", "b"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(box, max_size=5), st.lists(box, max_size=5), st.booleans(), st.booleans())
def test_soft_f1_in_range(preds, refs, clip, labels):
    v = soft_f1(preds, refs, image_size=(100, 100) if clip else None, match_labels=labels)
    assert 0.0 <= v <= 1.0 and not np.isnan(v)


def test_radvlm_code_precision_variant():
    """The authors' public code: P = mass / (mass + unmatched predictions); one box of IoU u -> 2u/(1+u)."""
    u = iou(GOOD.as_tuple(), REF.as_tuple())
    assert soft_f1([GOOD], [REF], precision="mass") == pytest.approx(2 * u / (1 + u), abs=1e-12)
    assert soft_f1([GOOD], [REF], precision="mass") == pytest.approx(0.747, abs=1e-3)  # the paper figure's box
    assert soft_f1([GOOD], [REF], precision="boxes") == pytest.approx(0.596, abs=1e-3)  # today's = the figure's 0.6
    # an extra box that overlaps nothing is unmatched: P = u / (u + 1), R = u
    p, r = u / (u + 1), u
    assert soft_f1([GOOD, BAD], [REF], precision="mass") == pytest.approx(2 * p * r / (p + r), abs=1e-12)
    assert soft_f1([BAD], [REF], precision="mass") == 0.0
    assert soft_f1([], [], precision="mass") == 1.0 and soft_f1([GOOD], [], precision="mass") == 0.0
    assert iou_reward([[GOOD]], [[REF]], precision="mass")[0] == pytest.approx(2 * u / (1 + u))
    with pytest.raises(ValueError, match="precision"):
        soft_f1([GOOD], [REF], precision="iou")
