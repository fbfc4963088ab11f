"""Phantom dataset: images, reports, labels and boxes, written as Parquet in STUDY_SCHEMA.

Each study draws from its own RNG stream (seed, split, index), so a study does not depend on how
many others are made and the same seed gives the same bytes. Outputs are built in a temporary
sibling folder and renamed into place at the end: a killed run never leaves a half dataset behind.
Image paths in the Parquet are absolute (every consumer can open them without knowing the layout).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

from radrl_dist.boxes.box import Box
from radrl_dist.constants import CHEXPERT_OBSERVATIONS, POSITIVE, TASKS, UNCERTAIN
from radrl_dist.data.phantom.anatomy import Anatomy, Canvas, compose, draw_anatomy, sample_anatomy
from radrl_dist.data.phantom.findings import Finding, draw_finding, heart_ratio, sample_findings
from radrl_dist.data.phantom.reports import Statement, merge_labels, phrase, write_report
from radrl_dist.data.schema import Study, studies_to_table

GENERATOR_VERSION = 1  # bump when drawing or templates change: cached datasets are rebuilt
SPLIT_CODES = {"train": 0, "test": 1}  # the held-out phantom split is "test", as the converters name it
DATASET = "phantom"


@dataclass
class PhantomStudy:
    image: np.ndarray  # uint8, (height, width)
    findings: list[Finding]
    report: str
    statements: list[Statement]
    labels: list[int]
    anatomy: Anatomy


def _streams(seed: int, split: str, index: int) -> list[np.random.Generator]:
    """Independent RNGs for findings, anatomy, noise and report wording: forcing other findings
    (tests) leaves the anatomy and the noise of a study unchanged, so the difference is the finding."""
    ss = np.random.SeedSequence([int(seed), SPLIT_CODES[split], int(index)])
    return [np.random.default_rng(s) for s in ss.spawn(4)]


def render_study(seed: int, split: str, index: int, image_size: tuple[int, int] = (128, 160),
                 findings: list[Finding] | None = None) -> PhantomStudy:
    """One phantom, a pure function of (seed, split, index, image_size); `findings` overrides the
    sampled ones (their boxes and zones are filled in)."""
    width, height = image_size
    if width < 16 or height < 16:
        raise ValueError(f"phantom image_size must be at least 16x16, got {width}x{height}")
    rf, ra, rn, rr = _streams(seed, split, index)
    sampled = sample_findings(rf)
    findings = sampled if findings is None else findings
    anatomy = sample_anatomy(ra, heart_ratio(findings, ra))
    cv = Canvas(width, height)
    layers = draw_anatomy(cv, anatomy, ra)
    for f in findings:
        draw_finding(cv, anatomy, layers, f, rf)
    image = compose(cv, layers, anatomy, rn)
    report, statements = write_report(findings, rr)
    return PhantomStudy(image, findings, report, statements, merge_labels(statements), anatomy)


def study_rows(ps: PhantomStudy, study_id: str, image_path: str, split: str, tasks, rng) -> list[Study]:
    """The report row, and a grounding row about one boxed finding (chosen by `rng`) if any."""
    h, w = ps.image.shape
    boxes = [Box(*b, label=f.observation, phrase=phrase(f)) for f in ps.findings for b in f.boxes]
    common = dict(study_id=study_id, image_paths=[image_path], reference_report=ps.report,
                  reference_labels=list(ps.labels), image_size=(w, h), split=split, dataset=DATASET)
    rows = []
    if "report" in tasks:
        rows.append(Study(task="report", boxes=boxes, **common))
    boxed = [f for f in ps.findings if f.boxes]
    if "grounding" in tasks and boxed:
        f = boxed[int(rng.integers(len(boxed)))]
        target = phrase(f)
        rows.append(Study(task="grounding", prompt_vars={"target": target},
                          boxes=[Box(*b, label=f.observation, phrase=target) for b in f.boxes], **common))
    return rows


def _write_split(root: Path, final_root: Path, split: str, n: int, seed: int, image_size, tasks) -> dict:
    img_dir = root / "images" / split
    img_dir.mkdir(parents=True, exist_ok=True)
    rows, stats = [], {"studies": n, "normal": 0, "positive": [0] * 14, "uncertain": [0] * 14}
    pick = np.random.default_rng(np.random.SeedSequence([int(seed), SPLIT_CODES[split], 10**9]))
    for i in range(n):
        ps = render_study(seed, split, i, image_size)
        sid = f"phantom-s{seed}-{split}-{i:05d}"
        Image.fromarray(ps.image).save(img_dir / f"{sid}.png")
        rows.extend(study_rows(ps, sid, str(final_root / "images" / split / f"{sid}.png"), split, tasks, pick))
        stats["normal"] += int(not ps.findings)
        for j, c in enumerate(ps.labels):
            stats["positive"][j] += int(c == POSITIVE)
            stats["uncertain"][j] += int(c == UNCERTAIN)
    pq.write_table(studies_to_table(rows), root / f"{split}.parquet")
    stats["rows"] = {t: sum(r.task == t for r in rows) for t in TASKS}
    stats["positive"] = dict(zip(CHEXPERT_OBSERVATIONS, stats["positive"]))
    stats["uncertain"] = dict(zip(CHEXPERT_OBSERVATIONS, stats["uncertain"]))
    return stats


def generate_phantom_dataset(out_dir: str | Path, n_train: int, n_eval: int, seed: int,
                             image_size: tuple[int, int] = (128, 160), tasks=("report", "grounding"),
                             replace: bool = True) -> dict[str, str]:
    """Write out_dir/{train,test}.parquet, out_dir/images/ and manifest.json; returns split -> parquet path.

    An existing out_dir is replaced as a whole once the new one is complete (kept when replace=False).
    """
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        raise ValueError(f"unknown phantom task(s) {bad}; known: {TASKS}")
    if n_train < 0 or n_eval < 0:
        raise ValueError(f"phantom sizes must be >= 0, got n_train={n_train} n_eval={n_eval}")
    final = Path(out_dir).resolve()
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        stats = {split: _write_split(tmp, final, split, n, seed, tuple(image_size), tuple(tasks))
                 for split, n in (("train", n_train), ("test", n_eval))}
        manifest = {"generator_version": GENERATOR_VERSION, "seed": seed, "image_size": list(image_size),
                    "tasks": list(tasks), "splits": stats}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        if final.exists() and not replace:
            return {split: str(final / f"{split}.parquet") for split in SPLIT_CODES}
        if final.exists():
            old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
            os.rename(final, old)
            shutil.rmtree(old, ignore_errors=True)
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {split: str(final / f"{split}.parquet") for split in SPLIT_CODES}


def spec_fingerprint(spec) -> str:
    """Hash of everything that changes the bytes (not the cache dir)."""
    key = {"v": GENERATOR_VERSION, "n_train": spec.n_train, "n_eval": spec.n_eval, "seed": spec.seed,
           "image_size": list(spec.image_size)}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def ensure_phantom(spec, tasks=("report", "grounding")) -> dict[str, str]:
    """Generate once per spec into `spec.cache_dir/phantom-<fingerprint>`; later calls reuse it."""
    tag = spec_fingerprint(spec) + ("" if tuple(tasks) == TASKS else "-" + "-".join(tasks))
    out = Path(spec.cache_dir).resolve() / f"phantom-{tag}"
    paths = {split: str(out / f"{split}.parquet") for split in SPLIT_CODES}
    if (out / "manifest.json").is_file() and all(Path(p).is_file() for p in paths.values()):
        return paths
    try:
        return generate_phantom_dataset(out, spec.n_train, spec.n_eval, spec.seed, tuple(spec.image_size), tasks,
                                        replace=False)
    except OSError:
        if (out / "manifest.json").is_file():  # another process finished the same dataset first
            return paths
        raise
