"""Dynamic dispatch: step rollout time with one replica throttled vs all replicas at full speed.

Usage: python bench/dispatch.py [--replicas 3] [--slow-factor 3] [--studies 24] [--chunk-size 4] [--reps 3]

One pool of HF replicas on a local Ray. Replica 0 is throttled with the BENCH-ONLY knob
`rollout.debug_slow_actor` (it sleeps (factor-1) x its compute time after each chunk, so it frees its
CPU; set back to 1 at run time for the full-speed runs). `--reps` rounds of four measured steps on
the same studies (each work-queue step after an unmeasured one at the same speed): full speed and
replica 0 slow, each through the pool's work
queue (`--chunk-size` studies a chunk) and through the old static split (one chunk of
studies/replicas per replica, called on the actors directly). Prints per-rep lines, then one JSON line: slow_over_full (work queue, median slow step /
median full step; goal <= 1.3), static_slow_over_full (the same for the static split), and
ideal_slow_over_full (replicas / (replicas - 1 + 1/factor): the bound if replicas shared no CPU).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.rollout import random_image_requests  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicas", type=int, default=3)
    ap.add_argument("--slow-factor", type=float, default=3.0)
    ap.add_argument("--studies", type=int, default=24)
    ap.add_argument("--chunk-size", type=int, default=4, help="studies per chunk (rollout.chunk_size default: 4)")
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import ray

    from radrl_dist.config.schema import (
        ModelConfig,
        RolloutConfig,
        SlowActorSpec,
        TinyModelSpec,
    )
    from radrl_dist.models.loading import resolve_model_path
    from radrl_dist.rollout.pool import RolloutPool

    tmp = Path(tempfile.mkdtemp(prefix="radrl_bench_dispatch_"))
    model = ModelConfig(tiny=TinyModelSpec(cache_dir=str(tmp / "models")))
    resolve_model_path(model)
    reqs = random_image_requests(args.studies, tmp)
    cfg = RolloutConfig(engine="hf", num_actors=args.replicas, group_size=args.group_size, max_new_tokens=args.max_new_tokens,
                        cpus_per_actor=0.5, chunk_size=args.chunk_size,
                        debug_slow_actor=SlowActorSpec(index=0, factor=args.slow_factor))
    print(f"BENCH-ONLY THROTTLE: rollout.debug_slow_actor = replica 0 x{args.slow_factor} (sleeps after each chunk)")
    ray.init(address="local", num_cpus=max(4, args.replicas), include_dashboard=False, log_to_driver=False)
    pool = RolloutPool(cfg, model, 512)
    static = math.ceil(args.studies / args.replicas)

    def step(factor: float, dynamic: bool):
        ray.get(pool.actors[0].set_slow_factor.remote(factor))
        if dynamic:
            b = pool.generate(reqs)
            return b.stats["seconds"], b.stats["chunks_by_actor"]
        # the old split: one chunk of ceil(studies / replicas) per replica, the step ends with the last
        t0 = time.perf_counter()
        ray.get([a.generate.remote(reqs[k * static : (k + 1) * static], pool.version) for k, a in enumerate(pool.actors)])
        return time.perf_counter() - t0, [1] * args.replicas

    runs: dict[str, list[float]] = {"full": [], "slow": [], "full_static": [], "slow_static": []}
    chunks = {}
    # settings interleaved per rep (background load drifts on a shared machine); each work-queue step
    # follows an unmeasured one at the same speed, so the pool's per-replica speed estimates (kept
    # across steps) describe the setting measured, as they do in a run whose speeds hold
    for rep in range(args.reps):
        for name, factor, dynamic in (("full", 1.0, True), ("full_static", 1.0, False),
                                      ("slow", args.slow_factor, True), ("slow_static", args.slow_factor, False)):
            if dynamic:
                step(factor, dynamic)
            t, by_actor = step(factor, dynamic)
            runs[name].append(t)
            chunks[name] = by_actor
            print(f"rep {rep} {name:12s} {t:6.2f} s  chunks by replica {by_actor}")
    pool.shutdown()
    ray.shutdown()
    med = {k: statistics.median(v) for k, v in runs.items()}
    ideal = args.replicas / (args.replicas - 1 + 1 / args.slow_factor)
    ratio, static_ratio = med["slow"] / med["full"], med["slow_static"] / med["full_static"]
    print(f"median step, work queue: full {med['full']:.2f} s, replica 0 slow {med['slow']:.2f} s ({ratio:.2f}x); "
          f"static split: full {med['full_static']:.2f} s, slow {med['slow_static']:.2f} s ({static_ratio:.2f}x); "
          f"bound if replicas shared no CPU {ideal:.2f}x")
    print(json.dumps({"bench": "dispatch", "throttle": "BENCH-ONLY rollout.debug_slow_actor (sleep)", "engine": "hf",
                      "replicas": args.replicas, "slow_factor": args.slow_factor, "studies": args.studies,
                      "chunk_size": args.chunk_size, "static_chunk_size": static, "group_size": args.group_size,
                      "max_new_tokens": args.max_new_tokens, "reps": args.reps, "cpus": os.cpu_count(),
                      "step_s_full": round(med["full"], 3), "step_s_slow": round(med["slow"], 3),
                      "step_s_full_static": round(med["full_static"], 3), "step_s_slow_static": round(med["slow_static"], 3), "slow_over_full": round(ratio, 3),
                      "static_slow_over_full": round(static_ratio, 3), "ideal_slow_over_full": round(ideal, 3),
                      "chunks_by_replica_slow": chunks["slow"], "goal": 1.3, "ok": ratio <= 1.3}))


if __name__ == "__main__":
    main()
