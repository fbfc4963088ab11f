"""RolloutPool: N RolloutActors, one per planned bundle; spreads studies, never mixes versions.

Each generate call is one step at one weight version. Studies go out through a work queue of small
chunks (`rollout.chunk_size` studies): each live actor holds up to `rollout.chunks_in_flight` chunks
and the next chunk goes to the free actor that is expected to finish it first
(radrl_dist.rollout.dispatch), so a slow replica serves fewer chunks instead of holding the step. A chunk whose actor died is re-queued on another actor (at most
`max_retries` times, then RolloutError naming the studies). Every study comes back exactly once: the
pool checks the study ids of each chunk's summary against what it sent. Candidates stay in Ray's object store as refs.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError, RayTaskError

from radrl_dist import object_bytes
from radrl_dist.cluster.actor_group import ActorGroup, Bundle, reserve_group, role_resources, wait_placed
from radrl_dist.config.schema import ModelConfig, RolloutConfig
from radrl_dist.models.prompt_encoding import RolloutRequest
from radrl_dist.rollout.actor import RolloutActor
from radrl_dist.rollout.dispatch import pick_replica, update_rate
from radrl_dist.rollout.elastic import ElasticPool
from radrl_dist.rollout.handoff import INLINE_LIMIT, ChunkRefs
from radrl_dist.rollout.types import RolloutError, StaleVersionError, StudyRollout
from radrl_dist.weight_sync.manifest import WeightManifest
from radrl_dist.weight_sync.transport import actor_class_for


@dataclass
class RolloutBatch:
    """One step's candidates: refs to lists of StudyRollout, which studies each ref holds, stats."""

    version: int
    refs: list[Any]
    study_ids: list[list[str]]
    failed: dict[str, str]
    stats: dict[str, Any] = field(default_factory=dict)
    handoffs: list[ChunkRefs] = field(default_factory=list)  # per chunk, when generated with a score_tag

    def fetch(self, order: list[str] | None = None) -> list[StudyRollout]:
        """The StudyRollouts (in `order` of study ids when given) — pulls candidates to the caller."""
        rolls = [r for chunk in object_bytes.get(self.refs) for r in chunk]
        if order is None:
            return rolls
        by_id = {r.study_id: r for r in rolls}
        return [by_id[s] for s in order]


@dataclass
class _Chunk:
    requests: list[RolloutRequest]
    attempts: int = 0
    reloads: int = 0
    errors: list[str] = field(default_factory=list)


