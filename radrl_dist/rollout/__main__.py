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
import json
import os
import sys

import ray

from radrl_dist.config.schema import RolloutConfig

_DEFAULTS = RolloutConfig()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m radrl_dist.rollout", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Connects with ray.init(address=...) to the cluster the training run uses.")
    p.add_argument("--address", default=os.environ.get("RAY_ADDRESS", "auto"),
                   help="Ray cluster address (default: $RAY_ADDRESS or 'auto')")
    p.add_argument("--name", default=_DEFAULTS.pool_name, help=f"rollout.pool_name (default {_DEFAULTS.pool_name})")
    p.add_argument("--namespace", default=_DEFAULTS.pool_namespace, help="rollout.pool_namespace")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    sub = p.add_subparsers(dest="cmd", required=True)
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
    for e in st["events"][-5:]:
        lines.append("  event: " + " ".join(f"{k}={v}" for k, v in e.items() if k != "time"))
    return "\n".join(lines)


def _message(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)
    return str(cause) if cause is not None else str(exc)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        ray.init(address=args.address, namespace=args.namespace, logging_level="ERROR", log_to_driver=False)
        ctl = ray.get_actor(args.name, namespace=args.namespace)
    except Exception as exc:  # noqa: BLE001 - no cluster, no run: say which
        print(f"error: cannot reach rollout pool {args.name!r} at {args.address}: {_message(exc)}", file=sys.stderr)
        return 2
    try:
        if args.cmd == "status":
            out = ray.get(ctl.status.remote(), timeout=60)
        elif args.cmd == "add":
            out = {"added": ray.get(ctl.add.remote(args.n, args.timeout))}
        else:
            out = {"drained": ray.get(ctl.drain.remote(args.replicas, args.n, args.timeout, args.force))}
    except Exception as exc:  # noqa: BLE001 - MembershipError, ValueError, timeouts: one clear line
        print(f"error: {args.cmd} failed: {_message(exc)}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(out, default=str))
    elif args.cmd == "status":
        print(format_status(out))
    else:
        print(f"{args.cmd}: " + ", ".join(f"{k}={v}" for k, v in out.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
