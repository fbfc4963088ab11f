"""A perfect grounding answer survives each engine's decode and scores IoU 1.0 in the reward pool.

Issue 17.1: with `skip_special_tokens=True` a Qwen2-VL answer lost `<|box_start|>` & co. and every
box parsed to nothing. The reference answer's token ids go through the text path of the HF and the
vLLM engine (the one their `generate` uses, checked below), then through the Ray reward pool.
"""

from __future__ import annotations

import gc

import pytest

from radrl_dist.config.schema import RewardConfig
from radrl_dist.data.schema import Box, Study
from radrl_dist.learner.batch import PromptInputs
from radrl_dist.rewards.pool import RewardPool
from radrl_dist.rewards.pool.types import ScoreRequest
from radrl_dist.rollout.engine import make_engine
from radrl_dist.rollout.prepare import prepare_request
from radrl_dist.rollout.types import RolloutRequest
from radrl_dist.sft.targets import grounding_target
from radrl_dist.train.assemble import model_input_size

from .conftest import MAX_PROMPT, make_requests, model_cfg, rollout_cfg

pytest.importorskip("vllm")
pytestmark = pytest.mark.slow

FORMATS = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "radvlm")


@pytest.fixture(scope="module")
def engines(tiny_cache):
    made = {kind: make_engine(rollout_cfg(kind, max_new_tokens=6), model_cfg(tiny_cache), MAX_PROMPT)
            for kind in ("hf", "vllm")}
    yield made
    made.clear()  # the in-process vLLM engine goes before the next module builds its own
    gc.collect()


@pytest.fixture(scope="module")
def reward_pool():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             logging_level="ERROR", log_to_driver=False)
    pool = RewardPool.create(RewardConfig(cpus_per_actor=0.25, router_cpus=0.25), name="decode-test", namespace="test",
                             prompt_formats={"grounding": "think_answer"})
    yield pool
    pool.shutdown()
    ray.shutdown()


def grounding_study(image_dir) -> Study:
    """Boxes on quarters of the 64 x 80 image: exact on every family's grid (IoU exactly 1.0)."""
    boxes = [Box(16, 20, 48, 60, label="Pneumonia", phrase="Pneumonia"), Box(0, 0, 32, 40, label="Nodule", phrase="Nodule")]
    return Study("g0", [str(image_dir / "img0.png")], "grounding", boxes=boxes, image_size=(64, 80))


def test_generate_text_is_the_engines_completion_text(engines, image_dir):
    for engine in engines.values():
        for roll in engine.generate(make_requests(image_dir, 1), n=2):
            for c in roll.candidates:
                assert c.text == engine.completion_text(c.token_ids)


@pytest.mark.parametrize("box_format", FORMATS)
def test_reference_answer_scores_iou_one_through_each_engine(box_format, engines, reward_pool, image_dir):
    study = grounding_study(image_dir)
    reqs, texts = [], {}
    for kind, engine in engines.items():
        prep = prepare_request(engine.processor, RolloutRequest(study, "think_answer"), MAX_PROMPT)
        msize = model_input_size(PromptInputs.from_processor(prep.inputs)) if box_format == "qwen2_5_vl" else None
        tok = engine.processor.tokenizer
        target = grounding_target(study, box_format, think=True, model_size=msize)
        ids = tok(target, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        texts[kind] = engine.completion_text(ids)
        assert texts[kind] == target  # markers kept, end of turn dropped
        variants = {kind: texts[kind], f"{kind}-skip-special": tok.decode(ids, skip_special_tokens=True)}
        for name, text in variants.items():
            reqs.append(ScoreRequest(f"{box_format}/{name}", "grounding", text, reference_boxes=tuple(study.boxes),
                                     image_size=(64.0, 80.0), model_family=box_format, model_size=msize))
    got = {r.candidate_id.split("/", 1)[1]: r.components for r in reward_pool.score(reqs)}
    for kind in engines:
        assert got[kind]["iou"] == 1.0, (kind, texts[kind], got[kind])
        assert got[kind]["format_answer"] == 1.0
    # the old decode: Qwen2-VL's boxes vanish with the special tokens (the bug this guards)
    old = got["hf-skip-special"]["iou"]
    assert old == (0.0 if box_format == "qwen2_vl" else 1.0)
