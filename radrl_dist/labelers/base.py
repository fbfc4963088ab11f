"""The `Labeler` interface: report texts in, CheXbert-order class ids out.

Every labeler (CheXbert model, rule labeler) returns int8 [N, 14] in CheXbert order with classes
0 blank, 1 positive, 2 negative, 3 uncertain (No Finding uses 0/1 only), so rewards and metrics
never care which one produced the labels. `name` and `version` let the reward pool record which
labeler scored each sample. Implementations must be deterministic and picklable (they are shipped
into Ray actors), and must never raise on model output (any string is a report).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from radrl_dist.constants import CLASS_NAMES, CHEXPERT_OBSERVATIONS, NUM_OBSERVATIONS


class Labeler(ABC):
    """Batched, deterministic report labeler."""

    @property
    @abstractmethod
    def name(self) -> str:
        """Short kind name, e.g. "rules" or "chexbert"."""

    @property
    @abstractmethod
    def version(self) -> str:
        """Changes whenever the labels could change (phrase lists, checkpoint bytes)."""

    @abstractmethod
    def label(self, texts: Sequence[str]) -> np.ndarray:
        """int8 [len(texts), 14] class ids in CheXbert order."""

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self.label(texts)


def as_text(x: object) -> str:
    """Model output may be None or not a string; treat anything that is not text as empty."""
    return x if isinstance(x, str) else ""


def labels_to_names(row: np.ndarray) -> dict[str, str]:
    """One label row -> {observation: "positive" | "negative" | "uncertain" | "blank"}."""
    row = np.asarray(row)
    if row.shape != (NUM_OBSERVATIONS,):
        raise ValueError(f"a label row must have {NUM_OBSERVATIONS} entries, got shape {row.shape}")
    return {obs: CLASS_NAMES[int(c)] for obs, c in zip(CHEXPERT_OBSERVATIONS, row)}
