"""What both operator CLIs share (`python -m radrl_dist.rollout`, `python -m radrl_dist.rewards.pool`):
connect to a running job's named actor on its cluster, run one command, print one line, a JSON
object or a status table, and exit 0 (done), 1 (the command failed, nothing changed) or 2 (could not
reach it)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import ray


def operator_parser(prog: str, doc: str, name_default: str, name_help: str, namespace_default: str,
                    namespace_help: str) -> tuple[argparse.ArgumentParser, Any]:
    """The common options (--address, --name, --namespace, --json) and the subcommand holder."""
    p = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Connects with ray.init(address=...) to the cluster the training run uses.")
    p.add_argument("--address", default=os.environ.get("RAY_ADDRESS", "auto"),
                   help="Ray cluster address (default: $RAY_ADDRESS or 'auto')")
    p.add_argument("--name", default=name_default, help=name_help)
    p.add_argument("--namespace", default=namespace_default, help=namespace_help)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p, p.add_subparsers(dest="cmd", required=True)


def error_message(exc: BaseException) -> str:
    """One line for an operator: a Ray task error's own cause, not Ray's wrapping."""
    cause = getattr(exc, "cause", None)
    return str(cause) if cause is not None else str(exc)


def event_lines(events: list[dict], last: int = 5) -> list[str]:
    return ["  event: " + " ".join(f"{k}={v}" for k, v in e.items() if k != "time") for e in events[-last:]]


def run_operator_command(args: argparse.Namespace, what: str, connect: Callable[[], Any],
                         dispatch: Callable[[Any], dict], format_status: Callable[[dict], str]) -> int:
    """Connect (`connect()` returns the handle), run `dispatch(handle)`, print its result; the exit status."""
    try:
        ray.init(address=args.address, namespace=args.namespace, logging_level="ERROR", log_to_driver=False)
        handle = connect()
    except Exception as exc:  # noqa: BLE001 - no cluster, no run: say which
        print(f"error: cannot reach {what} {args.name!r} at {args.address}: {error_message(exc)}", file=sys.stderr)
        return 2
    try:
        out = dispatch(handle)
    except Exception as exc:  # noqa: BLE001 - the pool's own errors, ValueError, timeouts: one clear line
        print(f"error: {args.cmd} failed: {error_message(exc)}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(out, default=str))
    elif args.cmd == "status":
        print(format_status(out))
    else:
        print(f"{args.cmd}: " + ", ".join(f"{k}={v}" for k, v in out.items()))
    return 0
