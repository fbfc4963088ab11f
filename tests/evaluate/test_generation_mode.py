"""`evaluate --config --checkpoint`: generation through the rollout pool, then the same scoring."""

import json

import pytest
import ray

from radrl_dist.evaluate.__main__ import main
from radrl_dist.recipes import smoke_overrides


@pytest.mark.slow
def test_generation_mode_writes_every_file_per_task(tmp_path, tiny_vlm_dir):
    sets = smoke_overrides(tmp_path) + ["data.task_mix={report: 1, grounding: 1}"]
    argv = ["--checkpoint", str(tiny_vlm_dir("qwen2_vl")), "--limit", "6", "--no-meteor", "--n-boot", "20",
            "--out", str(tmp_path / "ev"), "--config", "configs/cpu_demo.yaml"]
    for s in sets:
        argv += ["--set", s]
    try:
        assert main(argv) == 0
    finally:
        ray.shutdown()
    for task in ("report", "grounding"):
        d = tmp_path / "ev" / task
        m = json.loads((d / "metrics.json").read_text())
        assert (d / "report.md").is_file() and (d / "per_study.jsonl").is_file()
        preds = [json.loads(line) for line in (d / "predictions.jsonl").read_text().splitlines()]
        assert preds and all(p["study_id"].endswith("|" + task) for p in preds)
        if task == "report":
            assert m["bleu_4"] is not None and "ce_micro_f1_14" in m
        else:
            assert "mean_iou" in m and m["format_rate"] is not None
