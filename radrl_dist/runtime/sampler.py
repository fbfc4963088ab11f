"""Task-mixed study batches for the GRPO step, resumable from a saved state.

One StudyReader per task; each step's `studies_per_step` slots are split between tasks by their
weights with a smooth weighted round robin (deterministic, no RNG to save), so a mix of 0.75/0.25
gives exactly 3:1 over every 4 slots. The state (each reader's cursor and the round-robin credit)
goes into checkpoints: a resumed run draws the same next batch.
"""

from __future__ import annotations

from pathlib import Path

from radrl_dist.data.reader import StudyReader
from radrl_dist.data.schema import Study


class TaskMixSampler:
    def __init__(self, path: str | Path, task_mix: dict[str, float], studies_per_step: int, seed: int,
                 split: str | None = "train") -> None:
        self.weights = {t: float(w) for t, w in sorted(task_mix.items()) if w > 0}
        total = sum(self.weights.values())
        self.weights = {t: w / total for t, w in self.weights.items()}
        self.studies_per_step = studies_per_step
        self.readers = {
            t: StudyReader(path, batch_size=1, seed=seed + i, split=split, tasks=[t])
            for i, t in enumerate(self.weights)
        }
        self.credit = {t: 0.0 for t in self.weights}

    def _allocate(self) -> list[str]:
        slots = []
        for _ in range(self.studies_per_step):
            for t, w in self.weights.items():
                self.credit[t] += w
            pick = max(self.credit, key=lambda t: (self.credit[t], t))
            self.credit[pick] -= 1.0
            slots.append(pick)
        return slots

    def next_batch(self) -> list[Study]:
        return [self.readers[t].next_batch()[0] for t in self._allocate()]

    def state_dict(self) -> dict:
        return {"readers": {t: r.state_dict() for t, r in self.readers.items()}, "credit": dict(self.credit)}

    def load_state_dict(self, state: dict) -> None:
        if set(state.get("readers", {})) != set(self.readers):
            raise ValueError(f"sampler state is for tasks {sorted(state.get('readers', {}))}, this run mixes {sorted(self.readers)}")
        for t, s in state["readers"].items():
            self.readers[t].load_state_dict(s)
        self.credit = {t: float(v) for t, v in state["credit"].items()}
