"""Composite reward: routing by task, weights, every component logged, diagnostics, registry."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radrl_dist.data.schema import Box
from radrl_dist.labelers.base import Labeler
from radrl_dist.labelers.rules import RuleLabeler
from radrl_dist.rewards import CompositeReward, CompositeSpec, RewardBatch, get_reward, known_rewards, register_reward

SPEC = {"report": {"mccs": 0.75, "format_report": 0.25}, "grounding": {"iou": 1.0, "format_answer": 1.0}}
REF = "Left pleural effusion with adjacent atelectasis. Cardiomegaly without overt edema."
SRC = (1767, 2021)
MSCXR = Box(196, 1136, 728, 1451)


class CountingLabeler(Labeler):
    """The rule labeler, counting calls (to check precomputed labels are used)."""

    def __init__(self) -> None:
        self.inner, self.calls = RuleLabeler(), 0

    name = property(lambda self: "counting")
    version = property(lambda self: "counting-1")

    def label(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        return self.inner.label(texts)


def batch(texts, tasks, **kw) -> RewardBatch:
    n = len(texts)
    return RewardBatch(tasks=tasks, texts=texts, reference_reports=[REF] * n, boxes=[[MSCXR]] * n,
                       image_sizes=[SRC] * n, **kw)


def test_weighted_sum_routed_by_task():
    texts = [f"<think>look</think><report>{REF}</report>",  # perfect: 0.75 * 1 + 0.25 * 1
             f"<report>{REF}</report>",  # no think: 0.75 + 0.25 * 0.25
             "<think>x</think><answer><|box_start|>(111,562),(412,718)<|box_end|></answer>",
             "<think>x</think><answer>nothing</answer>"]
    res = CompositeReward(SPEC).score(batch(texts, ["report", "report", "grounding", "grounding"]))
    np.testing.assert_allclose(res.total[:2], [1.0, 0.75 + 0.0625], atol=1e-6)
    assert res.total[2] == pytest.approx(2.0, abs=0.01) and res.total[3] == 1.0
    assert set(res.components) == {"report/mccs", "report/format_report", "grounding/iou", "grounding/format_answer"}
    assert np.isnan(res.components["report/mccs"][2:]).all() and np.isnan(res.components["grounding/iou"][:2]).all()
    assert res.diagnostics["box_parse_failure"] == 1 and res.diagnostics["missing_answer_tag"] == 0
    s = res.summary()
    assert s["reward/report/format_report/mean"] == pytest.approx((1 + 0.25) / 2) and "reward/box_parse_failure" in s


def test_empty_and_garbled_outputs_score_zero_and_are_counted():
    spec = CompositeSpec.from_dict({"weights": {"report": {"mccs": 1.0}}, "params": {"mccs": {"both_blank": 1.0}}})
    texts = ["", "   ", "Stable mild cardiomegaly.", "<think>cardiomegaly"]
    res = CompositeReward(spec).score(RewardBatch(["report"] * 4, texts, reference_reports=["Lungs are clear."] * 4))
    # "" would be all blank like the normal reference (both_blank = 1.0), yet empty output scores 0
    assert res.total.tolist()[:2] == [0.0, 0.0]
    assert res.diagnostics["empty_output"] == 2 and res.diagnostics["missing_answer_tag"] == 2
    assert res.total[3] == 1.0  # unclosed think -> "" -> blank vs blank reference = both_blank
    zero = CompositeSpec(weights={"report": {"mccs": 1.0}}, on_missing="zero")
    res = CompositeReward(zero).score(RewardBatch(["report"], ["Cardiomegaly."], reference_reports=["Cardiomegaly."]))
    assert res.total[0] == 0.0 and res.diagnostics["missing_answer_tag"] == 1


def test_precomputed_labels_skip_the_labeler_and_plain_format():
    lab = CountingLabeler()
    spec = CompositeSpec(weights={"report": {"mccs": 1.0, "ce_f1": 0.0}}, answer_tags={"report": None})
    ref = RuleLabeler().label([REF])
    b = RewardBatch(["report"] * 2, [REF, "No edema."], reference_labels=np.repeat(ref, 2, 0),
                    candidate_labels=np.repeat(ref, 2, 0))
    res = CompositeReward(spec, labeler=lab).score(b)
    assert lab.calls == 0 and res.total[1] == pytest.approx(1.0, abs=1e-6)
    b.candidate_labels = None
    res = CompositeReward(spec, labeler=lab).score(b)
    assert lab.calls == 1 and res.total[0] == pytest.approx(1.0, abs=1e-6) and res.total[1] < 1.0
    assert res.diagnostics["missing_answer_tag"] == 0  # plain format: no tag expected


def test_spec_validation_and_registry():
    with pytest.raises(KeyError, match="unknown reward component 'bleu5'"):
        CompositeSpec(weights={"report": {"bleu5": 1.0}})
    with pytest.raises(ValueError, match="unknown task"):
        CompositeSpec(weights={"vqa": {"mccs": 1.0}})
    with pytest.raises(ValueError, match="finite"):
        CompositeSpec(weights={"report": {"mccs": float("nan")}})
    with pytest.raises(ValueError, match="no reward weights for task 'grounding'"):
        CompositeReward({"report": {"mccs": 1.0}}).score(batch(["x"], ["grounding"]))
    assert {"mccs", "ccs", "ce_f1", "format_report", "format_answer", "iou"} <= set(known_rewards())

    @register_reward("test_len")
    def length(view) -> np.ndarray:
        return np.array([len(t) for t in view.answers], dtype=float)

    assert get_reward("test_len") is length
    res = CompositeReward({"report": {"test_len": 0.5}}).score(batch(["<report>abcd</report>"], ["report"]))
    assert res.total[0] == 2.0


def test_nlg_rewards_resolve_by_name():
    pytest.importorskip("radrl_dist.rewards.nlg")
    res = CompositeReward({"report": {"rouge_l": 1.0}}).score(batch([f"<report>{REF}</report>", "<report>x</report>"],
                                                                   ["report", "report"]))
    assert res.total[0] == pytest.approx(1.0, abs=1e-6) and res.total[1] < 0.2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["report", "grounding"]),
                          st.one_of(st.text(max_size=120), st.sampled_from([
                              "<think>a</think><answer><|box_start|>(1,2),(3", "<report>no edema</report>",
                              "<answer>[0.1, 0.2, 0.3, 0.4]</answer>"]))), min_size=1, max_size=6))
def test_any_output_scores_in_range(samples):
    tasks, texts = [s[0] for s in samples], [s[1] for s in samples]
    res = _CR.score(batch(texts, tasks))
    assert res.total.shape == (len(texts),) and not np.isnan(res.total).any()
    assert (res.total >= 0).all() and (res.total <= 2.0 + 1e-9).all()


_CR = CompositeReward(SPEC)
