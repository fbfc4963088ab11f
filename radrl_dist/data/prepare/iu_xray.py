"""IU X-Ray (Open-i) -> report rows, from the Open-i XML reports or from R2Gen's annotation.json.

Input A (default): the Open-i XML reports, as `NLMCXR_reports.tgz` (torchxrayvision ships all
3,955; used when --reports is not given) or a folder of *.xml; images (NLMCXR_png, named like
`CXR1_1_IM-0001-3001.png`, or DICOMs `1_IM-0001-3001.dcm`) are found by name anywhere under --root.
The split is 70/10/20 by `--seed` over *studies* (one report = one study = one patient in IU X-Ray),
so every image of a report lands in the same split (common.seeded_split).
Input B (--annotation): R2Gen's annotation.json, {"train"|"val"|"test": [{"id", "report",
"image_path": [relative to --root], "split"}]}; its own split is kept.
Reports that are entirely empty are errors; reports lacking the --section asked for are filtered.
"""

from __future__ import annotations

import argparse
import json
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator

from radrl_dist.data.iu_xray_reports import IUReport, default_archive_path, parse_report_xml
from radrl_dist.data.prepare.common import Conversion, Draft, FatalInputError, RejectedSourceRow, norm_split, seeded_split
from radrl_dist.data.prepare.images import index_images
from radrl_dist.data.prepare.sections import missing_reason, report_text

NAME = "iu_xray"
HELP = "IU X-Ray: Open-i XML reports (70/10/20 split by seed) or R2Gen annotation.json"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reports", type=Path, default=None,
                   help="NLMCXR_reports.tgz or a folder of Open-i XML (default: torchxrayvision's copy)")
    p.add_argument("--annotation", type=Path, default=None, help="R2Gen annotation.json instead of the XML")
    p.add_argument("--rows", choices=["per-image", "per-study"], default="per-image")
    p.add_argument("--section", choices=["findings", "impression", "both"], default="both")
    p.add_argument("--seed", type=int, default=0, help="seed of the 70/10/20 study split (default 0)")
    p.add_argument("--fractions", default="0.7,0.1,0.2", help="train,val,test fractions")


def iter_xml(where: Path) -> Iterator[tuple[str, bytes]]:
    """(member name, XML bytes) from a .tgz or a folder."""
    if where.is_dir():
        for f in sorted(where.rglob("*.xml")):
            yield f.name, f.read_bytes()
    elif where.is_file():
        with tarfile.open(where, "r:*") as tar:
            for m in tar.getmembers():
                fh = tar.extractfile(m) if m.isfile() and m.name.endswith(".xml") else None
                if fh is not None:
                    yield m.name, fh.read()
    else:
        raise FatalInputError(f"--reports: {where} is neither a folder nor an archive")


def read_reports(where: Path, conv: Conversion) -> list[IUReport]:
    """All parsable reports; a malformed one becomes a row error naming the file."""
    out = []
    for name, data in iter_xml(where):
        try:
            out.append(parse_report_xml(data))
        except (ET.ParseError, ValueError) as exc:
            conv.errors.append(RejectedSourceRow("bad_value", f"malformed report XML: {exc}", f"{where.name}:{name}", name))
    if not out and not conv.errors:
        raise FatalInputError(f"--reports: no *.xml reports in {where}")
    return out


def _find(index: dict[str, str | None], image_id: str) -> str | None:
    for stem in (image_id, image_id[3:] if image_id.startswith("CXR") else image_id):
        if index.get(stem):
            return index[stem]
    return None


def _fractions(spec: str) -> tuple[float, float, float]:
    try:
        a, b, c = (float(x) for x in spec.split(","))
    except ValueError:
        raise FatalInputError(f"--fractions: expected three numbers like 0.7,0.1,0.2, got {spec!r}") from None
    return a, b, c


def convert(args: argparse.Namespace) -> Conversion:
    conv = Conversion(NAME)
    if args.annotation is not None:
        return _from_annotation(args, conv)
    where = args.reports or default_archive_path()
    reports = read_reports(where, conv)
    index = index_images(args.root)
    with_images = [r for r in reports if r.image_ids]
    conv.filtered["no_images"] += len(reports) - len(with_images)
    split = seeded_split([str(r.report_id) for r in with_images], args.seed, _fractions(args.fractions))
    conv.notes.update(reports=len(reports), split_seed=args.seed, split_fractions=args.fractions)
    for r in with_images:
        key, src = f"CXR{r.report_id}", f"{where.name}:{r.report_id}.xml"
        ref = report_text(r.findings, r.impression, args.section)
        if not ref and any((r.findings, r.impression, r.indication, r.comparison)):
            conv.filtered[missing_reason(args.section)] += 1
            continue
        groups = [[i] for i in r.image_ids] if args.rows == "per-image" else [list(r.image_ids)]
        for g in groups:
            pv = {"image_id": ",".join(g), "indication": r.indication}
            conv.drafts.append(Draft(
                study_id=key, task="report", split=split[str(r.report_id)],
                image_sources=[_find(index, i) for i in g], reference_report=ref,
                prompt_vars={k: v for k, v in pv.items() if v}, source=src,
                missing_hint=f"{', '.join(g)} (.png/.jpg/.dcm) under {args.root}"))
    return conv


def _from_annotation(args: argparse.Namespace, conv: Conversion) -> Conversion:
    try:
        ann = json.loads(Path(args.annotation).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise FatalInputError(f"--annotation {args.annotation}: {exc}") from exc
    if not isinstance(ann, dict) or not any(k in ann for k in ("train", "val", "test")):
        raise FatalInputError(f"--annotation {args.annotation}: expected keys train/val/test (R2Gen format)")
    conv.notes["split_source"] = "annotation.json"
    for part, entries in ann.items():
        for i, e in enumerate(entries or []):
            src = f"{Path(args.annotation).name}:{part}[{i}]"
            try:
                key, paths = str(e["id"]), list(e["image_path"])
                split = norm_split(e.get("split", part), f"{src}: ")
                text = str(e["report"])
            except (KeyError, TypeError, ValueError) as exc:
                conv.errors.append(RejectedSourceRow("bad_value", f"bad entry ({exc!r})", src, str(e.get("id", "")) if isinstance(e, dict) else ""))
                continue
            groups = [[p] for p in paths] if args.rows == "per-image" else [paths]
            for g in groups:
                full = [Path(args.root) / p for p in g]
                conv.drafts.append(Draft(
                    study_id=key, task="report", split=split, reference_report=text,
                    image_sources=[str(f) if f.is_file() else None for f in full],
                    prompt_vars={"image_id": ",".join(g)}, source=src,
                    missing_hint=", ".join(str(f) for f in full if not f.is_file())))
    return conv
