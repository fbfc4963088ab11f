"""The tiny GRPO job that bench/step.py and bench/peer_trl.py both time: CLI flags, the config
overrides they share, and one run's per-step metric rows. A module, not a bench (run_all skips `_*`)."""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def add_job_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--studies", type=int, default=4)
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=24)


def job_overrides(out: Path, args: argparse.Namespace, pool_name: str) -> list[str]:
    """Phantom data, tiny model, no SFT warm start, no evals, checkpoints or TensorBoard."""
    return [
        "train.warm_start_sft=false", f"train.steps={args.steps}", "train.eval_every=0", "train.eval_studies=2",
        f"data.studies_per_step={args.studies}", "data.phantom.n_train=64", "data.phantom.n_eval=4",
        f"data.phantom.cache_dir={REPO / 'cache' / 'phantom'}", f"model.tiny.cache_dir={REPO / 'cache' / 'tiny_models'}",
        f"rollout.group_size={args.group_size}", f"rollout.max_new_tokens={args.max_new_tokens}",
        "logging.tensorboard=false", "logging.progress=false", "checkpoint.save_final_model=false",
        "checkpoint.every_n_steps=0", "cluster.num_cpus=4", f"logging.output_dir={out}",
        f"reward.pool_name={pool_name}",
    ]


def run_job(overrides: list[str], out: Path, warmup: int) -> list[dict]:
    """Train with `overrides`; the per-step metric rows after `warmup` steps."""
    from radrl_dist.config import load_config
    from radrl_dist.train.loop import TrainingRun
    from radrl_dist.train.metrics_log import read_metrics

    with TrainingRun(load_config(None, overrides)) as tr:
        tr.train()
    return [r for r in read_metrics(out / "metrics.jsonl") if "reward/mean" in r][warmup:]


def mean(rows: list[dict], key) -> float:
    return statistics.fmean(key(r) for r in rows)
