"""RewardActor: one labeller (CheXbert on its own GPU, or the rule labeller on CPU) behind Ray.

It only turns batches of texts into 14-way labels and says which labeller (name, version) did it;
the router does the rest. The labeller is built and warmed up in `__init__`, so a bad checkpoint
shows at the actor's start (which is what makes a failed swap detectable before it serves), and a
restarted actor (`max_restarts`) comes back with the same labeller. A labeller that fails to
load is caught and reported by `info()` rather than raised, so Ray does not spend its restarts
re-running a start that cannot succeed.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence

import numpy as np
import ray

from radrl_dist.labelers.factory import build_labeler


class RewardActorImpl:
    """Plain class (tests can use it without Ray); `RewardActor` is its Ray actor form.

    `delay_s` adds a sleep per batch: a drill knob that makes a CPU labeller slow enough to kill
    or swap mid-stream, never set in training."""

    def __init__(self, spec: str, tokenizer: str | None = None, batch_size: int = 64, delay_s: float = 0.0) -> None:
        self.device = "cuda" if _has_gpu() else "cpu"
        self.spec, self.delay_s = spec, float(delay_s)
        self.batches = self.items = 0
        self.started = time.time()
        self.labeler, self.error = None, None
        try:
            self.labeler = build_labeler(spec, tokenizer=tokenizer, device=self.device, batch_size=batch_size)
            self.labeler.label(["warm up: no acute cardiopulmonary process."])  # loads weights now
        except Exception as exc:  # noqa: BLE001 - reported by info(): a failed start is not retried by Ray
            self.labeler, self.error = None, f"{type(exc).__name__}: {exc}"

    def info(self) -> dict:
        """Who this actor is; `error` says why its labeller did not load (the actor then serves nothing)."""
        lab = self.labeler
        return {"spec": self.spec, "name": lab.name if lab else None, "version": lab.version if lab else None,
                "error": self.error, "device": self.device, "pid": os.getpid(), "host": socket.gethostname(),
                "batches": self.batches, "items": self.items, "started": self.started}

    def label(self, texts: Sequence[str]) -> tuple[np.ndarray, str, str]:
        """(int8 [N, 14], labeler name, labeler version)."""
        if self.labeler is None:
            raise RuntimeError(f"labeler {self.spec!r} did not load: {self.error}")
        if self.delay_s:
            time.sleep(self.delay_s)
        rows = np.asarray(self.labeler.label(list(texts)), dtype=np.int8)
        self.batches += 1
        self.items += len(texts)
        return rows, self.labeler.name, self.labeler.version


def _has_gpu() -> bool:
    try:
        return bool(ray.get_gpu_ids())
    except Exception:  # noqa: BLE001 - outside a Ray worker there is no GPU assignment
        return False


RewardActor = ray.remote(RewardActorImpl)
