"""Shared machinery of the converters: drafts, per-row errors, CSV reading, split rules, label maps.

A converter parses its dataset into `Draft` rows (boxes still in the dataset's own pixels, images
still the dataset's files) plus `RejectedSourceRow`s for rows it could not parse, and counts rows it leaves
out on purpose (`filtered`, e.g. a view not asked for). `output.finish` then processes the images,
scales the boxes, validates every row and writes Parquet only if nothing is wrong (or `--drop-bad`).

Errors vs filters: an error is broken input (unreadable image, bad box, empty report, unparsable
value); a filter is a choice (view, missing section). Both are counted with a reason in summary.json.
A missing file or column is fatal (`FatalInputError`): nothing can be converted.
"""

from __future__ import annotations

import csv
import gzip
import io
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from radrl_dist.constants import BLANK, NEGATIVE, NO_FINDING_INDEX, NUM_OBSERVATIONS, OBSERVATION_INDEX, POSITIVE, UNCERTAIN

SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validate": "val",
                  "validation": "val", "test": "test", "testing": "test"}


class FatalInputError(RuntimeError):
    """The input as a whole is unusable (missing file, missing column); names what is wrong."""


@dataclass(frozen=True)
class RejectedSourceRow:
    """One row of a source dataset's files that a converter rejected: where it came from, what it is, and why
    (not `data.validate.InvalidStudyRow`, a row of our own Parquet schema that fails a check)."""

    reason: str  # short code: missing_image, unreadable_image, bad_box, empty_report, bad_value, ...
    message: str
    source: str = ""  # file:line (or file) the row came from
    key: str = ""  # study/image id

    def to_json(self) -> dict[str, str]:
        return {"reason": self.reason, "key": self.key, "source": self.source, "message": self.message}


@dataclass
class Draft:
    """A row before images are processed; boxes are (label, phrase, x1, y1, x2, y2) in `box_space`."""

    study_id: str
    task: str
    split: str
    image_sources: list[str | None]  # dataset files; None = not found (becomes a row error)
    reference_report: str = ""
    reference_labels: list[int] | None = None
    boxes: list[tuple[str | None, str | None, float, float, float, float]] = field(default_factory=list)
    box_space: tuple[float, float] | None = None  # (w, h) the boxes refer to; None = the first image's pixels
    prompt_vars: dict[str, str] = field(default_factory=dict)
    source: str = ""
    missing_hint: str = ""  # what was looked for, when an image was not found


@dataclass
class Conversion:
    """What a converter hands to `output.finish`."""

    dataset: str
    drafts: list[Draft] = field(default_factory=list)
    errors: list[RejectedSourceRow] = field(default_factory=list)
    filtered: Counter = field(default_factory=Counter)
    notes: dict[str, Any] = field(default_factory=dict)  # dataset-specific figures for summary.json


def norm_split(value: str, where: str = "") -> str:
    """Dataset split names (validate, valid, ...) -> train | val | test."""
    out = _SPLIT_ALIASES.get((value or "").strip().lower())
    if out is None:
        raise ValueError(f"{where}unknown split {value!r} (expected one of {sorted(_SPLIT_ALIASES)})")
    return out


def find_file(root: Path, names: list[str], what: str) -> Path:
    """The first of `names` (also tried with .gz) under root; fatal with the list when none is there."""
    for name in names:
        for cand in (root / name, root / f"{name}.gz"):
            if cand.is_file():
                return cand
    raise FatalInputError(f"{what}: none of {names} (or .gz) found under {root}")


def open_text(path: Path) -> io.TextIOBase:
    if str(path).endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def read_csv(path: Path, required: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV (optionally .gz); missing required columns are fatal."""
    with open_text(path) as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        missing = [c for c in required if c not in header]
        if missing:
            raise FatalInputError(f"{path}: missing column(s) {missing}; found {header}")
        for row in reader:
            yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None}


def pick_column(header: list[str], aliases: list[str], what: str, path: Path | str, required: bool = True) -> str | None:
    """The first alias present in header (case-insensitive) -> its real name."""
    lower = {h.lower(): h for h in header}
    for a in aliases:
        if a.lower() in lower:
            return lower[a.lower()]
    if required:
        raise FatalInputError(f"{path}: no {what} column (looked for {aliases}); found {header}")
    return None


def csv_header(path: Path) -> list[str]:
    with open_text(path) as fh:
        return [h.strip() for h in next(csv.reader(fh), [])]


def parse_float(value: str, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not a number") from None
    if out != out or out in (float("inf"), float("-inf")):
        raise ValueError(f"{name}={value!r} is not finite")
    return out


def seeded_split(keys: list[str], seed: int, fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)) -> dict[str, str]:
    """Deterministic train/val/test by seed over *study* keys (all images of a study share a split).

    Keys are sorted, shuffled with random.Random(seed), then cut at round(0.7 n) and round(0.8 n), so
    counts are exact and the same seed always gives the same split whatever the input order.
    """
    if abs(sum(fractions) - 1.0) > 1e-9 or any(f < 0 for f in fractions):
        raise ValueError(f"split fractions must be >= 0 and sum to 1, got {fractions}")
    uniq = sorted(set(keys))
    random.Random(seed).shuffle(uniq)
    n = len(uniq)
    a = round(fractions[0] * n)
    b = round((fractions[0] + fractions[1]) * n)
    return {k: ("train" if i < a else "val" if i < b else "test") for i, k in enumerate(uniq)}


# CheXpert-style csv values (MIMIC-CXR-JPG chexpert.csv / negbio.csv) -> our class ids.
_CSV_CLASS = {"1.0": POSITIVE, "1": POSITIVE, "0.0": NEGATIVE, "0": NEGATIVE, "-1.0": UNCERTAIN, "-1": UNCERTAIN, "": BLANK}


def labels_from_chexpert_row(row: dict[str, str]) -> list[int]:
    """A chexpert.csv/negbio.csv row -> 14 class ids in CheXbert order (1/0/-1/blank -> 1/2/3/0).

    No Finding is only blank/positive in CheXbert's heads, so anything but 1 there becomes blank.
    """
    out = [BLANK] * NUM_OBSERVATIONS
    for name, idx in OBSERVATION_INDEX.items():
        raw = row.get(name, "")
        if raw not in _CSV_CLASS:
            raise ValueError(f"label {name}={raw!r} is not one of 1, 0, -1 or blank")
        out[idx] = _CSV_CLASS[raw]
    if out[NO_FINDING_INDEX] != POSITIVE:
        out[NO_FINDING_INDEX] = BLANK
    return out


def labels_from_positives(observations: set[str], no_finding: bool) -> list[int]:
    """Positives for the mapped observations, No Finding when asked; everything else blank (unknown)."""
    out = [BLANK] * NUM_OBSERVATIONS
    for name in observations:
        out[OBSERVATION_INDEX[name]] = POSITIVE
    if no_finding and not observations:
        out[NO_FINDING_INDEX] = POSITIVE
    return out
