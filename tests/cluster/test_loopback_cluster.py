"""Two Ray nodes started with `ray start` on loopback, each with its own resources: the description
sees both, and a plan's placement groups put each role's tasks on the planned node.

This is the multi-node base the training test reuses (radrl_dist.cluster.loopback.LoopbackCluster).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from radrl_dist.cluster.loopback import LoopbackCluster, NodeArgs, _session_pids

pytestmark = pytest.mark.slow

PROBE = Path(__file__).with_name("probe_placement.py")


def test_two_loopback_nodes_description_and_placement():
    cluster = LoopbackCluster([NodeArgs(2, {"node_a": 1}), NodeArgs(2, {"node_b": 1})], start_timeout_s=150)
    cluster.start()
    pids = [p.pid for p in cluster._procs]
    try:
        # rollout fills the head (2 CPUs); learner and reward must go to the second node
        config = {"rollout": {"num_actors": 1, "cpus_per_actor": 2},
                  "learner": {"num_workers": 2, "cpus_per_worker": 0.75},
                  "reward": {"num_actors": 1, "cpus_per_actor": 0.25}}
        r = subprocess.run([sys.executable, str(PROBE), json.dumps(config)], env=cluster.env,
                           capture_output=True, text=True, timeout=240)
        assert r.returncode == 0, r.stderr[-3000:]
        out = json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        cluster.stop()
    nodes = out["description"]["nodes"]
    assert [(n["address"], n["num_cpus"], n["resources"]) for n in nodes] == [
        ("127.0.0.2", 2.0, {"node_a": 1.0}), ("127.0.0.3", 2.0, {"node_b": 1.0})]
    assert out["planned"] == {"rollout": ["127.0.0.2"], "learner": ["127.0.0.3"] * 2, "reward": ["127.0.0.3"]}
    assert out["ran"] == out["planned"]
    assert not any(_session_pids(p) for p in pids), "ray processes left behind"
    assert not Path(cluster.temp_dir).exists(), "temp dir left behind"
