"""Evaluation: score generations (JSONL or fresh from the rollout pool) into metrics.json,
report.md, per-study outputs, plots and a gallery. `score_predictions` is the single scoring path."""

from radrl_dist.evaluate.score import HEADLINE_KEYS, compare_runs, score_predictions

__all__ = ["HEADLINE_KEYS", "compare_runs", "score_predictions"]
