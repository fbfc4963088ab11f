"""Kill-and-resume, poisoned and corrupted checkpoints, then learner death.

A CLI run checkpointing every step is SIGKILLed once its step-2 checkpoint is complete; an
incomplete later checkpoint (no manifest) is planted, and a file of the step-2 checkpoint is
truncated. `resume: auto` must skip both, naming each and why, continue at step 2 from the step-1
checkpoint with its weight version and draw the same batches as the uninterrupted reference run
(sync_run, same data and seeds); metrics.jsonl then holds every step once and one held-out START.
A pickle payload planted in any file of a real checkpoint never runs. The resumed run then loses a
learner worker right after its step-3 checkpoint: it must stop with a message naming that
checkpoint, left intact.
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import ray
import torch

from radrl_dist.cluster.loopback import _session_pids
from radrl_dist.config import load_config
from radrl_dist.learner.checkpoint import weights_only_loads
from radrl_dist.runtime.metrics_log import read_metrics
from radrl_dist.train import run_state as rs
from radrl_dist.train.checkpoint_manifest import MANIFEST, CheckpointInvalid
from radrl_dist.train.loop import TrainingRun
from radrl_dist.train.outcome import LearnerDiedError

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
    marker = rs.step_dir(out / "checkpoints", 2) / MANIFEST
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
    pristine = out.parent / "pristine_step2"  # an untouched copy for the payload test
    shutil.copytree(done, pristine)
    incomplete = rs.step_dir(out / "checkpoints", 9)  # newer than any real one, but never finished
    (incomplete / "learner").mkdir(parents=True)
    (incomplete / "learner" / "partial.pt").write_bytes(b"half a file")
    truncated = next(done.rglob("*model_states.pt"))  # the newest complete checkpoint, damaged
    truncated.write_bytes(truncated.read_bytes()[:1000])
    start_rows = [r for r in read_metrics(out / "metrics.jsonl") if r.get("heldout/tag") == "start"]
    return {"out": out, "sets": sets, "rc": proc.returncode, "killed_rows": killed_rows, "latest": done,
            "incomplete": incomplete, "truncated": truncated, "pristine": pristine, "start_rows": start_rows}


@pytest.fixture(scope="module")
def resumed_run(local_ray, killed_run):
    out = killed_run["out"]
    cfg = load_config(None, killed_run["sets"] + ["checkpoint.resume=auto"])

    def setup(tr, extras):
        save = tr._checkpoint

        def checkpoint_then_kill(state):
            save(state)
            if state.step == 3:  # a learner dies right after the step-3 checkpoint is complete
                ray.kill(tr.learner.workers[0], no_restart=True)

        tr._checkpoint = checkpoint_then_kill

    outcome, stdout, _ = run_in_process(cfg, setup)
    all_rows = read_metrics(out / "metrics.jsonl")
    rows = [r for r in all_rows if "reward/mean" in r and r["step"] > 1]  # the killed run's were dropped
    return {"outcome": outcome, "stdout": stdout, "rows": rows, "all_rows": all_rows}


def test_kill_left_step2_checkpoint(killed_run):
    assert killed_run["rc"] == -signal.SIGKILL
    latest = killed_run["latest"]
    assert latest is not None and latest.name == "step_000002", latest  # killed within ~50 ms of it
    assert [r["step"] for r in killed_run["killed_rows"]][:2] == [1, 2]
    assert rs.latest_checkpoint(killed_run["out"] / "checkpoints") == latest, "incomplete checkpoint not skipped"


def test_resume_skips_corrupt_checkpoints_naming_them(killed_run, resumed_run, sync_run):
    out, stdout = killed_run["out"], resumed_run["stdout"]
    assert f"skipped checkpoint step_000009: {killed_run['incomplete']}: no {MANIFEST}" in stdout, stdout[-3000:]
    assert f"skipped checkpoint step_000002: {killed_run['truncated']}: 1000 bytes, the manifest says" in stdout, stdout[-3000:]
    fallback = rs.step_dir(out / "checkpoints", 1)
    assert f"resumed from {fallback} at step 1" in stdout, stdout[-3000:]
    rows = resumed_run["rows"]
    assert rows and rows[0]["step"] == 2, [r["step"] for r in rows]
    killed = {r["step"]: r for r in killed_run["killed_rows"]}
    assert rows[0]["weight_version"] == killed[1]["weight_version"] + 1
    reference = {r["step"]: r["data/study_ids"] for r in train_rows(sync_run["out"] / "metrics.jsonl")}
    for r in rows:  # same seeds and data as the uninterrupted reference run: same batches
        assert r["data/study_ids"] == reference[r["step"]], (r["step"], r["data/study_ids"], reference[r["step"]])


def test_metrics_after_resume_hold_each_step_once_and_the_first_start(killed_run, resumed_run):
    assert 2 in {r["step"] for r in killed_run["killed_rows"]}  # logged before the kill, redone after
    steps = [r["step"] for r in resumed_run["all_rows"] if "reward/mean" in r]
    assert steps == sorted(set(steps)) == [1, 2, 3], steps
    starts = [r for r in resumed_run["all_rows"] if r.get("heldout/tag") == "start"]
    assert starts == killed_run["start_rows"] and len(starts) == 1, starts
    step3 = rs.read_driver_state(rs.step_dir(killed_run["out"] / "checkpoints", 3))
    assert step3.extra["heldout_start"] == starts[0]["heldout/mean_reward"]
    per_study = step3.extra["heldout_start_studies"]  # kept so the resumed run's END pairs with START
    assert len(per_study) == 2 and sum(per_study.values()) / 2 == pytest.approx(step3.extra["heldout_start"])


class _Payload:
    """Unpickling this writes a marker file: what a poisoned checkpoint file would do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def test_payload_in_any_checkpoint_file_never_runs(killed_run, tmp_path):
    from deepspeed.runtime.checkpoint_engine.torch_checkpoint_engine import TorchCheckpointEngine

    pristine, marker = killed_run["pristine"], tmp_path / "payload_ran"
    live = tmp_path / "live.pt"
    torch.save(_Payload(tmp_path / "live_marker"), live, _use_new_zipfile_serialization=False)
    torch.load(live, weights_only=False)  # the payload is live: an unrestricted load runs it
    assert (tmp_path / "live_marker").exists()
    files = sorted(p.relative_to(pristine) for p in pristine.rglob("*") if p.is_file())
    assert any(f.name.endswith("optim_states.pt") for f in files) and any(f.suffix == ".json" for f in files)
    engine = TorchCheckpointEngine()
    for rel in files:
        run = tmp_path / rel.as_posix().replace("/", "_") / "run"
        ckpt = rs.step_dir(run / "checkpoints", 2)
        shutil.copytree(pristine, ckpt)
        torch.save(_Payload(marker), ckpt / rel, _use_new_zipfile_serialization=False)
        cfg = load_config(None, tiny_overrides(run, "payload", **{"checkpoint.resume": str(ckpt)}))
        with pytest.raises(CheckpointInvalid, match=str(ckpt / rel).replace("+", r"\+")):
            with TrainingRun(cfg):  # refused before any actor starts
                pass
        with pytest.raises(CheckpointInvalid, match="no checkpoint under .* verifies"):
            rs.resolve_resume("auto", run / "checkpoints")
        if rel.suffix == ".pt":  # without the manifest, DeepSpeed's own loader is still weights-only
            with weights_only_loads(), pytest.raises(pickle.UnpicklingError):
                engine.load(str(ckpt / rel), map_location="cpu")
        assert not marker.exists(), f"payload in {rel} ran"
    with weights_only_loads():  # and the real DeepSpeed files load under that restriction
        for rel in files:
            if rel.suffix == ".pt":
                assert isinstance(engine.load(str(pristine / rel), map_location="cpu"), dict)


def test_empty_driver_state_is_one_clear_line(tmp_path):
    from radrl_dist.train.checkpoint_manifest import write_manifest

    ckpt = rs.step_dir(tmp_path, 4)
    ckpt.mkdir(parents=True)
    (ckpt / rs.STATE_FILE).write_text("")
    write_manifest(ckpt)
    with pytest.raises(CheckpointInvalid) as err:
        rs.resolve_resume(str(ckpt), tmp_path)
    assert str(err.value) == f"checkpoint.resume={str(ckpt)!r}: {ckpt / rs.STATE_FILE}: empty file"


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
