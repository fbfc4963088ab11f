"""NIH ChestX-ray14 BBox: the real BBox_List_2017 / Data_Entry rows torchxrayvision ships, with
generated 1024x1024 images for a subset."""

from __future__ import annotations

import gzip
import importlib.util
from collections import Counter
from pathlib import Path

import pytest

from radrl_dist.constants import BLANK, OBSERVATION_INDEX, POSITIVE
from radrl_dist.data.prepare.nih_bbox import read_bbox_list

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torchxrayvision") is None, reason="needs torchxrayvision's data files")


def txv(name: str) -> Path:
    return Path(list(importlib.util.find_spec("torchxrayvision").submodule_search_locations)[0]) / "data" / name


def test_real_bbox_list_parses_with_box_statistics():
    groups, errors = read_bbox_list(txv("BBox_List_2017.csv.gz"))
    assert errors == []
    boxes = [b for g in groups.values() for b in g["boxes"]]
    assert len(boxes) == 984 and len({img for img, _ in groups}) == 880
    per_class = Counter(label for (_, label), g in groups.items() for _ in g["boxes"])
    assert per_class == {"Atelectasis": 180, "Effusion": 153, "Cardiomegaly": 146, "Infiltrate": 123, "Pneumonia": 120,
                         "Pneumothorax": 98, "Mass": 85, "Nodule": 79}
    assert all(0 <= x1 < x2 <= 1024 and 0 <= y1 < y2 <= 1024 for x1, y1, x2, y2 in boxes)
    multi = sum(1 for g in groups.values() if len(g["boxes"]) > 1)
    print(f"NIH BBox: {len(boxes)} boxes, {len(groups)} (image, finding) rows, {multi} with several boxes")


def _real_lines(path: Path, n: int) -> list[str]:
    with gzip.open(path, "rt") as fh:
        return [next(fh) for _ in range(n + 1)]


def test_nih_conversion_on_real_rows(tmp_path, mk):
    root = tmp_path / "nih"
    lines = _real_lines(txv("BBox_List_2017.csv.gz"), 8)
    names = sorted({ln.split(",")[0] for ln in lines[1:]})
    (root).mkdir()
    bad = "00099999_000.png,Mass,10,20,-5,30\n00099998_000.png,Nodule,10,20\n"
    (root / "BBox_List_2017.csv").write_text("".join(lines) + bad)
    for n in names:
        mk.image(root / "images_001" / "images" / n, (1024, 1024))
    entries = {}
    with gzip.open(txv("Data_Entry_2017_v2020.csv.gz"), "rt") as fh:
        header = next(fh)
        for ln in fh:
            if ln.split(",")[0] in names:
                entries[ln.split(",")[0]] = ln
    (root / "Data_Entry_2017_v2020.csv").write_text(header + "".join(entries.values()))
    (root / "test_list.txt").write_text("\n".join(names) + "\n")
    out = tmp_path / "out"
    code, summary = mk.run("nih_bbox", root, out, "--max-side", "256")
    assert code == 3 and mk.parquet_files(out) == []
    assert sorted(e["message"] for e in mk.errors(out)) == ["box expected 4 box values, got 2", "box w=-5.0, h=30.0 must be > 0"]
    code, summary = mk.run("nih_bbox", root, out, "--max-side", "256", "--drop-bad")
    assert code == 0 and summary["notes"]["split_source"] == "official lists"
    rows = mk.rows(out, "test")
    assert len(rows) == 8 and summary["per_split"]["train"]["rows"] == 0
    first = next(r for r in rows if r.prompt_vars["image_id"] == "00013118_008.png")
    assert first.prompt_vars["label"] == "Atelectasis" and first.prompt_vars["chexpert"] == "Atelectasis"
    x, y, w, h = 225.084745762712, 547.019216763771, 86.7796610169491, 79.1864406779661
    assert first.boxes[0].as_tuple() == pytest.approx((x / 4, y / 4, (x + w) / 4, (y + h) / 4), rel=1e-6)
    assert first.image_size == (256, 256) and first.prompt_vars["img_scale_x"] == "0.25"
    labels = first.reference_labels  # from the real Data_Entry row of this image
    finding_labels = entries["00013118_008.png"].split(",")[1].split("|")
    assert "Atelectasis" in finding_labels and labels[OBSERVATION_INDEX["Atelectasis"]] == POSITIVE
    assert labels[OBSERVATION_INDEX["Support Devices"]] == BLANK
    assert summary["boxes"]["per_label"]["Atelectasis"] == 8
