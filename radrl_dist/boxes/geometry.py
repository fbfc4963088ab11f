"""Box geometry shared by rewards and metrics. Boxes are (x1, y1, x2, y2) in any one coordinate frame."""

from __future__ import annotations

import numpy as np

BoxTuple = tuple[float, float, float, float]


def box_area(box: BoxTuple) -> float:
    """Area; zero for a degenerate or inverted box (x2 <= x1 or y2 <= y1)."""
    x1, y1, x2, y2 = box
    return max(0.0, x2 - x1) * max(0.0, y2 - y1)


def iou(a: BoxTuple, b: BoxTuple) -> float:
    """Intersection over union (BoxMed-RL eq. 6-7). Inverted or zero-area boxes give 0, never NaN."""
    ix1, iy1 = max(a[0], b[0]), max(a[1], b[1])
    ix2, iy2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, ix2 - ix1) * max(0.0, iy2 - iy1)
    union = box_area(a) + box_area(b) - inter
    if union <= 0.0 or not np.isfinite(union):
        return 0.0
    return float(inter / union)


def iou_matrix(preds: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """Pairwise IoU, shape [P, R], vectorised; degenerate boxes give 0."""
    preds = np.asarray(preds, dtype=np.float64).reshape(-1, 4)
    refs = np.asarray(refs, dtype=np.float64).reshape(-1, 4)
    if len(preds) == 0 or len(refs) == 0:
        return np.zeros((len(preds), len(refs)))
    ix1 = np.maximum(preds[:, None, 0], refs[None, :, 0])
    iy1 = np.maximum(preds[:, None, 1], refs[None, :, 1])
    ix2 = np.minimum(preds[:, None, 2], refs[None, :, 2])
    iy2 = np.minimum(preds[:, None, 3], refs[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_p = np.clip(preds[:, 2] - preds[:, 0], 0, None) * np.clip(preds[:, 3] - preds[:, 1], 0, None)
    area_r = np.clip(refs[:, 2] - refs[:, 0], 0, None) * np.clip(refs[:, 3] - refs[:, 1], 0, None)
    union = area_p[:, None] + area_r[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(union > 0, inter / union, 0.0)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