class RolloutPool(ElasticPool):  # ElasticPool: add/drain replicas while a run goes on
    def __init__(
        self, rollout: RolloutConfig, model: ModelConfig, max_prompt_length: int,
        placement_strategy: str = "PACK", max_restarts: int = 1, revive_timeout_s: float = 120.0,
        bundles: list[Bundle] | None = None, placement_timeout_s: float = 300.0, transport: str = "objref",
    ):
        """`bundles`: one per replica, from the run's plan (radrl_dist.cluster.run_placement); None
        reserves a group of `num_actors` bundles here (evaluation, tests, benches). `transport`: the
        run's weight transport (rdt needs its actors created with Ray's tensor transport on)."""
        self.cfg, self.model_cfg, self.max_prompt_length = rollout, model, max_prompt_length
        self.revive_timeout_s = revive_timeout_s
        if bundles is None:
            bundles = reserve_group([role_resources(rollout.cpus_per_actor, rollout.gpus_per_actor)] * rollout.num_actors,
                                    strategy=placement_strategy)
            wait_placed(bundles, placement_timeout_s, f"rollout: {rollout.num_actors} replicas")
        env = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"} if not rollout.gpus_per_actor else {}
        self.group = ActorGroup("rollout", actor_class_for(RolloutActor, transport), max_restarts=max_restarts,
                                env_vars=env)
        self.actors = [self._spawn_replica(b, i) for i, b in enumerate(bundles)]
        self.infos = ray.get([a.info.remote() for a in self.actors])
        self.alive = [True] * len(self.actors)
        self.version = 0
        self._catch_up: Callable[[int], None] | None = None  # loads the current version into actor i
        self._busy: Counter[int] = Counter()  # chunks in flight per actor index
        self._sec_per_study: dict[int, float] = {}  # measured per actor, kept across steps (dispatch)

    # ---- weights -------------------------------------------------------------------------
    def load(self, manifest: WeightManifest | Any) -> dict[str, Any]:
        """Load a published manifest (or a ref to one) into every live actor; returns sync stats."""
        ref = manifest if isinstance(manifest, ray.ObjectRef) else ray.put(manifest)
        t0 = time.perf_counter()
        calls = {i: self.actors[i].load_weights.remote(ref) for i, ok in enumerate(self.alive) if ok}
        version = manifest.version if isinstance(manifest, WeightManifest) else None
        return self.settle(version, calls, lambda i: self._load_ref(i, ref), t0)

    def settle(self, version: int | None, calls: dict[int, Any], catch_up: Callable[[int], None],
               t0: float | None = None, behind_ok: bool = False) -> dict[str, Any]:
        """Wait for one version's per-actor load calls and make it the pool's version.

        An actor that died during its load is marked down (it serves nothing: `_revive` restores it
        and `catch_up(i)` loads this version into it before it gets work), so no actor serves a mix of
        versions. With `behind_ok` (a broken group broadcast) a load that raised leaves its actor up but
        behind: the version gate refuses its work until `catch_up` (listed in "behind"). Any other load
        error is raised. `catch_up` is kept for restarts until the next version.
        """
        t0 = time.perf_counter() if t0 is None else t0
        outs, dead, behind = [], [], []
        for i, call in calls.items():
            try:
                outs.append(ray.get(call))
            except (RayActorError, ActorUnavailableError):
                self.alive[i] = False
                dead.append(i)
            except RayTaskError:
                if not behind_ok:
                    raise
                behind.append(i)
        versions = {o["version"] for o in outs}
        if len(versions) > 1 or (version is not None and versions and versions != {version}):
            raise RolloutError(f"actors loaded different versions {sorted(versions)} (expected v{version})")
        if not outs and not behind:
            raise RolloutError(f"no rollout actor loaded weight version {version} (down: {dead})")
        self.version, self._catch_up = (versions.pop() if versions else version), catch_up
        return {"version": self.version, "seconds": time.perf_counter() - t0,
                "bytes": outs[0]["bytes"] if outs else 0, "actors_down": dead, "behind": behind}

    def _load_ref(self, i: int, ref: Any) -> None:
        ray.get(self.actors[i].load_weights.remote(ref), timeout=self.revive_timeout_s)

    def versions(self) -> list[int | None]:
        """The version each actor serves (None when it does not answer)."""
        out = []
        for a in self.actors:
            try:
                out.append(ray.get(a.version.remote(), timeout=30))
            except (RayActorError, GetTimeoutError):
                out.append(None)
        return out

    def _bring_current(self, i: int, timeout: float) -> bool:
        """Make actor i serve the current version (reload after a restart); False if it is gone.

        A restarting actor answers ActorUnavailableError (temporary): wait for it up to `timeout`.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                v = ray.get(self.actors[i].version.remote(), timeout=min(5.0, max(1.0, deadline - time.monotonic())))
                if v != self.version:
                    if self._catch_up is None:
                        raise RolloutError(f"actor {i} serves v{v} but the pool has no manifest for v{self.version}")
                    self._catch_up(i)
                self.alive[i] = True
                return True
            except ActorUnavailableError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            except GetTimeoutError:  # restarting (maybe pending placement): give up early if its node is gone
                if time.monotonic() > deadline or self.node_lost(i):
                    break
            except RayActorError:
                break
        self.alive[i] = False
        return False

    def _revive(self) -> None:
        self.forget_lost(i for i, ok in enumerate(self.alive) if not ok)  # elastic: lost with their node
        for i, ok in enumerate(self.alive):
            if not ok and i not in self.retired:
                # a restarted replica is a new process: measure its speed again (a stale estimate
                # taken while it or its neighbour was dying could starve one replica of chunks)
                self._sec_per_study.pop(i, None)
                self._bring_current(i, self.revive_timeout_s)

    # ---- generation ----------------------------------------------------------------------
    def in_flight(self) -> list[int]:
        """Indices of actors with a chunk in flight (for monitoring and tests)."""
        return sorted(i for i, k in self._busy.items() if k > 0)

    def _free_slots(self) -> list[int]:
        """Live actors that may take one more chunk, least loaded first (spreads the first chunks)."""
        free = [i for i, ok in enumerate(self.alive) if ok and self._busy[i] < self.cfg.chunks_in_flight
                and i not in self.draining]
        return sorted(free, key=lambda i: self._busy[i])

    def _finish_at(self, inflight: dict[Any, tuple]) -> dict[int, float]:
        """When each live actor is expected to be done with the chunks it holds (now, if idle)."""
        now = time.perf_counter()
        cursor: dict[int, float] = {}
        for i, ch, _, started in sorted(inflight.values(), key=lambda v: v[3]):
            est = self._sec_per_study.get(i)
            if est is not None:
                cursor[i] = max(cursor.get(i, started), started) + est * len(ch.requests)
        return {i: max(now, cursor.get(i, now)) for i, ok in enumerate(self.alive) if ok and i not in self.draining}

    def generate(
        self, requests: list[RolloutRequest], n: int | None = None, greedy: bool = False, chunk_size: int | None = None,
        score_tag: str | None = None, box_format: str = "qwen2_vl",
    ) -> RolloutBatch:
        """One step's studies at the pool's version. With `score_tag` (training steps) every chunk comes
        back as ChunkRefs (batch.handoffs): candidates, encoded prompts and score requests keyed by
        `score_tag` (answers parsed as `box_format`) stay in the object store; only the summaries are fetched."""
        ids = [r.study_id for r in requests]
        if len(set(ids)) != len(ids):
            raise ValueError("RolloutPool.generate: duplicate study ids in one step")
        if not requests:
            return RolloutBatch(self.version, [], [], {})
        self._revive()
        t0 = time.perf_counter()
        size = chunk_size or self.cfg.chunk_size
        pending = deque(_Chunk(requests[s : s + size]) for s in range(0, len(requests), size))
        inflight: dict[Any, tuple[int, _Chunk, Any, float]] = {}
        refs, chunk_ids, failed, tokens, cands, engines = [], [], {}, 0, 0, set()
        handoffs: list[ChunkRefs] = []
        inline = 0  # payload bytes Ray returned inline to this process (small objects), never fetched
        served_by: Counter[int] = Counter()
        while pending or inflight:
            while pending:
                i = pick_replica(self._free_slots(), self._finish_at(inflight), self._sec_per_study, len(pending), size)
                if i is None:  # the remaining chunks are better left to busy, faster actors
                    break
                ch = pending.popleft()
                if score_tag is None:
                    s_ref, p_ref = self.actors[i].generate.options(num_returns=2).remote(ch.requests, self.version, n, greedy)
                else:  # (summary, candidates, prompt inputs, score requests): only the summary is fetched
                    s_ref, *p_ref = self.actors[i].generate_for_learner.options(num_returns=4).remote(
                        ch.requests, self.version, score_tag, box_format, n, greedy)
                inflight[s_ref] = (i, ch, p_ref, time.perf_counter())
                self._busy[i] += 1
            if not inflight:
                self._revive()
                if not any(self.alive):
                    raise RolloutError(f"no live rollout actor; {sum(len(c.requests) for c in pending)} studies unserved")
                continue
            done, _ = ray.wait(list(inflight) + self.membership_watch(), num_returns=1)
            if done[0] not in inflight:  # an operator drained replicas: they take no new chunk from now on
                self.on_membership_change()
                continue
            i, ch, p_ref, _ = inflight.pop(done[0])
            self._busy[i] -= 1
            self.release_if_drained(i)  # its last chunk is in (results live on in the object store)
            try:
                summary = object_bytes.get(done[0])
            except RayActorError as exc:  # actor died mid-chunk: requeue on another actor
                self.alive[i] = False
                self._requeue(pending, ch, f"actor {i} died: {type(exc).__name__}")
                continue
            except RayTaskError as exc:
                if isinstance(exc.cause, StaleVersionError) and ch.reloads < 2:
                    ch.reloads += 1
                    self._bring_current(i, self.revive_timeout_s)
                    pending.appendleft(ch)
                else:
                    self._requeue(pending, ch, f"actor {i}: {exc.cause!r}")
                continue
            sent = [r.study_id for r in ch.requests]
            if summary["study_ids"] != sent or summary["version"] != self.version:
                raise RolloutError(f"actor {i} returned studies {summary['study_ids']} v{summary['version']} for {sent} v{self.version}")
            if score_tag is not None:
                handoffs.append(ChunkRefs(sent, summary["candidates_per_study"], *p_ref))
                inline += sum(b for b in summary["payload_bytes"] if b <= INLINE_LIMIT)
                p_ref = p_ref[0]
            refs.append(p_ref)
            chunk_ids.append(sent)
            failed.update(summary["failed"])
            tokens += summary["num_tokens"]
            cands += summary["num_candidates"]
            engines.add(summary["engine_id"])
            served_by[i] += 1
            update_rate(self._sec_per_study, i, summary["seconds"], len(sent))
        served = [s for c in chunk_ids for s in c]
        if sorted(served) != sorted(ids):
            raise RolloutError(f"lost or duplicated studies: sent {len(ids)}, got {len(served)}")
        dt = time.perf_counter() - t0
        stats = {"seconds": dt, "tokens": tokens, "candidates": cands, "tokens_per_s": tokens / dt if dt else 0.0,
                 "engines": sorted(engines), "failed": len(failed), "chunk_size": size,
                 "chunks_by_actor": [served_by[i] for i in range(len(self.actors))], "payload_inline_bytes": inline}
        self.report_served(stats["chunks_by_actor"])  # elastic: `status` shows chunks per replica
        return RolloutBatch(self.version, refs, chunk_ids, failed, stats, handoffs)

    def _requeue(self, pending: deque, ch: _Chunk, why: str) -> None:
        ch.attempts += 1
        ch.errors.append(why)
        if ch.attempts > self.cfg.max_retries:
            ids = [r.study_id for r in ch.requests]
            raise RolloutError(f"studies {ids} failed {ch.attempts} times (rollout.max_retries={self.cfg.max_retries}): {ch.errors}")
        pending.append(ch)

    def _spawn_replica(self, bundle: Bundle, index: int) -> Any:
        """Start replica `index` in `bundle` (returns at once; it serves once it has loaded weights)."""
        return self.group.spawn_into(bundle, self.cfg, self.model_cfg, self.max_prompt_length, index)

    def shutdown(self) -> None:
        """Kill every replica for good and give back the bundles reserved here (the plan's stay with the run)."""
        self.close_membership()  # stops the replicas added while the run went on
        self.group.shutdown()
