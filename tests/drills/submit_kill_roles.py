"""Drill (minutes, not collected by pytest): one process of each role is killed under a `ray job submit` run.

    .venv/bin/python tests/drills/submit_kill_roles.py [--set KEY=VALUE ...]   # extra sets go to every job

Against a local token-auth head on loopback, through cluster/submit.sh with a run root (as
tests/drills/submit_resume.py), a tiny run with two rollout replicas and two labeller actors,
checkpointing every step. Each kill is a SIGKILL of the actor's process, found through Ray's state API,
sent once the run has written a new checkpoint since the last kill:
1. a rollout replica: Ray restarts it in place; a whole step after the kill is checkpointed;
2. a labeller actor: the same (the reward pool resends what it held);
3. the learner worker: the job stops (FAILED) and its log names the last complete checkpoint and
   `checkpoint.resume=auto`;
4. resubmitted with checkpoint.resume=auto, the run continues from that checkpoint to the end, and
   metrics.jsonl holds every training step once, each with every candidate scored.
Prints one line per check and the wall time; exits non-zero on the first failure.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
# first: importing it re-executes this script with RAY_AUTH_MODE=token before Ray is loaded (its guard)
from tests.drills.submit_resume import Drill, check, tiny_sets  # noqa: E402
from radrl_dist.cluster.loopback import LoopbackCluster, NodeArgs  # noqa: E402

STEPS = 24
ROLES = [("rollout replica", "RolloutWorker"), ("labeller actor", "RewardActorImpl"), ("learner worker", "LearnerWorker")]


def run_sets(out_rel: str, tag: str, **extra) -> list[str]:
    sets = {"train.steps": STEPS, "rollout.num_actors": 2, "reward.num_actors": 2, "data.studies_per_step": 4,
            "rollout.max_new_tokens": 16, **extra}
    return tiny_sets(out_rel, tag, **sets)


def checkpoints(out: Path) -> list[int]:
    """Steps whose checkpoint is complete (manifest written last)."""
    root = out / "checkpoints"
    return sorted(int(p.parent.name.split("_")[1]) for p in root.glob("step_*/manifest.json")) if root.is_dir() else []


def wait_checkpoint_after(d: Drill, job: str, out: Path, step: int, timeout: float = 600) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done = [s for s in checkpoints(out) if s > step]
        if done:
            return done[0]
        if d.status(job) in ("FAILED", "SUCCEEDED", "STOPPED"):
            raise SystemExit(f"job ended before a checkpoint after step {step}:\n{d.logs(job)[-4000:]}")
        time.sleep(0.3)
    raise SystemExit(f"no checkpoint after step {step} in {timeout:.0f}s:\n{d.logs(job)[-4000:]}")


def actors(dashboard_url: str, class_name: str, alive_only: bool = True) -> list:
    """Ray's state-API records of `class_name` actors (live ones by default), in actor-id order."""
    from ray.util.state import list_actors

    filters = [("class_name", "=", class_name)] + ([("state", "=", "ALIVE")] if alive_only else [])
    return sorted(list_actors(address=dashboard_url, filters=filters, limit=100, detail=True), key=lambda a: a.actor_id)


def kill_one(dashboard_url: str, class_name: str) -> tuple[str, int]:
    """SIGKILL the process of one live actor of `class_name` (the loopback cluster is this machine)."""
    live = actors(dashboard_url, class_name)
    if not live:
        raise SystemExit(f"no live {class_name} actor to kill")
    os.kill(int(live[0].pid), signal.SIGKILL)
    return live[0].actor_id, int(live[0].pid)


def restart_state(dashboard_url: str, class_name: str, actor_id: str) -> str | None:
    """'ALIVE' or 'RESTARTING' once Ray has begun restarting the killed actor in place, else None."""
    from ray.util.state import get_actor

    a = get_actor(actor_id, address=dashboard_url)
    return a.state if a is not None and a.num_restarts >= 1 and a.state in ("ALIVE", "RESTARTING") else None


def main() -> int:
    t0 = time.perf_counter()
    run_root = Path(tempfile.mkdtemp(prefix="radrl_drill_kill_"))
    out_rel = "runs/kill"
    out = run_root / out_rel
    with LoopbackCluster([NodeArgs(4)], include_dashboard=True, start_timeout_s=120) as cluster:
        d = Drill(cluster)
        print(f"head {cluster.address}, job API {cluster.dashboard_url}, run root {run_root}", flush=True)
        job = d.submit(run_sets(out_rel, "kill"), run_root)
        step = wait_checkpoint_after(d, job, out, 0)
        for what, class_name in ROLES:
            actor_id, pid = kill_one(cluster.dashboard_url, class_name)
            print(f"     killed the {what} (pid {pid}) after the step-{step} checkpoint", flush=True)
            if class_name == "LearnerWorker":
                break
            nxt = wait_checkpoint_after(d, job, out, step + 1)  # a whole step ran after the kill
            restart = restart_state(cluster.dashboard_url, class_name, actor_id)
            check(d.status(job) == "RUNNING" and restart is not None,
                  f"the run goes on after losing a {what} (Ray restarts it in place: {restart}): checkpoint step {nxt}",
                  f"{class_name} actors: {[(a.actor_id[:8], a.state, a.pid, a.num_restarts) for a in actors(cluster.dashboard_url, class_name, alive_only=False)]}\n{d.logs(job)[-3000:]}")
            step = nxt
        status, log = d.wait_end(job, 300), d.logs(job)
        last = checkpoints(out)[-1]
        stop_line = next((x for x in log.splitlines() if "learner worker died" in x), "")
        check(status == "FAILED" and f"step_{last:06d}" in stop_line and "checkpoint.resume=auto" in stop_line,
              f"the learner's death stops the job with the resume hint: {stop_line.strip()[:160]}", log)
        check(last < STEPS, f"it stopped before the end (last checkpoint: step {last} of {STEPS})")

        job2 = d.submit(run_sets(out_rel, "resume", **{"checkpoint.resume": "auto"}), run_root)
        s2, log2 = d.wait_end(job2, 600), d.logs(job2)
        resumed = [x for x in log2.splitlines() if x.startswith("resumed from ")]
        check(s2 == "SUCCEEDED" and resumed and f"step_{last:06d}" in resumed[0],
              f"resubmitted with resume=auto: {resumed[0] if resumed else 'no resume line'}", log2)
        rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x.strip()]
        train_rows = [r for r in rows if "reward/mean" in r]
        steps, scored = [r["step"] for r in train_rows], {r["reward/scored"] for r in train_rows}
        check(steps == list(range(1, STEPS + 1)) and scored == {4 * 2},
              f"metrics.jsonl: training steps {steps}, each with {scored} candidates scored (4 studies x G=2)",
              json.dumps(rows)[-2000:])
    print(f"drill passed in {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
