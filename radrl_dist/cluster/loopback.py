"""Several Ray nodes on this machine, on loopback, each with its own resources (tests, demos).

Why this shape:
- `ray start --block` in a new session per node: every process Ray spawns for that node stays in that
  session, so teardown signals exactly the processes we started (never `ray stop`, which kills every
  Ray on the machine, other users' included).
- Node i binds 127.0.0.(2+i): Ray replaces exactly `--node-ip-address 127.0.0.1` by the machine's
  external address, and `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` (which keeps 127.0.0.1) refuses to
  start a second node. Other 127/8 addresses are loopback too, are kept as given, and give every node
  its own `node:<ip>` resource, so bundles pin to nodes exactly as on a real cluster.
- Every port is chosen free up front (other Ray clusters may run on the same machine), and each
  cluster has its own `--temp-dir` and auth token (`RAY_AUTH_MODE=token`).
- What listens where: Ray 2.60 keeps a node's servers on loopback only when its IP is exactly
  127.0.0.1 (which a second node cannot have, see above). With 127.0.0.2+, the core gRPC servers
  (GCS, raylets, agents, workers) listen on every interface, behind the cluster's auth token; the
  Prometheus exporters, which have no authentication, are turned off (`RAY_enable_metrics_collection=0`
  stops the agent's exporter and, as measured, the dashboard's and autoscaler's as well).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


_UP_MARK = "This command will now block forever"  # what `ray start --block` logs once its node is up


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class NodeArgs:
    num_cpus: float
    resources: dict[str, float] = field(default_factory=dict)
    num_gpus: int = 0


def _session_pids(sid: int) -> list[int]:
    """Live processes whose session id is `sid` (the `ray start` we launched and its children)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # fields: state ppid pgrp session ...
            pids.append(int(entry.name))
    return pids


