"""RadCliQ-v1's combination against a hand computation with the published constants, and
RadVLM-GRPO's reward handling (-RadCliQ; -3 for empty, failed or tag-less answers)."""

import numpy as np
import pytest

from radrl_dist.rewards.composite import CompositeReward, RewardBatch
from radrl_dist.rewards.model_based.factory import build_scorer
from radrl_dist.rewards.model_based.radcliq import neg_radcliq_reward, prepare, radcliq_v1

from .conftest import CANDS, REFS


def hand_radcliq(radgraph, bertscore, semb, bleu):
    # CXR-Report-Metric radcliq-v1.pkl as restated by RadEval: z-score with the published scaler,
    # then coefficients [radgraph, bertscore, s_emb, bleu] and the intercept
    return ((radgraph - 0.53792312) / 0.30282584 * -3.77083683e-01
            + (bertscore - 0.61757256) / 0.22430938 * -3.70300100e-01
            + (semb - 0.76479421) / 0.25394391 * -2.52616218e-01
            + (bleu - 0.44738335) / 0.29892717 * 4.31504841e-12
            + 2.46655256e-10)


@pytest.mark.parametrize("x", [(0.5, 0.6, 0.7, 0.3), (0.0, 0.0, 0.0, 0.0), (1.0, 1.0, 1.0, 1.0), (0.25, -0.4, 0.9, 0.1)])
def test_combination_equals_hand_computation(x):
    assert radcliq_v1(np.array([x]))[0] == pytest.approx(hand_radcliq(*x), abs=1e-12)


def test_known_points():
    mean = np.array([[0.53792312, 0.61757256, 0.76479421, 0.44738335]])
    assert radcliq_v1(mean)[0] == pytest.approx(2.46655256e-10, abs=1e-15)
    # a perfect report (all four inputs 1) and an empty one (all 0): lower is better
    assert radcliq_v1(np.ones((1, 4)))[0] == pytest.approx(-1.44069, abs=1e-5)
    assert radcliq_v1(np.zeros((1, 4)))[0] == pytest.approx(2.45014, abs=1e-5)


def test_reward_is_minus_radcliq_with_minus_three_for_empty_failed_and_tagless():
    rc = np.array([0.8, -1.0, 0.3, np.nan, 0.2])
    answers = ["small left effusion.", "clear lungs", "lungs", "heart normal", "no acute disease"]
    ok = np.array([True, True, True, True, False])
    r, bad = neg_radcliq_reward(rc, answers, ok)
    np.testing.assert_array_equal(r, [-0.8, 1.0, -3.0, -3.0, -3.0])  # "lungs" has 5 chars -> empty
    np.testing.assert_array_equal(bad, [False, False, True, True, True])


def test_texts_are_lowercased_and_cut_at_2048_chars():
    assert prepare("No Effusion." + "x" * 3000) == ("no effusion." + "x" * 3000)[:2048]


def test_scorer_parts_combine_to_value_and_composite_gives_minus_radcliq(tiny_params):
    s = build_scorer("radcliq", tiny_params)
    parts = s.score_parts(CANDS, REFS)
    want = hand_radcliq(parts["radgraph"], parts["bertscore"], parts["semb"], parts["bleu"])
    np.testing.assert_allclose(parts["value"], want, rtol=0, atol=1e-12)
    # lowercasing happens inside: upper-case candidates score the same
    np.testing.assert_array_equal(s.score([c.upper() for c in CANDS], REFS), parts["value"])

    spec = {"weights": {"report": {"neg_radcliq": 1.0, "format_report": 0.5}}, "params": {"neg_radcliq": tiny_params}}
    texts = [f"<think>t</think><report>{c}</report>" for c in CANDS[:3]] + ["   ", "<think>no tags</think> " + CANDS[3]]
    res = CompositeReward(spec).score(RewardBatch(tasks=["report"] * 5, texts=texts, reference_reports=REFS))
    got = res.components["report/neg_radcliq"]
    np.testing.assert_allclose(got[:3], -parts["value"][:3], rtol=0, atol=1e-9)
    assert got[3] == -3.0 and got[4] == -3.0  # empty output, missing <report> block
    np.testing.assert_array_equal(res.components["report/neg_radcliq.failed"], [0, 0, 0, 1, 1])
    np.testing.assert_allclose(res.total, got + 0.5 * res.components["report/format_report"])
    assert "reward/report/neg_radcliq.bertscore/mean" in res.summary()
