"""MIMIC-CXR-JPG converter on a fixture in the real layout (csv names/columns, files/pXX/pID/sID)."""

from __future__ import annotations

import gzip
import shutil
import zipfile

from radrl_dist.constants import BLANK, NEGATIVE, OBSERVATION_INDEX, POSITIVE, UNCERTAIN
from radrl_dist.data.prepare.sections import findings_impression, report_text

CHEXPERT_COLS = ["subject_id", "study_id", "Atelectasis", "Cardiomegaly", "Consolidation", "Edema",
                 "Enlarged Cardiomediastinum", "Fracture", "Lung Lesion", "Lung Opacity", "No Finding",
                 "Pleural Effusion", "Pleural Other", "Pneumonia", "Pneumothorax", "Support Devices"]
META_COLS = ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows",
             "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning", "ViewCodeSequence_CodeMeaning",
             "PatientOrientationCodeSequence_CodeMeaning"]

REPORT_1 = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___F with new onset ascites  // eval for infection

 TECHNIQUE:  Chest PA and lateral

 COMPARISON:  None.

 FINDINGS:

 There is no focal consolidation, pleural effusion or pneumothorax.  Bilateral
 nodular opacities that most likely represent nipple shadows.  The heart size is
 mildly enlarged.

 IMPRESSION:

 Mild cardiomegaly.  No acute cardiopulmonary process.
"""
REPORT_2 = """                                 FINAL REPORT
 INDICATION:  Dyspnea.

 IMPRESSION:  Possible mild pulmonary edema.
"""
REPORT_3 = """ FINAL REPORT
 FINDINGS AND IMPRESSION:  Lungs are clear. No effusion.
