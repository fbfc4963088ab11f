"""Composite reward: routing by task, weights, every component logged, diagnostics, registry."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radrl_dist.boxes.box import Box
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


def _spec(**reward):
    from radrl_dist.config.schema import RewardConfig
    from radrl_dist.rewards.pool.composite_scoring import spec_from_config

    return spec_from_config(RewardConfig(**reward), {"report": "think_report", "grounding": "think_answer"})


GROUNDED = "<think>x</think><answer><|box_start|>(111,562),(412,650)<|box_end|></answer>"  # IoU 88/156 = 0.564


def test_reward_params_from_config_reach_any_component():
    """reward.params sets any component's keyword parameters (not only MCCS/CCS)."""
    texts = ["<answer><|box_start|>(111,562),(412,718)<|box_end|></answer>", "<think>x</think><answer></answer>"]
    w = {"grounding": {"format_answer": 1.0, "iou": 1.0}}
    base = CompositeReward(_spec(weights=w)).score(batch(texts, ["grounding"] * 2))
    assert base.components["grounding/format_answer"][0] == 0.25  # partial credit: no think block
    params = {"format_answer": {"partial_credit": False}, "iou": {"both_empty": 0.0}}
    tuned = CompositeReward(_spec(weights=w, params=params)).score(batch(texts, ["grounding"] * 2))
    assert tuned.components["grounding/format_answer"][0] == 0.0
    no_boxes = RewardBatch(["grounding"], ["<think>x</think><answer>none</answer>"], boxes=[[]], image_sizes=[SRC])
    assert CompositeReward(_spec(weights=w)).score(no_boxes).components["grounding/iou"][0] == 1.0
    assert CompositeReward(_spec(weights=w, params={"iou": {"both_empty": 0.0}})).score(
        no_boxes).components["grounding/iou"][0] == 0.0


def test_unknown_reward_param_names_its_dotted_path():
    with pytest.raises(ValueError, match=r"reward\.params\.iou\.both_emtpy: .*takes \['both_empty', 'match_labels'\]"):
        _spec(params={"iou": {"both_emtpy": 0.0}})
    with pytest.raises(ValueError, match=r"reward\.params\.format_answer_binary\.partial_credit"):
        _spec(params={"format_answer_binary": {"partial_credit": True}})
    with pytest.raises(KeyError, match="unknown reward component 'iuo'"):
        _spec(params={"iuo": {"both_empty": 0.0}})
    with pytest.raises(ValueError, match=r"reward\.params\.neg_radcliq: .*reward\.model_rewards"):
        _spec(params={"neg_radcliq": {"max_chars": 10}})


def test_binary_format_rewards_by_name():
    """BoxMed-RL eq. 8: 1 for a well-formed answer, else 0 (partial credit would give 0.25 / 0.75)."""
    texts = ["<think>a</think><answer>b</answer>", "<answer>b</answer>", "note <think>a</think><answer>b</answer>"]
    spec = {"grounding": {"format_answer_binary": 1.0, "format_answer": 0.0}, "report": {"format_report_binary": 1.0}}
    texts += ["<think>a</think><report>b</report>"]
    res = CompositeReward(spec).score(batch(texts, ["grounding"] * 3 + ["report"]))
    assert res.components["grounding/format_answer_binary"][:3].tolist() == [1.0, 0.0, 0.0]
    assert res.components["grounding/format_answer"][:3].tolist() == [1.0, 0.25, 0.75]
    assert res.components["report/format_report_binary"][3] == 1.0


def test_grounding_reward_variants_by_name():
    """iou: the paper's soft-F1 (= IoU for one box); iou_radvlm_code: the authors' code, 2u/(1+u)."""
    res = CompositeReward({"grounding": {"iou": 1.0, "iou_radvlm_code": 0.0}}).score(batch([GROUNDED], ["grounding"]))
    u = res.components["grounding/iou"][0]
    assert u == pytest.approx(88 / 156, abs=0.01)
    assert res.components["grounding/iou_radvlm_code"][0] == pytest.approx(2 * u / (1 + u), abs=1e-12)


def test_negative_mccs_margin_from_config():
    from radrl_dist.config import load_config

    assert load_config(None, ["reward.mccs_margin=-0.5"]).reward.mccs_margin == -0.5
    from radrl_dist.config.loader import ConfigError

    with pytest.raises(ConfigError, match=r"reward\.mccs_margin"):
        load_config(None, ["reward.mccs_margin=-1.0"])
    lab = RuleLabeler()
    cand, ref = lab.label(["Stable mild cardiomegaly."]), lab.label([REF])  # TEST_VECTORS reports 4 and 2: CCS 0.5
    b = RewardBatch(["report"], ["<report>x</report>"], candidate_labels=cand, reference_labels=ref)
    res = CompositeReward(_spec(weights={"report": {"mccs": 1.0}}, mccs_margin=-0.5)).score(b)
    assert res.total[0] == pytest.approx((0.5 + 0.5) / 1.5, abs=1e-7)
