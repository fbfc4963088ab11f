"""Operator CLI for a running reward pool: status, add, drain, swap — while training goes on.

    python -m radrl_dist.rewards.pool --address 10.0.0.1:6379 status
    python -m radrl_dist.rewards.pool add 2
    python -m radrl_dist.rewards.pool drain --actor a3
    python -m radrl_dist.rewards.pool swap chexbert:/ckpt/chexbert.pth --tokenizer /ckpt/bert-base-uncased

Exit status: 0 done, 1 the operation failed (e.g. the new labeller did not start: the old actors
keep serving), 2 could not reach the pool.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import ray

from radrl_dist.rewards.pool.client import DEFAULT_NAME, DEFAULT_NAMESPACE, RewardPool


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m radrl_dist.rewards.pool", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Connects with ray.init(address=...) to the cluster the training run uses.")
    p.add_argument("--address", default=os.environ.get("RAY_ADDRESS", "auto"),
                   help="Ray cluster address (default: $RAY_ADDRESS or 'auto')")
    p.add_argument("--name", default=DEFAULT_NAME, help=f"router actor name (default {DEFAULT_NAME})")
    p.add_argument("--namespace", default=DEFAULT_NAMESPACE, help=f"Ray namespace (default {DEFAULT_NAMESPACE})")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("status", help="actors, labeller versions, queue, counters, recent events")
    a = sub.add_parser("add", help="start N more labeller actors")
    a.add_argument("n", type=int, nargs="?", default=1)
    a.add_argument("--spec", help="labeller spec for the new actors (default: the pool's)")
    a.add_argument("--tokenizer", help="tokenizer dir for a chexbert spec")
    a.add_argument("--timeout", type=float, default=None,
                   help="seconds to place and load them (default: the pool's reward.start_timeout_s); on "
                        "timeout exit 1 saying which resources are missing")
    d = sub.add_parser("drain", help="stop sending to actors, let their batches finish, remove them")
    d.add_argument("n", type=int, nargs="?", default=None, help="how many (the least busy); default 1")
    d.add_argument("--actor", action="append", dest="actors", help="actor id (repeatable), see status")
    d.add_argument("--force", action="store_true", help="allow draining the last active actor")
    d.add_argument("--timeout", type=float, default=300.0)
    s = sub.add_parser("swap", help="replace the labeller: new actors first, then the old ones drain")
    s.add_argument("spec", help="'rules', 'rules:PHRASE_DIR' or 'chexbert:/path/chexbert.pth'")
    s.add_argument("--tokenizer", help="tokenizer dir for a chexbert spec")
    s.add_argument("--num-actors", type=int, help="actors of the new labeller (default: as many as now)")
    s.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the old actors to drain")
    return p


def format_status(st: dict) -> str:
    lines = [f"reward pool {st['name']}: labeler {st['labeler']} (generation {st['generation']}), "
             f"{len(st['actors'])} actors, {st['pending']} candidates queued"]
    lines.append(f"  {'actor':<6} {'state':<9} {'labeler version':<28} {'busy':>5} {'batches':>8} {'items':>8} {'fail':>5}")
    for a in st["actors"]:
        lines.append(f"  {a['actor_id']:<6} {a['state']:<9} {a['labeler_version']:<28} {a['outstanding_batches']:>5} "
                     f"{a['batches_done']:>8} {a['items_done']:>8} {a['failures']:>5}")
    lines.append("  counters: " + ", ".join(f"{k} {v}" for k, v in sorted(st["stats"].items())))
    lines.append("  scored by version: " + ", ".join(f"{k} {v}" for k, v in st["scored_by_version"].items()))
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
        pool = RewardPool.connect(args.name, args.namespace)
    except Exception as exc:  # noqa: BLE001 - no cluster, no router: say which
        print(f"error: cannot reach reward pool {args.name!r} at {args.address}: {_message(exc)}", file=sys.stderr)
        return 2
    try:
        if args.cmd == "status":
            out = pool.status()
        elif args.cmd == "add":
            out = {"added": pool.add(args.n, args.spec, args.tokenizer, args.timeout)}
        elif args.cmd == "drain":
            out = {"drained": pool.drain(args.n, args.actors, args.timeout, args.force)}
        else:
            out = pool.swap(args.spec, args.tokenizer, args.num_actors, args.timeout)
    except Exception as exc:  # noqa: BLE001 - SwapError, ValueError, timeouts: one clear line
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
