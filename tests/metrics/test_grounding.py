"""Grounding metrics against TEST_VECTORS and hand-computed cases."""

import pytest

from radrl_dist.metrics.grounding import grounding_metrics, sample_ap, sample_iou

REF = [0.38, 0.47, 0.76, 0.62]
GOOD = [0.35, 0.51, 0.75, 0.64]
BAD = [0.84, 0.34, 0.91, 0.50]


def test_test_vectors():
    assert sample_iou([GOOD], [REF]) == pytest.approx(0.5959, abs=1e-4)
    assert sample_iou([BAD], [REF]) == 0.0
    assert sample_ap([GOOD], [REF]) == 1.0
    assert sample_ap([GOOD, BAD], [REF]) == 1.0
    assert sample_ap([BAD, GOOD], [REF]) == 0.5
    assert sample_ap([], [REF]) == 0.0
    assert sample_ap(None, [REF]) == 0.0
    assert sample_ap([GOOD], []) == 0.0


def test_multi_box_by_hand():
    a, b = [0, 0, 10, 10], [20, 20, 30, 30]
    half = [0, 0, 10, 5]  # IoU 0.5 with a
    # two refs, predictions [b, half]: matched IoUs 1 and 0.5 over max(2, 2)
    assert sample_iou([b, half], [a, b]) == pytest.approx(0.75)
    # an extra box halves the score of a perfect single match
    assert sample_iou([a, b], [a]) == pytest.approx(0.5)
    # AP with 2 refs, order [miss, a, b]: precision 1/2 at recall 0.5, 2/3 at recall 1 -> envelope 2/3
    assert sample_ap([[50, 50, 60, 60], a, b], [a, b]) == pytest.approx(2 / 3)
    # a prediction cannot match a reference already taken
    assert sample_ap([a, a], [a, b]) == pytest.approx(0.5)


def test_aggregate_and_format_failures():
    m = grounding_metrics([[GOOD], None, [BAD, GOOD], []], [[REF]] * 4)
    iou = sample_iou([GOOD], [REF])
    assert m["mean_iou"] == pytest.approx((iou + 0 + iou / 2 + 0) / 4)
    assert m["acc_iou_0.5"] == 0.25 and m["acc_iou_0.3"] == 0.25
    assert m["map_0.5"] == pytest.approx((1 + 0 + 0.5 + 0) / 4)
    assert m["format_failure_rate"] == 0.25
    # 0.5959 passes thresholds 0.50 and 0.55 only: COCO-style AP of sample 0 is 2/10
    assert m["map_coco"] == pytest.approx((0.2 + 0 + 0.1 + 0) / 4)


def test_errors():
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        grounding_metrics([[GOOD], [GOOD]], [[REF]])


def test_map_follows_radvlm_authors_matching_and_free_variant_is_kept():
    """Issue 17's example: the 2nd prediction's best reference (IoU 0.68) is taken; the free one has 0.566."""
    preds = [[0, 0, 0.4, 0.4], [0.04, 0.04, 0.44, 0.44]]
    refs = [[0, 0, 0.4, 0.4], [0.1, 0.1, 0.5, 0.5]]
    assert sample_ap(preds, refs) == 0.5  # default: the authors' (best-IoU reference) matching
    assert sample_ap(preds, refs, matching="best") == 0.5
    assert sample_ap(preds, refs, matching="free") == 1.0
    m = grounding_metrics([preds], [refs])
    assert m["map_0.5"] == 0.5 and m["map_0.5_free"] == 1.0
    with pytest.raises(ValueError, match="matching"):
        sample_ap(preds, refs, matching="greedy")
