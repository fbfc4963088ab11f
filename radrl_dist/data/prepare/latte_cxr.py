"""LATTE-CXR (box-statement / box-sentence pairs on REFLACX's MIMIC-CXR images) -> grounding rows.

ASSUMED FORMAT. LATTE-CXR (PhysioNet, restricted access, v1.0.0) could not be inspected when this
was written; its description says it holds 3,926 box-statement pairs (phase 2, from REFLACX's
abnormality ellipses) and 13,751 eye-tracking box-sentence pairs (phase 3) on MIMIC-CXR images
identified by dicom_id. We therefore read any CSV with one row per box and these columns
(case-insensitive; the first alias present wins):
  image id   dicom_id | image_id | dicomid                       (required)
  text       sentence | statement | phrase | label_text | text   (required)
  box        xmin,ymin,xmax,ymax | x_min,y_min,x_max,y_max | x1,y1,x2,y2 | x,y,w,h   (required)
  label      label | category | category_name | abnormality      (optional: the box label)
  image      image_path | path                                   (optional: relative to --images)
  split      split                                               (optional)
  size       image_width,image_height                            (optional: the pixels boxes are in)
Boxes without a declared size are taken to be in the pixels of the image found. Files: every
*.csv under --root, or --annotations (repeatable). If the real files differ, map the columns with
--column NAME=ALIAS (e.g. --column text=report_sentence) rather than editing the code.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from radrl_dist.data.prepare.common import Conversion, FatalInputError, csv_header, parse_float, pick_column, read_csv
from radrl_dist.data.prepare.phrase_boxes import MimicImages, PhraseGroup, Splits, to_drafts

NAME = "latte_cxr"
HELP = "LATTE-CXR box-statement/sentence pairs on MIMIC-CXR-JPG images (assumed CSV format, see --help)"
ALIASES: dict[str, list[str]] = {
    "image_id": ["dicom_id", "image_id", "dicomid"],
    "text": ["sentence", "statement", "phrase", "label_text", "text"],
    "label": ["label", "category", "category_name", "abnormality"],
    "path": ["image_path", "path"],
    "split": ["split"],
    "width": ["image_width"],
    "height": ["image_height"],
}
BOX_STYLES = [("xmin", "ymin", "xmax", "ymax"), ("x_min", "y_min", "x_max", "y_max"), ("x1", "y1", "x2", "y2"), ("x", "y", "w", "h")]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--annotations", type=Path, action="append", default=None, help="CSV file(s) (default: all *.csv under --root)")
    p.add_argument("--images", type=Path, default=None, help="MIMIC-CXR-JPG root (default: --root)")
    p.add_argument("--mimic-split", type=Path, default=None, help="mimic-cxr-2.0.0-split.csv (default: looked up in --images)")
    p.add_argument("--default-split", default="train", help="split when no other source names one (default train)")
    p.add_argument("--column", action="append", default=[], metavar="NAME=ALIAS",
                   help=f"extra alias for a column; NAME in {sorted(ALIASES)}")


def _columns(path: Path, extra: dict[str, str]) -> tuple[dict[str, str | None], tuple[str, str, str, str], bool]:
    header = csv_header(path)
    cols = {k: pick_column(header, ([extra[k]] if k in extra else []) + a, k, path, required=k in ("image_id", "text"))
            for k, a in ALIASES.items()}
    lower = {h.lower(): h for h in header}
    for style in BOX_STYLES:
        if all(c in lower for c in style):
            return cols, tuple(lower[c] for c in style), style[2] == "w"  # type: ignore[return-value]
    raise FatalInputError(f"{path}: no box columns (looked for {BOX_STYLES}); found {header}")


def read_groups(path: Path, extra: dict[str, str]) -> list[PhraseGroup]:
    cols, box_cols, wh = _columns(path, extra)
    groups: dict[tuple[str, str, str], PhraseGroup] = {}
    for line, r in read_csv(path, []):
        get = lambda k: r.get(cols[k] or "", "")  # noqa: E731
        k = (get("image_id"), get("label"), get("text"))
        g = groups.get(k)
        if g is None:
            g = groups[k] = PhraseGroup(k[0], k[1] or None, k[2], get("path"), get("split"), f"{path.name}:{line}")
        try:
            a, b, c, d = (parse_float(r[col], col) for col in box_cols)
            size = (parse_float(get("width"), "image_width"), parse_float(get("height"), "image_height")) if get("width") else None
        except ValueError as exc:
            g.error = g.error or f"line {line}: box {exc}"
            continue
        g.boxes.append((a, b, a + c, b + d) if wh else (a, b, c, d))
        if size is not None:
            g.size = size
    return list(groups.values())


def convert(args: argparse.Namespace) -> Conversion:
    conv = Conversion(NAME)
    extra = {}
    for spec in args.column:
        name, _, alias = spec.partition("=")
        if name not in ALIASES or not alias:
            raise FatalInputError(f"--column {spec!r}: expected NAME=ALIAS with NAME in {sorted(ALIASES)}")
        extra[name] = alias
    files = args.annotations or sorted(p for p in args.root.rglob("*.csv") if not p.name.startswith("mimic-cxr-"))
    if not files:
        raise FatalInputError(f"no LATTE-CXR csv under {args.root}; pass --annotations")
    images_root = args.images or args.root
    groups = [g for f in files for g in read_groups(Path(f), extra)]
    conv.notes["annotations"] = [Path(f).name for f in files]
    to_drafts(groups, MimicImages(images_root), Splits(images_root, args.mimic_split, args.default_split, conv), conv)
    return conv
