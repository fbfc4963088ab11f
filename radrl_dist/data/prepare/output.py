"""Turn a converter's drafts into validated Parquet, or into an error report and no Parquet at all.

Outputs in `--out` (all written to a temporary folder first and moved in only at the end):
  train.parquet, val.parquet, test.parquet   (always all three, STUDY_SCHEMA, empty when no rows)
  summary.json   status, rows per split and task, errors and filtered rows by reason, label
                 prevalence, box statistics, options
  errors.jsonl   one line per rejected row (reason, key, source, message)
  images.jsonl   per image: source, written path, sizes, scale factors, method (see images.py)
Exit codes: 0 written; 3 row errors and no --drop-bad (no Parquet written); 1 fatal input error.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from radrl_dist.boxes.box import Box
from radrl_dist.constants import CHEXPERT_OBSERVATIONS, CLASS_NAMES
from radrl_dist.data.prepare.common import SPLITS, Conversion, Draft, RejectedSourceRow
from radrl_dist.data.prepare.images import ImageInfo, is_dicom, prepare_images
from radrl_dist.data.schema import Study, studies_to_table

EXIT_OK, EXIT_FATAL, EXIT_ROW_ERRORS = 0, 1, 3


@dataclass
class OutputOptions:
    out: Path
    root: Path  # dataset root, to mirror relative paths of rewritten images
    images_out: Path | None = None  # default: out/images
    max_side: int | None = None
    verify_images: bool = False
    drop_bad: bool = False
    workers: int = 1
    box_tolerance: float = 0.01  # boxes may overshoot the image by this fraction; clipped, counted
    argv: list[str] | None = None


def _out_path(src: str, opts: OutputOptions, dataset: str) -> str | None:
    if not (opts.max_side or is_dicom(src)):
        return None
    base = (opts.images_out or opts.out / "images") / dataset
    try:
        rel = Path(os.path.relpath(Path(src).resolve(), opts.root.resolve()))
        if rel.parts and rel.parts[0] == "..":
            rel = Path(Path(src).name)
    except ValueError:
        rel = Path(Path(src).name)
    return str(base / rel)


def _boxes(d: Draft, info: ImageInfo, tol: float, clipped: Counter) -> list[Box]:
    """Dataset-pixel boxes -> pixels of the written image; raises ValueError naming the bad box."""
    sx0 = sy0 = 1.0
    if d.box_space is not None:
        bw, bh = d.box_space
        if bw <= 0 or bh <= 0:
            raise ValueError(f"declared image size {bw}x{bh} is not positive")
        sx0, sy0 = info.orig_width / bw, info.orig_height / bh
    sx, sy = sx0 * info.scale_x, sy0 * info.scale_y
    W, H = info.width, info.height
    out = []
    for label, phrase, x1, y1, x2, y2 in d.boxes:
        vals = (x1 * sx, y1 * sy, x2 * sx, y2 * sy)
        if not all(math.isfinite(v) for v in vals):
            raise ValueError(f"box {label!r} has a non-finite coordinate: {(x1, y1, x2, y2)}")
        a, b, c, e = vals
        if not (a < c and b < e):
            raise ValueError(f"box {label!r} {(x1, y1, x2, y2)} has x1>=x2 or y1>=y2")
        if a < -tol * W or b < -tol * H or c > W * (1 + tol) or e > H * (1 + tol):
            raise ValueError(f"box {label!r} {(x1, y1, x2, y2)} lies outside the {info.orig_width}x{info.orig_height} image")
        cl = (max(a, 0.0), max(b, 0.0), min(c, float(W)), min(e, float(H)))
        if cl != vals:
            clipped["boxes_clipped"] += 1
        out.append(Box(*cl, label=label, phrase=phrase))
    return out


def materialize(conv: Conversion, opts: OutputOptions) -> tuple[list[Study], list[RejectedSourceRow], dict[str, ImageInfo]]:
    """Process images, scale boxes, validate rows. Pure apart from writing converted images."""
    jobs = {s: _out_path(s, opts, conv.dataset) for d in conv.drafts for s in d.image_sources if s}
    infos = prepare_images(jobs.items(), opts.max_side, opts.verify_images, opts.workers)
    studies, errors, clipped = [], list(conv.errors), Counter()
    for d in conv.drafts:
        err = _check_draft(d, infos)
        if err is None:
            try:
                first = infos[d.image_sources[0]]  # type: ignore[index]
                assert isinstance(first, ImageInfo)
                boxes = _boxes(d, first, opts.box_tolerance, clipped)
                pv = dict(d.prompt_vars)
                pv.update(img_orig_width=str(first.orig_width), img_orig_height=str(first.orig_height),
                          img_scale_x=repr(first.scale_x), img_scale_y=repr(first.scale_y))
                studies.append(Study(
                    study_id=d.study_id, task=d.task, split=d.split,
                    image_paths=[infos[s].path for s in d.image_sources],  # type: ignore[union-attr,index]
                    reference_report=d.reference_report.strip(), reference_labels=d.reference_labels,
                    boxes=boxes, image_size=(first.width, first.height), prompt_vars=pv, dataset=conv.dataset))
            except ValueError as exc:
                reason = "bad_box" if "box" in str(exc) else "bad_value"
                err = RejectedSourceRow(reason, str(exc), d.source, d.study_id)
        if err is not None:
            errors.append(err)
    conv.notes.update(clipped)
    studies, leak = _split_leaks(studies)
    return studies, errors + leak, {k: v for k, v in infos.items() if isinstance(v, ImageInfo)}


def _check_draft(d: Draft, infos: dict[str, ImageInfo | str]) -> RejectedSourceRow | None:
    if not d.image_sources:
        return RejectedSourceRow("missing_image", "row has no image", d.source, d.study_id)
    for s in d.image_sources:
        if s is None:
            return RejectedSourceRow("missing_image", f"image not found: {d.missing_hint}", d.source, d.study_id)
        if isinstance(infos[s], str):
            return RejectedSourceRow("unreadable_image", str(infos[s]), d.source, d.study_id)
    if d.task == "report" and not d.reference_report.strip():
        return RejectedSourceRow("empty_report", "reference report is empty", d.source, d.study_id)
    if d.task == "grounding" and not d.boxes:
        return RejectedSourceRow("bad_box", "grounding row has no boxes", d.source, d.study_id)
    if d.reference_labels is not None and any(v not in CLASS_NAMES for v in d.reference_labels):
        return RejectedSourceRow("bad_value", f"labels {d.reference_labels} not in {sorted(CLASS_NAMES)}", d.source, d.study_id)
    return None


def _split_leaks(studies: list[Study]) -> tuple[list[Study], list[RejectedSourceRow]]:
    """A study in two splits would leak; reject all its rows rather than guess which split is right."""
    splits: dict[str, set[str]] = defaultdict(set)
    for s in studies:
        splits[s.study_id].add(s.split)
    bad = {k for k, v in splits.items() if len(v) > 1}
    errs = [RejectedSourceRow("split_leak", f"study appears in splits {sorted(splits[s.study_id])}", "", s.study_id)
            for s in studies if s.study_id in bad]
    return [s for s in studies if s.study_id not in bad], errs


def summarize(conv: Conversion, studies: list[Study], errors: list[RejectedSourceRow], status: str,
              opts: OutputOptions) -> dict[str, Any]:
    per_split: dict[str, Any] = {}
    prevalence: dict[str, Any] = {}
    for split in SPLITS:
        rows = [s for s in studies if s.split == split]
        per_split[split] = {"rows": len(rows), "studies": len({s.study_id for s in rows}),
                            "images": len({p for s in rows for p in s.image_paths}),
                            "tasks": dict(Counter(s.task for s in rows))}
        labelled = [s.reference_labels for s in rows if s.reference_labels is not None]
        if labelled:
            prevalence[split] = {"rows_with_labels": len(labelled), **{
                obs: {CLASS_NAMES[c]: sum(1 for lab in labelled if lab[i] == c) for c in CLASS_NAMES}
                for i, obs in enumerate(CHEXPERT_OBSERVATIONS)}}
    boxes = [b for s in studies for b in s.boxes]
    grounding = [s for s in studies if s.task == "grounding"]
    box_stats = {"total": len(boxes), "rows_with_boxes": sum(1 for s in studies if s.boxes),
                 "per_label": dict(Counter(b.label or "" for b in boxes).most_common()),
                 "mean_per_grounding_row": round(len(boxes) / len(grounding), 3) if grounding else 0.0,
                 "mean_area_fraction": round(sum((b.x2 - b.x1) * (b.y2 - b.y1) / max(s.image_size[0] * s.image_size[1], 1)
                                                 for s in studies for b in s.boxes) / len(boxes), 4) if boxes else 0.0}
    return {"dataset": conv.dataset, "status": status, "rows_written": len(studies) if status == "ok" else 0,
            "per_split": per_split, "errors": dict(Counter(e.reason for e in errors)),
            "filtered": dict(conv.filtered), "label_prevalence": prevalence, "boxes": box_stats,
            "notes": conv.notes, "drop_bad": opts.drop_bad, "argv": opts.argv or []}


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def clear_outputs(out: Path) -> None:
    """Parquet from an earlier run would contradict a failed run's summary.json: remove ours."""
    for name in [f"{s}.parquet" for s in SPLITS] + ["images.jsonl"]:
        (out / name).unlink(missing_ok=True)


