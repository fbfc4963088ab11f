"""The reward pool on a local Ray: same scores as the labeller called directly, micro-batching,
idempotency, actor deaths mid-stream, hot swap during a 1,000-candidate stream, failed swap."""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import pytest

from radrl_dist.config.schema import RewardConfig
from radrl_dist.labelers.factory import build_labeler
from radrl_dist.rewards.pool import RewardPool, SwapError

from .conftest import assert_same_as_direct, make_requests

FAST = dict(retry_backoff_s=0.02, cpus_per_actor=0.25, router_cpus=0.25)


@pytest.fixture
def pools(ray_local):
    """Factory of pools that are always shut down."""
    made: list[RewardPool] = []

    def make(name: str, **cfg_kw):
        drill = {k: cfg_kw.pop(k) for k in ("delay_s", "health_timeout_s") if k in cfg_kw}
        pool = RewardPool.create(RewardConfig(**{**FAST, **cfg_kw}), name=name, namespace="test", **drill)
        made.append(pool)
        return pool

    yield make
    for p in made:
        try:
            p.shutdown()
        except Exception:  # noqa: BLE001
            pass


def stream(ray, pool, reqs, chunk=25, window=4, on_chunk=None):
    """Send chunks as a training loop would (a few in flight), calling on_chunk(k) after chunk k."""
    refs, out, done = [], [], 0
    for k, s in enumerate(range(0, len(reqs), chunk)):
        refs.append(pool.score_async(reqs[s : s + chunk]))
        if on_chunk:
            on_chunk(k)
        while len(refs) - done >= window:
            out += ray.get(refs[done], timeout=120)
            done += 1
    for r in refs[done:]:
        out += ray.get(r, timeout=120)
    return out


