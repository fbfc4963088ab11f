"""Per-step metrics to JSONL and TensorBoard, and sample outputs for reading.

JSONL is the source of truth (one object per step, flat keys like "reward/mean"); TensorBoard gets
the same scalars. Non-finite values are written as null in JSONL, never as NaN text.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):
        return _clean(v.item())
    return v


class MetricsLogger:
    def __init__(self, out_dir: str | Path, jsonl: bool = True, tensorboard: bool = True) -> None:
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._jsonl = open(self.dir / "metrics.jsonl", "a") if jsonl else None
        self._samples = open(self.dir / "samples.jsonl", "a")
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.dir / "tensorboard"))

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
