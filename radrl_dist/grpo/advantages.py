"""Group-normalised advantages (GRPO) in the variants the papers use, by name.

    std:            (r - mean) / (std + eps), std with Bessel's correction, eps outside (DeepSeekMath, TRL)
    population_std: (r - mean) / sqrt(var + eps), population variance (1/G), eps inside (MRG-R1 eq. 2);
                    at G = 4 its advantages are sqrt(4/3) = 1.155x those of `std`
    no_std:         r - mean (Dr.GRPO: no per-group scale, so easy/hard prompts are not re-weighted)

A group is the G candidates sampled for one prompt. A group whose rewards are all equal carries no
learning signal: its advantages are exactly 0 (never NaN, whatever eps is) and it is flagged so the
caller can log the fraction and optionally drop those candidates (`keep`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

ADVANTAGE_MODES = ("std", "population_std", "no_std")
AdvantageMode = Literal["std", "population_std", "no_std"]


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
    mode: AdvantageMode = "std",
    eps: float = 1e-6,
    skip_zero_spread: bool = False,
    spread_tol: float = 0.0,
) -> GroupAdvantages:
    """Advantages for a (num_groups, G) reward matrix under `mode` (see the module docstring).

    A group whose max - min <= spread_tol gets advantages exactly 0.
    """
    r = torch.as_tensor(rewards)
    if r.ndim != 2 or r.shape[1] < 2:
        raise ValueError(f"rewards must be (num_groups, G) with G >= 2, got shape {tuple(r.shape)}")
    if not torch.isfinite(r).all():
        bad = (~torch.isfinite(r)).nonzero()[0].tolist()
        raise ValueError(f"rewards contain a non-finite value at (group, candidate) {tuple(bad)}")
    if mode not in ADVANTAGE_MODES:
        raise ValueError(f"advantage mode must be one of {ADVANTAGE_MODES}, got {mode!r}")
    r64 = r.to(torch.float64)
    centred = r64 - r64.mean(dim=1, keepdim=True)
    if mode == "std":
        centred = centred / (r64.std(dim=1, keepdim=True) + eps)
    elif mode == "population_std":
        centred = centred / torch.sqrt(r64.var(dim=1, keepdim=True, correction=0) + eps)
    zero = (r64.amax(dim=1) - r64.amin(dim=1)) <= spread_tol
    centred[zero] = 0.0
    keep = ~zero if skip_zero_spread else torch.ones_like(zero)
    return GroupAdvantages(centred.to(torch.float32), zero, keep)
