"""Kill-and-resume, then learner death.

A CLI run checkpointing every step is SIGKILLed once its step-2 checkpoint is complete; an
incomplete later checkpoint (no driver_state.json) is planted. `resume: auto` must skip it, continue
at step 3 with the weight version after step 2 and draw the same step-3 batch as the uninterrupted
reference run (sync_run, same data and seeds). The resumed run then loses a learner worker right
after its step-3 checkpoint: it must stop with a message naming that checkpoint, left intact.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import ray

from radrl_dist.cluster.loopback import _session_pids
from radrl_dist.config import load_config
from radrl_dist.train import run_state as rs
from radrl_dist.train.driver import LearnerDiedError

from .conftest import PY, REPO, run_in_process, subprocess_env, tiny_overrides, train_rows


def _kill_session(pid: int) -> None:
    """SIGKILL every process of the session we started for the CLI run (its driver and local Ray)."""
    for p in _session_pids(pid):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("resume") / "run"
    sets = tiny_overrides(out, "resume", **{"checkpoint.every_n_steps": 1, "checkpoint.keep_last": 5})
    cmd = [PY, "-m", "radrl_dist.train"] + [a for s in sets for a in ("--set", s)]
    log = open(out.parent / "killed_run.log", "w")
    proc = subprocess.Popen(cmd, cwd=REPO, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    marker = rs.step_dir(out / "checkpoints", 2) / rs.STATE_FILE
    deadline = time.monotonic() + 400
    try:
        while not marker.is_file():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"CLI run ended or stalled before its step-2 checkpoint:\n"
                            f"{(out.parent / 'killed_run.log').read_text()[-3000:]}")
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        _kill_session(proc.pid)
        log.close()
    killed_rows = train_rows(out / "metrics.jsonl")
    done = rs.latest_checkpoint(out / "checkpoints")
    incomplete = rs.step_dir(out / "checkpoints", 9)  # newer than any real one, but never finished
    (incomplete / "learner").mkdir(parents=True)
    (incomplete / "learner" / "partial.pt").write_bytes(b"half a file")
    return {"out": out, "sets": sets, "rc": proc.returncode, "killed_rows": killed_rows, "latest": done,
            "incomplete": incomplete}


@pytest.fixture(scope="module")
def resumed_run(local_ray, killed_run):
    out = killed_run["out"]
    cfg = load_config(None, killed_run["sets"] + ["checkpoint.resume=auto"])
    n_before = len((out / "metrics.jsonl").read_text().splitlines())

    def setup(tr, extras):
        save = tr._checkpoint

        def checkpoint_then_kill(state):
            save(state)
            if state.step == 3:  # a learner dies right after the step-3 checkpoint is complete
                ray.kill(tr.learner.workers[0], no_restart=True)

        tr._checkpoint = checkpoint_then_kill

    outcome, stdout, _ = run_in_process(cfg, setup)
    lines = (out / "metrics.jsonl").read_text().splitlines()[n_before:]
    rows = [r for r in (json.loads(line) for line in lines) if "reward/mean" in r]
    return {"outcome": outcome, "stdout": stdout, "rows": rows}


def test_kill_left_step2_checkpoint(killed_run):
    assert killed_run["rc"] == -signal.SIGKILL
    latest = killed_run["latest"]
    assert latest is not None and latest.name == "step_000002", latest  # killed within ~50 ms of it
    assert [r["step"] for r in killed_run["killed_rows"]][:2] == [1, 2]
    assert rs.latest_checkpoint(killed_run["out"] / "checkpoints") == latest, "incomplete checkpoint not skipped"


def test_resume_continues_at_next_step_with_same_batch(killed_run, resumed_run, sync_run):
    latest = killed_run["latest"]
    last_step = rs.read_driver_state(latest).step
    assert f"resumed from {latest} at step {last_step}" in resumed_run["stdout"], resumed_run["stdout"][-2000:]
    rows = resumed_run["rows"]
    assert last_step == 2 and rows and rows[0]["step"] == 3, [r["step"] for r in rows]
    killed = {r["step"]: r for r in killed_run["killed_rows"]}
    assert rows[0]["weight_version"] == killed[last_step]["weight_version"] + 1
    reference = {r["step"]: r["data/study_ids"] for r in train_rows(sync_run["out"] / "metrics.jsonl")}
    for r in rows:  # same seeds and data as the uninterrupted reference run: same batches
        assert r["data/study_ids"] == reference[r["step"]], (r["step"], r["data/study_ids"], reference[r["step"]])


def test_learner_death_stops_run_naming_last_checkpoint(killed_run, resumed_run):
    exc = resumed_run["outcome"]
    assert isinstance(exc, LearnerDiedError), exc
    ckpt = rs.step_dir(killed_run["out"] / "checkpoints", 3)
    assert str(ckpt) in str(exc) and "checkpoint.resume=auto" in str(exc), str(exc)
    assert (ckpt / rs.STATE_FILE).is_file()
    assert rs.read_driver_state(ckpt).step == 3
    assert any(Path(ckpt / "learner").rglob("*")), "learner state missing from the kept checkpoint"
    assert rs.latest_checkpoint(killed_run["out"] / "checkpoints") == ckpt
    assert not any(r["step"] == 4 for r in resumed_run["rows"]), "a step logged after the learner died"
