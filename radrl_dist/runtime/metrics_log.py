"""Per-step metrics to JSONL and TensorBoard, and sample outputs for reading.

JSONL is the source of truth (one object per step, flat keys like "reward/mean"); TensorBoard gets
the same scalars. Non-finite values are written as null in JSONL, never as NaN text.
A resumed run opens the logger with `keep_through=<checkpoint step>`: rows the killed run wrote after
its checkpoint are dropped (those steps run again), so every step appears once.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):
        return _clean(v.item())
    return v


def truncate_rows(path: Path, keep_through: int) -> int:
    """Keep the JSONL rows with step <= keep_through (and no torn last line); returns how many were dropped."""
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            dropped += 1  # a line torn by the kill
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= keep_through:
            kept.append(line)
        else:
            dropped += 1
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in kept))
    os.replace(tmp, path)
    return dropped


class MetricsLogger:
    def __init__(self, out_dir: str | Path, jsonl: bool = True, tensorboard: bool = True,
                 keep_through: int | None = None) -> None:
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dropped_rows = 0
        if keep_through is not None:
            self.dropped_rows = sum(truncate_rows(self.dir / n, keep_through) for n in ("metrics.jsonl", "samples.jsonl"))
        self._jsonl = open(self.dir / "metrics.jsonl", "a") if jsonl else None
        self._samples = open(self.dir / "samples.jsonl", "a")
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # lazy: tensorboard, only with logging.tensorboard

            # purge_step: TensorBoard hides the killed run's events from the resumed step on
            purge = keep_through + 1 if keep_through is not None else None
            self._tb = SummaryWriter(str(self.dir / "tensorboard"), purge_step=purge)

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        row = {"step": step, **{k: _clean(v) for k, v in metrics.items()}}
        if self._jsonl:
            self._jsonl.write(json.dumps(row) + "\n")
            self._jsonl.flush()
        if self._tb:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool):
                    self._tb.add_scalar(k, v, step)
            self._tb.flush()

    def log_samples(self, step: int, samples: list[dict[str, Any]]) -> None:
        for s in samples:
            self._samples.write(json.dumps({"step": step, **s}) + "\n")
        self._samples.flush()

    def close(self) -> None:
        for f in (self._jsonl, self._samples):
            if f:
                f.close()
        if self._tb:
            self._tb.close()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]