"""
# (subject, study, split, [(dicom, view)], report)
STUDIES = [
    ("10000032", "50414267", "train", [("02aa804e-bde0afdd-112c0b34-7bc16630-4e384014", "PA"),
                                        ("174413ec-4ec4c1f7-34ea26b7-c5f994f8-79ef1962", "LATERAL")], REPORT_1),
    ("10000032", "53189527", "validate", [("2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab", "AP")], REPORT_2),
    ("10000764", "57375967", "test", [("096052b7-d256dc40-453a102b-fa7d01c6-1b22c6b4", "PA")], REPORT_3),
]


def make_root(tmp_path, mk, reports=True):
    root = tmp_path / "mimic-cxr-jpg"
    split, meta = [], []
    for subj, study, sp, images, text in STUDIES:
        folder = root / "files" / f"p{subj[:2]}" / f"p{subj}" / f"s{study}"
        for dicom, view in images:
            mk.image(folder / f"{dicom}.jpg", (96, 80))
            split.append([dicom, study, subj, sp])
            meta.append([dicom, subj, study, "CHEST (PA AND LAT)", view, 80, 96, 21800506, 213014.531, "CHEST (PA AND LAT)",
                         "postero-anterior", "Erect"])
        if reports:
            (root / "files" / f"p{subj[:2]}" / f"p{subj}" / f"s{study}.txt").write_text(text)
    mk.csv(root / "mimic-cxr-2.0.0-split.csv", ["dicom_id", "study_id", "subject_id", "split"], split)
    with open(root / "mimic-cxr-2.0.0-split.csv", "rb") as f, gzip.open(root / "mimic-cxr-2.0.0-split.csv.gz", "wb") as g:
        shutil.copyfileobj(f, g)  # the release ships .csv.gz
    (root / "mimic-cxr-2.0.0-split.csv").unlink()
    mk.csv(root / "mimic-cxr-2.0.0-metadata.csv", META_COLS, meta)
    lab = {c: "" for c in CHEXPERT_COLS}
    r1 = dict(lab, subject_id="10000032", study_id="50414267", Cardiomegaly="1.0", **{"Pleural Effusion": "0.0", "Pneumothorax": "0.0"})
    r2 = dict(lab, subject_id="10000032", study_id="53189527", Edema="-1.0")
    r3 = dict(lab, subject_id="10000764", study_id="57375967", **{"No Finding": "1.0"})
    mk.csv(root / "mimic-cxr-2.0.0-chexpert.csv", CHEXPERT_COLS, [[r[c] for c in CHEXPERT_COLS] for r in (r1, r2, r3)])
    return root


def test_sections():
    f, i, ind = findings_impression(REPORT_1)
    assert f.startswith("There is no focal consolidation") and f.endswith("mildly enlarged.")
    assert i == "Mild cardiomegaly. No acute cardiopulmonary process."
    assert ind.startswith("___F with new onset ascites")
    assert report_text(f, i, "both") == f"{f} {i}"
    f3, i3, _ = findings_impression(REPORT_3)
    assert f3 == i3 == "Lungs are clear. No effusion." and report_text(f3, i3, "both") == f3
    assert findings_impression("no headers at all") == ("", "", "")


def test_default_per_image_frontal_with_labels(tmp_path, mk):
    root = make_root(tmp_path, mk)
    code, summary = mk.run("mimic_cxr", root, tmp_path / "out")
    assert code == 0 and summary["status"] == "ok"
    assert summary["filtered"] == {"view_LATERAL": 1}
    train, val, test = (mk.rows(tmp_path / "out", s) for s in ("train", "val", "test"))
    assert [len(train), len(val), len(test)] == [1, 1, 1]
    r = train[0]
    assert r.study_id == "s50414267" and r.task == "report" and r.dataset == "mimic_cxr"
    assert r.reference_report.startswith("There is no focal consolidation") and r.reference_report.endswith("process.")
    assert r.prompt_vars["view"] == "PA" and r.prompt_vars["indication"].startswith("___F")
    assert r.image_size == (96, 80) and r.image_paths[0].endswith("02aa804e-bde0afdd-112c0b34-7bc16630-4e384014.jpg")
    lab = r.reference_labels
    assert lab[OBSERVATION_INDEX["Cardiomegaly"]] == POSITIVE
    assert lab[OBSERVATION_INDEX["Pleural Effusion"]] == NEGATIVE
    assert lab[OBSERVATION_INDEX["Atelectasis"]] == BLANK
    assert val[0].reference_labels[OBSERVATION_INDEX["Edema"]] == UNCERTAIN
    assert val[0].reference_report == "Possible mild pulmonary edema."
    assert test[0].reference_labels[OBSERVATION_INDEX["No Finding"]] == POSITIVE
    prev = summary["label_prevalence"]["train"]
    assert prev["Cardiomegaly"]["positive"] == 1 and prev["rows_with_labels"] == 1


def test_per_study_all_views_and_section_filter(tmp_path, mk):
    root = make_root(tmp_path, mk)
    code, summary = mk.run("mimic_cxr", root, tmp_path / "o1", "--views", "all", "--rows", "per-study")
    assert code == 0
    train = mk.rows(tmp_path / "o1", "train")
    assert len(train) == 1 and len(train[0].image_paths) == 2 and train[0].prompt_vars["view"] == "PA,LATERAL"
    code, summary = mk.run("mimic_cxr", root, tmp_path / "o2", "--section", "findings")
    assert code == 0 and summary["filtered"]["no_findings_section"] == 1  # study 2 has only an impression
    assert summary["per_split"]["val"]["rows"] == 0


def test_reports_from_zip(tmp_path, mk):
    root = make_root(tmp_path, mk)
    z = tmp_path / "mimic-cxr-reports.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in sorted((root / "files").rglob("s*.txt")):
            zf.write(p, str(p.relative_to(root)))
            p.unlink()
    code, _ = mk.run("mimic_cxr", root, tmp_path / "out", "--reports", str(z))
    assert code == 0 and mk.rows(tmp_path / "out", "test")[0].reference_report == "Lungs are clear. No effusion."


def test_bad_rows_block_parquet_then_drop_bad(tmp_path, mk):
    root = make_root(tmp_path, mk)
    (root / "files/p10/p10000764/s57375967.txt").write_text("   \n")  # empty report
    (root / "files/p10/p10000032/s53189527/2a2277a9-b0ded155-c0de8eb9-c124d10e-82c5caab.jpg").unlink()
    out = tmp_path / "out"
    code, summary = mk.run("mimic_cxr", root, out)
    assert code == 3 and summary["status"] == "failed" and mk.parquet_files(out) == []
    errs = {e["reason"]: e for e in mk.errors(out)}
    assert set(errs) == {"empty_report", "missing_image"}
    assert errs["empty_report"]["key"] == "s57375967" and "split.csv" in errs["empty_report"]["source"]
    assert "2a2277a9" in errs["missing_image"]["message"]
    code, summary = mk.run("mimic_cxr", root, out, "--drop-bad")
    assert code == 0 and summary["errors"] == {"empty_report": 1, "missing_image": 1}
    assert mk.parquet_files(out) == ["test.parquet", "train.parquet", "val.parquet"]
    assert len(mk.all_rows(out)) == 1 and len(mk.errors(out)) == 2


def test_missing_column_is_fatal_and_removes_stale_parquet(tmp_path, mk):
    root = make_root(tmp_path, mk)
    out = tmp_path / "out"
    assert mk.run("mimic_cxr", root, out)[0] == 0 and mk.parquet_files(out)
    mk.csv(root / "mimic-cxr-2.0.0-metadata.csv", ["dicom_id", "subject_id", "study_id"], [["x", "1", "2"]])
    code, summary = mk.run("mimic_cxr", root, out)
    assert code == 1 and summary["status"] == "fatal" and "ViewPosition" in summary["error"]
    assert mk.parquet_files(out) == []


def test_bad_label_value_is_a_row_error(tmp_path, mk):
    root = make_root(tmp_path, mk)
    p = root / "mimic-cxr-2.0.0-chexpert.csv"
    p.write_text(p.read_text().replace("-1.0", "maybe"))
    code, _ = mk.run("mimic_cxr", root, tmp_path / "out")
    assert code == 3 and mk.errors(tmp_path / "out")[0]["reason"] == "bad_value"
    assert "Edema='maybe'" in mk.errors(tmp_path / "out")[0]["message"]
