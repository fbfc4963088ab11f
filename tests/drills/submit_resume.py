"""Drill (minutes, not collected by pytest): a tiny run through `ray job submit` is stopped and resumed.

    .venv/bin/python tests/drills/submit_resume.py [--set KEY=VALUE ...]   # extra sets go to every job

Against a local token-auth head on loopback (radrl_dist.cluster.loopback, dashboard on), through
cluster/submit.sh with a run root, it checks what issue 18 item 3 asks:
1. a job with a relative output_dir and no run root is refused with the one-line reason;
2. a job with a run root writes under it (the log prints the absolute output dir), checkpointing
   every step; it is stopped (`ray job stop`) once its step-2 checkpoint is complete;
3. a fresh resubmission into the same folder is refused ("already holds a run");
4. the resubmission with checkpoint.resume=auto continues from the last checkpoint to the end, and
   metrics.jsonl holds every step once.
Prints one line per check and the wall time; exits non-zero on the first failure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
if os.environ.get("RAY_AUTH_MODE") != "token":  # Ray reads the auth mode once per process: set it before import
    os.environ["RAY_AUTH_MODE"] = "token"
    os.execv(sys.executable, [sys.executable, *sys.argv])

from radrl_dist.cluster.loopback import LoopbackCluster, NodeArgs  # noqa: E402

STEPS = 4


def tiny_sets(output_dir: str, tag: str, **extra) -> list[str]:
    base = {
        "train.warm_start_sft": "false", "train.steps": STEPS, "train.eval_studies": 2, "train.eval_every": 0,
        "data.studies_per_step": 2, "data.phantom.n_train": 16, "data.phantom.n_eval": 4,
        "data.phantom.cache_dir": REPO / "cache" / "phantom", "model.tiny.cache_dir": REPO / "cache" / "tiny_models",
        "rollout.group_size": 2, "rollout.max_new_tokens": 8, "logging.tensorboard": "false",
        "logging.progress": "false", "checkpoint.save_final_model": "false", "checkpoint.every_n_steps": 1,
        "checkpoint.keep_last": 5, "logging.output_dir": output_dir, "reward.pool_name": f"radrl-drill-{tag}",
    }
    base.update(extra)
    return [a for k, v in base.items() for a in ("--set", f"{k}={v}")] + sys.argv[1:]  # e.g. weight_sync.transport=rdt


class Drill:
    """Submits through cluster/submit.sh (what users run); watches jobs with Ray's job SDK."""

    def __init__(self, cluster: LoopbackCluster):
        self.env = {k: v for k, v in cluster.env.items() if k not in ("RAY_ADDRESS", "RADRL_RUN_ROOT")}
        self.env.update(RAY_ADDRESS=cluster.dashboard_url, RADRL_PYTHON=sys.executable,
                        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=cluster.env["RAY_AUTH_TOKEN"])
        from ray._raylet import AuthenticationTokenLoader
        from ray.job_submission import JobSubmissionClient

        AuthenticationTokenLoader.instance().reset_cache()  # read the cluster's token, set just now

        self.client = JobSubmissionClient(cluster.dashboard_url)

    def submit(self, sets: list[str], run_root: Path | None) -> str:
        args = [str(REPO / "cluster" / "submit.sh"), "--no-wait"]
        if run_root is not None:
            args += ["--run-root", str(run_root)]
        out = subprocess.run(args + ["--"] + sets, env=self.env, capture_output=True, text=True, timeout=300)
        found = re.findall(r"(raysubmit_\w+)", out.stdout + out.stderr)
        if out.returncode != 0 or not found:
            raise SystemExit(f"submit failed: {out.stdout[-2000:]}{out.stderr[-2000:]}")
        return found[0]

    def status(self, job_id: str) -> str:
        return str(self.client.get_job_status(job_id).value)

    def logs(self, job_id: str) -> str:
        return self.client.get_job_logs(job_id)

    def stop(self, job_id: str) -> None:
        self.client.stop_job(job_id)

    def wait_end(self, job_id: str, timeout: float) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            s = self.status(job_id)
            if s in ("SUCCEEDED", "FAILED", "STOPPED"):
                return s
            time.sleep(2)
        raise SystemExit(f"job {job_id} still running after {timeout:.0f}s:\n{self.logs(job_id)[-3000:]}")


def check(ok: bool, what: str, detail: str = "") -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
    if not ok:
        raise SystemExit(detail[-4000:])


def main() -> int:
    t0 = time.perf_counter()
    run_root = Path(tempfile.mkdtemp(prefix="radrl_drill_runs_"))
    out_rel = "runs/drill"
    out = run_root / out_rel
    with LoopbackCluster([NodeArgs(4)], include_dashboard=True, start_timeout_s=120) as cluster:
        d = Drill(cluster)
        print(f"head {cluster.address}, job API {cluster.dashboard_url}, run root {run_root}", flush=True)

        j0 = d.submit(tiny_sets(out_rel, "norot"), None)
        s0, log0 = d.wait_end(j0, 300), d.logs(j0)
        check(s0 == "FAILED" and "is relative and this run is a Ray job" in log0,
              "relative output_dir without a run root is refused", log0)

        j1 = d.submit(tiny_sets(out_rel, "first"), run_root)
        marker = out / "checkpoints" / "step_000002" / "manifest.json"
        end = time.monotonic() + 600
        while not marker.is_file():
            if time.monotonic() > end or d.status(j1) in ("FAILED", "SUCCEEDED", "STOPPED"):
                raise SystemExit(f"first job never reached its step-2 checkpoint:\n{d.logs(j1)[-4000:]}")
            time.sleep(0.5)
        d.stop(j1)
        s1, log1 = d.wait_end(j1, 120), d.logs(j1)
        check(f"output dir: {out}" in log1, f"the job log prints the absolute output dir ({out})", log1)
        check(s1 == "STOPPED", f"first job stopped after its step-2 checkpoint (status {s1})", log1)

        j2 = d.submit(tiny_sets(out_rel, "fresh"), run_root)
        s2, log2 = d.wait_end(j2, 300), d.logs(j2)
        check(s2 == "FAILED" and "already holds a run" in log2, "a fresh job into the same folder is refused", log2)

        j3 = d.submit(tiny_sets(out_rel, "resume", **{"checkpoint.resume": "auto"}), run_root)
        s3, log3 = d.wait_end(j3, 600), d.logs(j3)
        resumed = [line for line in log3.splitlines() if line.startswith("resumed from ")]
        check(s3 == "SUCCEEDED" and resumed and str(out / "checkpoints") in resumed[0],
              f"resubmitted with resume=auto: {resumed[0] if resumed else 'no resume line'}", log3)
        rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x.strip()]
        steps = [r["step"] for r in rows if "reward/mean" in r]
        starts = [r for r in rows if r.get("heldout/tag") == "start"]
        check(steps == list(range(1, STEPS + 1)) and len(starts) == 1,
              f"metrics.jsonl: training steps {steps}, {len(starts)} held-out start row", json.dumps(rows)[-2000:])
    print(f"drill passed in {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
