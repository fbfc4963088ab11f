"""The command line: help text, exit codes, and that a failure half-way leaves no Parquet behind."""

from __future__ import annotations

import subprocess
import sys

import pytest

from radrl_dist.data.prepare import CONVERTERS
from radrl_dist.data.prepare import output as output_mod


def test_help_lists_every_dataset_and_exits_zero():
    res = subprocess.run([sys.executable, "-m", "radrl_dist.data.prepare", "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0
    for name in ("mimic_cxr", "iu_xray", "ms_cxr", "latte_cxr", "vindr_cxr", "nih_bbox"):
        assert name in res.stdout
    assert set(CONVERTERS) == {"mimic_cxr", "iu_xray", "ms_cxr", "latte_cxr", "vindr_cxr", "nih_bbox"}
    assert "Exit: 0 ok, 3 bad rows" in res.stdout


def test_missing_root_and_missing_files_are_fatal(tmp_path, mk):
    from radrl_dist.data.prepare.__main__ import main

    assert main(["vindr_cxr", "--root", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 1
    (tmp_path / "empty").mkdir()
    code, summary = mk.run("mimic_cxr", tmp_path / "empty", tmp_path / "o")
    assert code == 1 and "mimic-cxr-2.0.0-split.csv" in summary["error"]
    with pytest.raises(SystemExit) as exc:
        main(["not_a_dataset", "--root", "x", "--out", "y"])
    assert exc.value.code == 2


def test_failure_while_writing_leaves_no_partial_parquet(tmp_path, mk, monkeypatch):
    root = tmp_path / "nih"
    mk.image(root / "images" / "00000001_000.png", (100, 100))
    (root / "BBox_List_2017.csv").write_text("Image Index,Finding Label,Bbox [x,y,w,h],,,\n00000001_000.png,Mass,10,10,20,20\n")
    real = output_mod.pq.write_table
    calls = []

    def flaky(table, path, *a, **k):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(table, path, *a, **k)

    monkeypatch.setattr(output_mod.pq, "write_table", flaky)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="disk full"):
        mk.run("nih_bbox", root, out)
    assert mk.parquet_files(out) == [] and not list(out.glob(".prepare-*")) and not (out / "summary.json").exists()
    monkeypatch.setattr(output_mod.pq, "write_table", real)
    code, summary = mk.run("nih_bbox", root, out)
    assert code == 0 and mk.parquet_files(out) == ["test.parquet", "train.parquet", "val.parquet"]
    assert mk.rows(out, "test")[0].boxes[0].as_tuple() == (10, 10, 30, 30)
