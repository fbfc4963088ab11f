"""Three Ray nodes on loopback with different resources: the run places every actor where the plan
it prints says, for the CPU demo (a real TrainingRun, one GRPO step) and two recipe-shaped configs
scaled down (the nodes' GPUs are logical Ray resources standing in for real ones).

Node shapes (role labels make each role's node explicit): 127.0.0.2 rollout (3 CPUs, 2 GPUs),
127.0.0.3 learner (3 CPUs, 2 GPUs), 127.0.0.4 reward (2 CPUs, 1 GPU).
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from radrl_dist.cluster.loopback import LoopbackCluster, NodeArgs, _session_pids
from radrl_dist.cluster.plan import ROLES

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("probe_run_placement.py")
NODES = [NodeArgs(3, {"radrl_rollout": 1}, num_gpus=2), NodeArgs(3, {"radrl_learner": 1}, num_gpus=2),
         NodeArgs(2, {"radrl_reward": 1}, num_gpus=1)]


def plan_rows(text: str) -> dict[tuple[str, int], tuple[str, str]]:
    """(role, actor) -> (node, gpus) from the printed plan's actor table."""
    rows = {}
    for line in text.splitlines():
        cells = line.split()
        if len(cells) >= 4 and cells[0] in ROLES and cells[1].isdigit():
            rows[(cells[0], int(cells[1]))] = (cells[2], cells[3])
    return rows


@pytest.fixture(scope="module")
def placements(tmp_path_factory):
    cluster = LoopbackCluster(NODES, start_timeout_s=240)
    cluster.start()
    pids = [p.pid for p in cluster._procs]
    env = {**cluster.env, "PYTHONPATH": f"{REPO}:{cluster.env.get('PYTHONPATH', '')}"}
    t0 = time.perf_counter()
    try:
        r = subprocess.run([sys.executable, str(PROBE), str(tmp_path_factory.mktemp("run") / "out")], env=env,
                           cwd=REPO, capture_output=True, text=True, timeout=400)
    finally:
        cluster.stop()
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    out = {d["config"]: d for d in (json.loads(line) for line in r.stdout.splitlines() if line.startswith('{"config"'))}
    return {"out": out, "pids": pids, "temp_dir": cluster.temp_dir, "probe_s": time.perf_counter() - t0}


def check_as_printed(d: dict) -> None:
    planned = plan_rows(d["plan"])
    got = {(a["role"], a["index"]): a for a in d["actors"]}
    assert planned and set(got) == set(planned), (sorted(got), sorted(planned))
    for key, a in got.items():
        assert a["ip"] == planned[key][0], f"{key} runs on {a['ip']}, the plan says {planned[key][0]}"
        assert a["pg"] == a["given_pg"], f"{key} runs outside the bundle it was given"
        assert a["node_id"] == a["bundle_node_id"], f"{key}: actor and its bundle on different nodes"


def test_demo_run_places_every_actor_as_printed_and_trains(placements):
    d = placements["out"]["demo"]
    check_as_printed(d)
    assert {k: v[0] for k, v in plan_rows(d["plan"]).items()} == {
        ("rollout", 0): "127.0.0.2", ("learner", 0): "127.0.0.3", ("reward", 0): "127.0.0.4"}
    assert d["plan"].startswith("placement plan: 3 node(s), 5 GPU(s), 8 CPU(s)")  # described from the live cluster
    assert "idle: 5 of 5 GPU(s) unused" in d["plan"]  # a CPU run on GPU nodes says so
    assert d["steps"] == 1


@pytest.mark.parametrize("name", ["radvlm_scaled", "mrg_r1_kuberay_scaled"])
def test_recipe_shapes_place_every_actor_as_printed(placements, name):
    d = placements["out"][name]
    assert d["plan"] == d["printed"]  # the run's placement is the plan `--plan --cluster ray` prints
    check_as_printed(d)
    rows = plan_rows(d["plan"])
    if name == "radvlm_scaled":  # one GPU per replica and per rank, roles on their own nodes
        assert rows == {("rollout", 0): ("127.0.0.2", "0"), ("rollout", 1): ("127.0.0.2", "1"),
                        ("learner", 0): ("127.0.0.3", "0"), ("learner", 1): ("127.0.0.3", "1"),
                        ("reward", 0): ("127.0.0.4", "-")}
    else:  # a TP-2 engine inside one node; two labellers share half of one GPU each
        assert rows == {("rollout", 0): ("127.0.0.2", "0,1"), ("learner", 0): ("127.0.0.3", "0"),
                        ("learner", 1): ("127.0.0.3", "1"), ("reward", 0): ("127.0.0.4", "0"),
                        ("reward", 1): ("127.0.0.4", "0")}


def test_cluster_left_nothing_behind(placements):
    assert not any(_session_pids(p) for p in placements["pids"]), "ray processes left behind"
    assert not Path(placements["temp_dir"]).exists(), "temp dir left behind"
