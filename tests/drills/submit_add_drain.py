"""Drill (minutes, not collected by pytest): rollout replicas added and drained through `ray job submit`.

    .venv/bin/python tests/drills/submit_add_drain.py

A loopback head with its dashboard; a driver process steps a rollout pool (bench/scale.py's canned
no-op replicas: this drill checks the operator route, not generation) with its membership actor
open; then `ray job submit -- python -m radrl_dist.rollout add 1`, `status`, `drain --replica r1`,
`status`, each as a submitted job. Checks: every job exits 0, the driver applied the add and the
drain at step boundaries, and the last status lists r1 as removed (drained). Exits non-zero on the
first failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from radrl_dist.cluster.loopback import LoopbackCluster, NodeArgs  # noqa: E402

DRIVER = r'''
import os, sys, time
sys.path.insert(0, {repo!r})
import ray
from bench.scale import CannedWorker, CannedRequest
import radrl_dist.rollout.pool as pool_mod
from radrl_dist.config.schema import ModelConfig, RolloutConfig
ray.init(address=os.environ["RAY_ADDRESS"], logging_level="ERROR", log_to_driver=False)
canned = ray.remote(CannedWorker)
pool_mod.RolloutActor = canned
pool = pool_mod.RolloutPool(RolloutConfig(num_actors=1, cpus_per_actor=0.25, chunk_size=2), ModelConfig(), 256)
pool.open_membership(actor_cls=canned)
print("ready", flush=True)
reqs = [CannedRequest(f"s{{i}}") for i in range(8)]
end = time.time() + 300
while time.time() < end and not os.path.exists({stop!r}):
    ch = pool.apply_membership()
    if ch.get("added") or ch.get("drained"):
        print("applied", ch, flush=True)
    pool.generate(reqs)
    time.sleep(0.2)
pool.shutdown()
'''


def main() -> int:
    t0 = time.time()
    stop = Path(tempfile.mkdtemp(prefix="radrl_drill_")) / "stop"
    ray_bin = str(Path(sys.executable).with_name("ray"))
    with LoopbackCluster([NodeArgs(2)], include_dashboard=True, start_timeout_s=240) as c:
        drv = subprocess.Popen([sys.executable, "-c", DRIVER.format(repo=str(REPO), stop=str(stop))], env=c.env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
        if drv.stdout.readline().strip() != "ready":
            print("FAIL: the driver did not start its pool"); return 1
        last = ""
        for args in (["add", "1", "--timeout", "200"], ["status"], ["drain", "--replica", "r1"], ["status"]):
            cmd = [ray_bin, "job", "submit", "--address", c.dashboard_url, "--", sys.executable, "-m",
                   "radrl_dist.rollout", *args]
            r = subprocess.run(cmd, env=c.env, capture_output=True, text=True, timeout=400, cwd=REPO)
            ok = r.returncode == 0
            print(f"{'ok' if ok else 'FAIL'}: ray job submit -- python -m radrl_dist.rollout {' '.join(args)} (rc {r.returncode})")
            if not ok:
                print(r.stdout[-2000:], r.stderr[-1000:]); return 1
            last = r.stdout
        stop.touch()
        out, _ = drv.communicate(timeout=120)
    checks = {"driver applied the add": "'added': ['r1']" in out,
              "driver applied the drain": "'drained': ['r1']" in out,
              "status lists r1 drained": any(l.split()[:2] == ["r1", "removed"] and "drained" in l for l in last.splitlines())}
    for what, good in checks.items():
        print(f"{'ok' if good else 'FAIL'}: {what}")
    print(f"wall {time.time() - t0:.0f} s")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
