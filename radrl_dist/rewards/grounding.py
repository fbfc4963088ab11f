"""Grounding rewards: IoU (BoxMed-RL eq. 6-7) generalised to several boxes by optimal matching.

soft-F1 (RadVLM-GRPO's grounding reward): match predictions to references one-to-one maximising the
summed IoU (Hungarian algorithm on 1 - IoU, scipy), then recall = matched IoU mass / #references,
reward = 2 P R / (P + R) (0 when P + R = 0), with one of two precisions, both offered by name:
    "boxes" (the paper's figure; component `iou`):  P = mass / #predictions
        one box against one gives exactly their IoU (eq. 7): 0.596 -> 0.596 (the figure's 0.6)
    "mass"  (the authors' public code as issue 17 describes it; component `iou_radvlm_code`):
        P = mass / (mass + #unmatched predictions), a prediction being matched when its
        assigned reference overlaps it (IoU > 0); one box of IoU u gives P = 1, R = u, so
        2u/(1+u): 0.596 -> 0.747
Extra boxes lower precision, missing boxes lower recall. No predictions and no references gives
`both_empty` (default 1.0: nothing to find, nothing claimed). Inverted or zero-area boxes have
IoU 0 but still count as predictions; with `image_size` boxes are clipped to the image first, so a
box entirely outside it has zero area. `match_labels=True` (boxes that carry labels): a pair whose
labels differ (case, spaces and punctuation ignored) has IoU 0, so boxes must be right in place and
in name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from radrl_dist.boxes.box import Box
from radrl_dist.boxes.geometry import iou_matrix

_NORM = re.compile(r"[^a-z0-9]+")
PRECISION_BOXES, PRECISION_MASS = "boxes", "mass"
PRECISIONS = (PRECISION_BOXES, PRECISION_MASS)


def _arr(boxes: Sequence[Box], image_size: Sequence[float] | None) -> np.ndarray:
    a = np.array([[b.x1, b.y1, b.x2, b.y2] for b in boxes], dtype=np.float64).reshape(-1, 4)
    a = np.where(np.isfinite(a), a, 0.0)
    if image_size is not None:
        w, h = float(image_size[0]), float(image_size[1])
        a = np.clip(a, 0.0, [w, h, w, h])
    return a


def label_key(label: str | None) -> str:
    return _NORM.sub(" ", (label or "").lower()).strip()


def matched_iou(preds: Sequence[Box], refs: Sequence[Box], image_size: Sequence[float] | None = None,
                match_labels: bool = False) -> np.ndarray:
    """IoU of each matched pair under the optimal one-to-one assignment (length min(P, R))."""
    if not preds or not refs:
        return np.zeros(0)
    m = iou_matrix(_arr(preds, image_size), _arr(refs, image_size))
    if match_labels:
        same = np.array([[label_key(p.label) == label_key(r.label) for r in refs] for p in preds])
        m = np.where(same, m, 0.0)
    rows, cols = linear_sum_assignment(1.0 - m)
    return m[rows, cols]


def soft_f1(preds: Sequence[Box], refs: Sequence[Box], image_size: Sequence[float] | None = None,
            match_labels: bool = False, both_empty: float = 1.0, precision: str = PRECISION_BOXES) -> float:
    """Multi-box grounding reward in [0, 1] (see module docstring)."""
    if precision not in PRECISIONS:
        raise ValueError(f"soft-F1 precision must be one of {PRECISIONS}, got {precision!r}")
    if not preds and not refs:
        return float(both_empty)
    if not preds or not refs:
        return 0.0
    ious = matched_iou(preds, refs, image_size, match_labels)
    mass = float(ious.sum())
    if precision == PRECISION_BOXES:
        p = mass / len(preds)
    else:
        unmatched = len(preds) - int((ious > 0).sum())
        p = mass / (mass + unmatched) if mass + unmatched > 0 else 0.0
    r = mass / len(refs)
    f = 2.0 * p * r / (p + r) if p + r > 0 else 0.0
    return f if math.isfinite(f) else 0.0


def iou_reward(preds: Sequence[Sequence[Box]], refs: Sequence[Sequence[Box]],
               image_sizes: Sequence[Sequence[float] | None] | None = None, match_labels: bool = False,
               both_empty: float = 1.0, precision: str = PRECISION_BOXES) -> np.ndarray:
    """soft-F1 per sample under `precision` ("boxes" | "mass"): float [N] in [0, 1]."""
    if len(preds) != len(refs):
        raise ValueError(f"{len(preds)} prediction lists but {len(refs)} reference lists")
    sizes = image_sizes if image_sizes is not None else [None] * len(preds)
    return np.array([soft_f1(p, r, s, match_labels, both_empty, precision) for p, r, s in zip(preds, refs, sizes)],
                    dtype=np.float64)
