"""Integration: a 2-worker ZeRO-3 LoRA learner group on CPU (gloo) on the tiny Qwen2-VL.

One group serves the whole module (creating it is the expensive part): steps lower the loss on a
fixed batch; the exported manifests (lora and merged-full) load into a plain HF model that then
gives the learner's own log-probs; the PEFT adapter loads with PeftModel; checkpoints round-trip.
"""

import pytest
import torch

from radrl_dist.config.schema import RadRLConfig
from radrl_dist.grpo.loss import LossNormaliser, grpo_loss
from radrl_dist.learner.batch import collate
from radrl_dist.learner.logprobs import completion_logprobs
from radrl_dist.weight_sync.manifest import manifest_tensors

CFG = {
    "learner": {"num_workers": 2, "zero_stage": 3, "cpus_per_worker": 1, "micro_batch_size": 2, "lr": 1e-2,
                "lora": {"r": 4, "alpha": 8}},
    "grpo": {"beta": 0.04, "clip_low": 0.2, "clip_high": 0.28},
    "train": {"steps": 20},
}


@pytest.fixture(scope="module")
def group(ray_local, tiny_path):
    from radrl_dist.learner.group import LearnerGroup

    g = LearnerGroup(RadRLConfig.model_validate(CFG), tiny_path)
    yield g
    g.shutdown()


def hf_logprobs(model, cands, suppress):
    with torch.no_grad():
        lp, _ = completion_logprobs(model.eval(), collate(cands, 0), suppress_ids=suppress)
    return [lp[i, : c.completion_ids.shape[0]] for i, c in enumerate(cands)]


def assert_same_logprobs(a, b, atol=2e-5):
    for x, y in zip(a, b):
        assert torch.allclose(x, y, atol=atol), (x - y).abs().max()


def reference_grad_norm(cands, cfg, path, suppress):
    """Gradient norm of the whole batch's loss in one process, same LoRA init as the learner."""
    from radrl_dist.learner.engine_setup import build_policy
    from radrl_dist.models.loading import load_policy

    model, trainable = build_policy(load_policy(path), cfg)
    mb = collate(cands, 0)
    logp, _ = completion_logprobs(model, mb, suppress_ids=suppress)
    norm = LossNormaliser(float(mb.completion_mask.sum()), float(len(cands)))
    loss, _ = grpo_loss(logp, mb.behaviour_logps, mb.advantages, mb.completion_mask, norm)
    loss.backward()  # beta's k3 term has zero gradient here: the fresh adapter (B = 0) equals the reference
    return float(torch.sqrt(sum((p.grad.double() ** 2).sum() for _, p in trainable)))


def test_group_setup(group):
    info = group.setup_info
    assert [i["rank"] for i in info] == [0, 1] and info[0]["trainable_params"] > 0
    assert all(i["init_distributed_s"] < 10 for i in info)  # the shm op is not JIT-built


def test_steps_lower_loss_on_fixed_batch(group, fixed_batch, tiny_path, suppress):
    def batch_loss(logps):
        mask = torch.ones(len(fixed_batch))
        tot = 0.0
        norm = LossNormaliser(float(sum(c.num_tokens for c in fixed_batch)), float(len(fixed_batch)))
        for c, lp in zip(fixed_batch, logps):
            tot += float(grpo_loss(lp[None], c.behaviour_logps[None], torch.tensor([c.advantage]),
                                   c.completion_mask[None], norm)[0])
        return tot

    want_norm = reference_grad_norm(fixed_batch, group.cfg, tiny_path, suppress)
    before = batch_loss(group.logprobs(fixed_batch))
    metrics = [group.train_step(fixed_batch) for _ in range(3)]
    after = batch_loss(group.logprobs(fixed_batch))
    assert metrics[0]["ratio_mean"] == pytest.approx(1.0, abs=1e-4)  # on-policy first update
    assert metrics[0]["loss"] == pytest.approx(before, abs=1e-5)
    # gradient summed (not averaged) over the 2 ranks: equals one process's gradient of the whole batch
    assert metrics[0]["grad_norm"] == pytest.approx(want_norm, rel=1e-4)
    assert after < before - 0.01, (before, after, [m["loss"] for m in metrics])
    assert metrics[-1]["kl"] > 0 and metrics[-1]["tokens"] == sum(c.num_tokens for c in fixed_batch)
    assert metrics[1]["lr"] < metrics[0]["lr"]  # cosine schedule is stepped
    for k in ("logprob_s", "reference_s", "backward_s", "optimizer_s", "step_s", "grad_norm", "entropy"):
        assert metrics[-1][k] > 0


def test_lora_manifest_loads_into_hf_with_identical_weights(group, fixed_batch, tiny_path, suppress):
    from peft import get_peft_config, get_peft_model, set_peft_model_state_dict

    from radrl_dist.models.loading import load_policy

    m = group.export()
    assert m.kind == "lora" and m.version == group.version and m.meta["bytes"] > 0
    assert all("lora_" in n and "visual" not in n for n in m.names())
    base = load_policy(tiny_path)
    peft = get_peft_model(base, get_peft_config(m.lora_config))
    res = set_peft_model_state_dict(peft, {n: t.clone() for n, t in manifest_tensors(m)})
    assert not res.unexpected_keys
    learner = group.logprobs(fixed_batch)
    assert_same_logprobs(hf_logprobs(peft, fixed_batch, suppress), learner)
    assert not torch.allclose(learner[0], fixed_batch[0].behaviour_logps, atol=1e-3)  # weights did move


def test_merged_manifest_is_full_lm_state(group, fixed_batch, tiny_path, suppress):
    from radrl_dist.models.loading import load_policy

    m = group.export(kind="merged")
    assert m.kind == "full" and not any("visual" in n or "lora_" in n for n in m.names())
    model = load_policy(tiny_path)
    sd = model.state_dict()
    assert set(m.names()) == {n for n in sd if "visual" not in n}
    res = model.load_state_dict({n: t.clone() for n, t in manifest_tensors(m)}, strict=False)
    assert not res.unexpected_keys
    assert_same_logprobs(hf_logprobs(model, fixed_batch, suppress), group.logprobs(fixed_batch))


def test_peft_adapter_loads_with_peftmodel(group, fixed_batch, tiny_path, suppress, tmp_path):
    from peft import PeftModel

    from radrl_dist.models.loading import load_policy

    out = group.save_adapter(str(tmp_path / "adapter"))
    peft = PeftModel.from_pretrained(load_policy(tiny_path), out)
    assert_same_logprobs(hf_logprobs(peft, fixed_batch, suppress), group.logprobs(fixed_batch))


def test_checkpoint_roundtrip_resumes_exactly(group, fixed_batch, tmp_path):
    version = group.version
    group.save_checkpoint(str(tmp_path / "ckpt"), "step3", {"data_cursor": 24})
    a = group.train_step(fixed_batch)
    lp_a = group.logprobs(fixed_batch)
    group.train_step(fixed_batch)  # move further away, then come back
    client = group.load_checkpoint(str(tmp_path / "ckpt"))
    assert client["data_cursor"] == 24 and group.version == version
    b = group.train_step(fixed_batch)
    for k in ("loss", "kl", "lr", "clip_frac"):
        assert b[k] == pytest.approx(a[k], rel=1e-5, abs=1e-7), k
    assert_same_logprobs(group.logprobs(fixed_batch), lp_a, atol=1e-6)