class LoopbackCluster:
    """`with LoopbackCluster([NodeArgs(2, {"node_a": 1}), NodeArgs(2, {"node_b": 1})]) as c: c.address`."""

    def __init__(self, nodes: list[NodeArgs], start_timeout_s: float = 90.0, include_dashboard: bool = False):
        if not nodes:
            raise ValueError("LoopbackCluster needs at least one node")
        self.nodes = nodes
        self.start_timeout_s = start_timeout_s
        self.include_dashboard = include_dashboard
        self.port = free_port()
        self.dashboard_port = free_port() if include_dashboard else None
        self.temp_dir = tempfile.mkdtemp(prefix="radrl_ray_", dir="/tmp")  # short: Ray's socket paths
        self.env = {
            **os.environ,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": secrets.token_hex(16),
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_enable_metrics_collection": "0",  # no unauthenticated exporters on 0.0.0.0 (docstring)
            # a caller may have set it to 0 for single-node local Ray (keeps 127.0.0.1); nodes here need 1
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1",
            # a loaded machine (tests beside other tests) can take longer than Ray's 10 s to register a node
            "RAY_raylet_start_wait_time_s": os.environ.get("RAY_raylet_start_wait_time_s", "60"),
            "RAY_ADDRESS": f"{self.node_ip(0)}:{self.port}",
        }
        self._procs: list[subprocess.Popen] = []
        self._node_procs: dict[int, subprocess.Popen] = {}  # node index -> its current `ray start`
        self._ray = str(Path(sys.executable).with_name("ray"))

    @staticmethod
    def node_ip(i: int) -> str:
        """Node i listens on 127.0.0.(2+i): all of 127/8 is loopback, and distinct IPs give distinct
        `node:<ip>` resources. (Ray rewrites exactly 127.0.0.1 to the external address.)"""
        return f"127.0.0.{2 + i}"

    @property
    def address(self) -> str:
        return f"{self.node_ip(0)}:{self.port}"

    @property
    def dashboard_url(self) -> str | None:
        return f"http://{self.node_ip(0)}:{self.dashboard_port}" if self.dashboard_port else None

    def _start(self, node: NodeArgs, head: bool, i: int) -> subprocess.Popen:
        cmd = [
            self._ray, "start", "--block", "--node-ip-address", self.node_ip(i), "--disable-usage-stats",
            "--num-cpus", str(node.num_cpus), "--num-gpus", str(node.num_gpus),
            "--resources", json.dumps(node.resources),
            "--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
            "--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
            "--metrics-export-port", str(free_port()), "--runtime-env-agent-port", str(free_port()),
            "--object-store-memory", str(200 * 1024**2),
        ]
        if head:
            cmd += ["--head", "--port", str(self.port), "--temp-dir", self.temp_dir,
                    "--ray-client-server-port", str(free_port())]
            if self.include_dashboard:
                cmd += ["--include-dashboard", "true", "--dashboard-host", self.node_ip(0),
                        "--dashboard-port", str(self.dashboard_port)]
            else:
                cmd += ["--include-dashboard", "false"]
        else:
            cmd += ["--address", self.address]
        log = open(Path(self.temp_dir) / f"start_{i}.log", "a")  # a retried node keeps its failed try's log
        log.write(f"--- ray start attempt at {time.strftime('%H:%M:%S')}\n")
        log.flush()
        proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self._procs.append(proc)  # every attempt, so that stop() ends each one's session
        self._node_procs[i] = proc
        return proc

    def _start_workers(self, deadline: float, retries: int = 2) -> None:
        """Start nodes 1..n one after another; one whose `ray start` exits before it is up (on a
        loaded machine the GCS may answer its registration late: "node timed out during startup") is
        started again, at most `retries` times. One at a time: nodes started together sometimes left
        one `ray start` silent until Ray's raylet wait ran out (seen on this 2-core machine)."""
        for i, node in enumerate(self.nodes[1:], start=1):
            proc = self._start(node, head=False, i=i)
            tries = 0
            while _UP_MARK not in self.log(i).rsplit("--- ray start attempt", 1)[-1]:
                if time.monotonic() > deadline:
                    return  # _wait_nodes reports which node is missing
                if proc.poll() is not None:
                    if tries >= retries:
                        raise RuntimeError(f"ray node {i} exited {retries + 1} times while starting:\n{self.log(i)}")
                    tries += 1
                    proc = self._start(node, head=False, i=i)
                time.sleep(0.3)

    def _wait_nodes(self, deadline: float) -> None:
        """One driver connects and polls ray.nodes() until every node is alive (or the deadline)."""
        left = max(1.0, deadline - time.monotonic())
        code = (
            "import ray, time, sys\n"
            f"ray.init(address={self.address!r}, logging_level='ERROR', log_to_driver=False)\n"
            f"end = time.monotonic() + {left}\n"
            f"while sum(1 for n in ray.nodes() if n['Alive']) < {len(self.nodes)}:\n"
            "    if time.monotonic() > end: sys.exit(3)\n"
            "    time.sleep(0.3)\n"
        )
        try:
            r = subprocess.run([sys.executable, "-c", code], env=self.env, capture_output=True, text=True,
                               timeout=left + 30)
        except subprocess.TimeoutExpired:
            r = None
        if r is None or r.returncode != 0:
            dead = [i for i, p in sorted(self._node_procs.items()) if p.poll() is not None]
            detail = f"node {dead[0]} exited:\n{self.log(dead[0])}" if dead else (r.stderr[-2000:] if r else "")
            raise TimeoutError(f"{len(self.nodes)} Ray nodes not all alive after {self.start_timeout_s:g}s; {detail}")

    def _wait_head(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self._procs[0].poll() is not None:
                raise RuntimeError(f"ray head exited early; see {self.temp_dir}/start_0.log:\n{self.log(0)}")
            with socket.socket() as s:
                s.settimeout(1)
                if s.connect_ex((self.node_ip(0), self.port)) == 0:
                    return
            time.sleep(0.5)
        raise TimeoutError(f"ray head not listening on {self.address} after {self.start_timeout_s:g}s")

    def node_process(self, i: int) -> subprocess.Popen:
        """Node i's `ray start --block` process (the last attempt): stop it to lose that node."""
        return self._node_procs[i]

    def log(self, i: int) -> str:
        p = Path(self.temp_dir) / f"start_{i}.log"
        return p.read_text()[-3000:] if p.exists() else ""

    def start(self) -> "LoopbackCluster":
        deadline = time.monotonic() + self.start_timeout_s
        try:
            self._start(self.nodes[0], head=True, i=0)
            self._wait_head(deadline)
            self._start_workers(deadline)
            self._wait_nodes(deadline)
            return self
        except BaseException:
            self.stop()
            raise

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM every process in our nodes' sessions (workers first, head last), then SIGKILL."""
        for proc in reversed(self._procs):
            for pid in _session_pids(proc.pid):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and any(_session_pids(p.pid) for p in self._procs):
            time.sleep(0.3)
        for proc in self._procs:
            for pid in _session_pids(proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 5  # nothing may still write into temp_dir when it is removed
        while time.monotonic() < deadline and any(_session_pids(p.pid) for p in self._procs):
            time.sleep(0.2)
        self._procs.clear()
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> "LoopbackCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
