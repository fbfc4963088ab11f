"""A short on-policy run end to end (Ray, HF rollout, rule-labeller pool, 2-worker DeepSpeed ZeRO-2)
with a reward swap in the middle: what it logs, writes and prints, and that the learner lived on."""

from __future__ import annotations

import json

import pytest

from radrl_dist.labelers.factory import build_labeler
from radrl_dist.train.outcome import TrainResult

from .conftest import train_rows

STEP_KEYS = [  # DESIGN section 8
    "reward/mean", "reward/std", "reward/mccs/mean", "reward/mccs/std", "learner/kl", "learner/clip_frac",
    "learner/entropy", "rollout/response_len", "rollout/tokens_per_s", "grpo/zero_spread_fraction",
    "time/rollout_s", "time/reward_s", "time/learn_s", "time/export_s", "time/sync_s", "time/step_s",
    "sync/bytes", "sync/seconds", "weight_version", "reward/labeler_version", "data/study_ids",
]


def test_run_completes_with_two_learner_workers(sync_run):
    res = sync_run["outcome"]
    assert isinstance(res, TrainResult), res
    assert res.ok and res.steps_done == 4
    assert sync_run["world"] == 2 and len(sync_run["pids_before"]) == 2
    assert len(set(sync_run["pids_before"])) == 2, "the two ranks must be two processes"


def test_metrics_one_line_per_step_with_design_keys(sync_run):
    rows = train_rows(sync_run["out"] / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    for r in rows:
        missing = [k for k in STEP_KEYS if k not in r]
        assert not missing, f"step {r['step']} lacks {missing}"
        assert r["sync/bytes"] > 0 and r["sync/seconds"] >= r["time/sync_s"] > 0
        assert r["sync/transport"] == "rdt"  # the run's config (tests/train/conftest.py sync_run)
        assert r["time/step_s"] >= r["time/rollout_s"] + r["time/reward_s"] + r["time/learn_s"]
        assert 0.0 <= r["grpo/zero_spread_fraction"] <= 1.0
        assert r["learner/entropy"] > 0 and r["learner/kl"] is not None
        assert r["reward/scored"] == 2 * 2  # studies x G, all scored
        assert r["rollout/behind_versions"] == 0  # on-policy
        assert len(r["data/study_ids"]) == 2
    versions = [r["weight_version"] for r in rows]
    assert versions == list(range(versions[0], versions[0] + 4)), versions


def test_outputs_written_and_heldout_line_printed(sync_run):
    out = sync_run["out"]
    png = out / "training_curves.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert any("text" in s and "reward" in s and s.get("heldout") is None for s in samples)
    assert any(s.get("heldout") == "end" for s in samples)
    res = sync_run["outcome"]
    summary = json.loads((out / "heldout_summary.json").read_text())  # the paired CI over held-out studies
    line = (f"held-out reward: {res.heldout_start:.4f} -> {res.heldout_end:.4f} "
            f"(95% CI of the gain: [{summary['ci_low']:+.4f}, {summary['ci_high']:+.4f}])")
    assert line in sync_run["stdout"], sync_run["stdout"][-2000:]
    assert summary["n_studies"] == 2 and summary["gain"] == pytest.approx(res.heldout_end - res.heldout_start)
    assert (out / "config.yaml").is_file()


def test_reward_swap_mid_run_keeps_learner_processes(sync_run, tmp_path):
    swap = sync_run.get("swap", {})
    assert "error" not in swap and "result" in swap, swap
    assert sync_run["pids_after"] == sync_run["pids_before"], "a learner worker was restarted by the swap"
    labels = [r["reward/labeler_version"] for r in train_rows(sync_run["out"] / "metrics.jsonl")]
    old = build_labeler("rules").version
    assert labels[0] == old
    assert labels[-1] == swap["result"]["version"] != old, labels
