"""MS-CXR (real column layout) and LATTE-CXR (assumed layout) on MIMIC-CXR-JPG fixture images."""

from __future__ import annotations

import pytest

MS_COLS = ["dicom_id", "category_name", "label_text", "x", "y", "w", "h", "image_width", "image_height", "path", "split"]
D1 = "2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab"
D2 = "096052b7-d256dc40-453a102b-fa7d01c6-1b22c6b4"
P1 = f"files/p10/p10000032/s53189527/{D1}.dcm"
P2 = f"files/p10/p10000764/s57375967/{D2}.dcm"


def mimic_images(tmp_path, mk, size=(200, 160)):
    root = tmp_path / "mimic-cxr-jpg"
    for p in (P1, P2):
        mk.image(root / p.replace(".dcm", ".jpg"), size)
    return root


def test_ms_cxr_groups_boxes_and_rescales_to_the_jpeg(tmp_path, mk):
    images = mimic_images(tmp_path, mk)
    ms = tmp_path / "ms-cxr"
    mk.csv(ms / "MS_CXR_Local_Alignment_v1.1.0.csv", MS_COLS, [
        [D1, "Pneumonia", "bilateral consolidations", 100, 200, 500, 400, 2000, 1600, P1, "train"],
        [D1, "Pneumonia", "bilateral consolidations", 1200, 300, 400, 500, 2000, 1600, P1, "train"],
        [D1, "Cardiomegaly", "enlarged heart", 600, 700, 800, 500, 2000, 1600, P1, "train"],
        [D2, "Pneumothorax", "small right apical pneumothorax", 300, 100, 200, 150, 2000, 1600, P2, "test"],
    ])
    out = tmp_path / "out"
    code, summary = mk.run("ms_cxr", ms, out, "--images", str(images))
    assert code == 0, mk.errors(out)
    train = mk.rows(out, "train")
    assert len(train) == 2 and len(mk.rows(out, "test")) == 1
    pn = next(r for r in train if r.prompt_vars["label"] == "Pneumonia")
    assert pn.task == "grounding" and pn.study_id == "s53189527" and pn.image_size == (200, 160)
    assert pn.prompt_vars["phrase"] == "bilateral consolidations" and pn.image_paths[0].endswith(".jpg")
    # 2000x1600 annotation space -> 200x160 JPEG: x0.1
    assert [b.as_tuple() for b in pn.boxes] == [pytest.approx((10, 20, 60, 60)), pytest.approx((120, 30, 160, 80))]
    assert all(b.label == "Pneumonia" and b.phrase == "bilateral consolidations" for b in pn.boxes)
    assert summary["boxes"]["total"] == 4 and summary["boxes"]["per_label"]["Pneumonia"] == 2


def test_ms_cxr_v1_0_without_split_uses_mimic_split_and_reports_bad_boxes(tmp_path, mk):
    images = mimic_images(tmp_path, mk)
    mk.csv(images / "mimic-cxr-2.0.0-split.csv", ["dicom_id", "study_id", "subject_id", "split"],
           [[D1, "53189527", "10000032", "validate"], [D2, "57375967", "10000764", "test"]])
    ms = tmp_path / "ms-cxr"
    cols = MS_COLS[:-1]
    mk.csv(ms / "MS_CXR_Local_Alignment_v1.0.0.csv", cols, [
        [D1, "Edema", "mild edema", 100, 200, 500, 400, 2000, 1600, P1],
        [D2, "Lung Opacity", "opacity", 100, 200, 0, 400, 2000, 1600, P2],  # w = 0
        [D2, "Consolidation", "consolidation", "abc", 200, 10, 10, 2000, 1600, P2],  # not a number
        [D2, "Atelectasis", "atelectasis", 1900, 200, 500, 400, 2000, 1600, P2],  # runs off the image
    ])
    out = tmp_path / "out"
    code, summary = mk.run("ms_cxr", ms, out, "--images", str(images))
    assert code == 3 and mk.parquet_files(out) == []
    errs = sorted(mk.errors(out), key=lambda e: e["source"])
    assert [e["reason"] for e in errs] == ["bad_box"] * 3
    assert "w=0.0" in errs[0]["message"] and "'abc'" in errs[1]["message"] and "outside" in errs[2]["message"]
    code, summary = mk.run("ms_cxr", ms, out, "--images", str(images), "--drop-bad")
    assert code == 0 and summary["notes"]["split_fallback"] == "mimic-cxr-2.0.0-split.csv"
    assert [r.prompt_vars["label"] for r in mk.rows(out, "val")] == ["Edema"]


