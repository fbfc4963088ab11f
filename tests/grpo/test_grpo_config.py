"""The grpo.* options exist in config exactly as the pure functions name them, and reach the learner."""

import math
import os
import socket

import pytest
import torch

from radrl_dist.config import load_config
from radrl_dist.config.loader import ConfigError
from radrl_dist.config.schema import GRPOConfig
from radrl_dist.grpo.advantages import ADVANTAGE_MODES, group_advantages

GUARDS = ("logratio_clamp", "kl_clamp", "dual_clip")


def test_every_advantage_mode_in_config_is_implemented():
    modes = GRPOConfig.model_fields["advantage"].annotation.__args__
    assert set(modes) == set(ADVANTAGE_MODES) == {"std", "population_std", "no_std"}
    for m in modes:
        assert group_advantages(torch.tensor([[0.0, 1.0]]), mode=m).advantages.shape == (1, 2)


def test_guards_default_off_and_bad_values_name_their_path():
    assert all(getattr(GRPOConfig(), g) is None for g in GUARDS)
    cfg = load_config(None, ["grpo.logratio_clamp=20", "grpo.kl_clamp=10", "grpo.dual_clip=3"])
    assert (cfg.grpo.logratio_clamp, cfg.grpo.kl_clamp, cfg.grpo.dual_clip) == (20.0, 10.0, 3.0)
    with pytest.raises(ConfigError, match=r"grpo\.dual_clip"):
        load_config(None, ["grpo.dual_clip=1.0"])
    with pytest.raises(ConfigError, match=r"grpo\.kl_clamp"):
        load_config(None, ["grpo.kl_clamp=0"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_learner_passes_the_guards_to_the_loss(tiny_vlm_dir):
    """A real LearnerWorker (DeepSpeed, gloo, tiny Qwen2-VL) on candidates whose behaviour log-probs
    are 100 nats below the policy's and whose advantage is 0: inf * 0 = NaN unless the config's
    logratio_clamp reaches grpo_loss."""
    import torch.distributed as dist

    from radrl_dist.learner.batch import plan_step
    from radrl_dist.learner.synthetic import synthetic_candidates
    from radrl_dist.learner.worker import LearnerWorker

    path = tiny_vlm_dir("qwen2_vl")
    cands = synthetic_candidates(path, n_prompts=1, group_size=2, max_len=6, seed=0, min_pixels=3136, max_pixels=20480)
    for c in cands:
        c.behaviour_logps = c.behaviour_logps - 100.0
        c.advantage = 0.0
    cfg = load_config(None, ["learner.zero_stage=0", "grpo.beta=0", "grpo.logratio_clamp=20"])
    worker = LearnerWorker(cfg, 0, 1, str(path), total_updates=2)
    env = dict(os.environ)  # setup() writes RANK/WORLD_SIZE/MASTER_*: leave the session's env as found
    try:
        worker.setup("127.0.0.1", _free_port())
        [out] = worker.train_step(plan_step(cands, 1, 4, 1)[0])
        guarded = out["parts"][0]["loss"]
        worker.cfg = load_config(None, ["learner.zero_stage=0", "grpo.beta=0"])  # the same batch, guards off
        [bare] = worker.train_step(plan_step(cands, 1, 4, 1)[0])
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        os.environ.clear()
        os.environ.update(env)
    assert guarded == 0.0 and math.isnan(bare["parts"][0]["loss"])
