"""Where a run's training and held-out studies come from: configured Parquet, or the phantom set."""

from __future__ import annotations

from dataclasses import dataclass

from radrl_dist.config.schema import DataConfig
from radrl_dist.data.phantom import ensure_phantom


@dataclass(frozen=True)
class DataPaths:
    train: str | list[str]
    eval: str | list[str] | None
    train_split: str | None  # None: take every row of the train file
    eval_split: str | None


def resolve_data(cfg: DataConfig) -> DataPaths:
    if cfg.train_path is not None:
        return DataPaths(cfg.train_path, cfg.eval_path, None, None)
    paths = ensure_phantom(cfg.phantom, tasks=tuple(t for t, w in cfg.task_mix.items() if w > 0))
    return DataPaths(paths["train"], cfg.eval_path or paths["test"], "train", None if cfg.eval_path else "test")
