"""RolloutMembership: the named actor that holds which rollout replicas a running job should have.

Why an actor of its own: the RolloutPool lives inside the training driver, which no operator can
call into. Any process attached to the cluster finds this actor by name (as it finds the reward
router) and asks it to add or drain replicas; the driver's pool applies the changes
(radrl_dist.rollout.elastic):
- add: this actor reserves one bundle per new replica and waits until every one is placed (at the
  timeout it gives them back and says which resources are missing), then starts the replicas and
  waits for their engines, so model loading overlaps training. They are READY; at the next step
  boundary the pool loads the current weight version into each by reference, and only then gives
  it work (ACTIVE).
- drain: the replica is marked DRAINING; the pool, even in the middle of a step (it long-polls
  `changes`), sends it no new chunk, keeps the chunks it holds, then stops it (REMOVED).
- a replica whose node is lost is LOST; the pool re-queued its chunk on the others.
A threaded actor: a blocking `add` (placement, engine load), the driver's long poll and `status`
run side by side; one condition variable guards the replica table and wakes the waiters.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import ray

from radrl_dist.cluster.actor_group import ActorGroup, reserve_bundle, role_resources, wait_placed
from radrl_dist.cluster.placement_groups import PlacementTimeout
from radrl_dist.config.schema import ModelConfig, RolloutConfig
from radrl_dist.rollout.actor import RolloutActor

STARTING, READY, ACTIVE, DRAINING, REMOVED, LOST, FAILED = (
    "starting", "ready", "active", "draining", "removed", "lost", "failed")
GONE = (REMOVED, LOST, FAILED)
AUTOSCALER_HINT = ("on an autoscaling cluster this pending bundle is what makes a node start: give `add` a "
                   "--timeout longer than a node takes to boot")


class MembershipError(RuntimeError):
    """An add or drain that could not be done (no room, engine failed to start, nothing to drain)."""


@dataclass(frozen=True)
class MembershipSettings:
    name: str
    namespace: str
    rollout: RolloutConfig
    model: ModelConfig
    max_prompt_length: int
    start_timeout_s: float
    max_restarts: int = 1

    def bundle(self) -> dict[str, float]:
        return role_resources(self.rollout.cpus_per_actor, self.rollout.gpus_per_actor)


@dataclass
class Replica:
    replica_id: str
    state: str
    added: bool  # started by this actor (which stops it), or by the pool when the run began
    index: int | None = None  # position in the driver's RolloutPool once it serves
    node_id: str | None = None
    handle: Any = None
    note: str = ""
    chunks: int = 0
    since: float = field(default_factory=time.time)

    def public(self) -> dict[str, Any]:
        return {"replica_id": self.replica_id, "state": self.state, "added": self.added, "index": self.index,
                "node_id": (self.node_id or "")[:12], "chunks": self.chunks, "note": self.note}


def _node_id(_actor: Any) -> str:
    return ray.get_runtime_context().get_node_id()


class RolloutMembership:
    def __init__(self, settings: MembershipSettings, actor_cls: Any = None) -> None:
        self.s = settings
        env = {} if settings.rollout.gpus_per_actor else {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
        self.group = ActorGroup("rollout", actor_cls or RolloutActor, max_restarts=settings.max_restarts, env_vars=env)
        self.replicas: dict[str, Replica] = {}
        self.epoch = 0  # bumped on every change the pool must apply (ready, draining)
        self.version: int | None = None
        self.events: deque[dict] = deque(maxlen=100)
        self.cond = threading.Condition()
        self._next = 0

    # ---------------------------------------------------------------- driver side
    def register(self, replicas: list[dict]) -> None:
        """The replicas the pool started with: [{"index": i, "node_id": ...}], ids r0, r1, ..."""
        with self.cond:
            for r in replicas:
                rid = f"r{self._next}"
                self._next += 1
                self.replicas[rid] = Replica(rid, ACTIVE, added=False, index=r["index"], node_id=r.get("node_id"))

    def changes(self, epoch: int, wait_s: float = 0.0) -> dict[str, Any]:
        """What the pool must apply; waits up to `wait_s` for something newer than `epoch`."""
        with self.cond:
            if wait_s > 0:
                self.cond.wait_for(lambda: self.epoch != epoch, timeout=wait_s)
            return {"epoch": self.epoch,
                    "ready": [(r.replica_id, r.handle, r.node_id) for r in self.replicas.values() if r.state == READY],
                    "draining": [r.replica_id for r in self.replicas.values() if r.state == DRAINING]}

    def adopted(self, replica_id: str, index: int) -> None:
        self._set(replica_id, ACTIVE, index=index, note="serves the current version")

    def released(self, replica_id: str) -> None:
        self._set(replica_id, REMOVED, note="drained")

    def lost(self, replica_id: str, why: str) -> None:
        self._set(replica_id, LOST, note=why)

    def failed(self, replica_id: str, why: str) -> None:
        self._set(replica_id, FAILED, note=why)

    def report(self, version: int, chunks: dict[str, int]) -> None:
        """Per step from the pool: the version it serves, chunks each replica served."""
        with self.cond:
            self.version = version
            for rid, k in chunks.items():
                if rid in self.replicas:
                    self.replicas[rid].chunks += k

    def _set(self, replica_id: str, state: str, index: int | None = None, note: str = "") -> None:
        with self.cond:
            r = self.replicas[replica_id]
            r.state, r.note, r.since = state, note, time.time()
            if index is not None:
                r.index = index
            if state in GONE and r.added and r.handle is not None:
                self.group.remove(r.handle)  # kill it for good and give its bundle back
                r.handle = None
            self._event(state, replica=replica_id, note=note)
            self.cond.notify_all()

    def _event(self, kind: str, **detail: Any) -> None:
        self.events.append({"time": time.time(), "kind": kind, **detail})

    # ---------------------------------------------------------------- operator side
    def add(self, n: int = 1, timeout: float | None = None) -> dict[str, str]:
        """Place, start and warm up n replicas, then wait (same deadline) until the pool serves
        them. All placed or none: MembershipError names the missing resources."""
        if n < 1:
            raise ValueError(f"add: n must be >= 1, got {n}")
        timeout = self.s.start_timeout_s if timeout is None else timeout
        end = time.monotonic() + timeout
        with self.cond:
            new = [Replica(f"r{self._next + k}", STARTING, added=True) for k in range(n)]
            self._next += n
            self.replicas.update({r.replica_id: r for r in new})
        bundles = [reserve_bundle(self.s.bundle(), name=f"{self.s.namespace}/{self.s.name}-{r.replica_id}") for r in new]
        try:
            wait_placed(bundles, timeout, f"add {n} rollout replica(s) ({self.s.bundle()} each)")
        except PlacementTimeout as exc:
            self._fail(new, f"{exc}; {AUTOSCALER_HINT}")
        s = self.s
        for r, b in zip(new, bundles):
            r.handle = self.group.spawn_into(b, s.rollout, s.model, s.max_prompt_length, int(r.replica_id[1:]))
        calls = {r.handle.__ray_call__.remote(_node_id): r for r in new}
        ready, waiting = ray.wait(list(calls), num_returns=n, timeout=max(0.0, end - time.monotonic()))
        errors = []
        for ref in ready:
            try:
                calls[ref].node_id = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - the engine failed to start: say why
                errors.append(f"{calls[ref].replica_id}: {exc}"[:600])
        if waiting or errors:
            self._fail(new, f"placed but {len(waiting)} engine(s) not up in {timeout:g}s" if not errors else
                       f"engine failed to start: {errors[0]}")
        with self.cond:
            for r in new:
                r.state, r.since = READY, time.time()
            self.epoch += 1
            self._event("add", replicas=[r.replica_id for r in new])
            self.cond.notify_all()
            self.cond.wait_for(lambda: all(r.state != READY for r in new), timeout=max(0.0, end - time.monotonic()))
            return {r.replica_id: (r.state if r.state != READY else "ready (serves from the next step boundary)")
                    for r in new}

    def _fail(self, new: list[Replica], why: str) -> None:
        for r in new:  # spawned ones are killed and their bundles given back (wait_placed did it for the rest)
            self._set(r.replica_id, FAILED, note=why[:300])
        raise MembershipError(f"add: {why}")

    def drain(self, replica_ids: list[str] | None = None, n: int | None = None, timeout: float | None = 300.0,
              force: bool = False) -> list[str]:
        """Stop giving replicas work; each finishes the chunks it holds, then stops. Waits until gone."""
        with self.cond:
            serving = [r for r in self.replicas.values() if r.state == ACTIVE]
            if replica_ids:
                bad = [x for x in replica_ids if x not in self.replicas or self.replicas[x].state not in (ACTIVE, READY)]
                if bad:
                    raise ValueError(f"drain: {bad} not serving; replicas: "
                                     + ", ".join(f"{r.replica_id} {r.state}" for r in self.replicas.values()))
                chosen = [self.replicas[x] for x in replica_ids]
            else:  # the newest first: the run's own replicas sit in its planned bundles
                chosen = sorted(serving, key=lambda r: (r.added, r.index or 0), reverse=True)[: (n or 1)]
            if not chosen:
                raise MembershipError("drain: no serving replica")
            if not [r for r in serving if r not in chosen] and not force:
                raise MembershipError("drain would leave no serving rollout replica (generation would stop); "
                                      "add one first or pass --force")
            for r in chosen:
                if r.state == READY:  # not serving yet: stop it here
                    r.state = DRAINING
                    self._set(r.replica_id, REMOVED, note="drained before it served")
                else:
                    r.state, r.since = DRAINING, time.time()
            self.epoch += 1
            self._event("drain", replicas=[r.replica_id for r in chosen])
            self.cond.notify_all()
            done = self.cond.wait_for(lambda: all(r.state in GONE for r in chosen), timeout=timeout)
        ids = [r.replica_id for r in chosen]
        if not done:
            raise MembershipError(f"drain: {ids} still busy after {timeout:g}s (the pool applies a drain while a "
                                  "step generates or at the next step boundary; is the training loop running?)")
        return ids

    def status(self) -> dict[str, Any]:
        with self.cond:
            return {"name": self.s.name, "namespace": self.s.namespace, "version": self.version, "epoch": self.epoch,
                    "bundle": self.s.bundle(), "replicas": [r.public() for r in self.replicas.values()],
                    "events": list(self.events)}

    def shutdown(self) -> None:
        with self.cond:
            self.group.shutdown()
            for r in self.replicas.values():
                if r.added and r.state not in GONE:
                    r.state, r.handle = REMOVED, None
            self.cond.notify_all()


RolloutMembershipActor = ray.remote(RolloutMembership)
