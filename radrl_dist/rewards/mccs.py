"""Label-based report rewards: MCCS and CCS (MRG-R1 eq. 3-6) and report-level CE-F1 (its ablation).

Inputs are label matrices int8 [N, 14] (CheXbert order; 0 blank, 1 positive, 2 negative,
3 uncertain), candidate rows against reference rows. All vectorised; never NaN.
- eq. 3-4: signed 13-vector without No Finding: positive 1, negative -1, uncertain 1, blank 0.
- eq. 5:   CCS = <z, z*> / ((|z| + eps)(|z*| + eps)), eps = 1e-8 (an all-blank side gives 0).
- eq. 6:   MCCS = max((CCS - m) / (1 - m), 0), m in (-1, 1).
`both_blank`: the paper is silent when both reports are all blank (two normal reports score 0, so
normal studies give GRPO no signal). None (default) keeps the paper's value (0); a number, e.g.
1.0, is returned as the reward (CCS and MCCS alike) for every such pair.
"""

from __future__ import annotations

import numpy as np

from radrl_dist.constants import NEGATIVE, NO_FINDING_INDEX, NUM_OBSERVATIONS, POSITIVE, UNCERTAIN

EPS = 1e-8
_SIGN = np.zeros(4, dtype=np.float64)
_SIGN[[POSITIVE, NEGATIVE, UNCERTAIN]] = [1.0, -1.0, 1.0]
_KEEP = [i for i in range(NUM_OBSERVATIONS) if i != NO_FINDING_INDEX]


def check_labels(labels: np.ndarray, name: str) -> np.ndarray:
    """int array [N, 14] with class ids 0..3, or a ValueError naming the matrix."""
    arr = np.asarray(labels)
    if arr.ndim == 1 and arr.shape[0] == NUM_OBSERVATIONS:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != NUM_OBSERVATIONS:
        raise ValueError(f"{name}: expected label shape [N, {NUM_OBSERVATIONS}], got {arr.shape}")
    if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() > 3):
        raise ValueError(f"{name}: class ids must be integers 0..3 (blank, positive, negative, uncertain)")
    return arr.astype(np.int64)


def _pair(cand: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c, r = check_labels(cand, "candidate labels"), check_labels(ref, "reference labels")
    if r.shape[0] == 1 and c.shape[0] != 1:
        r = np.repeat(r, c.shape[0], axis=0)  # one reference for a whole group
    if c.shape != r.shape:
        raise ValueError(f"candidate labels {c.shape} and reference labels {r.shape} differ in length")
    return c, r


def signed_vectors(labels: np.ndarray) -> np.ndarray:
    """eq. 3-4: float [N, 13] in {-1, 0, 1}, No Finding dropped."""
    return _SIGN[check_labels(labels, "labels")[:, _KEEP]]


def ccs(cand: np.ndarray, ref: np.ndarray, eps: float = EPS, both_blank: float | None = None) -> np.ndarray:
    """eq. 5, per row: float [N] in [-1, 1]."""
    c, r = _pair(cand, ref)
    zc, zr = _SIGN[c[:, _KEEP]], _SIGN[r[:, _KEEP]]
    nc, nr = np.linalg.norm(zc, axis=1), np.linalg.norm(zr, axis=1)
    out = (zc * zr).sum(axis=1) / ((nc + eps) * (nr + eps))
    if both_blank is not None:
        out = np.where((nc == 0) & (nr == 0), float(both_blank), out)
    return out


def mccs(cand: np.ndarray, ref: np.ndarray, margin: float = 0.0, eps: float = EPS,
         both_blank: float | None = None) -> np.ndarray:
    """eq. 6, per row: float [N] in [0, 1]."""
    if not -1.0 < margin < 1.0:
        raise ValueError(f"MCCS margin m must be in (-1, 1), got {margin}")
    c, r = _pair(cand, ref)
    out = np.maximum((ccs(c, r, eps) - margin) / (1.0 - margin), 0.0)
    if both_blank is not None:
        blank = ~(_SIGN[c[:, _KEEP]] != 0).any(axis=1) & ~(_SIGN[r[:, _KEEP]] != 0).any(axis=1)
        out = np.where(blank, float(both_blank), out)
    return out


def ce_f1(cand: np.ndarray, ref: np.ndarray, uncertain_positive: bool = True,
          include_no_finding: bool = True, both_empty: float = 0.0) -> np.ndarray:
    """Report-level CE-F1: F1 of the candidate's positive set against the reference's, per report.

    Positive = class 1, plus uncertain when `uncertain_positive` (the f1chexbert convention; False
    gives r2gen's). Over 14 observations, or 13 without No Finding. When neither side has a
    positive the F1 is undefined: `both_empty` (0.0 = sklearn's zero_division=0).
    """
    c, r = _pair(cand, ref)
    cols = slice(None) if include_no_finding else _KEEP
    pos = (POSITIVE, UNCERTAIN) if uncertain_positive else (POSITIVE,)
    pc, pr = np.isin(c[:, cols], pos), np.isin(r[:, cols], pos)
    tp = (pc & pr).sum(axis=1)
    denom = pc.sum(axis=1) + pr.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(denom > 0, 2.0 * tp / np.maximum(denom, 1), float(both_empty))
    return f1.astype(np.float64)
