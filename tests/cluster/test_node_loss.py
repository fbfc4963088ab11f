"""Losing a whole node: two loopback nodes with one rollout replica each.

- Mid-step (rollout pool): the second node is stopped while its replica holds a chunk. The step
  completes on the other replica with every study exactly once at the pool's version, the lost
  replica is retired (not waited for at the next step) and the membership actor reports it lost.
- After its chunks are done (a real TrainingRun on three nodes): one node dies between a held-out
  rollout and its fetch, another between a step's rollout and its scoring, so the chunks they
  generated are lost from their object stores. Each rollout is generated again on the replicas left;
  the run finishes every step and both held-out evaluations.

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


def _train_driver(out_dir: str, node_b_start_pid: int, node_c_start_pid: int) -> None:
    """Runs in the subprocess: a TrainingRun on three nodes, one rollout replica each. The first held-out
    evaluation that node C's replica served a chunk of loses node C right after its rollout returns;
    the first training step that node B's replica served a chunk of loses node B right after its
    rollout returns (before the reward pool reads the chunks)."""
    import ray

    from radrl_dist.config import load_config
    from radrl_dist.train.loop import TrainingRun
    from tests.train.conftest import tiny_overrides

    cfg = load_config(None, tiny_overrides(out_dir, "node-loss", **{
        "train.steps": 3, "data.studies_per_step": 8, "train.eval_studies": 4, "rollout.num_actors": 3,
        "rollout.chunk_size": 1, "rollout.cpus_per_actor": 2}))
    lost_b, lost_c = {}, {}
    with TrainingRun(cfg) as tr:
        ips = ray.get([a.__ray_call__.remote(lambda self: ray.util.get_node_ip_address()) for a in tr.rollout.actors])
        b, c = ips.index(LoopbackCluster.node_ip(1)), ips.index(LoopbackCluster.node_ip(2))
        pool_generate, generate = tr.rollout.generate, tr._generate

        def held_out_rollout_then_lose_node_c(requests, *args, **kwargs):
            batch = pool_generate(requests, *args, **kwargs)
            if kwargs.get("score_tag") is None and not lost_c and batch.stats["chunks_by_actor"][c] > 0:
                _stop_node(node_c_start_pid)
                lost_c.update(chunks_on_c=batch.stats["chunks_by_actor"][c])
            return batch

        def step_rollout_then_lose_node_b(step, studies, attempt=0):
            batch = generate(step, studies, attempt)
            if not lost_b and batch.stats["chunks_by_actor"][b] > 0:
                _stop_node(node_b_start_pid)
                lost_b.update(step=step, chunks_on_b=batch.stats["chunks_by_actor"][b])
            return batch

        tr.rollout.generate, tr._generate = held_out_rollout_then_lose_node_c, step_rollout_then_lose_node_b
        result = tr.train()
    rows = [r for r in (json.loads(line) for line in (Path(out_dir) / "metrics.jsonl").read_text().splitlines())
            if "reward/mean" in r]
    print(json.dumps({"ips": ips, "lost_b": lost_b, "lost_c": lost_c, "steps_done": result.steps_done, "ok": result.ok,
                      "heldout": [result.heldout_start, result.heldout_end],
                      "regenerated": [r["rollout/regenerated"] for r in rows],
                      "scored": [r["reward/scored"] for r in rows]}))


def test_node_lost_after_its_chunks_are_done_the_rollout_is_generated_again(tmp_path, monkeypatch):
    # Ray returns results under 100 KB inline to the caller, where a node loss cannot reach them; a real
    # model's chunks (hundreds of tokens x G x studies, or encoded images) are larger and stay in the
    # node's object store. A 100-byte threshold puts the tiny model's chunks there too, as in production.
    monkeypatch.setenv("RAY_max_direct_call_object_size", "100")
    # Node A: rollout replica 0 (2 CPUs), learner (0.5), labeller (0.25), router (0.25); replicas 1 and 2
    # do not fit beside them and go to nodes B and C, which have room for nothing else.
    cluster = LoopbackCluster([NodeArgs(3), NodeArgs(2), NodeArgs(2)], start_timeout_s=150)
    cluster.start()
    try:
        code = (f"from tests.cluster.test_node_loss import _train_driver; _train_driver({str(tmp_path / 'run')!r}, "
                f"{cluster._procs[1].pid}, {cluster._procs[2].pid})")
        r = subprocess.run([sys.executable, "-c", code], env=cluster.env, cwd=ROOT, capture_output=True, text=True,
                           timeout=500)
    finally:
        cluster.stop()
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["ips"] == [LoopbackCluster.node_ip(i) for i in range(3)]
    assert out["lost_c"], "node C's replica served no held-out chunk"
    assert "held-out rollout results lost with their node; generating them again (1/2)" in r.stdout
    assert out["lost_b"], "node B's replica served no chunk in any step"
    assert out["ok"] and out["steps_done"] == 3 and None not in out["heldout"]
    step = out["lost_b"]["step"]
    assert out["regenerated"][step - 1] == 1 and sum(out["regenerated"]) == 1  # that step alone, once
    assert out["scored"] == [8 * 2] * 3  # every study's G candidates scored in every step
    assert f"step {step}: rollout results lost with their node" in r.stdout
