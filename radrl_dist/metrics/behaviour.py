"""Behaviour of a policy's outputs: how long, how often well-formed, how often of the wrong polarity.

Polarity error (a candidate contradicting the reference on an observation): the reference calls an
observation positive (or uncertain) and the candidate calls it negative, or the reverse. Blank on
either side is omission or hallucination, not a polarity error. No Finding is excluded (it has no
negative class).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from radrl_dist.constants import NEGATIVE, NO_FINDING_INDEX, POSITIVE, UNCERTAIN
from radrl_dist.metrics.clinical import check_labels


def response_lengths(texts: Sequence[str]) -> np.ndarray:
    """Whitespace word counts (tokenizer-free, so runs can be compared across model families)."""
    return np.array([len((t or "").split()) for t in texts], dtype=np.int64)


def polarity_errors(cand_labels: np.ndarray, ref_labels: np.ndarray) -> np.ndarray:
    """bool [N]: the candidate flips the polarity of at least one observation of the reference."""
    cand = check_labels(cand_labels, "candidate labels")
    ref = check_labels(ref_labels, "reference labels")
    keep = [j for j in range(cand.shape[1]) if j != NO_FINDING_INDEX]
    c, r = cand[:, keep], ref[:, keep]
    pos_c, pos_r = np.isin(c, (POSITIVE, UNCERTAIN)), np.isin(r, (POSITIVE, UNCERTAIN))
    flip = (pos_r & (c == NEGATIVE)) | ((r == NEGATIVE) & pos_c)
    return flip.any(axis=1)


def behaviour_metrics(
    texts: Sequence[str],
    format_ok: Sequence[bool] | None = None,
    cand_labels: np.ndarray | None = None,
    ref_labels: np.ndarray | None = None,
) -> dict[str, float]:
    """mean/median response length, format_rate (when format checks are given), polarity_error_rate
    (when labels are given). Keys that cannot be computed are left out for the caller to mark."""
    lengths = response_lengths(texts)
    out: dict[str, float] = {}
    if len(lengths):
        out["response_length_mean"] = float(lengths.mean())
        out["response_length_median"] = float(np.median(lengths))
    if format_ok is not None and len(format_ok):
        out["format_rate"] = float(np.mean(np.asarray(format_ok, dtype=bool)))
    if cand_labels is not None and ref_labels is not None and len(cand_labels):
        out["polarity_error_rate"] = float(polarity_errors(cand_labels, ref_labels).mean())
    return out
