"""WeightSync: the one driver-side seam between the learner's weights and the rollout actors.

It owns both sides of a transport: `connect` (build the weight group, if the transport has one),
`push` (= `publish` + `deliver`: export a new version and load it into every live rollout actor),
`catch_up(i)` (an actor that restarted or joined late loads the current version over `objref`; a
group is never rebuilt mid-step), `close`. Delivery by transport (`TransportSpec.delivery`):
"manifest" loads the published manifest; "broadcast" posts every actor's receive while rank 0
broadcasts; "direct" (rdt) passes every actor rank 0's export ref and its RDT bucket ref, so Ray
sends the buckets to each actor point to point before its load runs. The manifest stays the control
plane, so the rollout side's version gate (StaleVersionError, LoRA-after-full refusal) is the same
for every transport.

It talks to a learner group (`start_export`/`finish_export`/`republish`, `workers[0]` = rank 0)
and a rollout pool (`actors`, `alive`, `settle`) by duck type, so this package imports neither.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import RayActorError, RayTaskError

from radrl_dist.weight_sync import rdt
from radrl_dist.weight_sync.manifest import WeightManifest
from radrl_dist.weight_sync.transport import transport_spec


class WeightSyncError(RuntimeError):
    """A push that cannot complete (the sender died, or no actor could load it)."""


@dataclass
class PendingPush:
    """A version whose export has started: `deliver` finishes it."""

    version: int
    transport: str
    export_refs: list
    receive_calls: dict[int, Any] = field(default_factory=dict)  # group transports: actor -> receive/load call
    manifest: WeightManifest | None = None  # byte-carrying transports: ready after publish
    started: float = field(default_factory=time.perf_counter)


class WeightSync:
    def __init__(self, learner, pool, transport: str = "objref", kind: str = "auto", timeout_s: float = 300.0,
                 loopback: bool = True):
        self.learner, self.pool = learner, pool
        self.spec = transport_spec(transport)
        self.kind, self.timeout_s, self.loopback = kind, timeout_s, loopback
        self._members: list[int] = []  # pool indices in the current group (rank = position + 1)
        self._catch_up_ref: tuple[int, Any] | None = None  # (version, objref manifest ref) for late joiners
        self._catch_up_lock = threading.Lock()

    @property
    def transport(self) -> str:
        return self.spec.name

    # ---- group ---------------------------------------------------------------------------
    def connect(self) -> None:
        """Build the weight group over learner rank 0 and every live rollout actor (group transports)."""
        if not self.spec.group:
            return
        self._leave()
        members = [i for i, ok in enumerate(self.pool.alive) if ok]
        sender = self.learner.workers[0]
        host, port = ray.get(sender.rendezvous_address.remote(self.loopback))
        world = 1 + len(members)
        calls = [sender.join_weight_group.remote(host, port, world, self.loopback, self.timeout_s)]
        calls += [self.pool.actors[i].join_weight_group.remote(host, port, world, r + 1, self.loopback, self.timeout_s)
                  for r, i in enumerate(members)]
        ray.get(calls, timeout=self.timeout_s)
        self._members = members
        rdt.set_group_members([sender, *(self.pool.actors[i] for i in members)])

    def _group_intact(self) -> bool:
        """Every member still in the group (a restarted actor is a new process, outside it)."""
        if not self._members or any(not self.pool.alive[i] for i in self._members):
            return False
        if sorted(self._members) != [i for i, ok in enumerate(self.pool.alive) if ok]:
            return False  # an actor came back or joined: rebuild so it receives broadcasts too
        try:
            return all(ray.get([self.pool.actors[i].in_weight_group.remote() for i in self._members], timeout=self.timeout_s))
        except (RayActorError, ray.exceptions.GetTimeoutError):
            return False

    def _leave(self) -> None:
        calls = [self.learner.workers[0].leave_weight_group.remote()]
        calls += [self.pool.actors[i].leave_weight_group.remote() for i in self._members if self.pool.alive[i]]
        for c in calls:
            try:
                ray.get(c, timeout=self.timeout_s)
            except (RayActorError, ray.exceptions.GetTimeoutError):
                pass
        self._members = []
        rdt.set_group_members([])

    # ---- versions ------------------------------------------------------------------------
    def publish(self, republish: bool = False) -> PendingPush:
        """Start exporting the next version (or the current one again: resume); step boundary only."""
        if self.spec.group and not self._group_intact():
            self.connect()  # membership changed since the last push: rebuild at this step boundary
        version, refs = self.learner.start_export(self.kind, transport=self.transport, republish=republish)
        push = PendingPush(version, self.transport, refs)
        if self.spec.delivery == "broadcast":
            push.receive_calls = {i: self.pool.actors[i].receive_weights.remote() for i in self._members}
        elif self.spec.delivery == "direct":  # runs after rank 0's export (actor order); bytes stay on rank 0
            buckets = self.learner.workers[0].rdt_buckets.options(tensor_transport=rdt.TENSOR_TRANSPORT).remote(version)
            push.receive_calls = {i: self.pool.actors[i].load_weights_rdt.remote(refs[0], buckets) for i in self._members}
        else:  # the bytes are in the object store once the export returns: finish it here
            push.manifest = self._finish(push)
        return push

    def _finish(self, push: PendingPush) -> WeightManifest:
        try:
            return self.learner.finish_export(push.version, push.export_refs)
        except RayActorError as exc:
            raise WeightSyncError(f"weight version {push.version}: the sender (learner rank 0) died mid-push "
                                  f"({type(exc).__name__}); no rollout actor loaded it") from exc

    def deliver(self, push: PendingPush) -> dict[str, Any]:
        """Finish a push: every live actor serves `push.version`, or is marked down to catch up."""
        if not self.spec.group:
            stats = self.pool.load(push.manifest)
            stats.update(transport=self.transport, manifest=push.manifest)
            return stats
        try:
            manifest = self._finish(push)
        except RayTaskError as exc:
            if self.spec.delivery != "broadcast":
                raise  # rank 0's export itself failed (no receiver takes part in it)
            # a receiver died mid-broadcast and broke the group: the sender is alive, the version is
            # exported; actors that got every bucket loaded it, the rest are marked down and catch up
            self._members = []
            self.learner.version = max(self.learner.version, push.version)
            manifest = None
            sender_error = exc
        else:
            sender_error = None
        if self._catch_up_ref is not None and self._catch_up_ref[0] != push.version:
            self._catch_up_ref = None  # free the previous version's objref copy
        stats = self.pool.settle(push.version, push.receive_calls, self.catch_up, push.started, behind_ok=True)
        if sender_error is not None:
            stats["sender_error"] = str(sender_error.cause)[:200]
        for i in stats["behind"]:  # alive but the transfer broke under them: catch up now, at the boundary
            self.catch_up(i)
        if stats["behind"]:
            self._members = []  # their group is broken: rebuilt at the next push
        stats.update(transport=self.transport, manifest=manifest)
        return stats

    def push(self, republish: bool = False) -> tuple[WeightManifest | None, dict[str, Any]]:
        """Export a new version (or republish the current one) and load it everywhere."""
        stats = self.deliver(self.publish(republish))
        return stats.pop("manifest"), stats

    def catch_up(self, i: int) -> None:
        """Load the current version into actor i over objref (restarted or late actor; any transport).

        The objref export is made once per version, on the first actor that needs it."""
        version = self.pool.version
        with self._catch_up_lock:
            if self._catch_up_ref is None or self._catch_up_ref[0] != version:
                try:
                    manifest = self.learner.republish(self.kind, transport="objref")
                except RayActorError as exc:
                    raise WeightSyncError(f"weight version {version}: the sender (learner rank 0) died before actor {i} "
                                          f"could catch up ({type(exc).__name__})") from exc
                if manifest.version != version:
                    raise WeightSyncError(f"catch-up: the learner is at v{manifest.version}, the pool at v{version}")
                self._catch_up_ref = (version, ray.put(manifest))
            ref = self._catch_up_ref[1]
        ray.get(self.pool.actors[i].load_weights.remote(ref), timeout=self.timeout_s)

    def close(self) -> None:
        if self.spec.group:
            self._leave()
        self._catch_up_ref = None
