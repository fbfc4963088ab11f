"""The GRPO policy loss: PPO clipped surrogate with asymmetric clip, plus beta * KL to the reference.

Per token t of candidate i (only where mask = 1):
    ratio  = exp(logp - old_logp)                       old_logp: behaviour log-probs from generation
    pg     = -min(ratio * A_i, clip(ratio, 1 - clip_low, 1 + clip_high) * A_i)
    kl     = k3: exp(ref - logp) - (ref - logp) - 1     (unbiased, >= 0; DeepSeekMath)
             k1: logp - ref
    l_t    = pg + beta * kl                             (beta = 0: no reference needed at all)
Numeric guards (verl's, each off when None): `logratio_clamp` c clamps logp - old_logp and ref - logp to
[-c, c] before exp (verl: 20), so a ratio of exp(100) times a zero advantage cannot make inf * 0 = NaN;
`kl_clamp` k clamps the per-token KL term to [-k, k] (verl: 10); `dual_clip` c > 1 (verl: 3) bounds
the loss of a negative-advantage token by -c * A (dual-clip PPO), so a huge ratio cannot dominate.
With verl's three guards set, loss and gradient are finite for any finite log-probs (tests/grpo).
Aggregation over the whole optimizer update, which may span micro-batches and ranks:
    token_mean: sum over all tokens of l_t / total completion tokens of the update (DAPO / Dr.GRPO)
    seq_mean:   sum over candidates of (mean over its tokens of l_t) / number of candidates (GRPO paper)
so `grpo_loss` returns this micro-batch's *share* of the update's loss; the shares add up exactly.
Metrics come back as sums so that `merge_loss_stats` can merge micro-batches and ranks exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch


@dataclass(frozen=True)
class LossNormaliser:
    """Global counts of one optimizer update (all micro-batches, all ranks)."""

    tokens: float
    seqs: float

    def __post_init__(self) -> None:
        if self.tokens <= 0 or self.seqs <= 0:
            raise ValueError(f"LossNormaliser needs positive token and sequence counts, got {self}")


def _clamp(x: torch.Tensor, bound: float | None) -> torch.Tensor:
    return x if bound is None else torch.clamp(x, -bound, bound)


def kl_per_token(logp: torch.Tensor, ref_logp: torch.Tensor, estimator: Literal["k1", "k3"],
                 logratio_clamp: float | None = None, kl_clamp: float | None = None) -> torch.Tensor:
    """KL(policy || reference) estimate per sampled token (clamped as verl's low_var_kl when asked)."""
    if estimator == "k3":
        d = _clamp(ref_logp - logp, logratio_clamp)
        return _clamp(torch.exp(d) - d - 1.0, kl_clamp)
    if estimator == "k1":
        return _clamp(_clamp(logp - ref_logp, logratio_clamp), kl_clamp)
    raise ValueError(f"kl_estimator must be 'k1' or 'k3', got {estimator!r}")


def check_guards(logratio_clamp: float | None, kl_clamp: float | None, dual_clip: float | None) -> None:
    """One-line errors for guard values that would silently do nothing or the wrong thing."""
    for name, v in (("logratio_clamp", logratio_clamp), ("kl_clamp", kl_clamp)):
        if v is not None and not v > 0:
            raise ValueError(f"{name} must be > 0 or None (off), got {v!r}")
    if dual_clip is not None and not dual_clip > 1:
        raise ValueError(f"dual_clip must be > 1 or None (off), got {dual_clip!r}")


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    norm: LossNormaliser,
    *,
    ref_logp: torch.Tensor | None = None,
    entropy: torch.Tensor | None = None,
    beta: float = 0.0,
    kl_estimator: Literal["k1", "k3"] = "k3",
    clip_low: float = 0.2,
    clip_high: float = 0.28,
    aggregation: Literal["token_mean", "seq_mean"] = "token_mean",
    logratio_clamp: float | None = None,
    kl_clamp: float | None = None,
    dual_clip: float | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """This micro-batch's share of the update loss, and metric sums. Shapes: (B, T) tokens, (B,) advantages."""
    if logp.shape != old_logp.shape or logp.shape != mask.shape or advantages.shape != logp.shape[:1]:
        raise ValueError(
            f"shape mismatch: logp {tuple(logp.shape)}, old_logp {tuple(old_logp.shape)}, "
            f"mask {tuple(mask.shape)}, advantages {tuple(advantages.shape)}"
        )
    if beta > 0 and ref_logp is None:
        raise ValueError("beta > 0 needs ref_logp (the reference policy's log-probs)")
    check_guards(logratio_clamp, kl_clamp, dual_clip)
    mask = mask.to(logp.dtype)
    adv = advantages.to(logp.dtype).unsqueeze(1)
    ratio = torch.exp(_clamp(logp - old_logp, logratio_clamp))
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    pg = -torch.minimum(ratio * adv, clipped * adv)
    dual = None
    if dual_clip is not None:  # verl: for A < 0, min(pg, -c * A)
        dual = (adv < 0) & (pg > -dual_clip * adv)
        pg = torch.where(adv < 0, torch.minimum(pg, -dual_clip * adv), pg)
    per_token = pg
    kl = None
    if beta > 0:
        kl = kl_per_token(logp, ref_logp, kl_estimator, logratio_clamp, kl_clamp)
        per_token = pg + beta * kl

    def aggregate(x: torch.Tensor) -> torch.Tensor:
        if aggregation == "token_mean":
            return (x * mask).sum() / norm.tokens
        if aggregation == "seq_mean":
            return ((x * mask).sum(1) / mask.sum(1).clamp(min=1.0)).sum() / norm.seqs
        raise ValueError(f"aggregation must be 'token_mean' or 'seq_mean', got {aggregation!r}")

    loss = aggregate(per_token)
    with torch.no_grad():
        low = ((ratio < 1.0 - clip_low) & (adv < 0)).to(mask.dtype) * mask
        high = ((ratio > 1.0 + clip_high) & (adv > 0)).to(mask.dtype) * mask
        stats = {
            "loss": float(loss),
            "pg_loss": float(aggregate(pg)),
            "tokens": float(mask.sum()),
            "seqs": float((mask.sum(1) > 0).sum()),
            "clip_low_sum": float(low.sum()),
            "clip_high_sum": float(high.sum()),
            "clip_dual_sum": float((dual.to(mask.dtype) * mask).sum()) if dual is not None else 0.0,
            "ratio_sum": float((ratio * mask).sum()),
            "kl_sum": float((kl * mask).sum()) if kl is not None else 0.0,
            "entropy_sum": float((entropy * mask).sum()) if entropy is not None else 0.0,
        }
    return loss, stats


def merge_loss_stats(parts: list[dict[str, float]]) -> dict[str, float]:
    """Merge metric sums of micro-batches/ranks of one update into means (loss shares simply add)."""
    tot = {k: sum(p.get(k, 0.0) for p in parts) for k in ("loss", "pg_loss", "tokens", "seqs", "clip_low_sum",
                                                          "clip_high_sum", "clip_dual_sum", "ratio_sum", "kl_sum",
                                                          "entropy_sum")}
    n = max(tot["tokens"], 1.0)
    return {
        "loss": tot["loss"],
        "pg_loss": tot["pg_loss"],
        "kl": tot["kl_sum"] / n,
        "entropy": tot["entropy_sum"] / n,
        "clip_frac": (tot["clip_low_sum"] + tot["clip_high_sum"]) / n,
        "clip_frac_low": tot["clip_low_sum"] / n,
        "clip_frac_high": tot["clip_high_sum"] / n,
        "clip_frac_dual": tot["clip_dual_sum"] / n,
        "ratio_mean": tot["ratio_sum"] / n,
        "tokens": tot["tokens"],
        "seqs": tot["seqs"],
    }


def nll_loss(logp: torch.Tensor, mask: torch.Tensor, norm: LossNormaliser,
             entropy: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Supervised objective on the same machinery: token-mean negative log-likelihood of the targets.

    Used by the SFT stages (radrl_dist.sft); metric sums have the same keys as `grpo_loss` so the
    learner group merges them the same way ("loss" is this micro-batch's share of the mean NLL).
    """
    if logp.shape != mask.shape:
        raise ValueError(f"shape mismatch: logp {tuple(logp.shape)}, mask {tuple(mask.shape)}")
    mask = mask.to(logp.dtype)
    loss = -(logp * mask).sum() / norm.tokens
    with torch.no_grad():
        stats = {"loss": float(loss), "pg_loss": 0.0, "tokens": float(mask.sum()), "seqs": float((mask.sum(1) > 0).sum()),
                 "clip_low_sum": 0.0, "clip_high_sum": 0.0, "ratio_sum": float(mask.sum()), "kl_sum": 0.0,
                 "entropy_sum": float((entropy * mask).sum()) if entropy is not None else 0.0}
    return loss, stats
