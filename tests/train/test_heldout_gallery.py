"""The held-out START/END gallery: rows from samples.jsonl with grounding boxes parsed back to source
pixels, drawn into one PNG (issue 22 item 4)."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from radrl_dist.boxes.box import Box
from radrl_dist.models.families import get_codec
from radrl_dist.data.schema import Study
from radrl_dist.train.heldout_gallery import (
    GALLERY_PNG,
    gallery_rows,
    write_heldout_gallery,
)

SIZE = (128, 160)


def _study(tmp_path, sid: str, task: str = "grounding") -> Study:
    img = tmp_path / f"{sid}.png"
    Image.new("L", SIZE, 90).save(img)
    return Study(study_id=f"{sid}|{task}", image_paths=[str(img)], task=task, reference_report=f"report of {sid}",
                 boxes=[Box(10, 20, 60, 80, label="Atelectasis")], image_size=SIZE,
                 prompt_vars={"target": "left basilar atelectasis"})


def _answer(box: Box) -> str:
    return f"<think>Looking.</think><answer>{get_codec('qwen2_vl').encode([box], SIZE)}</answer>"


def _sample(study: Study, tag: str, text: str, iou: float, step: int = 0) -> dict:
    return {"step": step, "study_id": study.study_id, "text": text, "reward": iou + 0.25,
            "components": {"iou": iou, "format_answer": 1.0}, "heldout": tag}


def test_rows_pair_first_start_with_last_end_and_parse_boxes(tmp_path):
    a, b, c = _study(tmp_path, "a"), _study(tmp_path, "b"), _study(tmp_path, "c")
    samples = [_sample(a, "start", "garbage", 0.0), _sample(a, "start", "second start", 0.5),
               _sample(b, "start", "only a start", 0.1),
               _sample(a, "end", _answer(Box(12, 22, 58, 78)), 0.7, step=100),
               _sample(a, "end", _answer(Box(10, 20, 60, 80)), 1.0, step=100),  # a re-report of a finished run
               {"step": 3, "study_id": a.study_id, "text": "a training sample", "reward": 0.0}]
    rows = gallery_rows(samples, [a, b, c], "qwen2_vl", metric="iou")
    assert [r["study_id"] for r in rows] == ["a|grounding"]  # b has no END, c no sample at all
    r = rows[0]
    assert (r["start_text"], r["start_score"], r["end_score"]) == ("garbage", 0.0, 1.0)
    assert r["start_boxes"] == [] and r["ref_boxes"] == [[10, 20, 60, 80]]
    assert r["end_boxes"] == [pytest.approx([10, 20, 60, 80], abs=0.2)]  # 0..1000 grid back to pixels
    assert "left basilar atelectasis" in r["reference"]


def test_report_rows_show_the_reference_report_and_reward(tmp_path):
    s = _study(tmp_path, "r", task="report")
    rows = gallery_rows([_sample(s, "start", "x", 0.0), _sample(s, "end", "y", 0.0)], [s], "qwen2_vl")
    assert rows[0]["reference"] == "report of r" and "end_boxes" not in rows[0]
    assert rows[0]["end_score"] == 0.25  # metric "reward": the total


def test_png_is_written_from_the_run_dir(tmp_path):
    a = _study(tmp_path, "a")
    run = tmp_path / "run"
    run.mkdir()
    garbage = "garbage $x_{1$ \x08\x14"  # sampled text: broken mathtext and control characters
    lines = [_sample(a, "start", garbage, 0.0), _sample(a, "end", _answer(Box(12, 22, 58, 78)), 0.8)]
    (run / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in lines))
    p = write_heldout_gallery(run, [a], "qwen2_vl", "iou", title="t")
    assert p == run / GALLERY_PNG and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size < 300_000
    with pytest.raises(ValueError, match="at least one row"):
        write_heldout_gallery(run, [_study(tmp_path, "other")], "qwen2_vl")
