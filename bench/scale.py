"""Control-plane scaling: per-step orchestration time with 1, 2, 4, 8, 16 rollout replicas on loopback nodes.

Usage: python bench/scale.py [--nodes 4] [--replicas 1,2,4,8,16] [--studies 64] [--chunk-size 2] [--steps 10]

NO-OP ENGINE, BENCH ONLY: every replica here is `CannedWorker`, which speaks the rollout actor's
protocol (info, version, load_weights, generate -> summary + per-study results) but returns canned
candidates without a model, so a step's time is orchestration only: the pool's membership check at
the step boundary, dispatching the step's chunks to free replicas and checking what comes back
(rollout.pool + rollout.dispatch), and delivering a weight version to every replica (the manifest
control plane; its bytes are a few hundred). Engine, learner and labeler compute are not in it.
Training never uses this worker.

The pool starts with one replica and grows through the elastic path (the membership actor's `add`,
adopted at a step boundary) to each size; at each size `--steps` steps are timed after 2 warm-up
steps. Prints one line per size (median, min-max, p90 of the step's ms, nodes used) and, last, one
JSON object with `orchestration_ms_per_replica`: the least-squares slope of the median step time
over the replica count (goal <= 5 ms per replica). The machine's load average is printed beside it:
the figures are only as quiet as the machine was.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BENCH_TIMEOUT_S = 1500  # run_all: 4 loopback nodes and 16 replicas start in minutes on a loaded 2-core machine
ENGINE_LABEL = "NO-OP canned-candidate engine (bench only: measures orchestration, not generation)"


@dataclass(frozen=True)
class CannedRequest:
    """What the pool needs of a request (its study id); a real one also carries the study."""

    study_id: str


@dataclass(frozen=True)
class CannedManifest:
    """Stands in for a WeightManifest on the control plane: a version and its (tiny) size."""

    version: int
    total_bytes: int = 256


class CannedWorker:
    """BENCH ONLY: the rollout actor's protocol without an engine (canned candidates, no model)."""

    def __init__(self, rollout, model, max_prompt_length: int, index: int = 0):
        self.index, self.g, self.v = index, rollout.group_size, 0
        self.engine_id = f"canned-{index}-pid{os.getpid()}"

    def info(self) -> dict:
        return {"engine_id": self.engine_id, "kind": "canned", "version": self.v, "index": self.index, "pid": os.getpid()}

    def version(self) -> int:
        return self.v

    def load_weights(self, manifest) -> dict:
        self.v = manifest.version
        return {"version": self.v, "seconds": 0.0, "bytes": manifest.total_bytes, "engine_id": self.engine_id}

    def generate(self, requests, version: int, n=None, greedy: bool = False):
        from radrl_dist.rollout.types import SampledCompletion, StaleVersionError, StudyRollout

        if version != self.v:
            raise StaleVersionError(self.v, version, self.engine_id)
        t0 = time.perf_counter()
        rolls = [StudyRollout(r.study_id, [SampledCompletion(r.study_id, "report", k, "No acute findings.", [5, 6, 7, 2],
                                                             [-1.0] * 4, [1] * 64, "stop", self.v, self.engine_id, 0.0)
                                           for k in range(n or self.g)]) for r in requests]
        summary = {"engine_id": self.engine_id, "version": self.v, "study_ids": [r.study_id for r in requests],
                   "failed": {}, "num_candidates": sum(len(r.candidates) for r in rolls),
                   "num_tokens": sum(4 * len(r.candidates) for r in rolls), "seconds": time.perf_counter() - t0,
                   "index": self.index}
        return summary, rolls


