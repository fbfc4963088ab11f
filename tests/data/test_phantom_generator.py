"""Phantom generator: determinism, schema, prevalence, caching, sizes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from radrl_dist.config.schema import PhantomSpec
from radrl_dist.constants import NO_FINDING_INDEX, NUM_OBSERVATIONS, POSITIVE
from radrl_dist.data.phantom import ensure_phantom, generate_phantom_dataset, render_study
from radrl_dist.data.phantom.findings import sample_findings
from radrl_dist.data.schema import STUDY_SCHEMA, Study, studies_to_table


def _rows(path):
    return pq.read_table(path).to_pylist()


def test_same_seed_same_bytes_and_rows(phantom_ds, tmp_path):
    d = phantom_ds
    paths = d.paths
    again = generate_phantom_dataset(tmp_path / "again", d.n_train, d.n_eval, d.seed, d.size)
    for split in ("train", "test"):
        a, b = _rows(paths[split]), _rows(again[split])
        assert len(a) == len(b) > 0
        for ra, rb in zip(a, b):
            pa_, pb = ra.pop("image_paths"), rb.pop("image_paths")
            assert ra == rb
            assert [Path(p).name for p in pa_] == [Path(p).name for p in pb]
            assert all(Path(p).read_bytes() == Path(q).read_bytes() for p, q in zip(pa_, pb))
    # Same folder twice -> byte-identical Parquet too.
    again2 = generate_phantom_dataset(tmp_path / "again", d.n_train, d.n_eval, d.seed, d.size)
    assert Path(again2["train"]).read_bytes() == Path(again["train"]).read_bytes()


def test_other_seed_other_data():
    a = render_study(1, "train", 0).image
    b = render_study(2, "train", 0).image
    assert a.shape == b.shape and not np.array_equal(a, b)
    assert not np.array_equal(render_study(1, "train", 0).image, render_study(1, "test", 0).image)


def test_schema_round_trip(phantom_ds):
    table = pq.read_table(phantom_ds.paths["train"])
    assert table.schema.equals(STUDY_SCHEMA, check_metadata=False)
    studies = [Study.from_row(r) for r in table.to_pylist()]
    assert studies_to_table(studies).to_pylist() == table.to_pylist()
    for s in studies:
        assert s.dataset == "phantom" and s.split == "train" and os.path.isabs(s.image_paths[0])
        assert s.image_size == phantom_ds.size and Image.open(s.image_paths[0]).size == phantom_ds.size
        assert Image.open(s.image_paths[0]).mode == "L"


def test_rows_and_grounding(phantom_ds):
    rows = [Study.from_row(r) for r in _rows(phantom_ds.paths["train"])]
    W, H = phantom_ds.size
    reports = {s.study_id: s for s in rows if s.task == "report"}
    grounding = [s for s in rows if s.task == "grounding"]
    assert len(reports) == phantom_ds.n_train
    assert {s.study_id for s in grounding} == {sid for sid, s in reports.items() if s.boxes}
    for g in grounding:
        assert g.boxes and all(b.phrase == g.prompt_vars["target"] for b in g.boxes)
        assert {b.as_tuple() for b in g.boxes} <= {b.as_tuple() for b in reports[g.study_id].boxes}
    for s in reports.values():
        assert s.reference_report.strip() and len(s.reference_labels) == NUM_OBSERVATIONS
        normal = s.reference_labels[NO_FINDING_INDEX] == POSITIVE
        assert normal or s.boxes  # an abnormal study always has something to ground
        for b in s.boxes:
            assert 0 <= b.x1 < b.x2 <= W and 0 <= b.y1 < b.y2 <= H, b


def test_manifest_and_prevalence(phantom_ds):
    m = json.loads((phantom_ds.out / "manifest.json").read_text())
    assert m["splits"]["train"]["studies"] == phantom_ds.n_train and m["seed"] == phantom_ds.seed
    rng = np.random.default_rng(0)
    counts = [len(sample_findings(rng)) for _ in range(2000)]
    normal = counts.count(0) / len(counts)
    assert 0.30 <= normal <= 0.40, normal
    assert set(counts) == {0, 1, 2}


@pytest.mark.parametrize("size", [(64, 80), (200, 256), (160, 160)])
def test_any_size(size):
    for i in range(3):
        ps = render_study(0, "train", i, size)
        assert ps.image.shape == (size[1], size[0]) and ps.image.dtype == np.uint8
        for f in ps.findings:
            for x1, y1, x2, y2 in f.boxes:
                assert 0 <= x1 < x2 <= size[0] and 0 <= y1 < y2 <= size[1]


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown phantom task"):
        generate_phantom_dataset(tmp_path / "x", 2, 1, 0, tasks=("report", "captioning"))
    with pytest.raises(ValueError, match="at least 16x16"):
        render_study(0, "train", 0, (8, 8))
    assert not (tmp_path / "x").exists()


def test_ensure_phantom_caches(tmp_path):
    spec = PhantomSpec(n_train=3, n_eval=2, seed=5, image_size=(64, 80), cache_dir=str(tmp_path))
    p1 = ensure_phantom(spec)
    mtime = Path(p1["train"]).stat().st_mtime_ns
    p2 = ensure_phantom(spec)
    assert p1 == p2 and Path(p2["train"]).stat().st_mtime_ns == mtime
    p3 = ensure_phantom(spec.model_copy(update={"seed": 6}))
    assert Path(p3["train"]).parent != Path(p1["train"]).parent
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]  # no half-written leftovers
    assert len(pq.read_table(p1["test"]).to_pylist()) >= 2
