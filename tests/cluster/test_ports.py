"""The default local launch listens on loopback only: every TCP socket in LISTEN state held by the
driver or any process it started (GCS, raylet, dashboard and its agent, runtime-env agent, the
Prometheus exporters, actor workers) is on 127.0.0.1 / ::1.

Run in a fresh interpreter that imports Ray before `init_ray`, as the training driver does, so the
test also covers Ray's import-time reading of its one-node switch.
"""

from __future__ import annotations

import json
import subprocess
import sys

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}

PROBE = r"""
import json, os, time
import psutil
import ray  # imported before init_ray, as the driver's modules do
from radrl_dist.config.schema import ClusterConfig
from radrl_dist.runtime.ray_setup import init_ray

init_ray(ClusterConfig(num_cpus=1))

@ray.remote
class Echo:
    def pid(self):
        return os.getpid()

actor = Echo.remote()
ray.get(actor.pid.remote(), timeout=120)
time.sleep(3)  # metrics exporters start a little after the node is up
mine = {os.getpid()} | {p.pid for p in psutil.Process().children(recursive=True)}
listening = [
    {"ip": c.laddr.ip, "port": c.laddr.port, "process": " ".join(psutil.Process(c.pid).cmdline())[:80]}
    for c in psutil.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN and c.pid in mine
]
node_ip = ray.util.get_node_ip_address()
ray.shutdown()
print("PROBE " + json.dumps({"node_ip": node_ip, "listening": listening}))
"""


def test_local_run_listens_on_loopback_only():
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("RAY_ADDRESS",)}
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=240, env=env)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("PROBE ")]
    assert r.returncode == 0 and lines, r.stderr[-3000:]
    probe = json.loads(lines[-1][len("PROBE "):])
    assert probe["node_ip"] == "127.0.0.1"
    # GCS, raylet (2), driver and actor worker gRPC, dashboard agent (http, grpc, metrics), runtime-env agent
    assert len(probe["listening"]) >= 8, probe["listening"]
    exposed = [s for s in probe["listening"] if s["ip"] not in LOOPBACK]
    assert not exposed, f"listening beyond loopback: {exposed}"
