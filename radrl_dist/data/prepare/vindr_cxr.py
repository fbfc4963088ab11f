"""VinDr-CXR -> grounding rows, one per (image, finding class), from several radiologists' boxes.

Input: annotation CSV(s) with image_id, class_name, rad_id (or rad_ID; optional), x_min, y_min,
x_max, y_max (Kaggle's VinBigData train.csv adds class_id); "No finding" rows have empty boxes.
Default files: ROOT/annotations/annotations_train.csv and annotations_test.csv (PhysioNet), else
ROOT/train.csv (Kaggle). The split is the file's (train/test; VinDr has no val: --val-fraction
carves one out of train by seed, per image). Images: DICOMs (train/<image_id>.dicom) or PNG/JPG
found by image_id anywhere under ROOT; DICOMs are windowed to 8-bit PNG (images.py).
Grounding target: see fusion.py (per class, radiologists' boxes fused at IoU > 0.5 by mean;
`--fuse none` keeps every box; --min-raters does not apply to files without a rad_id column,
whose boxes are already a consensus, as in VinDr's test set). All raw boxes with their rad_id are kept in prompt_vars
["rad_boxes"] (JSON, dataset pixels) whatever the target. Labels: CheXpert observations mapped
from the classes present in the target (mappings.py) are positive, everything else blank (unknown,
not negative). Images that every reader called "No finding" have nothing to ground: filtered, counted.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

from radrl_dist.data.prepare.common import (
    Conversion, Draft, FatalInputError, RejectedSourceRow, csv_header, labels_from_positives, parse_float, pick_column, read_csv,
    seeded_split,
)
from radrl_dist.data.prepare.fusion import fuse_boxes
from radrl_dist.data.prepare.images import index_images
from radrl_dist.data.prepare.mappings import VINDR_TO_CHEXPERT, is_no_finding, to_chexpert

NAME = "vindr_cxr"
HELP = "VinDr-CXR radiologists' boxes (DICOM images windowed to PNG), fused per class"
BOX = ["x_min", "y_min", "x_max", "y_max"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--annotations", type=Path, action="append", default=None,
                   help="annotation csv(s); split from the name (train/test) (default: see --help text)")
    p.add_argument("--fuse", choices=["wbf", "none"], default="wbf", help="how readers' boxes form the target")
    p.add_argument("--iou-thr", type=float, default=0.5, help="IoU above which two readers' boxes are one lesion")
    p.add_argument("--min-raters", type=int, default=1, help="keep lesions boxed by at least this many readers")
    p.add_argument("--val-fraction", type=float, default=0.0, help="carve a val split out of train (by image)")
    p.add_argument("--seed", type=int, default=0)


def default_files(root: Path) -> list[Path]:
    phys = [root / "annotations" / f"annotations_{s}.csv" for s in ("train", "test")]
    found = [p for p in phys if p.is_file()] or [p for p in (root / "train.csv",) if p.is_file()]
    if not found:
        raise FatalInputError(f"no VinDr annotations under {root} (annotations/annotations_train.csv or train.csv); "
                              "pass --annotations")
    return found


def _file_split(path: Path) -> str:
    name = path.name.lower()
    return "test" if "test" in name else "train"


def read_annotations(path: Path, conv: Conversion) -> dict[str, dict]:
    """image_id -> {"split", "source", "classes": {class: [(rad, box)]}, "no_finding": set(rad), "bad": msg}."""
    header = csv_header(path)
    rad_col = pick_column(header, ["rad_id", "rad_ID", "radiologist"], "rad_id", path, required=False)
    images: dict[str, dict] = {}
    for line, r in read_csv(path, ["image_id", "class_name"] + BOX):
        img = images.setdefault(r["image_id"], {"split": _file_split(path), "source": f"{path.name}:{line}",
                                                "classes": defaultdict(list), "no_finding": set(), "bad": ""})
        rad = r.get(rad_col or "", "") or "consensus"
        if is_no_finding(r["class_name"]):
            if any(r[c] for c in BOX):
                img["bad"] = img["bad"] or f"line {line}: 'No finding' row has a box"
            img["no_finding"].add(rad)
            continue
        try:
            box = tuple(parse_float(r[c], c) for c in BOX)
        except ValueError as exc:
            img["bad"] = img["bad"] or f"line {line}: {r['class_name']} box {exc}"
            continue
        if not (box[0] < box[2] and box[1] < box[3]):
            img["bad"] = img["bad"] or f"line {line}: {r['class_name']} box {box} has x_min>=x_max or y_min>=y_max"
            continue
        img["classes"][r["class_name"]].append((rad, box))
    return images


def convert(args: argparse.Namespace) -> Conversion:
    conv = Conversion(NAME)
    files = args.annotations or default_files(args.root)
    images: dict[str, dict] = {}
    for f in files:
        for k, v in read_annotations(Path(f), conv).items():
            if k in images:
                conv.errors.append(RejectedSourceRow("split_leak", f"image in two annotation files ({v['source']})", images[k]["source"], k))
            images[k] = v
    if args.val_fraction > 0:
        train = [k for k, v in images.items() if v["split"] == "train"]
        carve = seeded_split(train, args.seed, (1 - args.val_fraction, args.val_fraction, 0.0))
        for k in train:
            images[k]["split"] = carve[k]
    index = index_images(args.root)
    stats = Counter()
    for image_id, img in sorted(images.items()):
        if img["bad"]:
            conv.errors.append(RejectedSourceRow("bad_box", img["bad"], img["source"], image_id))
            continue
        if not img["classes"]:
            conv.filtered["no_finding_image"] += 1
            continue
        targets = {}
        for cls, raw in sorted(img["classes"].items()):
            need = 1 if {r for r, _ in raw} == {"consensus"} else args.min_raters  # test set: already a consensus
            boxes = fuse_boxes(raw, args.iou_thr, need) if args.fuse == "wbf" else None
            fused = [c.box for c in boxes] if boxes is not None else [b for _, b in raw]
            stats["raw_boxes"] += len(raw)
            stats["target_boxes"] += len(fused)
            if fused:
                targets[cls] = (raw, fused)
            else:
                conv.filtered["below_min_raters"] += 1
        positives = {o for o in (to_chexpert(c, VINDR_TO_CHEXPERT) for c in targets) if o}
        labels = labels_from_positives(positives, no_finding=False)
        src = index.get(image_id)
        for cls, (raw, fused) in targets.items():
            rad_boxes = [{"rad_id": r, "x1": b[0], "y1": b[1], "x2": b[2], "y2": b[3]} for r, b in raw]
            pv = {"label": cls, "phrase": cls, "chexpert": to_chexpert(cls, VINDR_TO_CHEXPERT) or "",
                  "image_id": image_id, "raters": str(len({r for r, _ in raw})), "rad_boxes": json.dumps(rad_boxes)}
            conv.drafts.append(Draft(
                study_id=image_id, task="grounding", split=img["split"], image_sources=[src],
                reference_labels=labels, boxes=[(cls, cls, *b) for b in fused],
                prompt_vars={k: v for k, v in pv.items() if v}, source=img["source"],
                missing_hint=f"{image_id}.dicom/.png/.jpg under {args.root}"))
    conv.notes.update(fuse=args.fuse, iou_thr=args.iou_thr, min_raters=args.min_raters, **stats)
    return conv
