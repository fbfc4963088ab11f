"""A perfect grounding answer survives each engine's decode and scores IoU 1.0 in the reward pool.

Issue 17.1: with `skip_special_tokens=True` a Qwen2-VL answer lost `<|box_start|>` & co. and every
box parsed to nothing. The reference answer's token ids go through the text path of the HF and the
vLLM engine (the one their `generate` uses, checked below), then through the Ray reward pool.
Engines of each tokenizer layout (conftest.VLLM_FAMILIES): the first runs every box format, the
others their family's own.
"""

from __future__ import annotations

import gc

import pytest

from radrl_dist.boxes.box import Box
from radrl_dist.models.families import BOX_FORMAT_NAMES, get_codec
from radrl_dist.config.schema import RewardConfig
from radrl_dist.data.schema import Study
from radrl_dist.models.families import get_family
from radrl_dist.models.prompt_encoding import RolloutRequest, prepare_request
from radrl_dist.models.prompt_inputs import PromptInputs, model_input_size
from radrl_dist.models.tokenizer import end_of_turn_id
from radrl_dist.rewards.pool import RewardPool
from radrl_dist.rewards.pool.types import ScoreRequest
from radrl_dist.rollout.engines import make_engine
from radrl_dist.sft.targets import grounding_target

from .conftest import MAX_PROMPT, VLLM_FAMILIES, make_requests, model_cfg, rollout_cfg

pytest.importorskip("vllm")
pytestmark = pytest.mark.slow

CASES = [(f, bf) for f in VLLM_FAMILIES for bf in (BOX_FORMAT_NAMES if f == VLLM_FAMILIES[0] else (get_family(f).box_format,))]


@pytest.fixture(scope="module", params=VLLM_FAMILIES)
def engines(request, tiny_cache):
    made = {kind: make_engine(rollout_cfg(kind, max_new_tokens=6), model_cfg(tiny_cache, request.param), MAX_PROMPT)
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


@pytest.mark.parametrize(("engines", "box_format"), CASES, indirect=["engines"])
def test_reference_answer_scores_iou_one_through_each_engine(box_format, engines, reward_pool, image_dir):
    study = grounding_study(image_dir)
    reqs, texts = [], {}
    for kind, engine in engines.items():
        prep = prepare_request(engine.processor, RolloutRequest(study, "think_answer"), MAX_PROMPT)
        family = engine.model_cfg.family
        prompt = PromptInputs.from_processor(prep.inputs)
        msize = model_input_size(prompt, family) if get_codec(box_format).needs_model_size else None
        tok = engine.processor.tokenizer
        target = grounding_target(study, box_format, think=True, model_size=msize)
        ids = tok(target, add_special_tokens=False)["input_ids"] + [end_of_turn_id(tok, family)]
        texts[kind] = engine.completion_text(ids)
        assert texts[kind] == target  # markers kept, end of turn dropped
        variants = {kind: texts[kind], f"{kind}-skip-special": tok.decode(ids, skip_special_tokens=True)}
        for name, text in variants.items():
            reqs.append(ScoreRequest(f"{box_format}/{name}", "grounding", text, reference_boxes=tuple(study.boxes),
                                     image_size=(64.0, 80.0), box_format=box_format, model_size=msize))
    got = {r.candidate_id.split("/", 1)[1]: r.components for r in reward_pool.score(reqs)}
    for kind in engines:
        assert got[kind]["iou"] == 1.0, (kind, texts[kind], got[kind])
        assert got[kind]["format_answer"] == 1.0
    # the old decode: Qwen2-VL's boxes vanish with the special tokens (the bug this guards)
    old = got["hf-skip-special"]["iou"]
    assert old == (0.0 if box_format == "qwen2_vl" else 1.0)
