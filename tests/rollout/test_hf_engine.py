"""HF generate engine on the tiny VLM of every registered family: G candidates, log-probs, weight publish."""

from __future__ import annotations

import pytest

from radrl_dist.data.schema import Study
from radrl_dist.models.families import FAMILY_NAMES
from radrl_dist.models.loading import load_policy
from radrl_dist.models.prompt_encoding import RolloutRequest
from radrl_dist.rollout.engines import make_engine

from .conftest import (
    MAX_PROMPT,
    full_manifest,
    greedy_once,
    load_and_check_greedy,
    lora_manifest,
    make_requests,
    max_logprob_gap,
    model_cfg,
    resolve,
    rollout_cfg,
)

HF_TOL = 1e-4  # measured ~5e-7 (KV-cached generate vs one full forward, float32)


@pytest.fixture(scope="module", params=FAMILY_NAMES)
def engine(request, tiny_cache):
    return make_engine(rollout_cfg("hf", temperature=0.7), model_cfg(tiny_cache, request.param), MAX_PROMPT)


def test_g_candidates_and_logprobs_match_learner(engine, image_dir, tiny_cache):
    reqs = make_requests(image_dir, 3)
    rolls = engine.generate(reqs)
    assert [r.study_id for r in rolls] == ["s0", "s1", "s2"]
    for r in rolls:
        assert r.ok and len(r.candidates) == 3
        assert [c.sample_index for c in r.candidates] == [0, 1, 2]
        for c in r.candidates:
            assert 1 <= c.num_tokens <= 8 and len(c.logprobs) == c.num_tokens
            assert not set(c.token_ids) & set(engine.suppress_ids)
            assert c.weight_version == 0 and c.engine_id == "engine-0"
            assert (c.finish_reason == "stop") == (c.token_ids[-1] in engine.stop_ids)
    model = load_policy(resolve(tiny_cache, engine.model_cfg.family))
    gap = max_logprob_gap(engine, model, reqs, rolls, temperature=0.7)
    print(f"hf engine {engine.model_cfg.family}: max |behaviour - learner| log-prob = {gap:.2e}")
    assert gap < HF_TOL


def test_too_long_prompt_and_bad_image_are_per_study_errors(engine, image_dir, tiny_cache):
    ok = make_requests(image_dir, 1)[0]
    long = RolloutRequest(Study("long", ok.study.image_paths, "report", prompt_vars={"instruction": "lungs " * 400}))
    missing = RolloutRequest(Study("missing", [str(image_dir / "nope.png")], "report"))
    rolls = engine.generate([long, ok, missing])
    assert "PromptTooLongError" in rolls[0].error and "never truncated" in rolls[0].error
    assert rolls[1].ok and len(rolls[1].candidates) == 3
    assert "ImageLoadError" in rolls[2].error


def test_full_then_rejects_lora(engine, image_dir, tiny_cache):
    if engine.model_cfg.family != "qwen2_vl":
        pytest.skip("weight publish checked on one family")
    req = make_requests(image_dir, 1)[0]
    before = greedy_once(engine, req).token_ids
    got = load_and_check_greedy(engine, req, *full_manifest(resolve(tiny_cache), version=1))
    assert got.token_ids != before
    lora, _ = lora_manifest(resolve(tiny_cache), version=2)
    with pytest.raises(ValueError, match="cannot follow a full-weight"):
        engine.load_weights(lora)


def test_lora_publish_matches_peft_merge(tiny_cache, image_dir):
    engine = make_engine(rollout_cfg("hf"), model_cfg(tiny_cache), MAX_PROMPT)
    req = make_requests(image_dir, 1)[0]
    for version, seed in ((1, 2), (2, 3)):  # the second adapter is merged against W0, not on top of the first
        load_and_check_greedy(engine, req, *lora_manifest(resolve(tiny_cache), version=version, seed=seed))


def test_a_load_failing_half_way_serves_no_version_until_reloaded(tiny_cache):
    """The HF load copies tensor by tensor; one that fails after some copies must not leave the engine
    claiming its old version with a mix of old and new weights (the pool's version gate relies on it)."""
    import torch

    from radrl_dist.rollout.engine import LOADING
    from radrl_dist.weight_sync.manifest import WeightManifest, pack_state

    engine = make_engine(rollout_cfg("hf"), model_cfg(tiny_cache), MAX_PROMPT)
    good, _ = full_manifest(resolve(tiny_cache), version=1)
    state = {n: t.clone() for n, t in engine.model.state_dict().items() if "language_model" in n and t.ndim == 2}
    names = sorted(state)
    state[names[-1]] = state[names[-1]].reshape(-1)  # same bytes, wrong shape: fails after the others copied
    entries, buckets = pack_state([(n, state[n] + 1.0) for n in names], 64 * 1024)
    with pytest.raises(ValueError, match="manifest shape"):
        engine.load_weights(WeightManifest(1, "full", entries, buckets))
    assert engine.version == LOADING
    assert not torch.equal(engine.model.state_dict()[names[0]], state[names[0]])  # it was half-loaded
    assert engine.load_weights(good) == 1  # a whole version brings it back
