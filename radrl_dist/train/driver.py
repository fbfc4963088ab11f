"""`run(cfg)`: what `python -m radrl_dist.train` calls. The loop itself lives in loop.py."""

from __future__ import annotations

import os
from pathlib import Path

from radrl_dist.config.schema import RadRLConfig
from radrl_dist.runtime.data_check import check_run_data
from radrl_dist.runtime.run_dir import prepare_output_dir, resolve_output_dir
from radrl_dist.sft.trainer import run_sft
from radrl_dist.train.loop import TrainingRun
from radrl_dist.train.outcome import TrainResult


def run(cfg: RadRLConfig) -> TrainResult:
    out = prepare_output_dir(cfg.logging.output_dir, cfg.logging.run_root, cfg.checkpoint.resume)
    cfg = cfg.model_copy(update={"logging": cfg.logging.model_copy(update={"output_dir": str(out)})})
    cfg = check_run_data(cfg)  # every bad row named before any actor starts
    if cfg.train.warm_start_sft:
        cfg = warm_start(cfg)

    with TrainingRun(cfg) as tr:
        return tr.train()


def warm_start(cfg: RadRLConfig) -> RadRLConfig:
    """Run the SFT stage (or reuse its finished checkpoint) and point the policy at it."""
    out = resolve_output_dir(cfg.sft.output_dir, cfg.logging.run_root, os.environ, Path.cwd())
    cfg = cfg.model_copy(update={"sft": cfg.sft.model_copy(update={"output_dir": str(out)})})
    if (out / "sft_summary.json").is_file() and cfg.checkpoint.resume != "never":
        print(f"warm start: reusing SFT checkpoint {out}", flush=True)
    else:
        run_sft(cfg)
    return cfg.model_copy(update={"model": cfg.model.model_copy(update={"path": str(out)})})
