"""RolloutPool on a local Ray with two HF actors: spreading, versions, a killed actor mid-batch."""

from __future__ import annotations

import threading
import time

import pytest
import ray

from radrl_dist.rollout.pool import RolloutPool
from radrl_dist.rollout.types import RolloutError, StaleVersionError

from .conftest import MAX_PROMPT, full_manifest, make_requests, model_cfg, resolve, rollout_cfg

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pool(tiny_cache):
    resolve(tiny_cache)  # build the tiny model once, before two actors race for it
    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False)
    p = RolloutPool(rollout_cfg("hf", num_actors=2, max_retries=2, chunk_size=2), model_cfg(tiny_cache), MAX_PROMPT, revive_timeout_s=180)
    yield p
    p.shutdown()
    ray.shutdown()


def _check(batch, ids, version, g=3):
    rolls = batch.fetch(order=ids)
    assert [r.study_id for r in rolls] == ids and sorted(s for c in batch.study_ids for s in c) == sorted(ids)
    for r in rolls:
        assert r.ok and len(r.candidates) == g
        assert {c.weight_version for c in r.candidates} == {version}
    return rolls


def test_spread_publish_kill_and_restart(pool, image_dir, tiny_cache):
    reqs = make_requests(image_dir, 4)
    ids = [r.study_id for r in reqs]
    batch = pool.generate(reqs)
    _check(batch, ids, 0)
    assert len(batch.stats["engines"]) == 2 and batch.stats["candidates"] == 12  # both actors served

    manifest, _ = full_manifest(resolve(tiny_cache), version=1)
    sync = pool.load(manifest)
    assert sync["version"] == 1 and sync["bytes"] > 0 and pool.versions() == [1, 1]
    with pytest.raises(ray.exceptions.RayTaskError) as err:  # an actor refuses to serve another version
        ray.get(pool.actors[0].generate.remote(reqs[:1], 0))
    assert isinstance(err.value.cause, StaleVersionError)

    # kill actor 0 while it generates (Ray may restart it): every study still comes back once, at v1
    old_engine = pool.infos[0]["engine_id"]
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("batch", pool.generate(reqs, chunk_size=1)))
    th.start()
    deadline = time.time() + 60
    while 0 not in pool.in_flight() and time.time() < deadline:
        time.sleep(0.01)
    ray.kill(pool.actors[0], no_restart=False)
    th.join(timeout=300)
    rolls = _check(out["batch"], ids, 1)
    assert all(c.engine_id != old_engine or c.weight_version == 1 for r in rolls for c in r.candidates)

    # next step: the restarted actor 0 is reloaded to v1 before it serves anything. The work queue
    # may give this step's chunks to either actor, so actor 0 is also asked directly.
    batch = pool.generate(reqs)
    _check(batch, ids, 1)
    assert pool.versions() == [1, 1]
    summary, _ = ray.get(pool.actors[0].generate.remote(reqs[:1], 1))
    assert summary["engine_id"].startswith("hf-0-") and summary["engine_id"] != old_engine
    assert summary["version"] == 1


def test_dynamic_dispatch_fast_replica_serves_more_chunks(pool, image_dir):
    """Actor 0 throttled 4x: the work queue hands the fast actor most chunks; every study once, at the pool's version."""
    reqs = make_requests(image_dir, 8, prefix="d")
    ids = [r.study_id for r in reqs]
    pool._sec_per_study.clear()  # as a fresh pool: the kill drill above measured speeds under its own load
    ray.get(pool.actors[0].set_slow_factor.remote(4.0))
    try:
        batch = pool.generate(reqs)  # rollout.chunk_size=2: four chunks
    finally:
        ray.get(pool.actors[0].set_slow_factor.remote(1.0))
    slow, fast = batch.stats["chunks_by_actor"]
    assert slow + fast == 4 and batch.stats["chunk_size"] == 2
    assert fast > slow, batch.stats  # the old one-chunk-per-actor split gives each one chunk of 4
    served = [s for chunk in batch.study_ids for s in chunk]
    assert len(served) == len(set(served)) == 8
    _check(batch, ids, pool.version)
    assert pool.in_flight() == []


def test_chunks_in_flight_queues_two_per_replica(pool, image_dir):
    """chunks_in_flight=2: a replica holds two chunks at once, never more, and each study is served once."""
    reqs = make_requests(image_dir, 8, prefix="q")
    pool.cfg = pool.cfg.model_copy(update={"chunks_in_flight": 2})
    seen = []
    th = threading.Thread(target=lambda: seen.append(pool.generate(reqs, chunk_size=1)))
    try:
        th.start()
        peak = 0  # most chunks one replica held at once
        while th.is_alive():
            peak = max(peak, max(pool._busy.values(), default=0))
            time.sleep(0.002)
        th.join()
    finally:
        pool.cfg = pool.cfg.model_copy(update={"chunks_in_flight": 1})
    assert peak == 2 and max(pool._busy.values()) == 0
    _check(seen[0], [r.study_id for r in reqs], pool.version)


def test_all_actors_dead_is_a_clear_error(pool, image_dir):
    for a in pool.actors:
        ray.kill(a, no_restart=True)
    with pytest.raises(RolloutError, match="no live rollout actor"):
        pool.generate(make_requests(image_dir, 2, prefix="x"))
