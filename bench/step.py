"""GRPO step time: where a step's wall time goes, and what orchestration adds on top of the work.

Runs the real loop (local Ray, HF rollout actor, rule-labeller reward pool, DeepSpeed learner) on the
tiny model twice, synchronous and with `async.max_staleness=1`, and reads each step's timings from
metrics.jsonl (the first `--warmup` steps are left out).

- overhead_ratio (sync): step wall time / (rollout + reward + learn + export + sync), mean over the
  measured steps; the per-step ratios' median and range are printed too. What is left is the
  driver's own work: advantages from the rewards, Ray round trips, logging (it no longer fetches
  candidates or encodes prompts: radrl_dist.rollout.handoff).
- driver/bytes_in: what the driver pulled out of Ray per step (median and range); it must not grow
  with --group-size or --max-new-tokens.
- async_vs_max: step wall time / max(rollout, learner side), where the learner side is everything a
  step must do after its rollout (reward + learn + export + sync); the next rollout overlaps it.
  async_vs_max_learn_only uses learn alone as the second term (stricter, always >= the first).

On this 2-core machine the rollout and learner share the same cores, so each slows the other when
they overlap; the ratio still shows whether the driver waits for anything beyond the longer side.

Usage: python bench/step.py [--steps 10] [--warmup 2] [--studies 4] [--group-size 4] [--max-new-tokens 24]
The last line is one JSON object with overhead_ratio, its median and range, async_vs_max and bytes_in.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench._tiny_grpo_job import add_job_args, job_overrides, mean, run_job  # noqa: E402

STAGES = ("rollout", "reward", "learn", "export", "sync")


def overrides(out: Path, mode: str, args: argparse.Namespace) -> list[str]:
    return job_overrides(out, args, f"radrl-bench-step-{mode}") + [f"async.max_staleness={1 if mode == 'async' else 0}"]


def run(mode: str, args: argparse.Namespace, tmp: Path) -> list[dict]:
    return run_job(overrides(tmp / mode, mode, args), tmp / mode, args.warmup)


def breakdown(mode: str, rows: list[dict]) -> dict[str, float]:
    figs = {s: mean(rows, lambda r, s=s: r[f"time/{s}_s"]) for s in STAGES}
    figs["step"] = mean(rows, lambda r: r["time/step_s"])
    figs["rollout_wait"] = mean(rows, lambda r: r["time/rollout_wait_s"])
    print(f"{mode:5s} mean seconds per step: " + "  ".join(f"{k} {v:.3f}" for k, v in figs.items()))
    return figs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_job_args(ap)
    args = ap.parse_args()
    import ray

    tmp = Path(tempfile.mkdtemp(prefix="radrl_bench_step_"))
    sync_rows = run("sync", args, tmp)
    async_rows = run("async", args, tmp)
    ray.shutdown()
    s, a = breakdown("sync", sync_rows), breakdown("async", async_rows)
    work = mean(sync_rows, lambda r: sum(r[f"time/{k}_s"] for k in STAGES))
    overhead = s["step"] / work
    learner_side = mean(async_rows, lambda r: max(r["time/rollout_s"], sum(r[f"time/{k}_s"] for k in STAGES[1:])))
    learn_only = mean(async_rows, lambda r: max(r["time/rollout_s"], r["time/learn_s"]))
    ratios = [r["time/step_s"] / sum(r[f"time/{k}_s"] for k in STAGES) for r in sync_rows]
    driver_ms = [1000 * (r["time/step_s"] - sum(r[f"time/{k}_s"] for k in STAGES)) for r in sync_rows]
    bytes_in = [r["driver/bytes_in"] for r in sync_rows + async_rows]
    print(f"sync:  step / sum of stages = {overhead:.3f} (target < 1.10); per step median {statistics.median(ratios):.3f} "
          f"range {min(ratios):.3f}-{max(ratios):.3f}; driver's own ms per step median {statistics.median(driver_ms):.1f} "
          f"range {min(driver_ms):.1f}-{max(driver_ms):.1f}")
    print(f"driver/bytes_in per step: median {statistics.median(bytes_in):.0f} range {min(bytes_in)}-{max(bytes_in)}")
    print(f"async: step / max(rollout, reward+learn+export+sync) = {a['step'] / learner_side:.3f} (target < 1.15); "
          f"async step / sync step = {a['step'] / s['step']:.3f}")
    print(json.dumps({"steps_measured": len(sync_rows), "studies_per_step": args.studies, "group_size": args.group_size,
                      "sync_step_s": round(s["step"], 4), "async_step_s": round(a["step"], 4),
                      **{f"sync_{k}_s": round(s[k], 4) for k in STAGES},
                      "overhead_ratio": round(overhead, 4), "overhead_ratio_median": round(statistics.median(ratios), 4),
                      "overhead_ratio_range": [round(min(ratios), 4), round(max(ratios), 4)],
                      "driver_ms_median": round(statistics.median(driver_ms), 1),
                      "bytes_in_median": statistics.median(bytes_in), "bytes_in_range": [min(bytes_in), max(bytes_in)],
                      "async_vs_max": round(a["step"] / learner_side, 4),
                      "async_vs_max_learn_only": round(a["step"] / learn_only, 4),
                      "async_over_sync": round(a["step"] / s["step"], 4)}))


if __name__ == "__main__":
    main()
