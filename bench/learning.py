"""Does each demo learn, beyond seed-to-seed noise? Runs the report demo (`make demo`) and the
grounding demo (`make demo-grounding`) with several seeds and reports, per demo, each run's held-out
START -> END with its paired 95% CI over held-out studies, the mean gain over seeds, its standard
error and Student-t 95% CI across seeds, and the wall time of each run.

Each seed changes the model init stream, the data order and the phantom data set together:
`--set train.seed=S --set data.shuffle_seed=S --set data.phantom.seed=S`.

Long (each run 8-15 minutes on 2 cores), so it is resumable and cached per run: a run directory
that holds `heldout_summary.json` is a finished run and is read, not rerun; a killed run continues
from its last checkpoint (`checkpoint.resume=auto`). `make bench` runs it with the budget below
(BENCH_TIMEOUT_S, read by bench/run_all.py); alone, or just it with run_all:

    .venv/bin/python bench/learning.py [--demos report,grounding] [--seeds 0,1,2] [--root runs/learning]
    .venv/bin/python -m bench.run_all --only learning.py [--merge bench/results/<date>-<host>.json]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
import numpy as np

from radrl_dist.config import load_config
from radrl_dist.data.reader import read_studies
from radrl_dist.boxes.box import Box
from radrl_dist.metrics.stats import across_runs
from radrl_dist.rewards.grounding import PRECISION_BOXES, iou_reward
from radrl_dist.runtime.data_setup import resolve_data
from radrl_dist.train.heldout import HELDOUT_SUMMARY

BENCH_TIMEOUT_S = 7200  # bench/run_all.py reads this: 6 uncached runs of 8-15 min each on 2 loaded cores
DEMOS = {"report": None, "grounding": "configs/cpu_demo_grounding.yaml"}  # None: the embedded default (cpu_demo)
WALL_FILE = "bench_wall.json"


def run_command(demo: str, seed: int, run_dir: Path, extra: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "radrl_dist.train"]
    if DEMOS[demo]:
        cmd += ["--config", str(REPO / DEMOS[demo])]
    sets = [f"train.seed={seed}", f"data.shuffle_seed={seed}", f"data.phantom.seed={seed}",
            f"logging.output_dir={run_dir}", f"sft.output_dir={run_dir / 'sft'}", "checkpoint.resume=auto",
            "logging.progress=false", *extra]
    return cmd + [a for s in sets for a in ("--set", s)]


def run_one(demo: str, seed: int, root: Path, extra: list[str]) -> dict:
    """The finished run's summary (running it first unless cached) plus its wall time."""
    run_dir = root / demo / f"seed{seed}"
    summary, wall_file = run_dir / HELDOUT_SUMMARY, run_dir / WALL_FILE
    cached = summary.is_file()
    if not cached:
        run_dir.mkdir(parents=True, exist_ok=True)
        log = run_dir.parent / f"seed{seed}.log"
        print(f"== {demo} seed {seed}: running (log {log})", flush=True)
        t0 = time.time()
        with open(log, "a") as fh:
            rc = subprocess.run(run_command(demo, seed, run_dir, extra), cwd=REPO, stdout=fh,
                                stderr=subprocess.STDOUT, check=False).returncode
        if rc != 0 or not summary.is_file():
            raise SystemExit(f"{demo} seed {seed} failed (rc {rc}); see {log}. Rerun to continue from its checkpoint.")
        wall_file.write_text(json.dumps({"wall_s": round(time.time() - t0, 1)}))
    row = json.loads(summary.read_text())
    wall = json.loads(wall_file.read_text())["wall_s"] if wall_file.is_file() else None
    print(f"== {demo} seed {seed}{' (cached)' if cached else ''}: {row['start']:.4f} -> {row['end']:.4f} "
          f"gain {row['gain']:+.4f} [{row['ci_low']:+.4f}, {row['ci_high']:+.4f}] wall {wall} s", flush=True)
    return {"seed": seed, "metric": row["metric"], "start": row["start"], "end": row["end"], "gain": row["gain"],
            "ci_low": row["ci_low"], "ci_high": row["ci_high"], "n_studies": row["n_studies"], "wall_s": wall,
            "cached": cached}


