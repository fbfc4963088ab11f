"""`python -m radrl_dist.train`: GRPO for chest X-ray reports and grounding, on one machine or a Ray cluster.

With no --config it runs the embedded CPU demo (local Ray, tiny Qwen2-VL, phantom data, rule labeler).
Under `ray job submit -- python -m radrl_dist.train --config X.yaml` it joins the running cluster.
"""

from __future__ import annotations

import argparse
import sys

from radrl_dist.cluster.render import plan_command
from radrl_dist.config.cli import add_config_arguments, config_from_args, print_config_if_asked
from radrl_dist.data.validate import DataValidationError
from radrl_dist.models.loading import ModelDirError
from radrl_dist.runtime.run_dir import OutputDirError
from radrl_dist.train.checkpoint_manifest import CheckpointInvalid
from radrl_dist.train.driver import run
from radrl_dist.train.outcome import RunStoppedError

EPILOG = """examples:
  python -m radrl_dist.train                                  # CPU demo, embedded config
  python -m radrl_dist.train --config configs/mrg_r1_iu_xray.yaml --set train.steps=100
  python -m radrl_dist.train --config X.yaml --print-config   # validated, defaults filled in
  python -m radrl_dist.train --config X.yaml --plan --cluster cluster/descriptions/h100_8x8.yaml
  cluster/submit.sh --run-root /shared/runs -- --config X.yaml   # ray job submit; outputs under the run root

Overrides use dotted paths into the YAML tree and YAML values: --set rollout.group_size=8
--set data.task_mix='{report: 1, grounding: 0.5}'. Unknown keys fail before any actor starts.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m radrl_dist.train",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_arguments(p)
    p.add_argument("--plan", action="store_true", help="print which actor lands on which node/GPU and exit")
    p.add_argument("--cluster", metavar="FILE", help="cluster description YAML for --plan (default: the running/local Ray)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)
    if cfg is None:
        return 2
    if print_config_if_asked(args, cfg):
        return 0
    if args.plan:
        return plan_command(cfg, args.cluster)
    if cfg.stage != "grpo":
        print(f"this config is a {cfg.stage!r} stage: run it with python -m radrl_dist.{cfg.stage}", file=sys.stderr)
        return 2
    try:
        result = run(cfg)
    except DataValidationError as exc:  # bad rows: listed like data.validate, same exit code, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except (OutputDirError, CheckpointInvalid, ModelDirError) as exc:  # refused before any actor starts
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RunStoppedError as exc:  # a learner or the reward router is gone; the message names the checkpoint
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
