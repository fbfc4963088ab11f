"""MIMIC-CXR-JPG (+ MIMIC-CXR reports) -> report rows.

Expected layout (PhysioNet releases, csv files may be .csv or .csv.gz):
  ROOT/mimic-cxr-2.0.0-split.csv      dicom_id, study_id, subject_id, split (train/validate/test)
  ROOT/mimic-cxr-2.0.0-metadata.csv   dicom_id, subject_id, study_id, ViewPosition, Rows, Columns, ...
  ROOT/mimic-cxr-2.0.0-chexpert.csv   subject_id, study_id, 14 observations (1.0 / 0.0 / -1.0 / blank)
  ROOT/mimic-cxr-2.0.0-negbio.csv     same columns (used with --labels negbio)
  ROOT/files/p10/p10000032/s50414267/<dicom_id>.jpg
  REPORTS/files/p10/p10000032/s50414267.txt  (from MIMIC-CXR; or REPORTS = mimic-cxr-reports.zip)
Rows: one per image (default, as MRG-R1) or one per study (all selected views). The split is the
official one; "validate" becomes "val". Labels come from chexpert.csv/negbio.csv per study.
"""

from __future__ import annotations

import argparse
import os
import zipfile
from collections import defaultdict
from pathlib import Path

from radrl_dist.data.prepare.common import (
    Conversion, Draft, FatalInputError, RejectedSourceRow, find_file, labels_from_chexpert_row, norm_split, read_csv,
)
from radrl_dist.data.prepare.sections import findings_impression, missing_reason, report_text

NAME = "mimic_cxr"
HELP = "MIMIC-CXR-JPG images + MIMIC-CXR free-text reports (official split, CheXpert labels)"
VIEW_GROUPS = {"PA": {"PA"}, "AP": {"AP"}, "LATERAL": {"LATERAL", "LL"}}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reports", type=Path, default=None,
                   help="folder holding files/pXX/pID/sID.txt, or mimic-cxr-reports.zip (default: --root)")
    p.add_argument("--views", default="PA,AP",
                   help="comma list of PA, AP, LATERAL (LATERAL includes LL), or 'all' (default PA,AP)")
    p.add_argument("--rows", choices=["per-image", "per-study"], default="per-image")
    p.add_argument("--section", choices=["findings", "impression", "both"], default="both",
                   help="reference text; a study without the section is filtered (counted), not an error")
    p.add_argument("--labels", choices=["auto", "chexpert", "negbio", "none"], default="auto",
                   help="label file (auto: chexpert.csv when present)")
    p.add_argument("--limit", type=int, default=None, help="convert only the first N studies (trials)")


class _Reports:
    """Report text by (subject, study), from a folder tree or the reports zip."""

    def __init__(self, where: Path) -> None:
        self.zip: zipfile.ZipFile | None = None
        self.members: dict[str, str] = {}
        if where.is_file() and zipfile.is_zipfile(where):
            self.zip = zipfile.ZipFile(where)
            self.members = {os.path.basename(n): n for n in self.zip.namelist() if n.endswith(".txt")}
        elif (where / "files").is_dir():
            self.root = where
        elif (where / "mimic-cxr-reports.zip").is_file():
            self.__init__(where / "mimic-cxr-reports.zip")  # type: ignore[misc]
        else:
            raise FatalInputError(f"reports: {where} has no files/ folder and is not mimic-cxr-reports.zip")

    def get(self, subject: str, study: str) -> str | None:
        name = f"s{study}.txt"
        if self.zip is not None:
            member = self.members.get(name)
            return None if member is None else self.zip.read(member).decode("utf-8", errors="replace")
        path = self.root / "files" / f"p{subject[:2]}" / f"p{subject}" / name
        return path.read_text(errors="replace") if path.is_file() else None


def _views(spec: str) -> set[str] | None:
    if spec.strip().lower() == "all":
        return None
    out: set[str] = set()
    for v in spec.upper().split(","):
        if v.strip() not in VIEW_GROUPS:
            raise FatalInputError(f"--views: unknown view {v!r} (use PA, AP, LATERAL or all)")
        out |= VIEW_GROUPS[v.strip()]
    return out


