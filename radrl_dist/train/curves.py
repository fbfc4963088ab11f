"""The training-curves figure a run writes at its end: reward, KL and response length over steps."""

from __future__ import annotations

from pathlib import Path

from radrl_dist.runtime.metrics_log import read_metrics

PANELS = (("reward/mean", "reward (mean over candidates)"), ("learner/kl", "KL to reference"),
          ("rollout/response_len", "response length (tokens)"))


def plot_training_curves(metrics_path: str | Path, out_path: str | Path, metric: str = "reward") -> Path:
    """`metric` other than "reward" (the run's `train.heldout_metric`, e.g. iou) is drawn in the reward
    panel too, train and held-out, since the headline gain is about it and not the weighted sum."""
    import matplotlib  # lazy: matplotlib, only when the curves are drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: matplotlib; the Agg backend is chosen before pyplot loads

    rows = [r for r in read_metrics(metrics_path) if "reward/mean" in r]
    if not rows:
        raise ValueError(f"{metrics_path}: no training steps logged")
    held = [r for r in read_metrics(metrics_path) if isinstance(r.get("heldout/mean_reward"), (int, float))]
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4 * len(PANELS), 3.2))
    for ax, (key, title) in zip(axes, PANELS):
        pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
        if pts:
            ax.plot(*zip(*pts), lw=1.2, label="train")
        if key == "reward/mean" and held:
            ax.plot([r["step"] for r in held], [r["heldout/mean_reward"] for r in held], "o-", label="held-out")
        if key == "reward/mean" and metric != "reward":
            part = [(r["step"], r[f"reward/{metric}/mean"]) for r in rows if isinstance(r.get(f"reward/{metric}/mean"), (int, float))]
            if part:
                ax.plot(*zip(*part), lw=1.0, alpha=0.7, label=f"train {metric}")
            hpart = [(r["step"], r[f"heldout/{metric}/mean"]) for r in held if isinstance(r.get(f"heldout/{metric}/mean"), (int, float))]
            if hpart:
                ax.plot(*zip(*hpart), "s-", label=f"held-out {metric}")
        if key == "reward/mean" and (held or metric != "reward"):
            ax.legend(fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(out_path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
