"""The box type of a study row: where a finding is, in source-image pixels.

Lives under `boxes` (not `data`) so codecs, rewards and metrics use it without importing the data layer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in source-image pixels, optionally with a CheXpert label and a phrase."""

    x1: float
    y1: float
    x2: float
    y2: float
    label: str | None = None
    phrase: str | None = None

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)