def phrase_prior_iou(config: str, seed: int) -> float:
    """Held-out IoU of a model that never looks at the image: each held-out grounding row answered with
    the mean training box (normalised) of its target phrase. What a grounder must beat to show it reads
    the image. Same scorer (`iou`, soft-F1) and the same held-out rows as the demo's evaluation."""
    cfg = load_config(str(REPO / config), [f"data.phantom.seed={seed}"])
    data = resolve_data(cfg.data)
    train = read_studies(data.train, split=data.train_split, tasks=["grounding"])
    held = read_studies(data.eval, split=data.eval_split, tasks=["grounding"])[: cfg.train.eval_studies]
    by_phrase: dict[str, list[list[list[float]]]] = defaultdict(list)
    for s in train:
        w, h = s.image_size
        by_phrase[s.prompt_vars["target"]].append([[b.x1 / w, b.y1 / h, b.x2 / w, b.y2 / h] for b in s.boxes])
    everything = [boxes for rows in by_phrase.values() for boxes in rows]
    preds = []
    for s in held:
        w, h = s.image_size
        rows = by_phrase.get(s.prompt_vars["target"]) or everything
        n = int(np.median([len(r) for r in rows]))  # the usual number of boxes for this phrase
        mean = np.array([r for r in rows if len(r) == n]).mean(0)
        preds.append([Box(b[0] * w, b[1] * h, b[2] * w, b[3] * h) for b in mean])
    scores = iou_reward(preds, [s.boxes for s in held], [s.image_size for s in held], False, 1.0, PRECISION_BOXES)
    return float(np.mean(scores))


def summarise(runs: list[dict]) -> dict:
    """Mean gain over seeds with its standard error and t CI (one figure per run: its gain)."""
    out = {"metric": runs[0]["metric"], "seeds": [r["seed"] for r in runs], "runs": runs,
           "runs_ci_excludes_0": sum(r["ci_low"] > 0 for r in runs)}
    if len(runs) >= 2:
        s = across_runs([r["gain"] for r in runs])
        out.update({"mean_gain": s.mean, "se_gain": s.se, "gain_ci_low": s.ci_low, "gain_ci_high": s.ci_high,
                    "gain_over_se": s.t_stat})
    else:
        out["mean_gain"] = runs[0]["gain"]
    walls = [r["wall_s"] for r in runs if r["wall_s"] is not None]
    out["mean_wall_s"] = sum(walls) / len(walls) if walls else None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demos", default="report,grounding", help="comma-separated: report, grounding")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--root", default=str(REPO / "runs" / "learning"), help="one run dir per demo and seed under here")
    ap.add_argument("--set", action="append", default=[], dest="extra", metavar="KEY=VALUE",
                    help="extra override for every run (e.g. train.steps=4 for a smoke test; use another --root)")
    args = ap.parse_args(argv)
    demos = [d for d in args.demos.split(",") if d]
    unknown = [d for d in demos if d not in DEMOS]
    if unknown:
        ap.error(f"unknown demo(s) {unknown}; known: {sorted(DEMOS)}")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    root = Path(args.root).resolve()
    result = {demo: summarise([run_one(demo, s, root, args.extra) for s in seeds]) for demo in demos}
    if "grounding" in result:
        for r in result["grounding"]["runs"]:
            r["phrase_prior_iou"] = phrase_prior_iou(DEMOS["grounding"], r["seed"])
        result["grounding"]["mean_phrase_prior_iou"] = float(np.mean([r["phrase_prior_iou"] for r in result["grounding"]["runs"]]))
    for demo, r in result.items():
        if "se_gain" in r:
            print(f"{demo}: mean {r['metric']} gain {r['mean_gain']:+.4f} (SE {r['se_gain']:.4f}, "
                  f"{r['gain_over_se']:.1f} SE above 0; t 95% CI [{r['gain_ci_low']:+.4f}, {r['gain_ci_high']:+.4f}]) "
                  f"over seeds {r['seeds']}; mean wall {r['mean_wall_s']:.0f} s", flush=True)
    if "grounding" in result:
        print(f"grounding: a phrase prior (mean training box per target phrase, no image) scores held-out IoU "
              f"{result['grounding']['mean_phrase_prior_iou']:.4f}", flush=True)
    print(json.dumps({"root": str(root), **result}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
