"""Group-normalised advantages (GRPO) and the no-std variant (Dr.GRPO).

A group is the G candidates sampled for one prompt. A group whose rewards are all equal carries no
learning signal: its advantages are exactly 0 (never NaN, whatever eps is) and it is flagged so the
caller can log the fraction and optionally drop those candidates (`keep`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch


@dataclass
class GroupAdvantages:
    advantages: torch.Tensor  # (num_groups, G), float32
    zero_spread: torch.Tensor  # (num_groups,) bool: all rewards in the group equal
    keep: torch.Tensor  # (num_groups,) bool: groups to train on (all, or non-zero-spread ones)

    @property
    def zero_spread_fraction(self) -> float:
        return float(self.zero_spread.float().mean()) if self.zero_spread.numel() else 0.0


def group_advantages(
    rewards: torch.Tensor,
    mode: Literal["std", "no_std"] = "std",
    eps: float = 1e-6,
    skip_zero_spread: bool = False,
    spread_tol: float = 0.0,
) -> GroupAdvantages:
    """Advantages for a (num_groups, G) reward matrix.

    std:    (r - mean) / (std + eps), std with Bessel's correction (as DeepSeekMath/TRL).
    no_std: r - mean (Dr.GRPO: no per-group scale, so easy/hard prompts are not re-weighted).
    A group whose max - min <= spread_tol gets advantages exactly 0.
    """
    r = torch.as_tensor(rewards)
    if r.ndim != 2 or r.shape[1] < 2:
        raise ValueError(f"rewards must be (num_groups, G) with G >= 2, got shape {tuple(r.shape)}")
    if not torch.isfinite(r).all():
        bad = (~torch.isfinite(r)).nonzero()[0].tolist()
        raise ValueError(f"rewards contain a non-finite value at (group, candidate) {tuple(bad)}")
    if mode not in ("std", "no_std"):
        raise ValueError(f"advantage mode must be 'std' or 'no_std', got {mode!r}")
    r64 = r.to(torch.float64)
    centred = r64 - r64.mean(dim=1, keepdim=True)
    if mode == "std":
        centred = centred / (r64.std(dim=1, keepdim=True) + eps)
    zero = (r64.amax(dim=1) - r64.amin(dim=1)) <= spread_tol
    centred[zero] = 0.0
    keep = ~zero if skip_zero_spread else torch.ones_like(zero)
    return GroupAdvantages(centred.to(torch.float32), zero, keep)
