"""The operator CLI from other processes against one running cluster: a driver process creates the
pool; `python -m radrl_dist.rewards.pool` adds, drains, swaps (one good, one failing) and reports.

The cluster is a real `ray start --head` on loopback (cluster/loopback.py, own temp dir and ports).
It is torn down by killing the processes of its own session, not with `ray stop`, which would stop
every Ray cluster on the machine, other users' included.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from radrl_dist.cluster.loopback import LoopbackCluster, NodeArgs
from radrl_dist.labelers.factory import build_labeler

from .test_pool import phrase_copy

POOL = ["--name", "cli-pool", "--namespace", "clitest"]
SCORE = textwrap.dedent("""
    import json, sys, ray
    from radrl_dist.config.schema import RewardConfig
    from radrl_dist.rewards.pool import RewardPool
    from tests.reward_pool.conftest import make_requests
    ray.init(address="auto", logging_level="ERROR", log_to_driver=False)
    if sys.argv[1] == "create":  # the training driver: creates the pool, which outlives it
        pool = RewardPool.create(RewardConfig(num_actors=1, cpus_per_actor=0.25, router_cpus=0.25),
                                 name="cli-pool", namespace="clitest", detached=True)
    else:
        pool = RewardPool.connect("cli-pool", "clitest")
    res = pool.score(make_requests(20, prefix=sys.argv[1]), timeout=60)
    print(json.dumps(sorted({r.labeler_version for r in res if r.labeler_version})))
""")


def run(env, *args, timeout=90):
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=str(__import__("pathlib").Path(__file__).parents[2]))


def cli(env, *args, timeout=90):
    return run(env, "-m", "radrl_dist.rewards.pool", *POOL, *args, timeout=timeout)


def test_help_needs_no_cluster():
    r = run(None, "-m", "radrl_dist.rewards.pool", "--help", timeout=60)
    assert r.returncode == 0 and all(c in r.stdout for c in ("status", "add", "drain", "swap", "--address"))


def test_operator_cli_against_running_cluster(tmp_path):
    new_spec = f"rules:{phrase_copy(tmp_path)}"
    old_v, new_v = build_labeler("rules").version, build_labeler(new_spec).version
    with LoopbackCluster([NodeArgs(num_cpus=4)], start_timeout_s=120) as c:
        env = c.env
        r = run(env, "-c", SCORE, "create")
        assert r.returncode == 0, r.stderr[-3000:]
        assert json.loads(r.stdout.strip().splitlines()[-1]) == [old_v]

        r = cli(env, "--json", "add", "1")
        assert r.returncode == 0, r.stderr[-3000:]
        assert json.loads(r.stdout)["added"] == ["a1"]
        r = cli(env, "--json", "drain", "--actor", "a0")
        assert r.returncode == 0 and json.loads(r.stdout)["drained"] == ["a0"], r.stderr[-3000:]
        r = cli(env, "--json", "swap", new_spec)
        assert r.returncode == 0, r.stderr[-3000:]
        assert json.loads(r.stdout)["version"] == new_v
        r = cli(env, "swap", "chexbert:/nonexistent/chexbert.pth")
        assert r.returncode == 1 and "not found" in r.stderr and "Traceback" not in r.stderr, r.stderr[-3000:]

        r = run(env, "-c", SCORE, "after")  # the old-version pool was swapped in place
        assert r.returncode == 0 and json.loads(r.stdout.strip().splitlines()[-1]) == [new_v], r.stderr[-3000:]
        r = cli(env, "status")
        assert r.returncode == 0, r.stderr[-3000:]
        assert f"labeler {new_spec}" in r.stdout and "a2" in r.stdout and "kind=swap_failed" in r.stdout
        assert "a0 " not in r.stdout and "a1 " not in r.stdout  # drained and swapped away
        r = cli(env, "--name", "nobody", "status")
        assert r.returncode == 2 and "no reward router named 'nobody'" in r.stderr
