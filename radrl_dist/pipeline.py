"""`python -m radrl_dist.pipeline CONFIG [CONFIG ...]`: run a recipe's stages in order, chaining them.

Each stage starts from the previous stage's output (SFT: `sft.output_dir`; GRPO:
`<logging.output_dir>/final_model`), so e.g. BoxMed-RL is
    python -m radrl_dist.pipeline configs/boxmed_mcl.yaml configs/boxmed_svr.yaml configs/boxmed_adapter.yaml
`--set` overrides apply to every stage (e.g. tiny models and phantom data for a smoke run).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import ray

from radrl_dist.config import ConfigError, load_config
from radrl_dist.config.schema import RadRLConfig
from radrl_dist.sft.trainer import run_sft
from radrl_dist.train.driver import run


def stage_output(cfg: RadRLConfig) -> Path:
    return Path(cfg.sft.output_dir) if cfg.stage == "sft" else Path(cfg.logging.output_dir) / "final_model"


def run_pipeline(configs: list[RadRLConfig]) -> list[Path]:
    outputs: list[Path] = []
    for i, cfg in enumerate(configs):
        if outputs:  # chain: this stage starts from the last one's checkpoint
            cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"path": str(outputs[-1])})})
        print(f"== stage {i + 1}/{len(configs)}: {cfg.stage} from {cfg.model.path or 'a tiny model'}", flush=True)
        if cfg.stage == "sft":
            run_sft(cfg)
        else:
            if not run(cfg).ok:
                raise RuntimeError(f"stage {i + 1} (grpo) did not finish")
            ray.shutdown()
        outputs.append(stage_output(cfg))
    return outputs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m radrl_dist.pipeline", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("configs", nargs="+", help="stage configs, in order")
    p.add_argument("--set", "-s", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE")
    args = p.parse_args(argv)
    try:
        cfgs = [load_config(c, args.overrides) for c in args.configs]
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    for out in run_pipeline(cfgs):
        print(f"stage output: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