def test_ms_cxr_missing_column_and_missing_image(tmp_path, mk):
    images = mimic_images(tmp_path, mk)
    ms = tmp_path / "ms-cxr"
    mk.csv(ms / "MS_CXR_Local_Alignment_v1.1.0.csv", ["dicom_id", "category_name", "label_text", "x", "y"], [[D1, "Edema", "e", 1, 2]])
    code, summary = mk.run("ms_cxr", ms, tmp_path / "o1", "--images", str(images))
    assert code == 1 and "missing column(s) ['w', 'h', 'image_width', 'image_height', 'path']" in summary["error"]
    mk.csv(ms / "MS_CXR_Local_Alignment_v1.1.0.csv", MS_COLS,
           [["deadbeef", "Edema", "edema", 1, 2, 3, 4, 200, 160, "files/p11/p11000000/s50000000/deadbeef.dcm", "train"]])
    code, _ = mk.run("ms_cxr", ms, tmp_path / "o2", "--images", str(images))
    err = mk.errors(tmp_path / "o2")[0]
    assert code == 3 and err["reason"] == "missing_image" and "deadbeef" in err["message"]


def test_latte_cxr_assumed_formats(tmp_path, mk):
    images = mimic_images(tmp_path, mk, size=(400, 320))
    latte = tmp_path / "latte"
    # phase-2 style: statement + corner boxes + declared size; phase-3 style: sentence + x,y,w,h, no size
    mk.csv(latte / "phase2.csv", ["dicom_id", "statement", "label", "xmin", "ymin", "xmax", "ymax", "image_width", "image_height", "split"], [
        [D1, "there is a left lower lobe opacity", "Lung Opacity", 100, 100, 300, 300, 800, 640, "train"],
        [D1, "there is a left lower lobe opacity", "Lung Opacity", 400, 100, 600, 300, 800, 640, "train"],
    ])
    mk.csv(latte / "phase3.csv", ["image_id", "sentence", "x", "y", "w", "h"], [
        [D2, "heart size is enlarged", 100, 120, 200, 100],
    ])
    out = tmp_path / "out"
    code, summary = mk.run("latte_cxr", latte, out, "--images", str(images))
    assert code == 0, mk.errors(out)
    rows = {r.prompt_vars["phrase"]: r for r in mk.all_rows(out)}
    opac = rows["there is a left lower lobe opacity"]
    assert opac.split == "train" and [b.as_tuple() for b in opac.boxes] == [(50, 50, 150, 150), (200, 50, 300, 150)]
    heart = rows["heart size is enlarged"]
    assert heart.split == "train" and heart.boxes[0].as_tuple() == (100, 120, 300, 220)  # default split, own pixels
    assert heart.image_paths[0].endswith(f"{D2}.jpg") and heart.boxes[0].label is None
    assert summary["notes"]["split_fallback"] == "default (train)"


def test_latte_cxr_column_alias_and_errors(tmp_path, mk):
    images = mimic_images(tmp_path, mk)
    latte = tmp_path / "latte"
    mk.csv(latte / "a.csv", ["dicom_id", "report_sentence", "x_min", "y_min", "x_max", "y_max"], [[D1, "effusion", 10, 10, 50, 50]])
    code, summary = mk.run("latte_cxr", latte, tmp_path / "o1", "--images", str(images))
    assert code == 1 and "no text column" in summary["error"]
    code, _ = mk.run("latte_cxr", latte, tmp_path / "o2", "--images", str(images), "--column", "text=report_sentence")
    assert code == 0 and mk.all_rows(tmp_path / "o2")[0].prompt_vars["phrase"] == "effusion"
    mk.csv(latte / "a.csv", ["dicom_id", "sentence", "x_min", "y_min", "x_max", "y_max"], [[D1, "effusion", 50, 10, 10, 50]])
    code, _ = mk.run("latte_cxr", latte, tmp_path / "o3", "--images", str(images))
    assert code == 3 and "x1>=x2" in mk.errors(tmp_path / "o3")[0]["message"]
