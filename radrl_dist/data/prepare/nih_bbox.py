"""NIH ChestX-ray14 BBox_List_2017 -> grounding rows, one per (image, finding).

Input: BBox_List_2017.csv (header `Image Index,Finding Label,Bbox [x,y,w,h],,,`: the box is the
four cells after the label, x/y/w/h in the 1024x1024 PNG's pixels). Default: ROOT/BBox_List_2017.csv
(.gz), else the copy torchxrayvision ships (noted in summary.json). Images: found by file name
anywhere under ROOT (images/, images_001/images/, ...). Labels: from Data_Entry_2017*.csv
(`Finding Labels`, "|"-separated) when present under ROOT or given: mapped findings positive
(mappings.py), "No Finding" -> No Finding positive, the rest blank. Split: ROOT/test_list.txt and
train_val_list.txt (the official patient-wise lists; train_val -> train) when present, else
--default-split (test: the BBox images are NIH's evaluation subset).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
from pathlib import Path

from radrl_dist.data.prepare.common import (
    Conversion, Draft, FatalInputError, RejectedSourceRow, labels_from_positives, norm_split, open_text, parse_float, read_csv,
)
from radrl_dist.data.prepare.images import index_images
from radrl_dist.data.prepare.mappings import NIH_TO_CHEXPERT, to_chexpert

NAME = "nih_bbox"
HELP = "NIH ChestX-ray14 BBox_List_2017 boxes (+ Data_Entry labels)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--annotations", type=Path, default=None, help="BBox_List_2017.csv[.gz] (default: see --help text)")
    p.add_argument("--data-entry", type=Path, default=None, help="Data_Entry_2017*.csv[.gz] for image labels")
    p.add_argument("--default-split", default="test", help="split when no official list is found (default test)")


def _txv_file(name: str) -> Path | None:
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / "data" / name
    return p if p.is_file() else None


def annotations_path(root: Path, given: Path | None, conv: Conversion) -> Path:
    if given is not None:
        return given
    for cand in (root / "BBox_List_2017.csv", root / "BBox_List_2017.csv.gz"):
        if cand.is_file():
            return cand
    txv = _txv_file("BBox_List_2017.csv.gz")
    if txv is None:
        raise FatalInputError(f"no BBox_List_2017.csv under {root} and torchxrayvision is not installed; pass --annotations")
    conv.notes["annotations"] = "torchxrayvision copy"
    return txv


def read_bbox_list(path: Path) -> tuple[dict[tuple[str, str], dict], list[RejectedSourceRow]]:
    """(image, finding) -> {"boxes": [(x1, y1, x2, y2)], "source"}; bad rows as errors."""
    groups: dict[tuple[str, str], dict] = {}
    errors: list[RejectedSourceRow] = []
    with open_text(path) as fh:
        rows = csv.reader(fh)
        header = next(rows, [])
        if [h.strip() for h in header[:2]] != ["Image Index", "Finding Label"] or len(header) < 6:
            raise FatalInputError(f"{path}: expected header 'Image Index,Finding Label,Bbox [x,y,w,h],,,', got {header}")
        for line, r in enumerate(rows, start=2):
            src = f"{path.name}:{line}"
            if not any(c.strip() for c in r):
                continue
            name, label = (r[0].strip(), r[1].strip()) if len(r) > 1 else (r[0].strip() if r else "", "")
            try:
                if len(r) < 6:
                    raise ValueError(f"expected 4 box values, got {len(r) - 2}")
                x, y, w, h = (parse_float(v.strip(), k) for v, k in zip(r[2:6], "xywh"))
                if w <= 0 or h <= 0:
                    raise ValueError(f"w={w}, h={h} must be > 0")
            except ValueError as exc:
                errors.append(RejectedSourceRow("bad_box", f"box {exc}", src, name))
                continue
            g = groups.setdefault((name, label), {"boxes": [], "source": src})
            g["boxes"].append((x, y, x + w, y + h))
    return groups, errors


def _labels(root: Path, given: Path | None, conv: Conversion) -> dict[str, list[int]] | None:
    path = given or next(iter(sorted(root.glob("Data_Entry_2017*.csv*"))), None)
    if path is None:
        return None
    conv.notes["labels"] = path.name
    out = {}
    for _, r in read_csv(path, ["Image Index", "Finding Labels"]):
        names = [n.strip() for n in r["Finding Labels"].split("|") if n.strip()]
        obs = {o for o in (to_chexpert(n, NIH_TO_CHEXPERT) for n in names) if o}
        out[r["Image Index"]] = labels_from_positives(obs, no_finding=names == ["No Finding"])
    return out


def _splits(root: Path, default: str, conv: Conversion) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, split in (("train_val_list.txt", "train"), ("test_list.txt", "test")):
        f = root / name
        if f.is_file():
            out.update({ln.strip(): split for ln in f.read_text().splitlines() if ln.strip()})
    conv.notes["split_source"] = "official lists" if out else f"default ({norm_split(default)})"
    return out


def convert(args: argparse.Namespace) -> Conversion:
    conv = Conversion(NAME)
    path = annotations_path(args.root, args.annotations, conv)
    groups, errors = read_bbox_list(path)
    conv.errors.extend(errors)
    labels = _labels(args.root, args.data_entry, conv)
    splits, default = _splits(args.root, args.default_split, conv), norm_split(args.default_split)
    index = index_images(args.root)
    for (name, finding), g in sorted(groups.items()):
        stem = name.rsplit(".", 1)[0]
        pv = {"label": finding, "phrase": finding, "chexpert": to_chexpert(finding, NIH_TO_CHEXPERT) or "", "image_id": name}
        conv.drafts.append(Draft(
            study_id=stem, task="grounding", split=splits.get(name, default), image_sources=[index.get(stem)],
            reference_labels=None if labels is None else labels.get(name), boxes=[(finding, finding, *b) for b in g["boxes"]],
            prompt_vars={k: v for k, v in pv.items() if v}, source=g["source"], missing_hint=f"{name} under {args.root}"))
    return conv
