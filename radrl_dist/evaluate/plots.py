"""PNG plots (matplotlib, Agg backend so it runs headless): per-observation F1 of two runs side by
side, reward curves from a training JSONL log, and a histogram of per-study IoU."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_per_observation_f1(runs: dict[str, Sequence[dict]], path: Path, convention: str = "r2gen") -> Path:
    """Grouped bars: one group per observation, one bar per run (rows from clinical.per_observation)."""
    names = [r["observation"] for r in next(iter(runs.values()))]
    x = np.arange(len(names))
    width = 0.8 / max(1, len(runs))
    fig, ax = plt.subplots(figsize=(11, 4))
    for k, (label, rows) in enumerate(runs.items()):
        ax.bar(x + (k - (len(runs) - 1) / 2) * width, [r["f1"] for r in rows], width, label=label)
    ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(f"F1 ({convention})")
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def read_log(path: Path) -> list[dict]:
    """JSONL training log lines; blank or malformed lines are skipped (a crashed run's last line)."""
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "step" in rec:
            rows.append(rec)
    return rows


def plot_reward_curves(log_path: Path, path: Path, keys: Sequence[str] | None = None) -> Path:
    """One line per `reward/...` key (or the given keys) against step; a `<key>` with a matching
    `.../std` sibling gets a shaded band."""
    rows = read_log(log_path)
    if not rows:
        raise ValueError(f"{log_path}: no JSON lines with a 'step' field")
    if keys is None:
        keys = sorted({k for r in rows for k in r if k.startswith("reward") and not k.endswith("/std")})
    if not keys:
        raise ValueError(f"{log_path}: no reward keys found (expected keys like 'reward/mean')")
    fig, ax = plt.subplots(figsize=(7, 4))
    for k in keys:
        pts = [(r["step"], r[k]) for r in rows if isinstance(r.get(k), (int, float))]
        if not pts:
            continue
        s, v = map(np.asarray, zip(*pts))
        ax.plot(s, v, label=k)
        std_key = k.rsplit("/", 1)[0] + "/std"
        if std_key != k and all(isinstance(r.get(std_key), (int, float)) for r in rows if k in r):
            sd = np.asarray([r[std_key] for r in rows if isinstance(r.get(k), (int, float))])
            ax.fill_between(s, v - sd, v + sd, alpha=0.15)
    ax.set_xlabel("step")
    ax.set_ylabel("reward")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_iou_histogram(ious: Sequence[float], path: Path, bins: int = 20) -> Path:
    """Histogram of per-study IoU with the 0.3 and 0.5 thresholds marked."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.hist(np.asarray(ious, dtype=float), bins=bins, range=(0, 1), color="tab:blue", alpha=0.8)
    for t in (0.3, 0.5):
        ax.axvline(t, color="k", ls="--", lw=0.8)
    ax.set_xlabel("IoU per study")
    ax.set_ylabel("studies")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
