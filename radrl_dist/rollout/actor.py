"""RolloutActor: one engine in one Ray actor, serving exactly one weight version at a time.

A (re)started actor serves version 0 (the checkpoint); `generate` takes the version the step wants
and raises StaleVersionError when it differs, so a restarted actor produces nothing until the pool
has loaded the current manifest into it. `generate` returns (small summary, candidates) as two
objects so the pool can check a chunk without pulling its candidates into the driver;
`generate_for_learner` (training steps) also returns the encoded prompts and the score requests, so
the learner and the reward pool take them by reference (radrl_dist.rollout.handoff).
"""

from __future__ import annotations

import os
import time
from typing import Any

import ray

from radrl_dist.config.schema import ModelConfig, RolloutConfig
from radrl_dist.models.prompt_encoding import RolloutRequest
from radrl_dist.models.prompt_inputs import PromptInputs
from radrl_dist.rollout.engines import make_engine
from radrl_dist.rollout.handoff import payload_size, study_score_requests
from radrl_dist.rollout.types import StaleVersionError, StudyRollout
from radrl_dist.weight_sync import rdt
from radrl_dist.weight_sync.endpoints import WeightReceiver
from radrl_dist.weight_sync.manifest import WeightManifest


def slow_factor(rollout: RolloutConfig, index: int) -> float:
    """BENCH ONLY (`rollout.debug_slow_actor`): how many times slower replica `index` should run."""
    slow = rollout.debug_slow_actor
    return slow.factor if slow is not None and slow.index == index else 1.0


class RolloutWorker:
    """The actor body (plain class, so it also runs in-process for benchmarks and debugging)."""

    def __init__(self, rollout: RolloutConfig, model: ModelConfig, max_prompt_length: int, index: int = 0):
        self.index = index
        self.engine = make_engine(rollout, model, max_prompt_length, f"{rollout.engine}-{index}-pid{os.getpid()}")
        self.receiver = WeightReceiver("cuda" if rollout.gpus_per_actor else "cpu")
        self.slow_factor = slow_factor(rollout, index)

    def info(self) -> dict[str, Any]:
        e = self.engine
        return {"engine_id": e.engine_id, "kind": e.kind, "version": e.version, "index": self.index, "pid": os.getpid()}

    def set_slow_factor(self, factor: float) -> None:
        """BENCH/TEST ONLY: throttle this replica at run time (as `rollout.debug_slow_actor` does at start)."""
        if factor < 1.0:
            raise ValueError(f"slow factor must be >= 1, got {factor}")
        self.slow_factor = factor

    def version(self) -> int:
        return self.engine.version

    def load_weights(self, manifest: WeightManifest) -> dict[str, Any]:
        t0 = time.perf_counter()
        v = self.engine.load_weights(manifest)
        return {"version": v, "seconds": time.perf_counter() - t0, "bytes": manifest.total_bytes, "engine_id": self.engine.engine_id}

    # ---- collective weight group (radrl_dist.weight_sync.collective) ----
    def join_weight_group(self, store_host: str, store_port: int, world: int, rank: int, loopback: bool,
                          timeout_s: float) -> int:
        my_host = "127.0.0.1" if loopback else ray.util.get_node_ip_address()
        self.receiver.join_group(store_host, store_port, world, rank, my_host, timeout_s)
        return os.getpid()

    def in_weight_group(self) -> bool:
        return self.receiver.in_group

    def leave_weight_group(self) -> None:
        self.receiver.leave_group()

    def load_weights_rdt(self, header: WeightManifest, buckets: list) -> dict[str, Any]:
        """`rdt`: Ray ran this once every bucket of `header`'s version had arrived over the weight group."""
        return self.load_weights(rdt.with_buckets(header, buckets))

    def receive_weights(self) -> dict[str, Any]:
        """Take the version the group is broadcasting, then load it (only once every bucket arrived)."""
        t0 = time.perf_counter()
        manifest = self.receiver.receive()
        out = self.load_weights(manifest)
        out.update(seconds=time.perf_counter() - t0, receive_s=manifest.meta.get("receive_s", 0.0))
        return out

    def generate(
        self, requests: list[RolloutRequest], version: int, n: int | None = None, greedy: bool = False
    ) -> tuple[dict[str, Any], list[StudyRollout]]:
        summary, results, _ = self._generate(requests, version, n, greedy)
        return summary, results

    def generate_for_learner(self, requests: list[RolloutRequest], version: int, score_tag: str, box_format: str,
                             n: int | None = None, greedy: bool = False) -> tuple[dict[str, Any], list[StudyRollout],
                                                                                  dict[str, PromptInputs], list[Any]]:
        """A training step's chunk as four objects (call with num_returns=4): the summary of
        `generate` (plus candidates per study and the payload sizes), the candidates, the prompt
        inputs this engine encoded, and the chunk's score requests. The caller waits on the summary
        and passes the other three on by reference (radrl_dist.rollout.handoff).

        Returned, not `ray.put` here: the caller owns returned objects, so they survive this actor
        (a replica killed after serving its chunk loses nothing); an object put here would die with it."""
        summary, results, inputs = self._generate(requests, version, n, greedy)
        prompts = {sid: PromptInputs.from_processor(enc) for sid, enc in inputs.items()}
        studies = {r.study_id: r.study for r in requests}
        scores = [q for r in results if r.ok
                  for q in study_score_requests(score_tag, studies[r.study_id], r, box_format, prompts.get(r.study_id),
                                                self.engine.model_cfg.family)]
        summary["candidates_per_study"] = [len(r.candidates) for r in results]
        summary["payload_bytes"] = [payload_size(x) for x in (results, prompts, scores)]
        return summary, results, prompts, scores

    def _generate(self, requests: list[RolloutRequest], version: int, n: int | None, greedy: bool):
        e = self.engine
        if e.version != version:
            raise StaleVersionError(e.version, version, e.engine_id)
        t0 = time.perf_counter()
        results, inputs = e.generate_with_prompts(requests, n=n, greedy=greedy)
        if self.slow_factor > 1.0:  # BENCH ONLY: sleep, so the throttled replica frees its CPU for the others
            time.sleep((self.slow_factor - 1.0) * (time.perf_counter() - t0))
        summary = {
            "engine_id": e.engine_id,
            "version": e.version,
            "study_ids": [r.study_id for r in results],
            "failed": {r.study_id: r.error for r in results if not r.ok},
            "num_candidates": sum(len(r.candidates) for r in results),
            "num_tokens": sum(c.num_tokens for r in results for c in r.candidates),
            "seconds": time.perf_counter() - t0,
            "index": self.index,
        }
        return summary, results, inputs


RolloutActor = ray.remote(RolloutWorker)
