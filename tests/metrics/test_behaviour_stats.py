"""Behaviour metrics and the bootstrap / paired statistics."""

import numpy as np
import pytest
from scipy import stats as sps

from radrl_dist.constants import BLANK, NEGATIVE, NO_FINDING_INDEX, POSITIVE, UNCERTAIN
from radrl_dist.metrics.behaviour import behaviour_metrics, polarity_errors, response_lengths
from radrl_dist.metrics.stats import bootstrap_ci, mean_ci, paired_comparison


def test_polarity_errors():
    ref = np.zeros((4, 14), np.int8)
    cand = np.zeros((4, 14), np.int8)
    ref[0, 1], cand[0, 1] = POSITIVE, NEGATIVE  # flip
    ref[1, 1], cand[1, 1] = UNCERTAIN, NEGATIVE  # flip (uncertain counts as a finding)
    ref[2, 1], cand[2, 1] = POSITIVE, BLANK  # omission, not a polarity error
    ref[3, NO_FINDING_INDEX], cand[3, 1] = POSITIVE, NEGATIVE  # No Finding is excluded
    assert polarity_errors(cand, ref).tolist() == [True, True, False, False]
    m = behaviour_metrics(["a b", "c", "", "d e f"], [True, False, True, True], cand, ref)
    assert m["polarity_error_rate"] == 0.5 and m["format_rate"] == 0.75
    assert m["response_length_mean"] == 1.5
    assert response_lengths(["a  b\nc", None]).tolist() == [3, 0]


def test_bootstrap_is_seeded_and_covers_the_mean():
    v = np.random.default_rng(0).normal(1.0, 1.0, 400)
    a, b = mean_ci(v, 500, seed=3), mean_ci(v, 500, seed=3)
    assert a == b
    assert a.low < v.mean() < a.high and a.high - a.low == pytest.approx(2 * 1.96 / 20, rel=0.25)
    ci = bootstrap_ci(lambda i: float(np.median(v[i])), len(v), 200, seed=1)
    assert ci.low <= ci.value <= ci.high


def test_paired_comparison_detects_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(1)
    a = rng.random(80)
    b = a + 0.05 + rng.normal(0, 0.02, 80)
    better = paired_comparison(a, b)
    assert better.mean_diff > 0 and better.ci_low > 0
    assert better.p_permutation < 0.01 and better.p_wilcoxon < 0.01
    assert better.p_wilcoxon == pytest.approx(sps.wilcoxon(b, a, alternative="greater").pvalue)
    null = paired_comparison(a, a + rng.normal(0, 0.05, 80))
    assert null.p_permutation > 0.05
    same = paired_comparison(a, a)
    assert same.p_wilcoxon is None and same.mean_diff == 0
    with pytest.raises(ValueError, match="equal-length"):
        paired_comparison(a, a[:3])
