"""-RadCliQ and BERTScore through the reward pool on a local Ray with tiny models: the actors host
the scorers, the records equal the in-process composite (within float32 batching noise), and a
missing checkpoint fails the actor's start naming it."""

from __future__ import annotations

import numpy as np
import pytest

from radrl_dist.config.schema import ModelRewardsConfig, RewardConfig
from radrl_dist.rewards.composite import CompositeReward, RewardBatch
from radrl_dist.rewards.pool import RewardPool, ScoreRequest
from radrl_dist.rewards.pool.composite_scoring import spec_from_config

from .conftest import CANDS, REFS


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             logging_level="ERROR", log_to_driver=False)
    yield ray
    ray.shutdown()


def test_pool_scores_model_based_rewards_like_in_process(ray_local, tiny_paths, tmp_path):
    mr = ModelRewardsConfig(bertscore_model=tiny_paths["bertscore_model"], chexbert=tiny_paths["chexbert"],
                            radgraph="lexicon")
    cfg = RewardConfig(weights={"report": {"neg_radcliq": 1.0, "bertscore": 0.5, "format_report": 0.1},
                                "grounding": {"iou": 1.0}}, model_rewards=mr, cpus_per_actor=0.25,
                       router_cpus=0.25, retry_backoff_s=0.02)
    texts = [f"<think>t{i}</think><report>{c}</report>" for i, c in enumerate(CANDS)] + ["", "no report tags here"]
    refs = REFS + REFS[:2]
    reqs = [ScoreRequest(f"r{i}", "report", t, reference_text=r) for i, (t, r) in enumerate(zip(texts, refs))]
    pool = RewardPool.create(cfg, name="mb-pool", namespace="test-mb")
    try:
        got = pool.score(reqs, timeout=120)
        info = pool.status()["actors"][0]
    finally:
        pool.shutdown()
    direct = CompositeReward(spec_from_config(cfg)).score(
        RewardBatch(tasks=["report"] * len(reqs), texts=texts, reference_reports=refs))
    np.testing.assert_allclose([g.reward for g in got], direct.total, atol=1e-5, rtol=0)
    for j, g in enumerate(got):
        want = {k.split("/", 1)[1]: v[j] for k, v in direct.components.items()}
        assert set(g.components) == set(want)
        np.testing.assert_allclose([g.components[k] for k in sorted(want)], [want[k] for k in sorted(want)],
                                   atol=1e-5, rtol=0)
        assert g.labeler_name is None  # no label component: the labeller was never asked
    assert [g.components["neg_radcliq"] for g in got[-2:]] == [-3.0, -3.0]
    assert [g.components["neg_radcliq.failed"] for g in got] == [0.0] * 5 + [1.0, 1.0]
    np.testing.assert_allclose([g.components["neg_radcliq"] for g in got[:5]],
                               [-g.components["neg_radcliq.radcliq"] for g in got[:5]])
    assert {"neg_radcliq.bertscore", "neg_radcliq.radgraph", "neg_radcliq.semb", "bertscore.precision"} <= set(got[0].components)
    assert set(info["info"]["scorers"]) == {"neg_radcliq", "bertscore"}


def test_missing_checkpoint_fails_the_actor_start_naming_it(tmp_path):
    """The actor (its plain class, as Ray starts it) reports the bad path; the router then refuses
    to start or swap to it (pool/members.py turns info()["error"] into SwapError)."""
    from radrl_dist.rewards.pool.actor import RewardActorImpl

    actor = RewardActorImpl("rules", scorers={"bertscore": {"bertscore_model": str(tmp_path / "distilroberta-base")}})
    assert "distilroberta-base" in actor.info()["error"] and "BERTScore" in actor.info()["error"]
    with pytest.raises(RuntimeError, match="did not load"):
        actor.score_pairs([(("bertscore",), "a", "b")])
