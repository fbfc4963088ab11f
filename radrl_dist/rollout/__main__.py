"""Operator CLI for a running job's rollout replicas: status, add, drain — while training goes on.

    python -m radrl_dist.rollout --address 10.0.0.1:6379 status
    python -m radrl_dist.rollout add 2 --timeout 600
    python -m radrl_dist.rollout drain --replica r3
    ray job submit --address http://HEAD:8265 -- python -m radrl_dist.rollout add 1

`add` returns once the new replicas serve the current weight version (the run adopts them at its
next step boundary) or, when the cluster has no room, after --timeout, naming the missing
resources. `drain` returns once the replicas have handed in their chunks and stopped.
Exit status: 0 done, 1 the operation failed (nothing changed), 2 could not reach the pool.
"""

from __future__ import annotations

import argparse
import sys

import ray

from radrl_dist.cluster.operator_cli import event_lines, operator_parser, run_operator_command
from radrl_dist.config.schema import RolloutConfig

_DEFAULTS = RolloutConfig()


def build_parser() -> argparse.ArgumentParser:
    p, sub = operator_parser("python -m radrl_dist.rollout", __doc__, _DEFAULTS.pool_name,
                             f"rollout.pool_name (default {_DEFAULTS.pool_name})", _DEFAULTS.pool_namespace,
                             "rollout.pool_namespace")
    sub.add_parser("status", help="replicas (state, node, chunks served), weight version, recent events")
    a = sub.add_parser("add", help="start N more rollout replicas")
    a.add_argument("n", type=int, nargs="?", default=1)
    a.add_argument("--timeout", type=float, default=None,
                   help="seconds to place them, load their engines and join the run (default rollout.start_timeout_s)")
    d = sub.add_parser("drain", help="stop sending work to replicas, let them finish their chunks, stop them")
    d.add_argument("n", type=int, nargs="?", default=None, help="how many (the newest); default 1")
    d.add_argument("--replica", action="append", dest="replicas", help="replica id (repeatable), see status")
    d.add_argument("--force", action="store_true", help="allow draining the last serving replica")
    d.add_argument("--timeout", type=float, default=300.0)
    return p


def format_status(st: dict) -> str:
    serving = sum(r["state"] == "active" for r in st["replicas"])
    lines = [f"rollout pool {st['name']}: {serving} serving, weight version {st['version']}, bundle {st['bundle']}"]
    lines.append(f"  {'replica':<8} {'state':<9} {'index':>5} {'node':<13} {'chunks':>7}  note")
    for r in st["replicas"]:
        idx = "-" if r["index"] is None else r["index"]
        lines.append(f"  {r['replica_id']:<8} {r['state']:<9} {idx:>5} {r['node_id']:<13} {r['chunks']:>7}  {r['note']}")
    return "\n".join(lines + event_lines(st["events"]))


def _dispatch(args: argparse.Namespace, ctl) -> dict:
    if args.cmd == "status":
        return ray.get(ctl.status.remote(), timeout=60)
    if args.cmd == "add":
        return {"added": ray.get(ctl.add.remote(args.n, args.timeout))}
    return {"drained": ray.get(ctl.drain.remote(args.replicas, args.n, args.timeout, args.force))}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_operator_command(args, "rollout pool", lambda: ray.get_actor(args.name, namespace=args.namespace),
                                lambda ctl: _dispatch(args, ctl), format_status)


if __name__ == "__main__":
    sys.exit(main())
