"""Pure parts of where a run writes and what a resumed run keeps (no Ray): run root, fresh-run guard,
metrics truncation, checkpoint manifest and the `resume: auto` fallback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from radrl_dist.runtime.metrics_log import MetricsLogger, read_metrics
from radrl_dist.runtime.run_dir import OutputDirError, check_fresh_or_resuming, resolve_output_dir
from radrl_dist.train import run_state as rs
from radrl_dist.train.checkpoint_manifest import CheckpointInvalid, verify_checkpoint, write_manifest

PKG = Path("/tmp/ray/session_x/runtime_resources/working_dir_files/_ray_pkg_0123abcd")


def test_relative_output_dir_under_a_job_needs_a_run_root():
    with pytest.raises(OutputDirError, match=r"logging.output_dir='runs/a' is relative and this run is a Ray job"):
        resolve_output_dir("runs/a", None, {"RAY_JOB_ID": "02000000"}, Path("/home/u/repo"))
    with pytest.raises(OutputDirError, match="Ray's per-code-version package folder"):
        resolve_output_dir("runs/a", None, {}, PKG)  # detected by the package folder alone too
    assert resolve_output_dir("runs/a", None, {"RADRL_RUN_ROOT": "/mnt/runs"}, PKG) == Path("/mnt/runs/runs/a")
    assert resolve_output_dir("runs/a", "/data/r", {"RADRL_RUN_ROOT": "/mnt/runs"}, PKG) == Path("/data/r/runs/a")
    assert resolve_output_dir("/abs/run", None, {"RAY_JOB_ID": "1"}, PKG) == Path("/abs/run")
    assert resolve_output_dir("runs/a", None, {}, Path("/home/u/repo")) == Path("/home/u/repo/runs/a")
    with pytest.raises(OutputDirError, match="RADRL_RUN_ROOT='rel' must be an absolute path"):
        resolve_output_dir("runs/a", None, {"RADRL_RUN_ROOT": "rel"}, PKG)


def test_fresh_run_refuses_a_folder_holding_a_run(tmp_path):
    check_fresh_or_resuming(tmp_path, "never")  # empty: fine
    (tmp_path / "metrics.jsonl").write_text("{}\n")
    with pytest.raises(OutputDirError, match="already holds a run .*checkpoint.resume=auto"):
        check_fresh_or_resuming(tmp_path, "never")
    check_fresh_or_resuming(tmp_path, "auto")


def test_resumed_logger_drops_rows_after_the_checkpoint(tmp_path):
    rows = [{"step": 0, "heldout/tag": "start"}, {"step": 1}, {"step": 2}, {"step": 3}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 4, "rew')
    (tmp_path / "samples.jsonl").write_text('{"step": 1}\n{"step": 3}\n')
    log = MetricsLogger(tmp_path, tensorboard=False, keep_through=2)
    log.log(3, {"x": 1.0})
    log.close()
    assert [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [0, 1, 2, 3]
    assert [r["step"] for r in read_metrics(tmp_path / "samples.jsonl")] == [1]
    assert log.dropped_rows == 3  # step 3 in metrics and in samples, and the torn step-4 line


def _checkpoint(root: Path, step: int) -> Path:
    d = rs.step_dir(root, step)
    (d / "learner").mkdir(parents=True)
    (d / "learner" / "weights.pt").write_bytes(b"w" * 100)
    rs.write_driver_state(d, rs.DriverState(step=step))
    write_manifest(d)
    return d


def test_manifest_names_changed_missing_and_added_files(tmp_path):
    d = _checkpoint(tmp_path, 1)
    verify_checkpoint(d)
    (d / "learner" / "weights.pt").write_bytes(b"w" * 99 + b"x")
    with pytest.raises(CheckpointInvalid, match=r"weights.pt: sha256 differs"):
        verify_checkpoint(d)
    (d / "learner" / "weights.pt").unlink()
    with pytest.raises(CheckpointInvalid, match=r"weights.pt: listed in manifest.json but missing"):
        verify_checkpoint(d)
    d2 = _checkpoint(tmp_path, 2)
    (d2 / "learner" / "extra.pt").write_bytes(b"planted")
    with pytest.raises(CheckpointInvalid, match=r"extra.pt: not in manifest.json"):
        verify_checkpoint(d2)


def test_auto_falls_back_to_newest_verified_checkpoint(tmp_path):
    _checkpoint(tmp_path, 1)
    bad = _checkpoint(tmp_path, 2)
    (bad / "learner" / "weights.pt").write_bytes(b"w" * 10)
    rs.step_dir(tmp_path, 3).mkdir()  # killed while saving: no manifest
    point, skipped = rs.resolve_resume("auto", tmp_path)
    assert point.path == rs.step_dir(tmp_path, 1) and point.state.step == 1
    assert skipped == [f"skipped checkpoint step_000003: {rs.step_dir(tmp_path, 3)}: no manifest.json "
                       "(killed while saving, or not written by radrl_dist)",
                       f"skipped checkpoint step_000002: {bad / 'learner' / 'weights.pt'}: 10 bytes, "
                       "the manifest says 100 (truncated or replaced)"]
    (rs.step_dir(tmp_path, 1) / rs.STATE_FILE).write_text("")
    with pytest.raises(CheckpointInvalid, match="no checkpoint under .* verifies"):
        rs.resolve_resume("auto", tmp_path)
    assert rs.resolve_resume("auto", tmp_path / "none") == (None, [])


def test_cli_refusal_is_one_line_and_exit_2(tmp_path, capsys):
    """A fresh run into a folder that holds another run: one line naming it, before any actor starts."""
    from radrl_dist.train.__main__ import main

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text("{}\n")
    assert main(["--set", f"logging.output_dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(tmp_path / "run") in err and "Traceback" not in err
