"""Pure pieces of the by-reference step hand-off (no Ray): score requests built where the candidates
are, rewards -> advantages per chunk, the learner's candidates rebuilt from the rollout objects,
per-rank metric sums, and the reward summary the driver receives."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from radrl_dist.data.schema import Study
from radrl_dist.grpo.loss import merge_loss_stats
from radrl_dist.learner.batch import candidates_from_rollouts, plan_step
from radrl_dist.learner.worker import _sum_parts
from radrl_dist.models.prompt_inputs import PromptInputs, model_input_size
from radrl_dist.rewards.pool.step_scores import StepScores, reward_metrics, summarise
from radrl_dist.rewards.pool.types import ScoreResult
from radrl_dist.rollout.handoff import ChunkRefs, study_score_requests
from radrl_dist.rollout.types import SampledCompletion, StudyRollout
from radrl_dist.train.assemble import sample_rows, step_advantages


def _roll(sid: str, tokens: list[list[int]], prompt=(1, 2, 3)) -> StudyRollout:
    cands = [SampledCompletion(sid, "report", i, f"text {sid} {i}", list(t), [-0.5] * len(t), list(prompt), "stop", 7, "e0", 0.1)
             for i, t in enumerate(tokens)]
    return StudyRollout(sid, cands)


def _chunk(ids: list[str], counts: list[int]) -> ChunkRefs:
    return ChunkRefs(ids, counts, None, None, None)


def _result(cid: str, reward: float) -> ScoreResult:
    return ScoreResult(cid, "report", reward, {"mccs": reward}, "rules", "v1")


def test_score_requests_from_the_rollout_side():
    st = Study("a|report", ["x.png"], "grounding", "ref", [0] * 14, image_size=(640, 480))
    roll = _roll("a|report", [[5], [6, 7]])
    prompt = PromptInputs(torch.arange(4), image_grid_thw=torch.tensor([[1, 4, 6]]))
    reqs = study_score_requests(3, st, roll, "qwen2_5_vl", prompt, "qwen2_5_vl")
    assert [q.candidate_id for q in reqs] == ["s3/a|report/0", "s3/a|report/1"]
    assert reqs[1].text == "text a|report 1" and reqs[0].reference_labels == (0,) * 14
    assert reqs[0].image_size == (640.0, 480.0) and reqs[0].box_format == "qwen2_5_vl"
    assert reqs[0].model_size == model_input_size(prompt, "qwen2_5_vl") is not None
    assert study_score_requests(3, st, roll, "qwen2_vl", prompt, "qwen2_vl")[0].model_size is None


def test_step_advantages_per_chunk_and_failed_studies():
    chunks = [_chunk(["a", "b"], [2, 0]), _chunk(["c"], [2])]  # b failed: no candidates
    scores = StepScores([np.array([1.0, 0.0]), np.array([0.5, 0.5])], {}, "v1", 4)
    adv = step_advantages(chunks, scores, "std", 1e-6, skip_zero_spread=True)
    assert list(adv.by_study) == ["a"]  # c has zero spread and is dropped
    assert adv.by_study["a"][0] > 0 > adv.by_study["a"][1]
    assert adv.rewards_by_study == {"a": [1.0, 0.0], "c": [0.5, 0.5]}
    assert adv.zero_spread_fraction == 0.5 and adv.dropped_groups == 1 and adv.num_candidates == 2
    kept = step_advantages(chunks, scores, "std", 1e-6, skip_zero_spread=False)
    assert kept.by_study["c"] == [0.0, 0.0] and kept.dropped_groups == 0
    with pytest.raises(ValueError, match="3 candidates"):
        step_advantages([_chunk(["a", "b"], [2, 1])], StepScores([np.array([1.0, 0.0])], {}, None, 2), "std", 1e-6, False)


def test_candidates_from_rollouts_share_prompts_and_skip_empty():
    rolls = [_roll("a", [[5, 6], []]), _roll("b", [[7], [8, 9, 10]]), _roll("z", [[1], [2]])]
    prompts = {s: PromptInputs(torch.tensor([1, 2, 3])) for s in ("a", "b", "z")}
    cands = candidates_from_rollouts(rolls, prompts, {"a": [1.0, -1.0], "b": [0.5, -0.5]})  # z: dropped group
    assert [(c.meta["study_id"], c.meta["sample_index"], c.advantage) for c in cands] == [
        ("a", 0, 1.0), ("b", 0, 0.5), ("b", 1, -0.5)]
    assert cands[1].prompt is cands[2].prompt and cands[2].completion_ids.tolist() == [8, 9, 10]
    assert cands[0].version == 7 and cands[0].behaviour_logps.tolist() == [-0.5, -0.5]
    with pytest.raises(ValueError, match="1 advantages for 2 candidates"):
        candidates_from_rollouts(rolls, prompts, {"a": [1.0]})
    with pytest.raises(RuntimeError, match="prompt tokens differ"):
        candidates_from_rollouts(rolls, {**prompts, "a": PromptInputs(torch.tensor([9]))}, {"a": [1.0, -1.0]})
    # every rank builds the same list and so the same plan
    again = candidates_from_rollouts(rolls, prompts, {"a": [1.0, -1.0], "b": [0.5, -0.5]})
    shape = lambda p: [[[c.meta["sample_index"] for c in mb] for mb in u.micro_batches] for r in p for u in r]  # noqa: E731
    assert shape(plan_step(cands, 2, 1)) == shape(plan_step(again, 2, 1))


def test_rank_sums_merge_like_micro_batches():
    parts = [{"loss": 0.25, "pg_loss": 0.2, "tokens": 3.0, "seqs": 1.0, "kl_sum": 0.3, "entropy_sum": 1.5,
              "ratio_sum": 3.0, "clip_low_sum": 1.0, "clip_high_sum": 0.0, "clip_dual_sum": 0.0},
             {"loss": -0.5, "pg_loss": -0.4, "tokens": 5.0, "seqs": 2.0, "kl_sum": 0.1, "entropy_sum": 2.0,
              "ratio_sum": 5.5, "clip_low_sum": 0.0, "clip_high_sum": 2.0, "clip_dual_sum": 1.0}]
    other_rank = [dict(parts[0], loss=0.125)]
    assert merge_loss_stats([_sum_parts(parts), _sum_parts(other_rank)]) == pytest.approx(merge_loss_stats(parts + other_rank))


def test_summary_keeps_one_float_per_candidate():
    chunks = [[_result("s1/a/0", 1.0), _result("s1/a/1", 0.0)], [_result("s1/b/0", 0.5)]]
    s = summarise(chunks)
    assert [r.tolist() for r in s.rewards] == [[1.0, 0.0], [0.5]] and s.scored == 3 and s.labeler_version == "v1"
    assert s.metrics == reward_metrics([r for c in chunks for r in c])
    assert math.isclose(s.metrics["reward/mean"], 0.5)
    assert summarise([]).scored == 0


def test_sample_rows_in_study_order_up_to_limit():
    studies = [Study("b", ["x.png"], "report", "ref b"), Study("a", ["x.png"], "report", "ref a")]
    rolls = {"a": _roll("a", [[1], [2]]), "b": _roll("b", [[3], [4]])}
    rows = sample_rows(studies, rolls, {"a": [0.1, 0.2], "b": [0.3, 0.4]}, limit=3)
    assert [(r["study_id"], r["reward"]) for r in rows] == [("b", 0.3), ("b", 0.4), ("a", 0.1)]
    assert rows[0]["reference"] == "ref b" and rows[0]["version"] == 7