def drive(args: argparse.Namespace) -> dict:
    """In a process attached to the loopback cluster: grow the pool, time steps at each size."""
    import numpy as np
    import ray

    import radrl_dist.rollout.pool as pool_mod
    from radrl_dist.config.schema import ModelConfig, RolloutConfig

    ray.init(address=os.environ["RAY_ADDRESS"], logging_level="ERROR", log_to_driver=False)
    canned = ray.remote(CannedWorker)
    pool_mod.RolloutActor = canned  # BENCH ONLY: the pool's own first replica is a canned one too
    cfg = RolloutConfig(num_actors=1, group_size=args.group_size, cpus_per_actor=args.cpus_per_replica,
                        chunk_size=args.chunk_size, pool_name="radrl-bench-scale", pool_namespace="radrl-bench")
    pool = pool_mod.RolloutPool(cfg, ModelConfig(), 256)
    ctl = pool.open_membership(start_timeout_s=300, actor_cls=canned)
    reqs = [CannedRequest(f"s{i}") for i in range(args.studies)]
    version, rows = 0, []

    def step() -> float:
        nonlocal version
        t0 = time.perf_counter()
        pool.apply_membership()
        batch = pool.generate(reqs)
        version += 1
        pool.load(CannedManifest(version))
        dt = time.perf_counter() - t0
        assert sorted(s for c in batch.study_ids for s in c) == sorted(r.study_id for r in reqs)
        return dt * 1000

    for target in args.replicas:
        serving = sum(1 for i, ok in enumerate(pool.alive) if ok)
        if target > serving:
            ref = ctl.add.remote(target - serving, 300)
            while not ray.wait([ref], timeout=0.05)[0]:
                pool.apply_membership()  # the step boundary adopts them once their bundles are placed
            ray.get(ref)
            pool.apply_membership()
        assert sum(pool.alive) == target, (target, pool.alive)
        for _ in range(2):
            step()
        ms = sorted(step() for _ in range(args.steps))
        nodes = len({pool.nodes[i] for i, ok in enumerate(pool.alive) if ok})
        row = {"replicas": target, "median_ms": statistics.median(ms), "min_ms": ms[0], "max_ms": ms[-1],
               "p90_ms": ms[int(0.9 * (len(ms) - 1))], "nodes": nodes}
        rows.append(row)
        print(f"replicas {target:>2} on {nodes} node(s): step orchestration median {row['median_ms']:.1f} ms "
              f"(min {row['min_ms']:.1f}, p90 {row['p90_ms']:.1f}, max {row['max_ms']:.1f}) over {args.steps} steps",
              flush=True)
    pool.shutdown()
    xs = np.array([r["replicas"] for r in rows], float)
    ys = np.array([r["median_ms"] for r in rows], float)
    slope = float(np.polyfit(xs, ys, 1)[0]) if len(rows) > 1 else 0.0
    return {"rows": rows, "slope": slope}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=4, help="loopback Ray nodes")
    ap.add_argument("--replicas", default="1,2,4,8,16")
    ap.add_argument("--studies", type=int, default=64, help="studies per step")
    ap.add_argument("--chunk-size", type=int, default=2)
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per size")
    ap.add_argument("--cpus-per-replica", type=float, default=0.25)
    ap.add_argument("--driver", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.replicas = [int(x) for x in args.replicas.split(",")]
    if args.driver:
        print("RESULT " + json.dumps(drive(args)), flush=True)
        return

    from radrl_dist.cluster.loopback import LoopbackCluster, NodeArgs

    per_node = math.ceil(max(args.replicas) * args.cpus_per_replica / args.nodes + 0.5)  # ray start takes whole CPUs
    load_start = os.getloadavg()
    t0 = time.perf_counter()
    with LoopbackCluster([NodeArgs(per_node)] * args.nodes, start_timeout_s=600) as cluster:
        r = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--driver", *sys.argv[1:]], env=cluster.env,
                           cwd=ROOT, capture_output=True, text=True, timeout=1800)
    sys.stdout.write("".join(line + "\n" for line in r.stdout.splitlines() if not line.startswith("RESULT ")))
    if r.returncode != 0:
        sys.exit(f"bench driver failed:\n{r.stderr[-4000:]}")
    res = json.loads(next(line for line in r.stdout.splitlines() if line.startswith("RESULT "))[7:])
    out = {
        "bench": "scale", "engine": ENGINE_LABEL, "nodes": args.nodes, "studies_per_step": args.studies,
        "chunk_size": args.chunk_size, "group_size": args.group_size, "timed_steps_per_size": args.steps,
        "step": "apply_membership + generate (dispatch + checks) + weight-version delivery to every replica",
        "replicas": [row["replicas"] for row in res["rows"]],
        "median_ms": [round(row["median_ms"], 2) for row in res["rows"]],
        "range_ms": [[round(row["min_ms"], 2), round(row["max_ms"], 2)] for row in res["rows"]],
        "orchestration_ms_per_replica": round(res["slope"], 3), "goal_ms_per_replica": 5.0,
        "loadavg_start": [round(x, 2) for x in load_start], "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(), "wall_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
