"""grpo_loss against an independent float64 re-derivation written token by token in plain Python."""

import math

import pytest
import torch

from radrl_dist.grpo import LossNormaliser, grpo_loss, merge_loss_stats


def reference_loss(logp, old, adv, mask, ref, beta, est, cl, ch, agg, n_tok, n_seq):
    total = 0.0
    clipped = 0
    for i in range(len(logp)):
        seq_sum, seq_n = 0.0, 0
        for t in range(len(logp[i])):
            if not mask[i][t]:
                continue
            r = math.exp(logp[i][t] - old[i][t])
            rc = min(max(r, 1 - cl), 1 + ch)
            term = -min(r * adv[i], rc * adv[i])
            clipped += (r < 1 - cl and adv[i] < 0) or (r > 1 + ch and adv[i] > 0)
            if beta > 0:
                d = ref[i][t] - logp[i][t]
                term += beta * ((math.exp(d) - d - 1) if est == "k3" else (logp[i][t] - ref[i][t]))
            seq_sum += term
            seq_n += 1
        if agg == "token_mean":
            total += seq_sum / n_tok
        else:
            total += seq_sum / max(seq_n, 1) / n_seq
    return total, clipped


def random_case(seed, B=5, T=7):
    g = torch.Generator().manual_seed(seed)
    logp = -torch.rand(B, T, generator=g, dtype=torch.float64) * 3
    old = logp + 0.4 * torch.randn(B, T, generator=g, dtype=torch.float64)  # wide ratios: clipping happens
    ref = logp + 0.3 * torch.randn(B, T, generator=g, dtype=torch.float64)
    adv = torch.randn(B, generator=g, dtype=torch.float64)
    mask = (torch.rand(B, T, generator=g) > 0.3).double()
    mask[0] = 0  # a fully masked row (e.g. a padding candidate)
    return logp, old, ref, adv, mask


@pytest.mark.parametrize("agg", ["token_mean", "seq_mean"])
@pytest.mark.parametrize("est", ["k1", "k3"])
@pytest.mark.parametrize("beta", [0.0, 0.04])
@pytest.mark.parametrize("clip", [(0.2, 0.2), (0.2, 0.28)])
@pytest.mark.parametrize("seed", [0, 1])
def test_loss_matches_float64_reference(agg, est, beta, clip, seed):
    logp, old, ref, adv, mask = random_case(seed)
    norm = LossNormaliser(tokens=float(mask.sum()) + 3.0, seqs=7.0)  # global counts exceed this micro-batch
    loss, stats = grpo_loss(logp, old, adv, mask, norm, ref_logp=ref if beta else None, beta=beta,
                            kl_estimator=est, clip_low=clip[0], clip_high=clip[1], aggregation=agg)
    want, clipped = reference_loss(logp.tolist(), old.tolist(), adv.tolist(), mask.tolist(), ref.tolist(), beta, est,
                                   clip[0], clip[1], agg, norm.tokens, norm.seqs)
    assert float(loss) == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert stats["clip_low_sum"] + stats["clip_high_sum"] == clipped
    assert clipped > 0  # the case really exercises clipping


def test_ratio_one_gradient_is_advantage_weighted_logp():
    """On-policy (logp == old), beta 0: d loss / d logp = -A * mask / tokens (the policy gradient)."""
    logp, _, _, adv, mask = random_case(3)
    logp = logp.clone().requires_grad_(True)
    norm = LossNormaliser(float(mask.sum()), 5.0)
    loss, _ = grpo_loss(logp, logp.detach(), adv, mask, norm)
    loss.backward()
    assert torch.allclose(logp.grad, -adv[:, None] * mask / norm.tokens)


def test_shares_add_up_to_whole_batch_loss():
    logp, old, ref, adv, mask = random_case(4, B=6)
    for agg in ("token_mean", "seq_mean"):
        norm = LossNormaliser(float(mask.sum()), float((mask.sum(1) > 0).sum()))
        kw = dict(ref_logp=ref, beta=0.1, aggregation=agg)
        whole, _ = grpo_loss(logp, old, adv, mask, norm, **kw)
        parts = [grpo_loss(logp[s], old[s], adv[s], mask[s], norm, ref_logp=ref[s], beta=0.1, aggregation=agg)[1]
                 for s in (slice(0, 2), slice(2, 6))]
        merged = merge_loss_stats(parts)
        assert merged["loss"] == pytest.approx(float(whole), rel=1e-12)
        assert merged["tokens"] == float(mask.sum())


def test_k3_is_nonnegative_and_zero_at_reference():
    logp, _, ref, adv, mask = random_case(5)
    norm = LossNormaliser(float(mask.sum()), 5.0)
    _, s = grpo_loss(logp, logp, torch.zeros_like(adv), mask, norm, ref_logp=ref, beta=1.0)
    assert s["kl_sum"] > 0
    _, s0 = grpo_loss(logp, logp, torch.zeros_like(adv), mask, norm, ref_logp=logp, beta=1.0)
    assert s0["kl_sum"] == 0.0 and s0["loss"] == 0.0


def test_entropy_metric_is_masked_mean():
    logp, old, _, adv, mask = random_case(6)
    ent = torch.rand_like(logp)
    _, s = grpo_loss(logp, old, adv, mask, LossNormaliser(float(mask.sum()), 5.0), entropy=ent)
    m = merge_loss_stats([s])
    assert m["entropy"] == pytest.approx(float((ent * mask).sum() / mask.sum()))


def test_bad_inputs():
    logp, old, ref, adv, mask = random_case(7)
    norm = LossNormaliser(10.0, 2.0)
    with pytest.raises(ValueError, match="ref_logp"):
        grpo_loss(logp, old, adv, mask, norm, beta=0.1)
    with pytest.raises(ValueError, match="shape mismatch"):
        grpo_loss(logp, old[:, :3], adv, mask, norm)
    with pytest.raises(ValueError, match="aggregation"):
        grpo_loss(logp, old, adv, mask, norm, aggregation="sum")
    with pytest.raises(ValueError, match="kl_estimator"):
        grpo_loss(logp, old, adv, mask, norm, ref_logp=ref, beta=0.1, kl_estimator="k2")
    with pytest.raises(ValueError, match="positive"):
        LossNormaliser(0.0, 1.0)
