"""IU X-Ray: the real Open-i reports torchxrayvision ships, the seeded 70/10/20 study split, XML and
R2Gen annotation.json fixtures."""

from __future__ import annotations

import importlib.util
import io
import json
from collections import defaultdict

import numpy as np
import pytest
from PIL import Image

from radrl_dist.data.iu_xray_reports import load_reports
from radrl_dist.data.prepare.common import seeded_split

# Only the data files of torchxrayvision are used (it is installed --no-deps and is not importable).
needs_txv = pytest.mark.skipif(importlib.util.find_spec("torchxrayvision") is None,
                               reason="the real IU X-Ray reports come from torchxrayvision's data files")

XML = """<?xml version="1.0" encoding="utf-8"?>
<eCitation><IUXRId id="{rid}"/><MedlineCitation><Article><Abstract>
<AbstractText Label="COMPARISON">{comp}</AbstractText>
<AbstractText Label="INDICATION">{ind}</AbstractText>
<AbstractText Label="FINDINGS">{findings}</AbstractText>
<AbstractText Label="IMPRESSION">{impression}</AbstractText>
</Abstract></Article></MedlineCitation>
<MeSH><major>normal</major></MeSH>
{images}</eCitation>"""


def write_xml(folder, rid, findings, impression, image_ids, ind="Chest pain", comp="None."):
    folder.mkdir(parents=True, exist_ok=True)
    imgs = "".join(f'<parentImage id="{i}"><figureId>F1</figureId></parentImage>\n' for i in image_ids)
    (folder / f"{rid}.xml").write_text(XML.format(rid=rid, ind=ind, comp=comp, findings=findings, impression=impression, images=imgs))


@pytest.fixture(scope="module")
def real_reports():
    return load_reports()


@needs_txv
def test_seeded_split_on_real_reports(real_reports):
    keys = [str(r.report_id) for r in real_reports if r.image_ids]
    assert len(real_reports) == 3955 and len(keys) == 3851
    split = seeded_split(keys, seed=0)
    counts = {s: sum(1 for v in split.values() if v == s) for s in ("train", "val", "test")}
    assert counts == {"train": 2696, "val": 385, "test": 770}  # round(0.7 n), round(0.8 n) - round(0.7 n), rest
    assert seeded_split(list(reversed(keys)), seed=0) == split  # input order does not matter
    other = seeded_split(keys, seed=1)
    assert other != split and sum(other[k] == split[k] for k in keys) < 0.8 * len(keys)


@needs_txv
def test_full_real_conversion_with_generated_images(tmp_path, mk, real_reports):
    """All 3,955 real reports; a tiny PNG per image id (7,470) stands in for NLMCXR_png."""
    img_dir = tmp_path / "NLMCXR_png"
    img_dir.mkdir()
    buf = io.BytesIO()
    Image.fromarray(np.full((6, 5), 90, np.uint8)).save(buf, format="PNG")
    for r in real_reports:
        for i in r.image_ids:
            (img_dir / f"{i}.png").write_bytes(buf.getvalue())
    out = tmp_path / "out"
    code, summary = mk.run("iu_xray", img_dir, out, "--drop-bad")
    assert code == 0
    # Some real reports have no text in any section: they are the only errors, and they are dropped.
    empty = {f"CXR{r.report_id}": len(r.image_ids) for r in real_reports
             if r.image_ids and not (r.findings or r.impression or r.indication or r.comparison)}
    assert summary["errors"] == {"empty_report": sum(empty.values())} and len(empty) > 0
    assert {e["key"] for e in mk.errors(out)} == set(empty)
    assert summary["filtered"] == {"no_images": 104}
    rows = mk.all_rows(out)
    assert len(rows) + sum(empty.values()) == 7470 == sum(len(r.image_ids) for r in real_reports)
    # the split is made over all 3,851 studies with images, before bad rows are dropped
    n_split = {s: v["studies"] for s, v in summary["per_split"].items()}
    full = seeded_split([str(r.report_id) for r in real_reports if r.image_ids], 0)
    assert n_split == {s: sum(1 for k, v in full.items() if v == s and f"CXR{k}" not in empty) for s in n_split}
    splits_of = defaultdict(set)
    for r in rows:
        splits_of[r.study_id].add(r.split)
    assert all(len(v) == 1 for v in splits_of.values())  # no study (= patient) in two splits
    by_id = {f"CXR{r.report_id}": r for r in real_reports}
    for r in rows[:50]:
        assert r.reference_report == by_id[r.study_id].text and r.image_size == (5, 6)
        assert r.prompt_vars["image_id"] in by_id[r.study_id].image_ids


