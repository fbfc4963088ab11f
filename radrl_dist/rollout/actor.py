"""RolloutActor: one engine in one Ray actor, serving exactly one weight version at a time.

A (re)started actor serves version 0 (the checkpoint); `generate` takes the version the step wants
and raises StaleVersionError when it differs, so a restarted actor produces nothing until the pool
has loaded the current manifest into it. `generate` returns (small summary, candidates) as two
objects so the pool can check a chunk without pulling its candidates into the driver.
"""

from __future__ import annotations

import os
import time
from typing import Any

import ray

from radrl_dist.config.schema import ModelConfig, RolloutConfig
from radrl_dist.rollout.engine import make_engine
from radrl_dist.rollout.types import RolloutRequest, StaleVersionError, StudyRollout
from radrl_dist.weight_sync.manifest import WeightManifest


class RolloutWorker:
    """The actor body (plain class, so it also runs in-process for benchmarks and debugging)."""

    def __init__(self, rollout: RolloutConfig, model: ModelConfig, max_prompt_length: int, index: int = 0):
        self.index = index
        self.engine = make_engine(rollout, model, max_prompt_length, f"{rollout.engine}-{index}-pid{os.getpid()}")

    def info(self) -> dict[str, Any]:
        e = self.engine
        return {"engine_id": e.engine_id, "kind": e.kind, "version": e.version, "index": self.index, "pid": os.getpid()}

    def version(self) -> int:
        return self.engine.version

    def load_weights(self, manifest: WeightManifest) -> dict[str, Any]:
        t0 = time.perf_counter()
        v = self.engine.load_weights(manifest)
        return {"version": v, "seconds": time.perf_counter() - t0, "bytes": manifest.total_bytes, "engine_id": self.engine.engine_id}

    def generate(
        self, requests: list[RolloutRequest], version: int, n: int | None = None, greedy: bool = False
    ) -> tuple[dict[str, Any], list[StudyRollout]]:
        e = self.engine
        if e.version != version:
            raise StaleVersionError(e.version, version, e.engine_id)
        t0 = time.perf_counter()
        results = e.generate(requests, n=n, greedy=greedy)
        summary = {
            "engine_id": e.engine_id,
            "version": e.version,
            "study_ids": [r.study_id for r in results],
            "failed": {r.study_id: r.error for r in results if not r.ok},
            "num_candidates": sum(len(r.candidates) for r in results),
            "num_tokens": sum(c.num_tokens for r in results for c in r.candidates),
            "seconds": time.perf_counter() - t0,
        }
        return summary, results


RolloutActor = ray.remote(RolloutWorker)
