"""The config arguments every command shares: --config, repeatable --set, --print-config."""

from __future__ import annotations

import argparse
import sys

from radrl_dist.config.loader import ConfigError, dump_config, load_config
from radrl_dist.config.schema import RadRLConfig


def add_config_arguments(p: argparse.ArgumentParser, print_config: bool = True) -> None:
    p.add_argument("--config", "-c", help="YAML config (default: the embedded CPU demo config)")
    p.add_argument("--set", "-s", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override one config value (repeatable), e.g. --set rollout.group_size=8")
    if print_config:
        p.add_argument("--print-config", action="store_true", help="print the validated config and exit")


def config_from_args(args: argparse.Namespace) -> RadRLConfig | None:
    """The validated config, or None after printing why it is invalid (callers exit with 2)."""
    try:
        return load_config(args.config, args.overrides)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None


def print_config_if_asked(args: argparse.Namespace, cfg: RadRLConfig) -> bool:
    if getattr(args, "print_config", False):
        print(dump_config(cfg), end="")
        return True
    return False
