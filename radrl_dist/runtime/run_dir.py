"""Where a run writes: an absolute output directory, never Ray's per-code-version package folder.

Why: under `ray job submit --working-dir .` the job's working directory is a content-addressed copy
of the code (`.../runtime_resources/working_dir_files/_ray_pkg_<hash>/`). A relative
`logging.output_dir` would land inside it: two jobs of the same code would share one
`metrics.jsonl`, and after any code change "resubmit with checkpoint.resume=auto" would silently
start over in a new, empty folder. So under a job submission a relative output_dir needs a run root
(`logging.run_root` or `RADRL_RUN_ROOT`), and a fresh run refuses a folder that already holds a run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

RUN_ROOT_ENV = "RADRL_RUN_ROOT"
RAY_PACKAGE_DIR = "runtime_resources"  # Ray unpacks --working-dir packages below this folder
RUN_MARKERS = ("metrics.jsonl", "checkpoints")


class OutputDirError(ValueError):
    """An output directory a run must not use; the message says what to set instead."""


def under_job_submission(env: Mapping[str, str], cwd: Path) -> bool:
    """True inside a `ray job submit` entrypoint (Ray sets RAY_JOB_ID; the cwd is its package folder)."""
    return bool(env.get("RAY_JOB_ID")) or RAY_PACKAGE_DIR in cwd.parts


def resolve_output_dir(output_dir: str, run_root: str | None, env: Mapping[str, str], cwd: Path) -> Path:
    """The absolute directory of a run: output_dir if absolute, else under the run root, else under cwd
    (refused under a job submission, where cwd is Ray's package folder)."""
    out = Path(output_dir).expanduser()
    if out.is_absolute():
        return out
    root = run_root or env.get(RUN_ROOT_ENV) or None
    if root:
        root_path = Path(root).expanduser()
        if not root_path.is_absolute():
            src = "logging.run_root" if run_root else RUN_ROOT_ENV
            raise OutputDirError(f"{src}={root!r} must be an absolute path (storage every node of the cluster mounts)")
        return root_path / out
    if under_job_submission(env, cwd):
        raise OutputDirError(
            f"logging.output_dir={output_dir!r} is relative and this run is a Ray job, whose working dir {cwd} is "
            f"Ray's per-code-version package folder: set logging.output_dir to an absolute path, or "
            f"logging.run_root / {RUN_ROOT_ENV} to an absolute folder on shared storage")
    return cwd / out


def holds_run(out: Path) -> list[str]:
    """The files/folders of a previous run in `out` (empty when it holds none)."""
    return [m for m in RUN_MARKERS if (out / m).exists()]


def check_fresh_or_resuming(out: Path, resume: str) -> None:
    """A fresh run (checkpoint.resume=never) must not mix its rows into another run's folder."""
    found = holds_run(out)
    if found and resume == "never":
        raise OutputDirError(
            f"logging.output_dir {out} already holds a run ({', '.join(found)}): continue it with "
            f"--set checkpoint.resume=auto, or choose a new logging.output_dir")


def prepare_output_dir(output_dir: str, run_root: str | None, resume: str) -> Path:
    """Resolve against this process's environment and check it; what TrainingRun and `run` call."""
    out = resolve_output_dir(output_dir, run_root, os.environ, Path.cwd())
    check_fresh_or_resuming(out, resume)
    return out
