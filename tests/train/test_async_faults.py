"""One-step-off async run that loses its rollout actor mid-generation and its labeller actor between
steps: the run finishes, every study of every step still gets G scored candidates, rollouts after
the first step are one weight version behind the learner."""

from __future__ import annotations

import threading
import time

import pytest
import ray

from radrl_dist.config import load_config
from radrl_dist.rewards.pool.client import RewardPool
from radrl_dist.train.outcome import TrainResult

from .conftest import after_step, run_in_process, tiny_overrides, train_rows

STUDIES, G, STEPS = 2, 3, 4


@pytest.fixture(scope="module")
def async_faulty_run(local_ray, tmp_path_factory):
    out = tmp_path_factory.mktemp("async_faults") / "run"
    cfg = load_config(None, tiny_overrides(out, "faults", **{
        "async.max_staleness": 1, "train.steps": STEPS, "rollout.group_size": G, "rollout.max_new_tokens": 16}))
    drill: dict = {"killed_rollout": None, "killed_reward": None, "step": 0}
    stop = threading.Event()

    def setup(tr, extras):
        actor = tr.rollout.actors[0]
        drill["rollout_pid_before"] = tr.rollout.infos[0]["pid"]
        pool = RewardPool.connect(cfg.reward.pool_name, cfg.reward.pool_namespace)

        def kill_rollout_mid_generate():  # another thread: wait until step >= 2 has a chunk in flight
            while not stop.is_set():
                try:
                    busy = tr.rollout.in_flight()
                except RuntimeError:  # the set changed while read; look again
                    continue
                if busy and drill["step"] >= 1:
                    ray.kill(actor, no_restart=False)  # Ray restarts it (max_restarts); the pool must notice
                    drill["killed_rollout"] = time.monotonic()
                    return
                time.sleep(0.001)

        def on_step(step):
            drill["step"] = step
            if step == 2:
                aid = pool.status()["actors"][0]["actor_id"]
                ray.kill(pool.actor(aid), no_restart=False)
                drill["killed_reward"] = aid

        after_step(tr, on_step)
        threading.Thread(target=kill_rollout_mid_generate, daemon=True).start()

    def after(tr, extras):
        extras["rollout_pid_after"] = ray.get(tr.rollout.actors[0].info.remote(), timeout=120)["pid"]
        extras["pool_status"] = tr.rewards.status()

    outcome, stdout, extras = run_in_process(cfg, setup, after)
    stop.set()
    return {"out": out, "outcome": outcome, "stdout": stdout, **drill, **extras}


def test_async_run_completes(async_faulty_run):
    res = async_faulty_run["outcome"]
    assert isinstance(res, TrainResult), async_faulty_run.get("traceback")
    assert res.ok and res.steps_done == STEPS


def test_async_rollouts_are_one_version_behind_after_first_step(async_faulty_run):
    rows = train_rows(async_faulty_run["out"] / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    assert [r["rollout/behind_versions"] for r in rows] == [0] + [1] * (STEPS - 1)
    versions = [r["weight_version"] for r in rows]
    assert versions == list(range(versions[0], versions[0] + STEPS))


def test_killed_rollout_and_reward_actors_lose_no_sample(async_faulty_run):
    run = async_faulty_run
    assert run["killed_rollout"] is not None, "the drill never saw a chunk in flight"
    assert run["killed_reward"] is not None
    assert run["rollout_pid_after"] != run["rollout_pid_before"], "the rollout actor was not restarted"
    events = [e["kind"] for e in run["pool_status"]["events"]]
    assert "actor_suspect" in events, events  # the router saw the dead labeller and retried its batch
    for r in train_rows(run["out"] / "metrics.jsonl"):
        assert r["rollout/failed_studies"] == 0, r.get("rollout/failed_examples")
        assert r["reward/scored"] == STUDIES * G, r["step"]
        empty = round(r.get("reward/flag/empty_output/mean", 0.0) * STUDIES * G)
        assert r["grpo/candidates"] == STUDIES * G - empty, r["step"]
