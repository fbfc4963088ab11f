"""Check study rows before training so a bad row is named up front instead of failing mid-run.

Every row is checked and every problem collected (never stopping at the first): missing or
unreadable image, declared size that disagrees with the file, box non-finite, inverted or zero-area
or outside the image, empty reference report on a report row, grounding row without boxes, label
vector of the wrong length or with unknown class ids, unknown task. Errors carry the source file,
the row index in it and the study id. `drop_bad=True` returns the good rows and the errors instead.

    python -m radrl_dist.data.validate PATH [--no-images] [--decode]   (exit 0 clean, 3 bad rows)
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pyarrow as pa

from radrl_dist.constants import CLASS_NAMES, NUM_OBSERVATIONS, TASKS
from radrl_dist.data.images import DEFAULT_MAX_IMAGE_PIXELS, ImageOpenError, image_size
from radrl_dist.data.reader import parquet_files, read_table

BOX_TOLERANCE_PX = 0.5  # float boxes may touch the border within rounding
EXIT_OK, EXIT_ROW_ERRORS = 0, 3


@dataclass(frozen=True)
class InvalidStudyRow:
    """One row of a study Parquet file (DESIGN 2 schema) that fails a check, named by file, row and study."""

    source: str
    row: int
    study_id: str
    task: str
    kind: str  # missing_image | unreadable_image | image_too_large | size_mismatch | bad_box | empty_report | no_boxes | bad_labels | unknown_task
    message: str

    def __str__(self) -> str:
        return f"{self.source} row {self.row} (study {self.study_id}, task {self.task}): {self.kind}: {self.message}"


class DataValidationError(ValueError):
    """All bad rows of a dataset, listed one per line."""

    def __init__(self, errors: list[InvalidStudyRow], limit: int = 50, header: str = ""):
        self.errors = errors
        kinds = Counter(e.kind for e in errors)
        lines = [str(e) for e in errors[:limit]]
        more = [f"... and {len(errors) - limit} more"] if len(errors) > limit else []
        n_rows = len({(e.source, e.row) for e in errors})
        super().__init__(f"{header}{n_rows} bad row(s), {len(errors)} error(s) ({dict(kinds)}):\n"
                         + "\n".join(lines + more))


@dataclass
class ValidationResult:
    rows: list[dict] = field(default_factory=list)  # the good rows (all rows when none is bad)
    errors: list[InvalidStudyRow] = field(default_factory=list)
    total: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def _image_size(path: str, decode: bool, max_pixels: int) -> tuple[tuple[int, int] | None, str | None, str | None]:
    """((w, h), None, None) for a good image, else (None, kind, message)."""
    try:
        return image_size(path, max_pixels, decode), None, None
    except ImageOpenError as exc:
        return None, exc.kind, str(exc)


def _box_problem(b: dict, size: tuple[int, int] | None) -> str | None:
    vals = [b.get(k) for k in ("x1", "y1", "x2", "y2")]
    if any(v is None or not math.isfinite(v) for v in vals):
        return f"box {b.get('label')!r} has a missing or non-finite coordinate {vals}"
    x1, y1, x2, y2 = vals
    if not (x1 < x2 and y1 < y2):
        return f"box {b.get('label')!r} {vals} is inverted or has zero area (need x1<x2, y1<y2)"
    if size and size[0] > 0 and size[1] > 0:
        w, h, t = size[0], size[1], BOX_TOLERANCE_PX
        if x1 < -t or y1 < -t or x2 > w + t or y2 > h + t:
            return f"box {b.get('label')!r} {vals} lies outside the {w}x{h} image"
    return None


def check_row(row: dict, check_images: bool = True, decode: bool = False,
              max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> list[tuple[str, str]]:
    """(kind, message) for each problem of one row; empty when the row is good."""
    out: list[tuple[str, str]] = []
    task = row.get("task")
    if task not in TASKS:
        out.append(("unknown_task", f"task {task!r} is not one of {TASKS}"))
    labels = row.get("reference_labels")
    if labels is not None:
        if len(labels) != NUM_OBSERVATIONS:
            out.append(("bad_labels", f"reference_labels has {len(labels)} entries, expected {NUM_OBSERVATIONS}"))
        elif any(v not in CLASS_NAMES for v in labels):
            out.append(("bad_labels", f"reference_labels has class ids outside {sorted(CLASS_NAMES)}: {labels}"))
    if task == "report" and not (row.get("reference_report") or "").strip():
        out.append(("empty_report", "report row has an empty reference_report"))
    boxes = row.get("boxes") or []
    if task == "grounding" and not boxes:
        out.append(("no_boxes", "grounding row has no boxes"))
    declared = row.get("image_size") or {}
    size = (declared.get("width") or 0, declared.get("height") or 0)
    paths = row.get("image_paths") or []
    if not paths:
        out.append(("missing_image", "row has no image_paths"))
    if check_images:
        for i, p in enumerate(paths):
            real, kind, msg = _image_size(p, decode, max_pixels) if p else (None, "missing_image", "empty image path")
            if kind:
                out.append((kind, msg))
            elif i == 0:
                if size[0] > 0 and size[1] > 0 and tuple(real) != tuple(size):
                    out.append(("size_mismatch", f"image_size says {size[0]}x{size[1]} but {p} is {real[0]}x{real[1]}"))
                size = real
    for b in boxes:
        problem = _box_problem(b, size)
        if problem:
            out.append(("bad_box", problem))
    return out


def validate_rows(rows: list[dict], source: str = "<rows>", drop_bad: bool = False, check_images: bool = True,
                  decode: bool = False, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS, split: str | None = None,
                  tasks: Iterable[str] | None = None) -> ValidationResult:
    """`split`/`tasks` select the rows a run reads (others are neither checked nor counted); row
    numbers stay those of the file, so messages point at the right line."""
    res = ValidationResult()
    for i, row in enumerate(rows):
        if (split is not None and row.get("split") != split) or (tasks is not None and row.get("task") not in tasks):
            continue
        res.total += 1
        problems = check_row(row, check_images, decode, max_pixels)
        for kind, msg in problems:
            res.errors.append(InvalidStudyRow(source, i, str(row.get("study_id")), str(row.get("task")), kind, msg))
        if not problems:
            res.rows.append(row)
    if res.errors and not drop_bad:
        raise DataValidationError(res.errors)
    return res


def validate(path: str | Path | pa.Table, drop_bad: bool = False, check_images: bool = True,
             decode: bool = False, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS, split: str | None = None,
             tasks: Iterable[str] | None = None) -> ValidationResult:
    """Validate a Parquet file, a folder of them, or a table; raises DataValidationError listing every
    bad row unless drop_bad, which returns the good rows and the errors."""
    sources = [("<table>", path)] if isinstance(path, pa.Table) else [(str(f), read_table(f)) for f in parquet_files(path)]
    total = ValidationResult()
    for name, table in sources:
        r = validate_rows(table.to_pylist(), name, drop_bad=True, check_images=check_images, decode=decode,
                          max_pixels=max_pixels, split=split, tasks=None if tasks is None else set(tasks))
        total.rows += r.rows
        total.errors += r.errors
        total.total += r.total
    if total.errors and not drop_bad:
        raise DataValidationError(total.errors)
    return total


def summary(res: ValidationResult) -> str:
    by = Counter((r.get("split"), r.get("task")) for r in res.rows)
    lines = [f"rows: {res.total}, good: {len(res.rows)}, bad rows: {len({(e.source, e.row) for e in res.errors})}"]
    lines += [f"  good {split}/{task}: {n}" for (split, task), n in sorted(by.items(), key=str)]
    lines += [f"  errors {kind}: {n}" for kind, n in sorted(Counter(e.kind for e in res.errors).items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m radrl_dist.data.validate", description=__doc__.splitlines()[0])
    p.add_argument("path", help="Parquet file or folder of Parquet files in STUDY_SCHEMA")
    p.add_argument("--no-images", action="store_true", help="skip opening image files")
    p.add_argument("--decode", action="store_true", help="fully decode every image (slower, catches truncation)")
    p.add_argument("--max-errors", type=int, default=50, help="errors listed before the summary")
    p.add_argument("--max-image-pixels", type=int, default=DEFAULT_MAX_IMAGE_PIXELS,
                   help="larger images are bad rows (image_too_large), as data.max_image_pixels in training")
    args = p.parse_args(argv)
    try:
        res = validate(args.path, drop_bad=True, check_images=not args.no_images, decode=args.decode,
                       max_pixels=args.max_image_pixels)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for e in res.errors[: args.max_errors]:
        print(e)
    if len(res.errors) > args.max_errors:
        print(f"... and {len(res.errors) - args.max_errors} more errors")
    print(summary(res))
    return EXIT_OK if res.ok else EXIT_ROW_ERRORS


if __name__ == "__main__":
    sys.exit(main())
