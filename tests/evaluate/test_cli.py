"""The --predictions/--references mode end to end: files written, keys exact, missing is null+reason."""

import json
import random
from pathlib import Path

import numpy as np
import pytest

from radrl_dist.data.iu_xray_reports import load_reports
from radrl_dist.evaluate.__main__ import main
from radrl_dist.evaluate.score import HEADLINE_KEYS, score_predictions

REAL_CXR = sorted(Path("/work/shared/data/real_cxr").glob("*.png"))


def _write(path: Path, recs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


@pytest.fixture(scope="module")
def report_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("eval")
    reps = [r for r in load_reports() if r.findings and r.report_id % 2 == 1][:40]
    rng = random.Random(0)
    refs = [{"study_id": f"iu{r.report_id}", "text": r.findings} for r in reps]
    # a "run": half copies, half other studies' reports; the baseline: all other studies' reports
    preds = [
        {"study_id": x["study_id"], "text": x["text"] if i % 2 == 0 else rng.choice(reps).findings}
        for i, x in enumerate(refs)
    ]
    base = [{"study_id": x["study_id"], "text": rng.choice(reps).findings} for x in refs]
    log = d / "train.jsonl"
    log.write_text("".join(json.dumps({"step": s, "reward/mean": s / 10, "reward/std": 0.1, "reward/mccs": s / 20}) + "\n" for s in range(10)) + "{broken")
    return d, _write(d / "preds.jsonl", preds), _write(d / "refs.jsonl", refs), _write(d / "base.jsonl", base), log


def test_report_mode_writes_everything(report_files):
    d, preds, refs, base, log = report_files
    out = d / "out"
    rc = main(["--predictions", str(preds), "--references", str(refs), "--out", str(out), "--labeler", "rules",
               "--no-meteor", "--n-boot", "100", "--baseline", str(base), "--train-log", str(log)])
    assert rc == 0
    for f in ("metrics.json", "report.md", "per_study.jsonl", "per_observation_f1.png", "reward_curves.png",
              "gallery.html", "gallery.md"):
        assert (out / f).stat().st_size > 0, f
    m = json.loads((out / "metrics.json").read_text())
    for k in HEADLINE_KEYS:
        assert k in m
        assert (m[k] is None) == (k in m["missing"]), k
    assert m["missing"]["meteor"].startswith("METEOR disabled")
    assert m["missing"]["mean_iou"].startswith("not a grounding task")
    assert 0 < m["bleu_4"] < 1 and 0 < m["ce_micro_f1_14"] <= 1
    assert m["ce_f1chexbert_micro_f1_14"] is not None and m["ce_example_f1_14"] is not None
    assert m["meta"]["labeler"]["name"] == "rules"
    # the run copies half of the references, so it beats the baseline on every paired score
    assert m["comparison"]["rouge_l"]["mean_diff"] > 0 and m["comparison"]["rouge_l"]["p_permutation"] < 0.05
    rows = [json.loads(x) for x in (out / "per_study.jsonl").read_text().splitlines()]
    assert len(rows) == 40 and rows[0]["rouge_l"] == pytest.approx(1.0) and len(rows[0]["cand_labels"]) == 14
    md = (out / "report.md").read_text()
    assert "| Method | BLEU-1" in md and "r2gen (micro)" in md and "f1chexbert" in md and "Paired comparison" in md


def test_grounding_mode_with_boxes_and_gallery(tmp_path):
    img = str(REAL_CXR[0]) if REAL_CXR else None
    refs = [{"study_id": f"g{i}", "text": "Left lower lobe opacity.", "boxes": [[0.38, 0.47, 0.76, 0.62]], "image_path": img}
            for i in range(4)]
    preds = [
        {"study_id": "g0", "text": "<answer>[0.35, 0.51, 0.75, 0.64]</answer>"},  # parsed from text
        {"study_id": "g1", "text": "x", "boxes": [{"x1": 0.84, "y1": 0.34, "x2": 0.91, "y2": 0.50}]},
        {"study_id": "g2", "text": "no boxes here", "boxes": [[0.1, "x"], None]},  # malformed: format failure
        {"study_id": "g3", "text": "x", "boxes": [[0.84, 0.34, 0.91, 0.5], [0.35, 0.51, 0.75, 0.64]]},
    ]
    out = tmp_path / "g"
    rc = main(["--predictions", str(_write(tmp_path / "p.jsonl", preds)), "--references",
               str(_write(tmp_path / "r.jsonl", refs)), "--out", str(out), "--labeler", "none", "--no-meteor", "--n-boot", "50"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["meta"]["task_kind"] == "grounding"
    assert m["map_0.5"] == pytest.approx((1 + 0 + 0 + 0.5) / 4)
    assert m["format_rate"] == 0.75 and m["acc_iou_0.5"] == 0.25
    assert m["ce_micro_f1_14"] is None and "no labeler" in m["missing"]["ce_micro_f1_14"]
    assert (out / "iou_histogram.png").exists()
    if img:
        assert list((out / "gallery").glob("*.png"))
    assert "Grounding" in (out / "report.md").read_text()


def test_mismatched_ids_and_bad_lines_are_clear_errors(tmp_path):
    r = _write(tmp_path / "r.jsonl", [{"study_id": "a", "text": "x"}])
    p = _write(tmp_path / "p.jsonl", [{"study_id": "b", "text": "x"}])
    with pytest.raises(ValueError, match="references without prediction"):
        main(["--predictions", str(p), "--references", str(r), "--out", str(tmp_path / "o"), "--labeler", "none", "--no-meteor"])
    assert main(["--config", "x.yaml", "--checkpoint", "c"]) == 2


@pytest.mark.parametrize("line, says", [
    ("not json", "bad.jsonl:2: not valid JSON (Expecting value)"),
    ('{"study_id": "a", "text": 12345}', "bad.jsonl:2: 'text' must be a string, got int 12345"),
    ('{"study_id": "a", "text": "effusion \\ud800 left"}',
     "bad.jsonl:2: 'text' holds '\\ud800' at character 9, a lone surrogate (not valid Unicode)"),
])
def test_bad_prediction_lines_are_one_line_errors_before_scoring(tmp_path, capsys, line, says):
    r = _write(tmp_path / "r.jsonl", [{"study_id": "a", "text": "x"}])
    (tmp_path / "bad.jsonl").write_text('{"study_id": "a", "text": "x"}\n' + line + "\n")
    out = tmp_path / "o"
    for args in (["--predictions", str(tmp_path / "bad.jsonl"), "--references", str(r)],
                 ["--predictions", str(r), "--references", str(r), "--baseline", str(tmp_path / "bad.jsonl")]):
        assert main(args + ["--out", str(out), "--labeler", "none", "--no-meteor", "--n-boot", "10"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.rstrip().endswith(says) and len(err.strip().splitlines()) == 1
        assert not out.exists()  # nothing scored and half-written


class _TwoWordLabeler:
    """A stand-in with the Labeler interface: 'effusion' positive unless preceded by 'no'."""

    name, version = "test", "0"

    def label(self, texts):
        out = np.zeros((len(texts), 14), np.int8)
        for i, t in enumerate(texts):
            if "effusion" in t.lower():
                out[i, 9] = 2 if "no effusion" in t.lower() else 1
        return out


def test_score_predictions_tagged_format_and_polarity():
    refs = [{"study_id": "1", "text": "Small effusion."}, {"study_id": "2", "text": "No effusion."}]
    preds = [{"study_id": "1", "text": "<think>look</think><report>Small effusion.</report>"},
             {"study_id": "2", "text": "<report>Effusion.</report><report>"}]
    m = score_predictions(preds, refs, _TwoWordLabeler(), with_meteor=False, n_boot=20)
    assert m["format_rate"] == 0.5
    assert m["polarity_error_rate"] == 0.5
    assert m["per_study"][0]["candidate"] == "Small effusion."
    assert m["ce_micro_precision_14"] == 0.5 and m["ce_micro_recall_14"] == 1.0
