"""Fusing several radiologists' boxes of one class on one image into a grounding target.

Why fuse: VinDr-CXR's training images were read by three radiologists each, who box the same lesion
with slightly different rectangles. Kept as is, a lesion would appear ~3 times in the target, and the
set-matching IoU reward (soft-F1 over optimally matched boxes) would punish a model that boxes it
once for "missing" the duplicates. So, per class, boxes are clustered greedily: a box joins the
cluster whose current fused box it overlaps most with IoU > `iou_thr` (0.5 by default, the usual
"same object" threshold), and the fused box is the coordinate-wise mean of its members (weighted
boxes fusion with equal weights: the readers give no confidences). `min_raters` > 1 keeps only
lesions that at least that many distinct radiologists boxed. Boxes are visited in a sorted order
(rater, coordinates), so the result does not depend on the CSV's row order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from radrl_dist.boxes.geometry import BoxTuple, iou


@dataclass
class Cluster:
    members: list[tuple[str, BoxTuple]] = field(default_factory=list)

    @property
    def box(self) -> BoxTuple:
        n = len(self.members)
        return tuple(sum(b[i] for _, b in self.members) / n for i in range(4))  # type: ignore[return-value]

    @property
    def raters(self) -> set[str]:
        return {r for r, _ in self.members}


def fuse_boxes(boxes: list[tuple[str, BoxTuple]], iou_thr: float = 0.5, min_raters: int = 1) -> list[Cluster]:
    """(rater, box) pairs of one class on one image -> fused clusters, in a deterministic order."""
    clusters: list[Cluster] = []
    for rater, box in sorted(boxes, key=lambda rb: (rb[0], tuple(rb[1]))):
        best, best_iou = None, iou_thr
        for c in clusters:
            v = iou(c.box, box)
            if v > best_iou:
                best, best_iou = c, v
        if best is None:
            clusters.append(Cluster([(rater, tuple(box))]))  # type: ignore[list-item]
        else:
            best.members.append((rater, tuple(box)))  # type: ignore[arg-type]
    return [c for c in clusters if len(c.raters) >= min_raters]
