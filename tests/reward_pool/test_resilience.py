"""Attacks on a running reward pool (issue 18, items 7-9): SIGKILL on the router mid-stream, a hostile
1 MB output next to a normal one, an `add` the cluster has no room for, and who gets work after a
swap when requests come one at a time, as from a training loop."""

from __future__ import annotations

import os
import signal
import time

import pytest
from ray.util.placement_group import placement_group_table

from radrl_dist.config.schema import RewardConfig
from radrl_dist.rewards.pool import RouterLostError, ScoreRequest, SwapError
from radrl_dist.rewards.pool.composite_scoring import spec_from_config
from radrl_dist.rewards.pool.recovery import member_group_name
from radrl_dist.rewards.pool.settings import PoolSettings

from .conftest import assert_same_as_direct, make_requests
from .test_pool import events, pools, stream  # noqa: F401 - pools is a fixture


def live_groups(name: str, namespace: str = "test") -> list[str]:
    prefix = member_group_name(PoolSettings(spec_from_config(RewardConfig()), name=name, namespace=namespace), "a")
    return sorted(e["name"] for e in placement_group_table().values()
                  if (e.get("name") or "").startswith(prefix) and e["state"] != "REMOVED")


def test_router_sigkill_mid_stream_scores_every_candidate_once(ray_local, pools):
    pool = pools("rkill", num_actors=2, batch_size=8, delay_s=0.02)
    reqs = make_requests(300)
    killed = []

    def kill(k):
        if k == 3:
            pid = ray_local.get(pool.router.pid.remote())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    res = stream(ray_local, pool, reqs, on_chunk=kill)
    assert killed
    assert [r.candidate_id for r in res] == [r.candidate_id for r in reqs]  # each once, in order
    assert_same_as_direct(RewardConfig(), reqs, res)
    st = pool.status()
    assert st["restarted"] and st["pid"] != killed[0] and events(st, "router_restarted")
    assert [a["state"] for a in st["actors"]] == ["active", "active"]
    assert sorted(a["actor_id"] for a in st["actors"]) == ["a2", "a3"]  # numbered after the dead ones
    assert live_groups("rkill") == [f"test/rkill-a{i}" for i in (2, 3)]  # the dead router's groups freed
    assert 0 < st["stats"]["scored"] <= 300 and st["stats"].get("failed", 0) == 0
    pool.check_every_s = 0.01  # `score` pings the (live) router while it waits
    again = pool.score(reqs[:50] + make_requests(40, prefix="fresh"))  # the restarted router keeps serving
    assert [(r.candidate_id, r.reward) for r in again[:50]] == [(r.candidate_id, r.reward) for r in res[:50]]
    assert len(again) == 90


def test_router_dead_for_good_stops_with_the_resume_hint(ray_local, pools):
    pool = pools("rgone", num_actors=1, router_max_restarts=0)
    pool.score(make_requests(8))
    os.kill(ray_local.get(pool.router.pid.remote()), signal.SIGKILL)
    with pytest.raises(RouterLostError, match=r"rgone.*checkpoint\.resume=auto"):
        pool.score(make_requests(8, prefix="after"))


def test_hostile_megabyte_output_does_not_hold_a_normal_request(ray_local, pools):
    """The hostile output (1 MB) is 300 KB of report words (ROUGE-L over them is honest but slow
    work) followed by 724 KB of unclosed <think> tags (quadratic for the old extractor, which ran it
    on the router's event loop). The normal request sent right after must come back first, long before."""
    weights = {"report": {"mccs": 0.75, "format_report": 0.25, "rouge_l": 0.5}, "grounding": {"iou": 1.0}}
    cfg_kw = dict(num_actors=2, batch_size=8, weights=weights, max_output_chars=1_500_000)
    pool = pools("hostile", **cfg_kw)
    words = ("Small left pleural effusion. Heart size is normal. " * 7_000)[: 300 << 10]
    hostile = ScoreRequest("hostile", "report", words + "<think>" * ((724 << 10) // 7),
                           reference_text="Small left pleural effusion.")
    too_long = ScoreRequest("too_long", "report", "<think>" * (1_600_000 // 7), reference_text="No effusion.")
    normal = make_requests(8, prefix="normal")
    pool.score(make_requests(4, prefix="warm"))
    t0 = time.perf_counter()
    refs = {"hostile": pool.score_async([hostile, too_long]), "normal": pool.score_async(normal)}
    done: dict[str, float] = {}
    while len(done) < 2:
        ready, _ = ray_local.wait([r for k, r in refs.items() if k not in done], num_returns=1, timeout=300)
        assert ready, f"nothing came back in 300 s; done: {done}"
        done.update({k: time.perf_counter() - t0 for k, r in refs.items() if r in ready})
    assert list(done) == ["normal", "hostile"], done
    assert done["normal"] < 0.5 * done["hostile"], done  # it did not wait for the hostile one's scoring
    res_h, res_n = ray_local.get(refs["hostile"]), ray_local.get(refs["normal"])
    assert_same_as_direct(RewardConfig(**cfg_kw), normal, res_n)
    assert_same_as_direct(RewardConfig(**cfg_kw), [hostile], res_h[:1])  # full text: under the cap
    assert_same_as_direct(RewardConfig(**cfg_kw), [too_long.capped(1_500_000)[0]], res_h[1:])
    assert [r.flags["output_capped"] for r in res_h] == [False, True]
    assert not any(r.flags["output_capped"] for r in res_n)
    assert pool.status()["stats"]["output_capped"] == 1


def test_add_without_room_times_out_naming_what_is_missing(ray_local, pools):
    pool = pools("full", num_actors=1, cpus_per_actor=1.0, start_timeout_s=3.0)
    t0 = time.perf_counter()
    with pytest.raises(SwapError, match=r"not placed in 3s: requested CPU 20 for 20 actors .*free now CPU [\d.]+ of 4"):
        pool.add(20)
    assert time.perf_counter() - t0 < 60  # bounded by the start timeout, not by the job
    st = pool.status()
    assert [a["actor_id"] for a in st["actors"]] == ["a0"] and events(st, "add_failed")
    assert live_groups("full") == ["test/full-a0"]  # nothing left of the failed start


def test_after_swap_to_two_actors_both_get_work_from_a_sequential_stream(ray_local, pools):
    pool = pools("seq", num_actors=1, batch_size=16)
    out = pool.swap("rules", num_actors=2)
    reqs = [r for r in make_requests(120) if r.task == "report"]
    for s in range(0, len(reqs), 8):  # one request in flight at a time, each smaller than a batch
        pool.score(reqs[s : s + 8])
    items = {a["actor_id"]: a["items_done"] for a in pool.status()["actors"]}
    assert sorted(items) == sorted(out["new"])
    assert min(items.values()) > 0 and max(items.values()) - min(items.values()) <= 16, items