def finish(conv: Conversion, opts: OutputOptions) -> int:
    """Validate, then write everything or (row errors without --drop-bad) only the error report."""
    studies, errors, infos = materialize(conv, opts)
    status = "failed" if errors and not opts.drop_bad else "ok"
    summary = summarize(conv, studies, errors, status, opts)
    opts.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".prepare-", dir=opts.out))
    try:
        with open(tmp / "errors.jsonl", "w") as fh:
            for e in errors:
                fh.write(json.dumps(e.to_json()) + "\n")
        if status == "ok":
            for split in SPLITS:
                pq.write_table(studies_to_table([s for s in studies if s.split == split]), tmp / f"{split}.parquet")
            used = {p for s in studies for p in s.image_paths}
            with open(tmp / "images.jsonl", "w") as fh:
                for info in infos.values():
                    if info.path in used:
                        fh.write(json.dumps(info.to_json()) + "\n")
        _write_json(tmp / "summary.json", summary)
        for f in sorted(tmp.iterdir()):  # summary.json last: it says the run finished
            if f.name != "summary.json":
                os.replace(f, opts.out / f.name)
        os.replace(tmp / "summary.json", opts.out / "summary.json")
        if status != "ok":
            clear_outputs(opts.out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _print(summary, errors, opts)
    return EXIT_OK if status == "ok" else EXIT_ROW_ERRORS


def _print(summary: dict[str, Any], errors: list[RejectedSourceRow], opts: OutputOptions) -> None:
    print(f"[{summary['dataset']}] status={summary['status']} rows_written={summary['rows_written']}")
    for split, v in summary["per_split"].items():
        print(f"  {split:5s} rows={v['rows']} studies={v['studies']} images={v['images']} tasks={v['tasks']}")
    for kind in ("errors", "filtered"):
        if summary[kind]:
            print(f"  {kind}: " + ", ".join(f"{k}={n}" for k, n in sorted(summary[kind].items())))
    for e in errors[:5]:
        print(f"    {e.reason} {e.key} {e.source}: {e.message}")
    if summary["status"] != "ok":
        print(f"  no Parquet written; {len(errors)} row error(s) in {opts.out / 'errors.jsonl'} "
              "(fix them, or pass --drop-bad to drop those rows)")
