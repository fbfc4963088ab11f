"""bench/parity_trl.py: the trl side is configured as the alignment table says, and the schedule check
reads radrl's post-step learning rate correctly. Pure (no training)."""

import numpy as np
import pytest

pytest.importorskip("trl")

from bench import parity_trl  # noqa: E402


def test_trl_config_is_the_aligned_algorithm(tmp_path):
    job = parity_trl.Job()
    cfg = parity_trl.trl_config(job, tmp_path, seed=3, trl_set={})
    assert (cfg.loss_type, cfg.scale_rewards, cfg.use_bias_correction_kl) == ("dapo", "group", False)
    assert (cfg.num_iterations, cfg.importance_sampling_level, cfg.mask_truncated_completions) == (1, "token", False)
    assert (cfg.beta, cfg.epsilon, cfg.epsilon_high) == (job.beta, job.clip_low, job.clip_high)
    assert (cfg.temperature, cfg.top_p, cfg.top_k) == (job.temperature, 1.0, 0)
    assert cfg.num_generations == job.group_size
    assert cfg.per_device_train_batch_size == job.studies_per_step * job.group_size  # one step = one batch
    assert (cfg.learning_rate, cfg.adam_beta2, cfg.max_grad_norm, cfg.warmup_steps) == (job.lr, 0.99, 1.0, 0)
    assert cfg.shuffle_dataset is False and cfg.max_steps == job.steps and cfg.seed == 3


def test_a_flipped_setting_reaches_trl(tmp_path):
    cfg = parity_trl.trl_config(parity_trl.Job(), tmp_path, 0, parity_trl.parse_sets(["use_bias_correction_kl=true"]))
    assert cfg.use_bias_correction_kl is True
    with pytest.raises(SystemExit, match="--trl-set wants KEY=VALUE"):
        parity_trl.parse_sets(["use_bias_correction_kl"])


def test_lr_check_reads_radrl_post_step_rates():
    radrl = [{"curves": {"lr": [1e-3, 0.0]}}]  # logged after the scheduler step: the next update's rate
    trl = [{"curves": {"lr": [2e-3, 1e-3]}}]  # the rate each step used
    assert parity_trl.lr_agreement(radrl, trl, 2e-3) == 0.0
    assert parity_trl.lr_agreement(radrl, [{"curves": {"lr": [2e-3, 2e-3]}}], 2e-3) == pytest.approx(0.5)


def test_rolling_mean_averages_what_there_is():
    assert parity_trl.rolling_mean(np.array([1.0, 2, 3, 4, 5, 6]), 3).tolist() == [1.0, 1.5, 2.0, 3.0, 4.0, 5.0]