def test_xml_folder_errors_and_filters(tmp_path, mk):
    rep, img = tmp_path / "reports", tmp_path / "png"
    write_xml(rep, 1, "The heart is normal in size.", "No acute disease.", ["CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001"])
    write_xml(rep, 2, "", "", ["CXR2_IM-0652-1001"], ind="", comp="")  # an empty report
    write_xml(rep, 6, "", "", ["CXR6_IM-2263-1001"])  # indication/comparison only
    write_xml(rep, 3, "", "Clear lungs.", ["CXR3_IM-1384-1001"])  # no findings section
    write_xml(rep, 4, "Normal.", "Normal.", [])  # no images
    (rep / "5.xml").write_text("<eCitation><IUXRId id='5'/>")  # malformed
    for i in ("CXR1_1_IM-0001-3001", "CXR1_1_IM-0001-4001", "CXR2_IM-0652-1001", "CXR3_IM-1384-1001", "CXR6_IM-2263-1001"):
        mk.image(img / f"{i}.png", (40, 50))
    out = tmp_path / "out"
    code, summary = mk.run("iu_xray", img, out, "--reports", str(rep))
    assert code == 3 and mk.parquet_files(out) == []
    assert summary["errors"] == {"bad_value": 1, "empty_report": 1}
    assert summary["filtered"] == {"no_images": 1, "no_findings_or_impression": 1}
    msgs = {e["reason"]: e for e in mk.errors(out)}
    assert "5.xml" in msgs["bad_value"]["source"] and msgs["empty_report"]["key"] == "CXR2"
    code, summary = mk.run("iu_xray", img, out, "--reports", str(rep), "--drop-bad", "--section", "findings", "--rows", "per-study")
    assert code == 0 and summary["filtered"] == {"no_images": 1, "no_findings_section": 2}
    rows = mk.all_rows(out)
    assert len(rows) == 1 and len(rows[0].image_paths) == 2 and rows[0].reference_report == "The heart is normal in size."


def test_r2gen_annotation_json(tmp_path, mk):
    root = tmp_path / "iu_xray" / "images"
    ann = {"train": [{"id": "CXR2384_IM-0942", "report": "The heart size and pulmonary vascularity appear normal.",
                      "image_path": ["CXR2384_IM-0942/0.png", "CXR2384_IM-0942/1.png"], "split": "train"}],
           "val": [{"id": "CXR2926_IM-1328", "report": "No acute disease.", "image_path": ["CXR2926_IM-1328/0.png"], "split": "val"}],
           "test": [{"id": "CXR1000_IM-0003", "report": "Lungs clear.", "image_path": ["CXR1000_IM-0003/0.png"], "split": "test"},
                    {"id": "CXR9_IM-2407", "image_path": ["CXR9_IM-2407/0.png"], "split": "test"}]}  # no report key
    for part in ann.values():
        for e in part:
            for p in e["image_path"]:
                mk.image(root / p, (30, 30))
    (tmp_path / "annotation.json").write_text(json.dumps(ann))
    out = tmp_path / "out"
    code, summary = mk.run("iu_xray", root, out, "--annotation", str(tmp_path / "annotation.json"))
    assert code == 3 and mk.errors(out)[0]["reason"] == "bad_value" and "test[1]" in mk.errors(out)[0]["source"]
    code, summary = mk.run("iu_xray", root, out, "--annotation", str(tmp_path / "annotation.json"), "--drop-bad")
    assert code == 0
    assert [len(mk.rows(out, s)) for s in ("train", "val", "test")] == [2, 1, 1]
    assert mk.rows(out, "train")[1].image_paths[0].endswith("CXR2384_IM-0942/1.png")