def _labels(root: Path, which: str, conv: Conversion) -> dict[tuple[str, str], list[int]] | None:
    if which == "none":
        return None
    names = {"chexpert": ["mimic-cxr-2.0.0-chexpert.csv"], "negbio": ["mimic-cxr-2.0.0-negbio.csv"],
             "auto": ["mimic-cxr-2.0.0-chexpert.csv"]}[which]
    try:
        path = find_file(root, names, "labels")
    except FatalInputError:
        if which == "auto":
            conv.notes["labels"] = "none (no chexpert.csv)"
            return None
        raise
    conv.notes["labels"] = path.name
    out: dict[tuple[str, str], list[int]] = {}
    for line, row in read_csv(path, ["subject_id", "study_id"]):
        try:
            out[(row["subject_id"], row["study_id"])] = labels_from_chexpert_row(row)
        except ValueError as exc:
            conv.errors.append(RejectedSourceRow("bad_value", str(exc), f"{path.name}:{line}", f"s{row['study_id']}"))
    return out


def convert(args: argparse.Namespace) -> Conversion:
    root: Path = args.root
    conv = Conversion(NAME)
    split_csv = find_file(root, ["mimic-cxr-2.0.0-split.csv"], "split file")
    meta_csv = find_file(root, ["mimic-cxr-2.0.0-metadata.csv"], "metadata file")
    reports = _Reports(args.reports or root)
    views = _views(args.views)
    labels = _labels(root, args.labels, conv)
    view_of = {r["dicom_id"]: r["ViewPosition"].upper() for _, r in read_csv(meta_csv, ["dicom_id", "ViewPosition"])}
    studies: dict[tuple[str, str], list[tuple[str, str, str]]] = defaultdict(list)  # -> (dicom, split, source)
    for line, r in read_csv(split_csv, ["dicom_id", "study_id", "subject_id", "split"]):
        src = f"{split_csv.name}:{line}"
        try:
            split = norm_split(r["split"], f"{src}: ")
        except ValueError as exc:
            conv.errors.append(RejectedSourceRow("bad_value", str(exc), src, r["dicom_id"]))
            continue
        view = view_of.get(r["dicom_id"])
        if view is None:
            conv.errors.append(RejectedSourceRow("bad_value", "dicom_id not in metadata.csv", src, r["dicom_id"]))
        elif views is None or view in views:
            studies[(r["subject_id"], r["study_id"])].append((r["dicom_id"], split, src))
        else:
            conv.filtered[f"view_{view or 'unknown'}"] += 1
    for n, ((subject, study), images) in enumerate(sorted(studies.items())):
        if args.limit is not None and n >= args.limit:
            break
        _study_rows(conv, args, root, reports, labels, subject, study, images, view_of)
    return conv


def _study_rows(conv, args, root, reports, labels, subject, study, images, view_of) -> None:  # noqa: ANN001
    key, src = f"s{study}", images[0][2]
    if len({s for _, s, _ in images}) > 1:
        conv.errors.append(RejectedSourceRow("bad_value", "images of one study are in different splits", src, key))
        return
    text = reports.get(subject, study)
    if text is None:
        conv.errors.append(RejectedSourceRow("missing_report", f"no report s{study}.txt for p{subject}", src, key))
        return
    findings, impression, indication = findings_impression(text)
    ref = report_text(findings, impression, args.section)
    if not ref and text.strip():
        conv.filtered[missing_reason(args.section)] += 1
        return
    folder = root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}"
    paths = [(d, folder / f"{d}.jpg") for d, _, _ in images]
    base = {"subject_id": subject, "indication": indication}
    lab = None if labels is None else labels.get((subject, study))
    groups = [[p] for p in paths] if args.rows == "per-image" else [paths]
    for group in groups:
        pv = dict(base, view=",".join(view_of[d] for d, _ in group), image_id=",".join(d for d, _ in group))
        conv.drafts.append(Draft(
            study_id=key, task="report", split=images[0][1],
            image_sources=[str(p) if p.is_file() else None for _, p in group], reference_report=ref,
            reference_labels=lab, prompt_vars={k: v for k, v in pv.items() if v}, source=src,
            missing_hint=", ".join(str(p) for _, p in group if not p.is_file())))
