"""RewardActor: one labeller (CheXbert on its own GPU, or the rule labeller on CPU) behind Ray.

It turns batches of texts into 14-way labels and says which labeller (name, version) did it, and,
when the weights name model-based rewards (BERTScore, RadCliQ, ...), hosts those scorers too and
scores (answer, reference) pairs with them on the same device; the router does the rest. The labeller is built and warmed up in `__init__`, so a bad checkpoint
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
from radrl_dist.rewards.model_based.factory import MODEL_COMPONENTS, cached_scorer


class RewardActorImpl:
    """Plain class (tests can use it without Ray); `RewardActor` is its Ray actor form.

    `delay_s` adds a sleep per batch: a drill knob that makes a CPU labeller slow enough to kill
    or swap mid-stream, never set in training."""

    def __init__(self, spec: str, tokenizer: str | None = None, batch_size: int = 64, delay_s: float = 0.0,
                 scorers: dict[str, dict] | None = None) -> None:
        self.device = "cuda" if _has_gpu() else "cpu"
        self.spec, self.delay_s = spec, float(delay_s)
        self.batches = self.items = 0
        self.started = time.time()
        self.labeler, self.error = None, None
        self.scorers: dict = {}
        self.scorer_versions: dict[str, str] = {}
        try:
            self.labeler = build_labeler(spec, tokenizer=tokenizer, device=self.device, batch_size=batch_size)
            self.labeler.label(["warm up: no acute cardiopulmonary process."])  # loads weights now
            self.scorers = _build_scorers(scorers or {}, self.device)
            self.scorer_versions = {n: s.version for n, s in self.scorers.items()}
        except Exception as exc:  # noqa: BLE001 - reported by info(): a failed start is not retried by Ray
            self.labeler, self.error = None, f"{type(exc).__name__}: {exc}"

    def info(self) -> dict:
        """Who this actor is; `error` says why its labeller did not load (the actor then serves nothing)."""
        lab = self.labeler
        return {"spec": self.spec, "name": lab.name if lab else None, "version": lab.version if lab else None,
                "error": self.error, "device": self.device, "pid": os.getpid(), "host": socket.gethostname(),
                "batches": self.batches, "items": self.items, "started": self.started,
                "scorers": dict(self.scorer_versions)}

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


    def score_pairs(self, items: Sequence[tuple[Sequence[str], str, str]]) -> list[dict[str, dict[str, float]]]:
        """Model-based scores: per (component names, answer, reference) item {component: {part: value}}."""
        if self.labeler is None:
            raise RuntimeError(f"reward actor {self.spec!r} did not load: {self.error}")
        out: list[dict] = [{} for _ in items]
        for name, scorer in self.scorers.items():
            idx = [i for i, (names, _, _) in enumerate(items) if name in names]
            if not idx:
                continue
            parts = scorer.score_parts([items[i][1] for i in idx], [items[i][2] for i in idx])
            for k, i in enumerate(idx):
                out[i][name] = {p: float(v[k]) for p, v in parts.items()}
        missing = {n for names, _, _ in items for n in names} - set(self.scorers)
        if missing:
            raise RuntimeError(f"reward actor hosts no scorer for {sorted(missing)}; it hosts {sorted(self.scorers)}")
        return out


def _build_scorers(components: dict[str, dict], device: str) -> dict:
    """{component: scorer}, each loaded and warmed up now (a bad path fails the actor's start)."""
    out = {}
    for name, params in components.items():
        out[name] = cached_scorer(MODEL_COMPONENTS[name], params, device)
        out[name].score(["no acute cardiopulmonary process."], ["heart size is normal."])
    return out


def _has_gpu() -> bool:
    try:
        return bool(ray.get_gpu_ids())
    except Exception:  # noqa: BLE001 - outside a Ray worker there is no GPU assignment
        return False


RewardActor = ray.remote(RewardActorImpl)
