"""The membership actor's bookkeeping as a plain object (no Ray): what the pool is told to apply, the
drain handshake, refusals, and the operator's status table."""

from __future__ import annotations

import threading
import time

import pytest

from radrl_dist.config.schema import ModelConfig, RolloutConfig
from radrl_dist.rollout.__main__ import build_parser, format_status
from radrl_dist.rollout.membership import MembershipError, MembershipSettings, RolloutMembership


def _membership(n: int) -> RolloutMembership:
    m = RolloutMembership(MembershipSettings("p", "ns", RolloutConfig(cpus_per_actor=0.5), ModelConfig(), 256, 10.0))
    m.register([{"index": i, "node_id": f"node{i}"} for i in range(n)])
    return m


def test_drain_handshake_and_long_poll():
    m = _membership(2)
    assert m.changes(0) == {"epoch": 0, "ready": [], "draining": []}
    t0 = time.monotonic()
    assert m.changes(0, wait_s=0.2)["epoch"] == 0 and time.monotonic() - t0 >= 0.2  # nothing new: waits it out
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("ids", m.drain(["r1"], timeout=10)))
    th.start()
    snap = m.changes(0, wait_s=5)  # the pool's long poll wakes on the drain
    assert snap["epoch"] == 1 and snap["draining"] == ["r1"]
    assert th.is_alive()  # drain waits until the pool says the replica is gone
    m.released("r1")
    th.join(timeout=5)
    assert out["ids"] == ["r1"]
    states = {r["replica_id"]: r["state"] for r in m.status()["replicas"]}
    assert states == {"r0": "active", "r1": "removed"}


def test_drain_refusals():
    m = _membership(1)
    with pytest.raises(MembershipError, match="no serving rollout replica"):
        m.drain(["r0"])
    with pytest.raises(ValueError, match=r"\['r7'\] not serving; replicas: r0 active"):
        m.drain(["r7"])
    with pytest.raises(ValueError, match="n must be >= 1"):
        m.add(0)
    m2 = _membership(2)
    with pytest.raises(MembershipError, match=r"\['r1'\] still busy after 0.2s"):
        m2.drain(n=1, timeout=0.2)  # the newest; no pool answers here


def test_status_table_and_cli_defaults():
    m = _membership(2)
    m.report(3, {"r0": 5, "r1": 2})
    text = format_status(m.status())
    assert text.splitlines()[0] == "rollout pool p: 2 serving, weight version 3, bundle {'CPU': 0.5}"
    assert "r1       active        1 node1               2" in text
    args = build_parser().parse_args(["drain", "--replica", "r3", "--replica", "r4"])
    assert (args.replicas, args.n, args.force, args.name, args.namespace) == (["r3", "r4"], None, False,
                                                                             "radrl-rollout-pool", "radrl")
