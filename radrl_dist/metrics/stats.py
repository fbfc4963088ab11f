"""Uncertainty for headline metrics and paired comparisons between two runs on the same studies.

Corpus metrics (corpus BLEU, micro F1) are not means of per-sample numbers, so the bootstrap
recomputes the metric on each resample through a callable of the resampled indices. All randomness
is seeded. Paired tests: paired bootstrap of the difference, a paired sign-flip permutation test on
per-sample scores, and the one-tailed Wilcoxon signed-rank test BoxMed-RL reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps


@dataclass(frozen=True)
class CI:
    value: float
    low: float
    high: float
    n_boot: int
    level: float = 0.95

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high, "n_boot": self.n_boot}


def bootstrap_ci(
    metric: Callable[[np.ndarray], float], n: int, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> CI:
    """Percentile bootstrap CI of `metric(indices)` over n samples resampled with replacement."""
    if n <= 0:
        raise ValueError("bootstrap needs at least one sample")
    rng = np.random.default_rng(seed)
    value = float(metric(np.arange(n)))
    boots = np.array([metric(rng.integers(0, n, n)) for _ in range(n_boot)], dtype=float)
    a = (1 - level) / 2
    return CI(value, float(np.quantile(boots, a)), float(np.quantile(boots, 1 - a)), n_boot, level)


def mean_ci(values: np.ndarray, n_boot: int = 1000, seed: int = 0) -> CI:
    """Bootstrap CI of a mean of per-sample values."""
    v = np.asarray(values, dtype=float)
    return bootstrap_ci(lambda idx: float(v[idx].mean()), len(v), n_boot, seed)


@dataclass(frozen=True)
class PairedResult:
    mean_diff: float  # mean of (b - a)
    ci_low: float
    ci_high: float
    p_bootstrap: float  # one-sided: P(diff <= 0) under the bootstrap distribution
    p_permutation: float  # two-sided sign-flip permutation p-value
    p_wilcoxon: float | None  # one-sided (b > a) Wilcoxon signed-rank; None when all diffs are 0

    def as_dict(self) -> dict[str, float | None]:
        return dict(self.__dict__)


def paired_comparison(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0) -> PairedResult:
    """Compare per-sample scores of run b against run a on the same samples (e.g. GRPO vs SFT)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"paired scores must be two equal-length 1-D arrays, got {a.shape} and {b.shape}")
    d = b - a
    rng = np.random.default_rng(seed)
    boots = np.array([d[rng.integers(0, len(d), len(d))].mean() for _ in range(n_boot)])
    signs = rng.choice([-1.0, 1.0], size=(n_boot, len(d)))
    perm = np.abs((signs * d).mean(1))
    p_perm = float((1 + np.sum(perm >= abs(d.mean()) - 1e-12)) / (n_boot + 1))
    p_wil: float | None
    if np.all(d == 0):
        p_wil = None
    else:
        p_wil = float(sps.wilcoxon(b, a, alternative="greater", zero_method="wilcox").pvalue)
    return PairedResult(
        float(d.mean()),
        float(np.quantile(boots, 0.025)),
        float(np.quantile(boots, 0.975)),
        float(np.mean(boots <= 0)),
        p_perm,
        p_wil,
    )


@dataclass(frozen=True)
class SeedSummary:
    """Mean of one figure over independent runs (seeds), its standard error and Student-t 95% CI:
    with 3 runs a bootstrap has only 10 distinct resamples, so the t interval is the honest one."""

    mean: float
    se: float
    ci_low: float
    ci_high: float
    n: int

    @property
    def t_stat(self) -> float:
        """Mean in standard errors (how many SE the mean is above 0)."""
        return self.mean / self.se if self.se > 0 else float("inf") if self.mean > 0 else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "se": self.se, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n,
                "mean_over_se": self.t_stat}


def across_runs(values, level: float = 0.95) -> SeedSummary:
    """Mean, standard error (sample std / sqrt n) and t-based CI of per-run values."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or len(v) < 2:
        raise ValueError(f"a spread over runs needs at least 2 values, got {v.tolist()}")
    mean, se = float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v)))
    half = float(sps.t.ppf(0.5 + level / 2, len(v) - 1)) * se
    return SeedSummary(mean, se, mean - half, mean + half, len(v))
