"""Integration: full fine-tuning, 2 workers, ZeRO-2, beta > 0 (frozen reference copy), seq-mean,
two optimizer updates per rollout batch (the second one is off-policy: ratio != 1)."""

import pytest
import torch

from radrl_dist.config.schema import RadRLConfig
from radrl_dist.learner.batch import collate
from radrl_dist.learner.logprobs import completion_logprobs
from radrl_dist.weight_sync.manifest import manifest_tensors

CFG = {
    "learner": {"num_workers": 2, "zero_stage": 2, "cpus_per_worker": 1, "micro_batch_size": 1, "lr": 3e-3,
                "updates_per_step": 2, "warmup_ratio": 0.5, "lora": {"enabled": False}},
    "grpo": {"beta": 0.1, "kl_estimator": "k3", "aggregation": "seq_mean"},
    "train": {"steps": 4},
}


@pytest.fixture(scope="module")
def group(ray_local, tiny_path):
    from radrl_dist.learner.group import LearnerGroup

    g = LearnerGroup(RadRLConfig.model_validate(CFG), tiny_path)
    yield g
    g.shutdown()


def test_full_finetune_steps_and_full_manifest(group, fixed_batch, tiny_path, suppress):
    from radrl_dist.models.loading import load_policy

    base = load_policy(tiny_path)
    n_vision = sum(p.numel() for n, p in base.named_parameters() if "visual" in n)
    n_all = sum(p.numel() for p in base.parameters())
    assert group.setup_info[0]["trainable_params"] == n_all - n_vision  # vision tower frozen by default

    m1 = group.train_step(fixed_batch)
    m2 = group.train_step(fixed_batch)
    assert m1["updates"] == 2 and m1["seqs"] == len(fixed_batch)
    assert m1["lr"] < CFG["learner"]["lr"]  # warm-up: the first update runs below the peak rate
    assert m2["kl"] > 0 and m2["reference_s"] > 0 and m2["ratio_mean"] != pytest.approx(1.0, abs=1e-6)

    m = group.export()
    assert m.kind == "full" and m.version == 1
    names = set(m.names())
    assert names == {n for n in base.state_dict() if "visual" not in n}
    res = base.load_state_dict({n: t.clone() for n, t in manifest_tensors(m)}, strict=False)
    assert not res.unexpected_keys
    with torch.no_grad():
        lp, _ = completion_logprobs(base.eval(), collate(fixed_batch, 0), suppress_ids=suppress)
    learner = group.logprobs(fixed_batch)
    for i, c in enumerate(fixed_batch):
        assert torch.allclose(lp[i, : c.completion_ids.shape[0]], learner[i], atol=2e-5)
    assert not torch.allclose(learner[0], fixed_batch[0].behaviour_logps, atol=1e-3)


def test_versions_are_monotonic(group):
    with pytest.raises(ValueError, match="must increase"):
        group.export(version=group.version)
    before = group.version
    for kind in ("lora", "merged", "bogus"):
        with pytest.raises(ValueError, match="does not fit this learner"):
            group.export(kind=kind)
    assert group.version == before
