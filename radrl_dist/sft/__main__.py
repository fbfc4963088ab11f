"""`python -m radrl_dist.sft --config X.yaml [--set k=v ...]`: supervised stage on the learner group.

Writes an HF checkpoint to `sft.output_dir` (LoRA merged; the PEFT adapter in `adapter/`) that GRPO
starts from with `--set model.path=<sft.output_dir>`, and logs to `<sft.output_dir>_logs/`.
"""

from __future__ import annotations

import argparse
import sys

from radrl_dist.config.cli import add_config_arguments, config_from_args, print_config_if_asked
from radrl_dist.data.validate import DataValidationError
from radrl_dist.sft.trainer import run_sft


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m radrl_dist.sft", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(p)
    args = p.parse_args(argv)
    cfg = config_from_args(args)
    if cfg is None:
        return 2
    if print_config_if_asked(args, cfg):
        return 0
    if cfg.stage != "sft" and args.config is not None:
        print(f"this config is a {cfg.stage!r} stage: run it with python -m radrl_dist.train", file=sys.stderr)
        return 2
    try:
        run_sft(cfg)
    except DataValidationError as exc:  # bad rows: listed like data.validate, same exit code, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