def wait_for(pool, pred, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = pool.status()
        if pred(st):
            return st
        time.sleep(0.2)
    raise AssertionError(f"condition not reached in {timeout}s; status {st}")


def events(st, kind):
    return [e for e in st["events"] if e["kind"] == kind]


@pytest.mark.parametrize("m", [1, 3])
def test_pool_scores_equal_direct_labeller_and_batches_fill(ray_local, pools, m):
    cfg_kw = dict(num_actors=m, batch_size=16)
    pool = pools(f"eq{m}", **cfg_kw)
    reqs = make_requests(200)
    res = pool.score(reqs, timeout=120)
    assert_same_as_direct(RewardConfig(**cfg_kw), reqs, res)
    version = build_labeler("rules").version
    labelled = [r for r in res if r.task == "report"]
    assert {r.labeler_version for r in labelled} == {version} and all(r.labeler_version is None for r in res if r.task == "grounding")
    st = pool.status()
    assert st["stats"]["batches"] == math.ceil(len(labelled) / 16)  # full labeller batches, no per-sample calls
    busy = [a for a in st["actors"] if a["items_done"] > 0]
    assert len(st["actors"]) == m and len(busy) == m  # least-outstanding spreads the work


def test_batches_mix_requests_and_ids_are_idempotent(ray_local, pools):
    pool = pools("idem", num_actors=1, batch_size=16, delay_s=0.05)
    reqs = [r for r in make_requests(80) if r.task == "report"]  # 64
    small = [pool.score_async(reqs[i : i + 3]) for i in range(0, 48, 3)]  # 16 small requests at once
    twice = [pool.score_async(reqs[40:50]), pool.score_async(reqs[40:50] + reqs[:2])]
    first = [x for ref in small for x in ray_local.get(ref, timeout=60)]
    a, b = ray_local.get(twice, timeout=60)
    assert a == b[:10] and b[10:] == first[:2]
    assert pool.score(reqs[:48]) == first  # resent ids: first records back, nothing rescored
    st = pool.status()["stats"]
    assert st["scored"] == 50 and st["batch_items"] == 50  # each candidate labelled exactly once
    assert st["batches"] < 16  # the 16 small requests shared batches
    changed = type(reqs[0])(**{**reqs[0].__dict__, "text": "different"})
    with pytest.raises(ValueError, match="sent again with different content"):
        pool.score([changed])


def test_killed_actor_mid_stream_loses_nothing(ray_local, pools):
    pool = pools("kill", num_actors=2, batch_size=8, delay_s=0.02)
    reqs = make_requests(400)

    def kill(k):
        if k == 3:
            ray_local.kill(pool.actor("a0"), no_restart=True)

    res = stream(ray_local, pool, reqs, on_chunk=kill)
    assert [r.candidate_id for r in res] == [r.candidate_id for r in reqs]
    assert_same_as_direct(RewardConfig(), reqs, res)
    st = wait_for(pool, lambda s: events(s, "actor_replaced"))
    assert st["stats"]["retried"] > 0 and st["stats"]["scored"] == 400 and st["stats"].get("failed", 0) == 0
    assert sum(st["scored_by_version"].values()) == sum(r.task == "report" for r in reqs)
    assert sorted(a["actor_id"] for a in st["actors"]) == ["a1", "a2"]  # a0 gone, a2 replaced it
    assert all(r.attempts >= 1 for r in res if r.task == "report") and any(r.attempts > 1 for r in res)


def test_restarted_actor_mid_stream_loses_nothing_and_serves_again(ray_local, pools):
    pool = pools("restart", num_actors=2, batch_size=8, delay_s=0.02)
    reqs = make_requests(300)

    def crash(k):
        if k == 3:
            ray_local.kill(pool.actor("a1"), no_restart=False)  # Ray restarts it (max_restarts)

    res = stream(ray_local, pool, reqs, on_chunk=crash)
    assert [r.candidate_id for r in res] == [r.candidate_id for r in reqs]
    assert_same_as_direct(RewardConfig(), reqs, res)
    st = wait_for(pool, lambda s: events(s, "actor_restarted") or events(s, "actor_replaced"))
    assert st["stats"]["scored"] == 300 and st["stats"].get("failed", 0) == 0
    if events(st, "actor_restarted"):
        before = next(a for a in st["actors"] if a["actor_id"] == "a1")["items_done"]
        pool.score(make_requests(100, prefix="after"))
        after = next(a for a in pool.status()["actors"] if a["actor_id"] == "a1")
        assert after["state"] == "active" and after["items_done"] > before


def phrase_copy(tmp: Path) -> str:
    """The packaged phrase files with a comment added: same labels, a new labeller version."""
    import radrl_dist.labelers as lab

    src = Path(lab.__file__).parent / "phrases"
    dst = tmp / "phrases_v2"
    shutil.copytree(src, dst)
    with open(dst / "mentions.yaml", "a") as fh:
        fh.write("\n# v2: re-released for the swap drill\n")
    return str(dst)


def test_swap_during_1000_candidate_stream_scores_each_once(ray_local, pools, tmp_path):
    pool = pools("swap", num_actors=2, batch_size=16, delay_s=0.03)
    new_spec = f"rules:{phrase_copy(tmp_path)}"
    old_v, new_v = build_labeler("rules").version, build_labeler(new_spec).version
    assert old_v != new_v
    reqs = make_requests(1000)
    before = [pool.score_async(reqs[s : s + 50]) for s in range(0, 500, 50)]
    swap = ray_local.get(pool.swap_async(new_spec), timeout=120)  # while `before` is in flight
    after = [pool.score_async(reqs[s : s + 50]) for s in range(500, 1000, 50)]
    res = [x for ref in before + after for x in ray_local.get(ref, timeout=120)]
    assert [r.candidate_id for r in res] == [r.candidate_id for r in reqs]
    assert_same_as_direct(RewardConfig(), reqs, res)  # same labels under both versions
    versions = [r.labeler_version for r in res if r.task == "report"]
    assert set(versions) == {old_v, new_v} and versions[0] == old_v
    assert {r.labeler_version for r in res[500:] if r.task == "report"} == {new_v}
    assert all((r.actor_id in swap["new"]) == (r.labeler_version == new_v) for r in res if r.task == "report")
    st = pool.status()
    assert st["stats"]["scored"] == 1000 and st["stats"]["batch_items"] == len(versions)
    assert sum(st["scored_by_version"].values()) == len(versions)
    assert st["labeler"] == new_spec and sorted(a["actor_id"] for a in st["actors"]) == sorted(swap["new"])


def test_failed_swap_keeps_old_actors_serving(ray_local, pools):
    pool = pools("badswap", num_actors=2)
    with pytest.raises(SwapError, match="not found"):
        pool.swap("chexbert:/nonexistent/chexbert.pth")
    st = pool.status()
    assert st["labeler"] == "rules" and [a["state"] for a in st["actors"]] == ["active", "active"]
    assert events(st, "swap_failed") and "nonexistent" in events(st, "swap_failed")[0]["reason"]
    res = pool.score(make_requests(40))
    assert {r.labeler_version for r in res if r.task == "report"} == {build_labeler("rules").version}
    with pytest.raises(ValueError, match="no active reward actor"):
        pool.drain(2)


def test_swap_to_tiny_chexbert_scores_like_direct_chexbert(ray_local, pools, tmp_path):
    from radrl_dist.labelers.tiny_chexbert import build_tiny_chexbert

    spec = f"chexbert:{build_tiny_chexbert(tmp_path / 'tiny')}"
    pool = pools("bert", num_actors=1)
    pool.score(make_requests(20, prefix="pre"))
    out = pool.swap(spec)
    assert out["version"].startswith("chexbert-")
    reqs = make_requests(60, prefix="post")
    res = pool.score(reqs)
    assert_same_as_direct(RewardConfig(), reqs, res, spec=spec)
    assert {r.labeler_name for r in res if r.task == "report"} == {"chexbert"}
