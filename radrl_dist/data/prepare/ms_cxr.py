"""MS-CXR (phrase-box pairs on MIMIC-CXR images) -> grounding rows.

Input: ROOT/MS_CXR_Local_Alignment_v1.*.csv (or --annotations), one row per box, columns
dicom_id, category_name, label_text, x, y, w, h, image_width, image_height, path[, split] —
boxes are (x, y, w, h) in the pixels of an image_width x image_height image (the DICOM), so they
are rescaled when the JPEG found differs in size. Images: a MIMIC-CXR-JPG tree (--images, default
ROOT); see phrase_boxes.py for the lookup and split rules. Box label = category_name (a CheXpert
observation name), phrase = label_text.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from radrl_dist.data.prepare.common import Conversion, FatalInputError, parse_float, read_csv
from radrl_dist.data.prepare.phrase_boxes import MimicImages, PhraseGroup, Splits, to_drafts

NAME = "ms_cxr"
HELP = "MS-CXR phrase grounding boxes on MIMIC-CXR-JPG images"
COLUMNS = ["dicom_id", "category_name", "label_text", "x", "y", "w", "h", "image_width", "image_height", "path"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--annotations", type=Path, default=None,
                   help="the MS_CXR_Local_Alignment csv (default: newest MS_CXR_Local_Alignment_v*.csv in --root)")
    p.add_argument("--images", type=Path, default=None, help="MIMIC-CXR-JPG root (default: --root)")
    p.add_argument("--mimic-split", type=Path, default=None,
                   help="mimic-cxr-2.0.0-split.csv for csvs without a split column (default: looked up in --images)")
    p.add_argument("--default-split", default="train", help="split when no other source names one (default train)")


def annotations_path(root: Path, given: Path | None) -> Path:
    if given is not None:
        return given
    found = sorted(root.glob("MS_CXR_Local_Alignment_v*.csv")) + sorted(root.glob("MS_CXR_Local_Alignment_v*.csv.gz"))
    if not found:
        raise FatalInputError(f"no MS_CXR_Local_Alignment_v*.csv under {root}; pass --annotations")
    return found[-1]


def read_groups(path: Path) -> list[PhraseGroup]:
    """Group box rows by (dicom_id, category, phrase); a bad row poisons its group with a message."""
    groups: dict[tuple[str, str, str], PhraseGroup] = {}
    for line, r in read_csv(path, COLUMNS):
        k = (r["dicom_id"], r["category_name"], r["label_text"])
        g = groups.get(k)
        if g is None:
            g = groups[k] = PhraseGroup(r["dicom_id"], r["category_name"] or None, r["label_text"], r["path"],
                                        r.get("split", ""), f"{path.name}:{line}")
        try:
            x, y, w, h = (parse_float(r[c], c) for c in ("x", "y", "w", "h"))
            size = (parse_float(r["image_width"], "image_width"), parse_float(r["image_height"], "image_height"))
        except ValueError as exc:
            g.error = g.error or f"line {line}: box {exc}"
            continue
        if w <= 0 or h <= 0:
            g.error = g.error or f"line {line}: box has w={w}, h={h} (must be > 0)"
        if g.size is not None and g.size != size:
            g.error = g.error or f"line {line}: image size {size} differs from {g.size} on an earlier row"
        g.size = size
        g.boxes.append((x, y, x + w, y + h))
    return list(groups.values())


def convert(args: argparse.Namespace) -> Conversion:
    conv = Conversion(NAME)
    path = annotations_path(args.root, args.annotations)
    images_root = args.images or args.root
    conv.notes["annotations"] = path.name
    to_drafts(read_groups(path), MimicImages(images_root), Splits(images_root, args.mimic_split, args.default_split, conv), conv)
    return conv
