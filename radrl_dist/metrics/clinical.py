"""Clinical-efficacy (CE) metrics on label matrices, under named conventions that never mix.

Inputs are int8 [N, 14] in CheXbert class ids (0 blank, 1 positive, 2 negative, 3 uncertain),
candidate labels against reference labels. Conventions (DESIGN section 3):
- `r2gen`: positive -> 1; blank, negative, uncertain -> 0; micro/macro P/R/F1 as sklearn.
- `f1chexbert`: positive and uncertain -> 1; micro/macro/weighted/samples, plus subset accuracy.
- `example`: positive -> 1 (as r2gen); per-report P/R/F1 averaged over reports (PromptMRG-style
  example-based). A report with no positive in candidate or reference gets P/R/F1 0 for the empty
  side (sklearn's zero_division=0), so the worked case of TEST_VECTORS gives samples F1 0.4.
Each is reported over all 14 observations and over the top 5 (`constants.TOP5_OBSERVATIONS`).
Undefined ratios (no predicted or no true positive for a label) count as 0, as sklearn's
zero_division=0 does; tests compare against sklearn.
"""

from __future__ import annotations

import numpy as np

from radrl_dist.constants import (
    BLANK,
    CHEXPERT_OBSERVATIONS,
    NEGATIVE,
    NUM_OBSERVATIONS,
    OBSERVATION_INDEX,
    POSITIVE,
    TOP5_OBSERVATIONS,
    UNCERTAIN,
)

CONVENTIONS = ("r2gen", "f1chexbert", "example")
TOP5_INDEX = [OBSERVATION_INDEX[o] for o in TOP5_OBSERVATIONS]


def check_labels(labels: np.ndarray, name: str) -> np.ndarray:
    """Validate shape [N, 14] and class ids; a clear error names the matrix that is wrong."""
    arr = np.asarray(labels)
    if arr.ndim != 2 or arr.shape[1] != NUM_OBSERVATIONS:
        raise ValueError(f"{name}: expected shape [N, {NUM_OBSERVATIONS}], got {arr.shape}")
    bad = ~np.isin(arr, (BLANK, POSITIVE, NEGATIVE, UNCERTAIN))
    if bad.any():
        raise ValueError(f"{name}: class ids must be 0..3, found {sorted(set(arr[bad].tolist()))}")
    return arr.astype(np.int8)


def binarize(labels: np.ndarray, convention: str) -> np.ndarray:
    """Class ids -> 0/1 positives under a convention."""
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown CE convention {convention!r}; use one of {CONVENTIONS}")
    pos = labels == POSITIVE
    if convention == "f1chexbert":
        pos |= labels == UNCERTAIN
    return pos.astype(np.int64)


def _div(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b != 0)


def _f1(p: np.ndarray, r: np.ndarray) -> np.ndarray:
    return _div(2 * p * r, p + r)


def prf_binary(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """micro, macro, weighted and samples P/R/F1 of 0/1 matrices [N, L] (sklearn semantics,
    zero_division=0), plus subset accuracy."""
    tp = (y_true & y_pred).sum(0)
    fp = ((1 - y_true) & y_pred).sum(0)
    fn = (y_true & (1 - y_pred)).sum(0)
    support = y_true.sum(0)
    p_l, r_l = _div(tp, tp + fp), _div(tp, tp + fn)
    f_l = _f1(p_l, r_l)
    out: dict[str, float] = {}
    mp, mr = float(_div(tp.sum(), tp.sum() + fp.sum())), float(_div(tp.sum(), tp.sum() + fn.sum()))
    out.update(micro_precision=mp, micro_recall=mr, micro_f1=float(_f1(np.array(mp), np.array(mr))))
    out.update(macro_precision=float(p_l.mean()), macro_recall=float(r_l.mean()), macro_f1=float(f_l.mean()))
    w = _div(support, support.sum()) if support.sum() else np.zeros_like(p_l)
    out.update(
        weighted_precision=float((p_l * w).sum()),
        weighted_recall=float((r_l * w).sum()),
        weighted_f1=float((f_l * w).sum()),
    )
    stp = (y_true & y_pred).sum(1)
    sp, sr = _div(stp, y_pred.sum(1)), _div(stp, y_true.sum(1))
    out.update(
        samples_precision=float(sp.mean()), samples_recall=float(sr.mean()), samples_f1=float(_f1(sp, sr).mean())
    )
    out["subset_accuracy"] = float((y_true == y_pred).all(1).mean())
    return out


def ce_metrics(cand_labels: np.ndarray, ref_labels: np.ndarray, convention: str) -> dict[str, float]:
    """CE metrics of one convention over 14 and top-5: keys like `micro_f1_14`, `macro_f1_5`.

    `example` reports the samples-averaged numbers under the plain micro/macro names' place:
    `precision_14`, `recall_14`, `f1_14` (and `_5`)."""
    cand = check_labels(cand_labels, "candidate labels")
    ref = check_labels(ref_labels, "reference labels")
    if cand.shape != ref.shape:
        raise ValueError(f"candidate labels {cand.shape} and reference labels {ref.shape} differ in shape")
    yp, yt = binarize(cand, convention), binarize(ref, convention)
    out: dict[str, float] = {}
    for suffix, cols in (("14", list(range(NUM_OBSERVATIONS))), ("5", TOP5_INDEX)):
        m = prf_binary(yt[:, cols], yp[:, cols])
        if convention == "example":
            for k in ("precision", "recall", "f1"):
                out[f"{k}_{suffix}"] = m[f"samples_{k}"]
        elif convention == "r2gen":
            for k in ("micro_precision", "micro_recall", "micro_f1", "macro_precision", "macro_recall", "macro_f1"):
                out[f"{k}_{suffix}"] = m[k]
        else:
            for k, v in m.items():
                out[f"{k}_{suffix}"] = v
    return out


def per_observation(cand_labels: np.ndarray, ref_labels: np.ndarray, convention: str = "r2gen") -> list[dict]:
    """BoxMed-RL Table 3 rows: observation, accuracy, precision, recall, F1, support."""
    yp = binarize(check_labels(cand_labels, "candidate labels"), convention)
    yt = binarize(check_labels(ref_labels, "reference labels"), convention)
    rows = []
    for j, name in enumerate(CHEXPERT_OBSERVATIONS):
        t, p = yt[:, j], yp[:, j]
        tp, fp, fn = int((t & p).sum()), int(((1 - t) & p).sum()), int((t & (1 - p)).sum())
        prec, rec = float(_div(tp, tp + fp)), float(_div(tp, tp + fn))
        rows.append(
            dict(
                observation=name,
                accuracy=float((t == p).mean()) if len(t) else 0.0,
                precision=prec,
                recall=rec,
                f1=float(_f1(np.array(prec), np.array(rec))),
                support=int(t.sum()),
            )
        )
    return rows
