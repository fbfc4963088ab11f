"""Unit keys: one step's studies made distinct per (study, task), for training, held-out and evaluation alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from radrl_dist.data.schema import Study


def unique_units(studies: Sequence[Study]) -> list[Study]:
    """Studies keyed per (study, task) for one step: rows of the same study with two tasks, or one row
    drawn twice when an epoch wraps, become distinct units ("<id>|<task>", then "#k" for repeats)."""
    seen: dict[str, int] = {}
    out = []
    for s in studies:
        key = f"{s.study_id}|{s.task}"
        k = seen.get(key, 0)
        seen[key] = k + 1
        out.append(replace(s, study_id=key if k == 0 else f"{key}#{k}"))
    return out
