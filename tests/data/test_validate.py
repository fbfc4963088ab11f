"""Validation names every bad row (file, row index, study id, kind) and never stops at the first."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from radrl_dist.data.schema import STUDY_SCHEMA
from radrl_dist.data.validate import DataValidationError, main, validate

GOOD = dict(task="report", prompt_vars=[], reference_report="No pleural effusion.", reference_labels=[0] * 14,
            boxes=[], image_size={"width": 128, "height": 160}, split="train", dataset="t")


def _box(x1, y1, x2, y2):
    return {"label": "Pleural Effusion", "phrase": "left pleural effusion", "x1": x1, "y1": y1, "x2": x2, "y2": y2}


@pytest.fixture
def bad_file(phantom_ds, tmp_path):
    img = pq.read_table(phantom_ds.paths["train"]).column("image_paths").to_pylist()[0][0]
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a png at all")
    rows = [
        dict(GOOD, study_id="ok-0", image_paths=[img]),
        dict(GOOD, study_id="missing", image_paths=[str(tmp_path / "nope.png")]),
        dict(GOOD, study_id="junk", image_paths=[str(junk)]),
        dict(GOOD, study_id="outside", image_paths=[img], boxes=[_box(100, 120, 140, 150)]),
        dict(GOOD, study_id="inverted", image_paths=[img], boxes=[_box(50, 60, 40, 90)]),
        dict(GOOD, study_id="zero-area", image_paths=[img], boxes=[_box(10, 20, 10, 40)]),
        dict(GOOD, study_id="empty-report", image_paths=[img], reference_report="   "),
        dict(GOOD, study_id="short-labels", image_paths=[img], reference_labels=[1] * 13),
        dict(GOOD, study_id="bad-class", image_paths=[img], reference_labels=[7] + [0] * 13),
        dict(GOOD, study_id="captioning", image_paths=[img], task="captioning"),
        dict(GOOD, study_id="grounding-no-box", image_paths=[img], task="grounding", reference_report=""),
        dict(GOOD, study_id="wrong-size", image_paths=[img], image_size={"width": 512, "height": 512}),
        dict(GOOD, study_id="ok-1", image_paths=[img], task="grounding", reference_report="",
             boxes=[_box(0, 0, 128, 160)]),
    ]
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=STUDY_SCHEMA), path)
    return path


EXPECTED = {
    1: ("missing", "missing_image"), 2: ("junk", "unreadable_image"), 3: ("outside", "bad_box"),
    4: ("inverted", "bad_box"), 5: ("zero-area", "bad_box"), 6: ("empty-report", "empty_report"),
    7: ("short-labels", "bad_labels"), 8: ("bad-class", "bad_labels"), 9: ("captioning", "unknown_task"),
    10: ("grounding-no-box", "no_boxes"), 11: ("wrong-size", "size_mismatch"),
}


def test_all_bad_rows_listed_by_row_id(bad_file):
    with pytest.raises(DataValidationError) as ei:
        validate(bad_file)
    errors = ei.value.errors
    assert {(e.row, e.study_id, e.kind) for e in errors} == {(r, sid, k) for r, (sid, k) in EXPECTED.items()}
    msg = str(ei.value)
    assert "11 bad row(s)" in msg
    for row, (sid, kind) in EXPECTED.items():
        assert f"row {row} (study {sid}" in msg and kind in msg
    assert "outside the 128x160 image" in msg and "inverted or has zero area" in msg


def test_drop_bad_returns_good_rows(bad_file):
    res = validate(bad_file, drop_bad=True)
    assert [r["study_id"] for r in res.rows] == ["ok-0", "ok-1"]
    assert res.total == 13 and len(res.errors) == len(EXPECTED) and not res.ok


def test_without_images_only_row_checks(bad_file):
    res = validate(bad_file, drop_bad=True, check_images=False)
    kinds = {e.kind for e in res.errors}
    assert "missing_image" not in kinds and "unreadable_image" not in kinds and "bad_box" in kinds


def test_phantom_data_is_clean(phantom_ds):
    res = validate(phantom_ds.out, decode=True)
    assert res.ok and res.total == len(res.rows) > phantom_ds.n_train


def test_cli(bad_file, phantom_ds, capsys):
    assert main([str(bad_file)]) == 3
    out = capsys.readouterr().out
    assert "row 2 (study junk" in out and "bad rows: 11" in out and "errors bad_box: 3" in out
    assert main([str(phantom_ds.out)]) == 0
    assert "bad rows: 0" in capsys.readouterr().out
    assert main([str(bad_file.parent / "absent.parquet")]) == 1
