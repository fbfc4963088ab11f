"""VinDr-CXR: DICOM fixtures in the PhysioNet layout, reader-box fusion, and the real VinBigData csv."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from radrl_dist.boxes.geometry import iou
from radrl_dist.constants import BLANK, OBSERVATION_INDEX, POSITIVE
from radrl_dist.data.prepare.common import Conversion
from radrl_dist.data.prepare.fusion import fuse_boxes
from radrl_dist.data.prepare.vindr_cxr import read_annotations

COLS = ["image_id", "rad_id", "class_name", "x_min", "y_min", "x_max", "y_max"]
A, B, C = "000434271f63a053c4128a0ba6352c7f", "00053190460d56c53cc3e57321387478", "0005e8e3701dfb1dd93d53e2ff537b6e"


def test_fusion_merges_overlapping_readers_and_keeps_separate_lesions():
    boxes = [("R9", (102.0, 98.0, 200.0, 210.0)), ("R8", (100.0, 100.0, 198.0, 200.0)), ("R10", (96.0, 104.0, 204.0, 206.0)),
             ("R8", (400.0, 400.0, 450.0, 450.0)), ("R9", (10.0, 10.0, 20.0, 20.0))]
    clusters = fuse_boxes(boxes)
    assert len(clusters) == 3
    big = max(clusters, key=lambda c: len(c.members))
    assert big.raters == {"R8", "R9", "R10"}
    assert big.box == pytest.approx(((100 + 102 + 96) / 3, (100 + 98 + 104) / 3, (198 + 200 + 204) / 3, (200 + 210 + 206) / 3))
    assert fuse_boxes(list(reversed(boxes)))[0].box == clusters[0].box  # row order does not matter
    assert len(fuse_boxes(boxes, min_raters=2)) == 1
    # IoU exactly at/below the threshold stays apart
    assert len(fuse_boxes([("R1", (0, 0, 10, 10)), ("R2", (5, 0, 15, 10))])) == 2  # IoU 1/3


def make_root(tmp_path, mk):
    root = tmp_path / "vindr"
    arr = (np.add.outer(np.arange(160), np.arange(200)) * 8 % 4096).astype(np.uint16)
    mk.dicom(root / "train" / f"{A}.dicom", arr, "MONOCHROME1", wc=2048, ww=4096)
    mk.dicom(root / "train" / f"{B}.dicom", arr)
    mk.dicom(root / "test" / f"{C}.dicom", arr, wc=1000, ww=1500)
    mk.csv(root / "annotations" / "annotations_train.csv", COLS, [
        [A, "R8", "Cardiomegaly", 50, 80, 150, 130],
        [A, "R9", "Cardiomegaly", 52, 82, 148, 128],
        [A, "R10", "Cardiomegaly", 48, 78, 152, 132],
        [A, "R8", "Nodule/Mass", 10, 10, 20, 22],
        [A, "R9", "Nodule/Mass", 170, 20, 185, 34],
        [A, "R10", "Calcification", 100, 20, 110, 30],
        [B, "R8", "No finding", "", "", "", ""],
        [B, "R9", "No finding", "", "", "", ""],
        [B, "R10", "No finding", "", "", "", ""],
    ])
    mk.csv(root / "annotations" / "annotations_test.csv", ["image_id", "class_name", "x_min", "y_min", "x_max", "y_max"], [
        [C, "Pleural effusion", 20, 100, 80, 150],
    ])
    return root


def test_vindr_dicom_fused_targets_labels_and_resize(tmp_path, mk):
    root = make_root(tmp_path, mk)
    out = tmp_path / "out"
    code, summary = mk.run("vindr_cxr", root, out, "--max-side", "100")
    assert code == 0, mk.errors(out)
    assert summary["filtered"] == {"no_finding_image": 1}
    assert summary["notes"]["raw_boxes"] == 7 and summary["notes"]["target_boxes"] == 5
    train = {r.prompt_vars["label"]: r for r in mk.rows(out, "train")}
    assert set(train) == {"Cardiomegaly", "Nodule/Mass", "Calcification"}
    cm = train["Cardiomegaly"]
    assert cm.image_size == (100, 80) and cm.image_paths[0].endswith(f"images/vindr_cxr/train/{A}.png")
    sx, sy = float(cm.prompt_vars["img_scale_x"]), float(cm.prompt_vars["img_scale_y"])
    assert (sx, sy) == (0.5, 0.5) and cm.prompt_vars["img_orig_width"] == "200"
    (b,) = cm.boxes
    assert (b.x1 / sx, b.y1 / sy, b.x2 / sx, b.y2 / sy) == pytest.approx((50, 80, 150, 130))  # mean of 3 readers
    assert len(json.loads(cm.prompt_vars["rad_boxes"])) == 3 and cm.prompt_vars["raters"] == "3"
    assert cm.prompt_vars["chexpert"] == "Cardiomegaly" and "chexpert" not in train["Calcification"].prompt_vars
    assert len(train["Nodule/Mass"].boxes) == 2  # two readers, two places: two lesions
    lab = cm.reference_labels
    assert lab[OBSERVATION_INDEX["Cardiomegaly"]] == POSITIVE and lab[OBSERVATION_INDEX["Lung Lesion"]] == POSITIVE
    assert lab[OBSERVATION_INDEX["Edema"]] == BLANK and lab[OBSERVATION_INDEX["No Finding"]] == BLANK
    (test,) = mk.rows(out, "test")
    assert test.prompt_vars["label"] == "Pleural effusion" and test.boxes[0].as_tuple() == (10, 50, 40, 75)
    images = [json.loads(x) for x in (out / "images.jsonl").read_text().splitlines()]
    assert {i["method"] for i in images} == {"dicom:window+resize"}
    # MONOCHROME1 image A was inverted: its top-left (lowest raw values) is bright after windowing
    from PIL import Image
    assert np.asarray(Image.open(cm.image_paths[0]))[0, 0] > 200


def test_vindr_options_and_errors(tmp_path, mk):
    root = make_root(tmp_path, mk)
    code, s = mk.run("vindr_cxr", root, tmp_path / "o1", "--fuse", "none")
    assert code == 0 and s["notes"]["target_boxes"] == 7
    code, s = mk.run("vindr_cxr", root, tmp_path / "o2", "--min-raters", "2")
    assert code == 0 and s["filtered"]["below_min_raters"] == 2  # Nodule/Mass and Calcification
    code, s = mk.run("vindr_cxr", root, tmp_path / "o3", "--val-fraction", "0.5")
    assert code == 0 and s["per_split"]["val"]["rows"] + s["per_split"]["train"]["rows"] == 3
    p = root / "annotations" / "annotations_train.csv"
    p.write_text(p.read_text() + f"{B},R11,No finding,1,2,3,4\n{A},R11,Atelectasis,90,10,80,40\n")
    out = tmp_path / "o4"
    code, s = mk.run("vindr_cxr", root, out)
    assert code == 3 and mk.parquet_files(out) == []
    msgs = {e["key"]: e["message"] for e in mk.errors(out)}
    assert "'No finding' row has a box" in msgs[B] and "x_min>=x_max" in msgs[A]
    (root / "test" / f"{C}.dicom").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00")
    code, s = mk.run("vindr_cxr", root, out, "--drop-bad")
    assert code == 0 and s["errors"] == {"bad_box": 2, "unreadable_image": 1} and s["rows_written"] == 0


@pytest.mark.skipif(importlib.util.find_spec("torchxrayvision") is None, reason="needs torchxrayvision's data files")
def test_real_vinbigdata_csv_parses_and_fuses():
    path = Path(list(importlib.util.find_spec("torchxrayvision").submodule_search_locations)[0]) / "data" / "vinbigdata-train.csv.gz"
    conv = Conversion("vindr_cxr")
    images = read_annotations(path, conv)
    assert len(images) == 15000 and not conv.errors
    assert not [k for k, v in images.items() if v["bad"]]
    raw = sum(len(b) for v in images.values() for b in v["classes"].values())
    no_finding_only = sum(1 for v in images.values() if not v["classes"])
    fused = 0
    for v in images.values():
        for cls, boxes in v["classes"].items():
            clusters = fuse_boxes(boxes)
            fused += len(clusters)
            for c in clusters:  # the fused box overlaps each member it came from
                assert all(iou(c.box, b) > 0.3 for _, b in c.members)
    # 67,914 csv rows = boxes + one "No finding" row per reader of a normal image
    assert raw == 36096 and no_finding_only == 10606 and raw > fused > raw / 3
    print(f"VinBigData train: {raw} reader boxes -> {fused} fused targets on {15000 - no_finding_only} images")
