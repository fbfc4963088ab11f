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
import sys

from radrl_dist.cluster.operator_cli import event_lines, operator_parser, run_operator_command
from radrl_dist.rewards.pool.client import DEFAULT_NAME, DEFAULT_NAMESPACE, RewardPool


def build_parser() -> argparse.ArgumentParser:
    p, sub = operator_parser("python -m radrl_dist.rewards.pool", __doc__, DEFAULT_NAME,
                             f"router actor name (default {DEFAULT_NAME})", DEFAULT_NAMESPACE,
                             f"Ray namespace (default {DEFAULT_NAMESPACE})")
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
    return "\n".join(lines + event_lines(st["events"]))


def _dispatch(args: argparse.Namespace, pool: RewardPool) -> dict:
    if args.cmd == "status":
        return pool.status()
    if args.cmd == "add":
        return {"added": pool.add(args.n, args.spec, args.tokenizer, args.timeout)}
    if args.cmd == "drain":
        return {"drained": pool.drain(args.n, args.actors, args.timeout, args.force)}
    return pool.swap(args.spec, args.tokenizer, args.num_actors, args.timeout)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_operator_command(args, "reward pool", lambda: RewardPool.connect(args.name, args.namespace),
                                lambda pool: _dispatch(args, pool), format_status)


if __name__ == "__main__":
    sys.exit(main())
