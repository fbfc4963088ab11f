"""The scorer interface shared by every model-based report reward.

`score_parts` returns named float64 [N] arrays, one of them `value` (the score itself); the others
(precision, recall, RadCliQ's four inputs, ...) are what a run logs beside the reward. A scorer
never raises on model output: a text that cannot be scored gets NaN in `value`, which the reward
component turns into its failure value and counts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from radrl_dist.labelers.base import as_text


class PairScorer(ABC):
    """Batched, deterministic (candidate, reference) scorer; picklable (shipped into Ray actors)."""

    name: str = "scorer"

    @property
    def version(self) -> str:
        """Changes whenever the scores could change (weights, settings)."""
        return self.name

    @abstractmethod
    def score_parts(self, candidates: Sequence[str], references: Sequence[str]) -> dict[str, np.ndarray]:
        """{"value": float64 [N], other parts: float64 [N]}."""

    def score(self, candidates: Sequence[str], references: Sequence[str]) -> np.ndarray:
        return self.score_parts(candidates, references)["value"]


def check_pairs(candidates: Sequence[str], references: Sequence[str]) -> tuple[list[str], list[str]]:
    """Same length (a caller bug otherwise); anything that is not a string counts as empty text."""
    if len(candidates) != len(references):
        raise ValueError(f"{len(candidates)} candidates but {len(references)} references")
    return [as_text(c) for c in candidates], [as_text(r) for r in references]


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine in float64; 0 where either row is all zero (as RadEval's s_emb does)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    dot = np.einsum("nd,nd->n", a, b)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    out = np.zeros(len(a))
    np.divide(dot, norms, out=out, where=norms > 0)
    return out
