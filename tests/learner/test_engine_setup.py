import math
import re

import pytest

from radrl_dist.config.schema import RadRLConfig
import torch

from radrl_dist.learner.engine_setup import build_optimizer, ds_config, lora_target_regex, lr_multiplier


def test_cosine_with_warmup_shape():
    f = lr_multiplier("cosine", 10, 0.2)
    assert [f(0), f(1)] == [0.5, 1.0]
    assert f(2) == 1.0 and f(10) == pytest.approx(0.0)
    assert f(6) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_multiplier("cosine", 4, 0.0)(0) == 1.0


def test_constant_schedule_is_verls_warmup_then_flat():
    f = lr_multiplier("constant", 10, 0.2)
    assert [f(0), f(1), f(2), f(9), f(10)] == [0.5, 1.0, 1.0, 1.0, 1.0]


def test_optimizer_follows_the_configured_schedule():
    p = torch.nn.Parameter(torch.zeros(2))
    for schedule, lr_at_end in (("cosine", 0.0), ("constant", 1e-3)):
        cfg = RadRLConfig.model_validate({"learner": {"lr": 1e-3, "lr_schedule": schedule}})
        opt, sched = build_optimizer([("w", p)], cfg, total_updates=4)
        for _ in range(4):
            opt.step()
            sched.step()
        assert opt.param_groups[0]["lr"] == pytest.approx(lr_at_end)


def test_lora_regex_keeps_vision_frozen_unless_asked():
    rx = lora_target_regex(["q_proj", "gate_proj"], include_vision=False)
    assert re.fullmatch(rx, "model.language_model.layers.0.self_attn.q_proj")
    assert not re.fullmatch(rx, "model.visual.blocks.0.mlp.gate_proj")  # Qwen2.5-VL's vision MLP names
    assert not re.fullmatch(rx, "model.language_model.layers.0.self_attn.q_proj.lora_A")
    assert re.fullmatch(lora_target_regex(["gate_proj"], True), "model.visual.blocks.0.mlp.gate_proj")


@pytest.mark.parametrize("stage", [0, 1, 2, 3])
def test_ds_config_from_learner_config(stage):
    cfg = RadRLConfig.model_validate({"learner": {"zero_stage": stage, "grad_clip": 0.5, "micro_batch_size": 3}})
    c = ds_config(cfg, on_gpu=False)
    assert c["zero_optimization"]["stage"] == stage and c["gradient_clipping"] == 0.5
    assert c["bf16"]["enabled"] is False and ds_config(cfg, on_gpu=True)["bf16"]["enabled"] is True
    assert c["managed_gradient_accumulation"] is False
