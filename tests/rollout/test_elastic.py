"""Elastic rollout replicas on a local Ray with tiny HF engines: add while steps run (the operator
CLI, a separate process), drain mid-step, add with no room. Tests run in file order on one pool."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
import ray
from ray.util.placement_group import placement_group_table

from radrl_dist.rollout.pool import RolloutPool

from .conftest import MAX_PROMPT, full_manifest, make_requests, model_cfg, resolve, rollout_cfg

pytestmark = pytest.mark.slow

NAME, NAMESPACE = "radrl-rollout-pool-test", "radrl-test"


@pytest.fixture(scope="module")
def pool(tiny_cache):
    resolve(tiny_cache)  # build the tiny model once, before two actors race for it
    ray.init(address="local", num_cpus=3, include_dashboard=False, log_to_driver=False)
    p = RolloutPool(rollout_cfg("hf", num_actors=1, chunk_size=1), model_cfg(tiny_cache), MAX_PROMPT, revive_timeout_s=120)
    p.open_membership(NAME, NAMESPACE, start_timeout_s=120)
    manifest, _ = full_manifest(resolve(tiny_cache), version=1)
    assert p.load(manifest)["version"] == 1  # the current version an added replica must catch up to
    yield p
    p.shutdown()
    ray.shutdown()


def _cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    address = ray.get_runtime_context().gcs_address
    return subprocess.run([sys.executable, "-m", "radrl_dist.rollout", "--address", address, "--name", NAME,
                           "--namespace", NAMESPACE, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "RAY_ADDRESS": address})


def _status() -> dict:
    return ray.get(ray.get_actor(NAME, namespace=NAMESPACE).status.remote())


def test_add_while_steps_run_serves_the_current_version(pool, image_dir):
    reqs = make_requests(image_dir, 4, prefix="a")
    batches, stop = [], threading.Event()

    def training_loop():  # what TrainingRun does: membership at the boundary, then the step's rollout
        while not stop.is_set():
            added = pool.apply_membership().get("added", [])
            batches.append((added, pool.generate(reqs)))

    loop = threading.Thread(target=training_loop)
    loop.start()
    try:
        r = _cli("add", "1", "--timeout", "150")
        n_after_add = len(batches)
        deadline = time.time() + 120
        while len(batches) < n_after_add + 2 and time.time() < deadline:  # a full step with the new replica
            time.sleep(0.1)
    finally:
        stop.set()
        loop.join(timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "r1" in r.stdout and "active" in r.stdout, r.stdout
    assert [rid for added, _ in batches for rid in added] == ["r1"]
    assert pool.replica_ids == ["r0", "r1"] and pool.alive == [True, True] and pool.versions() == [1, 1]
    new_engine = ray.get(pool.actors[1].info.remote())["engine_id"]
    served_new = 0
    for _, batch in batches:  # never a stale version: every candidate of every step at v1
        rolls = batch.fetch([q.study_id for q in reqs])
        assert all(c.weight_version == 1 for roll in rolls for c in roll.candidates)
        served_new += sum(c.engine_id == new_engine for roll in rolls for c in roll.candidates)
    assert served_new > 0, [b.stats["chunks_by_actor"] for _, b in batches]
    st = {x["replica_id"]: x for x in _status()["replicas"]}
    assert st["r1"]["state"] == "active" and st["r1"]["added"] and st["r1"]["index"] == 1


def test_drain_mid_step_keeps_its_chunk_and_stops_it(pool, image_dir):
    reqs = make_requests(image_dir, 8, prefix="d")
    ctl = ray.get_actor(NAME, namespace=NAMESPACE)
    out = {}
    gen = threading.Thread(target=lambda: out.setdefault("batch", pool.generate(reqs)))
    gen.start()
    deadline = time.time() + 120
    while 1 not in pool.in_flight() and gen.is_alive() and time.time() < deadline:
        time.sleep(0.005)
    assert 1 in pool.in_flight(), "replica r1 never took a chunk"
    drained = ray.get(ctl.drain.remote(["r1"], None, 120.0), timeout=150)  # returns once r1 has stopped
    gen.join(timeout=300)
    batch = out["batch"]
    assert drained == ["r1"]
    served = sorted(s for chunk in batch.study_ids for s in chunk)
    assert served == sorted(q.study_id for q in reqs)  # no study lost or doubled
    by_actor = batch.stats["chunks_by_actor"]
    assert by_actor[1] >= 1 and by_actor[0] >= 1, by_actor  # r1 handed in the chunk it held; r0 took the rest
    assert 1 in pool.retired and not pool.alive[1] and pool.in_flight() == []
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(pool.actors[1].version.remote(), timeout=30)
    st = {x["replica_id"]: x["state"] for x in _status()["replicas"]}
    assert st == {"r0": "active", "r1": "removed"}
    nxt = pool.generate(reqs[:2])
    assert nxt.stats["chunks_by_actor"] == [2, 0]
    with pytest.raises(ray.exceptions.RayTaskError, match="no serving rollout replica"):
        ray.get(ctl.drain.remote(["r0"]))  # the last one only with force


def test_add_without_room_names_the_missing_resources(pool):
    free_before = ray.available_resources().get("CPU", 0.0)
    ctl = ray.get_actor(NAME, namespace=NAMESPACE)
    with pytest.raises(ray.exceptions.RayTaskError) as err:  # 8 x 0.5 CPU on a 3-CPU cluster with one replica up
        ray.get(ctl.add.remote(8, 3.0), timeout=120)
    msg = str(err.value.cause)
    assert "not placed after 3s" in msg and "requested CPU 4" in msg and "free now CPU" in msg, msg
    assert "autoscaling" in msg, msg
    st = _status()["replicas"]
    assert [x["state"] for x in st if x["replica_id"] not in ("r0", "r1")] == ["failed"] * 8
    left = [e for e in placement_group_table().values()
            if (e.get("name") or "").startswith(f"{NAMESPACE}/{NAME}-") and e["state"] != "REMOVED"]
    assert left == []  # nothing left reserved
    time.sleep(1.0)
    assert ray.available_resources().get("CPU", 0.0) == pytest.approx(free_before)
