"""Losing a whole node mid-step: two loopback nodes with one rollout replica each; the second node is
stopped while its replica holds a chunk. The step completes on the other replica with every study
exactly once at the pool's version, the lost replica is retired (not waited for at the next step)
and the membership actor reports it lost.

The driver runs in a subprocess attached to the loopback cluster (its auth token lives in the
cluster's environment, not in this process).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from radrl_dist.cluster.loopback import LoopbackCluster, NodeArgs, _session_pids

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _stop_node(start_pid: int, grace_s: float = 5.0) -> None:
    """SIGTERM every process of one loopback node (its `ray start` session), SIGKILL what is left."""
    for pid in _session_pids(start_pid):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    end = time.monotonic() + grace_s
    while _session_pids(start_pid) and time.monotonic() < end:
        time.sleep(0.2)
    for pid in _session_pids(start_pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _driver(cache: str, node_b_start_pid: int) -> None:
    """Runs in the subprocess: pool on both nodes, step 1 loses node B mid-chunk, step 2 runs on the rest."""
    import ray

    from radrl_dist.rollout.pool import RolloutPool
    from tests.rollout.conftest import MAX_PROMPT, full_manifest, make_requests, model_cfg, resolve, rollout_cfg

    t_start = time.perf_counter()
    ray.init(address=os.environ["RAY_ADDRESS"], logging_level="ERROR", log_to_driver=False)
    pool = RolloutPool(rollout_cfg("hf", num_actors=2, chunk_size=1), model_cfg(Path(cache)), MAX_PROMPT,
                       placement_strategy="STRICT_SPREAD", revive_timeout_s=120)
    pool.open_membership("radrl-rollout-node-loss", "radrl-test")
    manifest, _ = full_manifest(resolve(Path(cache)), version=1)
    pool.load(manifest)
    t_ready = time.perf_counter()
    node_b = next(n["NodeID"] for n in ray.nodes() if n["NodeManagerAddress"] == LoopbackCluster.node_ip(1))
    b = pool.nodes.index(node_b)
    image_dir = Path(cache) / "node_loss_images"
    image_dir.mkdir(exist_ok=True)
    from PIL import Image

    for i in range(2):
        Image.new("RGB", (64, 80 + 8 * i), (40 * i, 90, 160)).save(image_dir / f"img{i}.png")
    reqs = make_requests(image_dir, 6)
    out = {}
    gen = threading.Thread(target=lambda: out.setdefault("step1", pool.generate(reqs)))
    gen.start()
    while b not in pool.in_flight() and gen.is_alive():
        time.sleep(0.005)
    held = b in pool.in_flight()
    _stop_node(node_b_start_pid)
    gen.join(timeout=300)
    step1 = out["step1"]
    rolls = step1.fetch([r.study_id for r in reqs])
    t0 = time.perf_counter()
    step2 = pool.generate(make_requests(image_dir, 4, prefix="n"))
    step2_s = time.perf_counter() - t0
    st = ray.get(pool._membership.status.remote())
    print(json.dumps({
        "held": held, "lost_index": b,
        "served": sorted(s for c in step1.study_ids for s in c), "sent": sorted(r.study_id for r in reqs),
        "versions": sorted({c.weight_version for r in rolls for c in r.candidates}),
        "step2_served": sorted(s for c in step2.study_ids for s in c), "step2_by_actor": step2.stats["chunks_by_actor"],
        "step2_s": step2_s, "setup_s": t_ready - t_start, "step1_s": t0 - t_ready, "retired": sorted(pool.retired), "states": {r["replica_id"]: r["state"] for r in st["replicas"]},
    }))
    pool.shutdown()


def test_node_lost_mid_step_step_completes_on_the_rest(tiny_vlm_dir):
    tiny_cache = tiny_vlm_dir("qwen2_vl").parent  # the suite's tiny model, built once per session
    cluster = LoopbackCluster([NodeArgs(1), NodeArgs(1)], start_timeout_s=150)
    cluster.start()
    try:
        code = f"from tests.cluster.test_node_loss import _driver; _driver({str(tiny_cache)!r}, {cluster._procs[1].pid})"
        r = subprocess.run([sys.executable, "-c", code], env=cluster.env, cwd=ROOT, capture_output=True, text=True,
                           timeout=400)
    finally:
        cluster.stop()
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["held"], "node B's replica never held a chunk"
    assert out["served"] == out["sent"]  # every study exactly once, on the surviving replica
    assert out["versions"] == [1]
    assert out["step2_served"] == ["n0", "n1", "n2", "n3"]
    assert out["step2_by_actor"][out["lost_index"]] == 0 and out["retired"] == [out["lost_index"]]
    assert out["step2_s"] < 60, out  # the lost replica is not waited for (revive_timeout_s is 120)
    assert out["states"][f"r{out['lost_index']}"] == "lost"
