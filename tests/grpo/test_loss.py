"""grpo_loss against an independent float64 re-derivation written token by token in plain Python."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from radrl_dist.grpo import LossNormaliser, grpo_loss, merge_loss_stats


def _clamp(x, c):
    return x if c is None else min(max(x, -c), c)


def reference_loss(logp, old, adv, mask, ref, beta, est, cl, ch, agg, n_tok, n_seq, lr_c=None, kl_c=None, dual=None):
    total = 0.0
    clipped = 0
    for i in range(len(logp)):
        seq_sum, seq_n = 0.0, 0
        for t in range(len(logp[i])):
            if not mask[i][t]:
                continue
            r = math.exp(_clamp(logp[i][t] - old[i][t], lr_c))
            rc = min(max(r, 1 - cl), 1 + ch)
            term = -min(r * adv[i], rc * adv[i])
            if dual is not None and adv[i] < 0:  # dual-clip PPO (verl): bound by -c * A
                term = min(term, -dual * adv[i])
            clipped += (r < 1 - cl and adv[i] < 0) or (r > 1 + ch and adv[i] > 0)
            if beta > 0:
                d = _clamp(ref[i][t] - logp[i][t], lr_c)
                kl = (math.exp(d) - d - 1) if est == "k3" else -d
                term += beta * _clamp(kl, kl_c)
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


VERL_GUARDS = dict(logratio_clamp=20.0, kl_clamp=10.0, dual_clip=3.0)


@pytest.mark.parametrize("agg", ["token_mean", "seq_mean"])
@pytest.mark.parametrize("est", ["k1", "k3"])
@pytest.mark.parametrize("seed", [0, 1])
def test_guarded_loss_matches_float64_reference(agg, est, seed):
    """Guards small enough to bite on ordinary values, so each one is checked, not just present."""
    logp, old, ref, adv, mask = random_case(seed)
    old = logp + 3.0 * (old - logp)  # log-ratios up to ~+-2: the 0.5 clamp and dual-clip 1.5 both act
    norm = LossNormaliser(tokens=float(mask.sum()), seqs=5.0)
    guards = dict(logratio_clamp=0.5, kl_clamp=0.05, dual_clip=1.5)
    loss, stats = grpo_loss(logp, old, adv, mask, norm, ref_logp=ref, beta=0.3, kl_estimator=est,
                            aggregation=agg, **guards)
    want, _ = reference_loss(logp.tolist(), old.tolist(), adv.tolist(), mask.tolist(), ref.tolist(), 0.3, est,
                             0.2, 0.28, agg, norm.tokens, norm.seqs, lr_c=0.5, kl_c=0.05, dual=1.5)
    assert float(loss) == pytest.approx(want, rel=1e-12, abs=1e-12)
    unguarded, _ = grpo_loss(logp, old, adv, mask, norm, ref_logp=ref, beta=0.3, kl_estimator=est, aggregation=agg)
    assert float(unguarded) != pytest.approx(float(loss), rel=1e-6)  # the guards changed something
    assert stats["clip_dual_sum"] > 0 and merge_loss_stats([stats])["clip_frac_dual"] > 0


def test_issue_cases_overflow_without_guards_and_not_with_verl_guards():
    """Issue 17: log-ratio +100 with a zero advantage is NaN; a reference 100 nats ahead makes k3 inf."""
    mask = torch.ones(1, 2)
    norm = LossNormaliser(2.0, 1.0)
    logp = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    old = logp.detach() - 100.0
    ref = logp.detach() + torch.tensor([[30.0, 100.0]])
    bare, _ = grpo_loss(logp, old, torch.zeros(1), mask, norm, ref_logp=ref, beta=0.01)
    assert not torch.isfinite(bare)
    loss, stats = grpo_loss(logp, old, torch.zeros(1), mask, norm, ref_logp=ref, beta=0.01, **VERL_GUARDS)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logp.grad).all()
    assert stats["kl_sum"] == pytest.approx(20.0)  # both k3 terms clamped to 10
    assert float(loss.detach()) == pytest.approx(0.01 * 20.0 / 2.0)


def test_dual_clip_bounds_negative_advantage_loss_by_c_times_a():
    mask, norm = torch.ones(1, 1), LossNormaliser(1.0, 1.0)
    logp, old = torch.tensor([[0.0]]), torch.tensor([[-5.0]])  # ratio e^5 ~ 148
    adv = torch.tensor([-2.0])
    plain, _ = grpo_loss(logp, old, adv, mask, norm)
    dual, _ = grpo_loss(logp, old, adv, mask, norm, dual_clip=3.0)
    assert float(plain) == pytest.approx(2.0 * math.exp(5.0))
    assert float(dual) == pytest.approx(6.0)  # -c * A = 3 * 2
    pos, _ = grpo_loss(logp, old, -adv, mask, norm, dual_clip=3.0)  # positive advantages: untouched
    assert float(pos) == pytest.approx(-1.28 * 2.0)


def test_bad_guard_values():
    logp, old, _, adv, mask = random_case(8)
    norm = LossNormaliser(10.0, 2.0)
    with pytest.raises(ValueError, match="dual_clip must be > 1"):
        grpo_loss(logp, old, adv, mask, norm, dual_clip=1.0)
    with pytest.raises(ValueError, match="logratio_clamp must be > 0"):
        grpo_loss(logp, old, adv, mask, norm, logratio_clamp=0.0)


_FINITE = st.floats(min_value=-3e38, max_value=3e38)  # about the fp32 / bf16 range
_EXTREME = st.one_of(_FINITE, st.sampled_from([0.0, -3e38, 3e38, -100.0, 100.0, -30.0, 30.0, -1e-30]))
B, T = 2, 3


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@settings(max_examples=150, deadline=None, derandomize=True)
@given(data=st.data())
def test_guarded_loss_and_grad_finite_for_any_finite_inputs(dtype, data):
    """With verl's guards the loss and its gradient are finite for finite log-probs of any size and
    advantages within +-1e4 (group-normalised advantages are bounded by sqrt(G); rewards by config)."""
    vals = lambda: torch.tensor(data.draw(st.lists(_EXTREME, min_size=B * T, max_size=B * T))).view(B, T)  # noqa: E731
    logp = vals().to(dtype).requires_grad_(True)
    old, ref = vals().to(dtype), vals().to(dtype)
    adv = torch.tensor(data.draw(st.lists(st.floats(-1e4, 1e4), min_size=B, max_size=B)))
    mask = torch.tensor(data.draw(st.lists(st.booleans(), min_size=B * T, max_size=B * T))).view(B, T)
    beta = data.draw(st.sampled_from([0.0, 0.01, 1.0]))
    agg = data.draw(st.sampled_from(["token_mean", "seq_mean"]))
    norm = LossNormaliser(max(float(mask.sum()), 1.0), float(B))
    loss, stats = grpo_loss(logp, old, adv, mask, norm, ref_logp=ref, beta=beta, kl_estimator="k3",
                            aggregation=agg, **VERL_GUARDS)
    loss.backward()
    assert torch.isfinite(loss), (logp, old, ref, adv)
    assert torch.isfinite(logp.grad).all()
    assert all(math.isfinite(v) for v in stats.values())
