"""Grounding metrics over samples of predicted and reference boxes (one coordinate frame per sample).

A sample's prediction is a list of [x1, y1, x2, y2] boxes in output order, or `None` when the
output could not be parsed (a format failure; it scores 0 everywhere and is counted).
- sample IoU: optimal one-to-one matching (Hungarian, scipy) of predictions to references,
  matched IoU mass / max(#pred, #ref), so extra and missing boxes cost; equals plain IoU for one box
  against one. mean IoU and accuracy at IoU >= 0.3 / 0.5 are over samples.
- AP@0.5: predictions in output order (order stands in for confidence, since generated boxes
  carry no score); AP is the area under the all-point interpolated precision/recall curve with
  recall over the references. No prediction or no reference -> 0. mAP = mean over samples.
  Two matchings, named:
    "best" (`map_0.5`, the RadVLM authors' public evaluation, VOC-style): each prediction is
        compared only with its best-IoU reference; a true positive if that IoU >= 0.5 and that
        reference is not taken yet, else a false positive;
    "free" (`map_0.5_free`, this project's earlier metric, COCO-style): a prediction takes the
        best still-free reference with IoU >= 0.5.
  They differ when a prediction's best reference is already taken: predictions [0,0,.4,.4],
  [.04,.04,.44,.44] against references [0,0,.4,.4], [.1,.1,.5,.5] give 0.5 (best) vs 1.0 (free).
- COCO-style mAP: the "free" per-sample AP averaged over IoU thresholds 0.50:0.05:0.95.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from radrl_dist.boxes.geometry import iou_matrix

Boxes = Sequence[Sequence[float]]
COCO_THRESHOLDS = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2).tolist())


def _arr(boxes: Boxes | None) -> np.ndarray:
    return np.asarray(boxes if boxes is not None else [], dtype=np.float64).reshape(-1, 4)


def sample_iou(pred: Boxes | None, ref: Boxes) -> float:
    """Matched IoU mass over max(#pred, #ref); 0 if either side is empty."""
    p, r = _arr(pred), _arr(ref)
    if len(p) == 0 or len(r) == 0:
        return 0.0
    m = iou_matrix(p, r)
    rows, cols = linear_sum_assignment(-m)
    return float(m[rows, cols].sum() / max(len(p), len(r)))


MATCHINGS = ("best", "free")


def sample_ap(pred: Boxes | None, ref: Boxes, thr: float = 0.5, matching: str = "best") -> float:
    """AP of one sample at an IoU threshold; `matching` "best" (RadVLM authors) or "free" (module doc)."""
    if matching not in MATCHINGS:
        raise ValueError(f"AP matching must be one of {MATCHINGS}, got {matching!r}")
    p, r = _arr(pred), _arr(ref)
    if len(p) == 0 or len(r) == 0:
        return 0.0
    m = iou_matrix(p, r)
    free = np.ones(len(r), dtype=bool)
    tp = np.zeros(len(p))
    for i in range(len(p)):
        cand = m[i] if matching == "best" else np.where(free, m[i], -1.0)
        j = int(np.argmax(cand))
        if cand[j] >= thr and free[j]:
            free[j] = False
            tp[i] = 1.0
    ctp = np.cumsum(tp)
    recall = ctp / len(r)
    precision = ctp / np.arange(1, len(p) + 1)
    # all-point interpolation: precision envelope, integrated over recall steps
    mrec = np.concatenate([[0.0], recall])
    mpre = np.concatenate([[0.0], precision])
    for k in range(len(mpre) - 2, -1, -1):
        mpre[k] = max(mpre[k], mpre[k + 1])
    return float(np.sum((mrec[1:] - mrec[:-1]) * mpre[1:]))


def grounding_metrics(preds: Sequence[Boxes | None], refs: Sequence[Boxes]) -> dict[str, float]:
    """mean_iou, acc_iou_0.3, acc_iou_0.5, map_0.5 (RadVLM authors' matching), map_0.5_free,
    map_coco (0.5:0.95), format_failure_rate."""
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} predictions but {len(refs)} references")
    if not preds:
        raise ValueError("grounding metrics need at least one sample")
    ious = np.array([sample_iou(p, r) for p, r in zip(preds, refs)])
    ap50 = np.array([sample_ap(p, r, 0.5, "best") for p, r in zip(preds, refs)])
    ap50_free = np.array([sample_ap(p, r, 0.5, "free") for p, r in zip(preds, refs)])
    coco = np.array([[sample_ap(p, r, t, "free") for t in COCO_THRESHOLDS] for p, r in zip(preds, refs)])
    return {
        "mean_iou": float(ious.mean()),
        "acc_iou_0.3": float((ious >= 0.3).mean()),
        "acc_iou_0.5": float((ious >= 0.5).mean()),
        "map_0.5": float(ap50.mean()),
        "map_0.5_free": float(ap50_free.mean()),
        "map_coco": float(coco.mean()),
        "format_failure_rate": float(np.mean([p is None for p in preds])),
    }


def per_sample_ious(preds: Sequence[Boxes | None], refs: Sequence[Boxes]) -> np.ndarray:
    """Sample IoUs, for histograms and bootstrap."""
    return np.array([sample_iou(p, r) for p, r in zip(preds, refs)])
