"""The end-of-run held-out gain: per-study means, the paired bootstrap CI over studies, the line
the run prints, the summary file bench/learning.py reads, and the START/END gallery rows (issue 22)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.learning import summarise
from radrl_dist.metrics.stats import across_runs, mean_ci
from radrl_dist.train.curves import plot_training_curves
from radrl_dist.train.heldout import (
    HeldOut,
    gallery_samples,
    paired_gain,
    study_means,
    write_heldout_summary,
)


def _samples(values: dict[str, list[float]], component: str | None = None) -> list[dict]:
    return [{"study_id": sid, "reward": v, "components": {component: v / 2} if component else {}}
            for sid, vs in values.items() for v in vs]


def test_study_means_average_each_study_and_count_failed_ones_as_zero():
    samples = _samples({"a": [1.0, 0.0, 0.5], "b": [0.2]}, component="iou")
    got = study_means(samples, ["a", "b", "failed"])
    assert got == pytest.approx({"a": 0.5, "b": 0.2, "failed": 0.0})
    assert list(got) == ["a", "b", "failed"]  # the held-out order, not the samples' order
    assert study_means(samples, ["a", "b"], "iou") == pytest.approx({"a": 0.25, "b": 0.1})


def test_unknown_metric_is_one_clear_error_naming_what_exists():
    with pytest.raises(ValueError, match=r"train.heldout_metric='iou' is not a reward component.*have: mccs"):
        study_means(_samples({"a": [1.0]}, component="mccs"), ["a"], "iou")


def test_paired_ci_sees_a_small_consistent_gain_that_study_spread_would_hide():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.0, 1.0, 40)  # studies differ a lot (std ~0.29) ...
    start = {f"s{i}": float(v) for i, v in enumerate(base)}
    end = {k: v + 0.03 + float(rng.normal(0, 0.01)) for k, v in start.items()}  # ... the gain is small
    g = paired_gain(start, end, "iou", seed=0)
    assert g.gain == pytest.approx(np.mean(list(end.values())) - np.mean(base))
    assert 0 < g.ci_low < g.gain < g.ci_high < 0.06 and g.p_bootstrap == 0.0
    unpaired = mean_ci(np.array(list(end.values())))  # the END mean's own CI is far wider than the gain
    assert unpaired.low < np.mean(base) < unpaired.high
    assert g.n_studies == 40 and (g.start, g.end) == pytest.approx((np.mean(base), np.mean(list(end.values()))))
    again = paired_gain(start, end, "iou", seed=0)
    assert again == g  # seeded: the same CI every time


def test_no_gain_gives_a_ci_around_zero_and_the_printed_line():
    rng = np.random.default_rng(2)
    start = {f"s{i}": float(v) for i, v in enumerate(rng.uniform(0, 1, 30))}
    end = {k: float(np.clip(v + rng.normal(0, 0.1), 0, 1)) for k, v in start.items()}
    g = paired_gain(start, end, "reward")
    assert g.ci_low < 0 < g.ci_high
    assert g.line() == (f"held-out reward: {g.start:.4f} -> {g.end:.4f} "
                        f"(95% CI of the gain: [{g.ci_low:+.4f}, {g.ci_high:+.4f}])")
    assert paired_gain(start, end, "iou").line().startswith("held-out IoU: ")


def test_pairs_only_studies_scored_at_both_ends_and_refuses_none():
    g = paired_gain({"a": 0.0, "b": 1.0, "gone": 5.0}, {"a": 0.5, "b": 1.0, "new": 9.0})
    assert g.n_studies == 2 and g.gain == pytest.approx(0.25)
    with pytest.raises(ValueError, match="no held-out study was scored at both START and END"):
        paired_gain({"a": 0.0}, {"b": 1.0})


def test_summary_file_holds_the_gain_and_reward(tmp_path):
    g = paired_gain({"a": 0.1, "b": 0.3}, {"a": 0.2, "b": 0.5}, "iou")
    p = write_heldout_summary(tmp_path / "heldout_summary.json", g, 0.4, 0.6, steps=100)
    row = json.loads(p.read_text())
    assert row["metric"] == "iou" and row["gain"] == pytest.approx(0.15) and row["steps"] == 100
    assert row["heldout_reward_end"] == 0.6 and row["ci_low"] <= row["gain"] <= row["ci_high"]
    assert not list(tmp_path.glob("*.tmp"))


def test_gallery_rows_are_the_first_sample_of_the_same_first_studies():
    samples = _samples({"a": [0.1, 0.2], "b": [0.3, 0.4], "c": [0.5]})
    rows = gallery_samples(samples, n_studies=2)
    assert [(r["study_id"], r["reward"]) for r in rows] == [("a", 0.1), ("b", 0.3)]
    ho = HeldOut(0.0, [], {}, samples, ["a", "b", "c"])
    assert ho.study_values() == pytest.approx({"a": 0.15, "b": 0.35, "c": 0.5})


def test_spread_over_seeds_is_student_t():
    s = across_runs([0.02, 0.03, 0.04])
    assert s.mean == pytest.approx(0.03) and s.se == pytest.approx(0.01 / np.sqrt(3))
    assert (s.ci_low, s.ci_high) == pytest.approx((0.03 - 4.3027 * s.se, 0.03 + 4.3027 * s.se), rel=1e-4)
    assert s.t_stat == pytest.approx(0.03 / s.se)
    with pytest.raises(ValueError, match="at least 2 values"):
        across_runs([0.1])


def test_learning_bench_summary_over_seeds():
    runs = [{"seed": s, "metric": "iou", "gain": g, "ci_low": lo, "wall_s": w}
            for s, g, lo, w in ((0, 0.10, 0.06, 700.0), (1, 0.06, -0.01, 800.0), (2, 0.08, 0.02, None))]
    out = summarise(runs)
    assert out["mean_gain"] == pytest.approx(0.08) and out["se_gain"] == pytest.approx(0.02 / np.sqrt(3))
    assert out["runs_ci_excludes_0"] == 2 and out["mean_wall_s"] == 750.0 and out["seeds"] == [0, 1, 2]


def test_curves_draw_the_heldout_metric_beside_the_reward(tmp_path):
    rows = [{"step": i, "reward/mean": 0.5, "reward/iou/mean": 0.3, "learner/kl": 0.01, "rollout/response_len": 40}
            for i in (1, 2)]
    rows += [{"step": 0, "heldout/mean_reward": 0.4, "heldout/iou/mean": 0.2},
             {"step": 2, "heldout/mean_reward": 0.5, "heldout/iou/mean": 0.3}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for metric in ("iou", "reward", "absent_component"):
        png = plot_training_curves(tmp_path / "metrics.jsonl", tmp_path / f"{metric}.png", metric)
        assert png.read_bytes()[:4] == b"\x89PNG"
