"""The RolloutPool's side of elastic membership: adopt added replicas, drain, forget lost ones.

Kept apart from the pool's dispatch (pool.py) so that a pool without a membership actor (benches,
most tests) runs exactly as before. Indices never shift: a replica that leaves stays in
`actors`/`alive` as down and `retired`, so the weight-sync seam, which addresses replicas by pool
index, keeps working; the next push rebuilds a collective group without it.

When changes apply:
- adds at a step boundary only (`apply_membership`, no generate running): the replica loads the
  pool's current version by reference (the pool's catch-up, i.e. WeightSync.catch_up) before it is
  marked alive, so it never serves a stale version; the next push reaches it like the others;
- drains at the boundary, and also mid-step: generate waits on the membership actor's long poll
  beside its chunks (`membership_watch`), so a drained replica gets no new chunk, hands in the
  ones it holds, and is stopped as soon as it holds none;
- a replica that died with its node is retired as lost (it is not waited for at every step the way
  a restarting process is); its chunk was already re-queued on the others by generate.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import ray
from ray.exceptions import RayError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from radrl_dist.rollout.membership import MembershipSettings, RolloutMembershipActor, _node_id

WATCH_S = 30.0  # how long one long poll of the membership actor waits for a change


class ElasticPool:
    """Mixin for RolloutPool (uses its `cfg`, `model_cfg`, `max_prompt_length`, `actors`, `alive`, `infos`,
    `_busy`, `_bring_current`, `version`, `revive_timeout_s`)."""

    _membership: Any = None
    _watch: Any = None
    _epoch: int = 0
    retired: frozenset[int] | set[int] = frozenset()  # replicas that left for good (drained or lost)
    draining: frozenset[int] | set[int] = frozenset()  # take no new chunk, stop once idle
    replica_ids: list[str] | tuple = ()  # "r<k>" per pool index (lists once a membership actor is open)
    nodes: list[str | None] | tuple = ()  # Ray node id per pool index

    def open_membership(self, name: str | None = None, namespace: str | None = None,
                        start_timeout_s: float | None = None, max_restarts: int = 1, actor_cls: Any = None) -> Any:
        """Start the named membership actor for this pool (`rollout.pool_name` in `rollout.pool_namespace`)
        so operators can add and drain replicas; registers the running ones as r0..r{N-1}. Added replicas
        are made from the pool's own actor class (`actor_cls` overrides it: benches, drills), so they
        speak the run's weight transport (rdt: Ray tensor-transport actors) like the first ones."""
        name, namespace = name or self.cfg.pool_name, namespace or self.cfg.pool_namespace
        try:
            ray.get_actor(name, namespace=namespace)
        except ValueError:
            pass
        else:
            raise ValueError(f"a rollout membership actor named {name!r} already runs in namespace {namespace!r} "
                             "(another run on this cluster?): set rollout.pool_name to another name")
        settings = MembershipSettings(name, namespace, self.cfg, self.model_cfg, self.max_prompt_length,
                                      start_timeout_s or self.cfg.start_timeout_s, max_restarts)
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        self._membership = RolloutMembershipActor.options(  # on the driver's node: it shares the run's fate only
            name=name, namespace=namespace, num_cpus=0, max_concurrency=64, max_restarts=0, scheduling_strategy=here,
        ).remote(settings, actor_cls or self.group.actor_cls)
        self.retired, self.draining = set(), set()
        self._membership_name = (name, namespace)
        self.replica_ids = [f"r{i}" for i in range(len(self.actors))]
        self.nodes = ray.get([a.__ray_call__.remote(_node_id) for a in self.actors])
        ray.get(self._membership.register.remote([{"index": i, "node_id": n} for i, n in enumerate(self.nodes)]))
        self._epoch, self._watch = 0, None
        return self._membership

    def close_membership(self) -> None:
        if self._membership is None:
            return
        try:
            ray.get(self._membership.shutdown.remote(), timeout=60)
        except RayError:
            pass
        ray.kill(self._membership, no_restart=True)
        self._membership = self._watch = None
        deadline = time.monotonic() + 30  # free the name for the next run in this cluster before returning
        while time.monotonic() < deadline:
            try:
                ray.get_actor(self._membership_name[0], namespace=self._membership_name[1])
            except ValueError:
                return
            time.sleep(0.1)

    # ---- step boundary ---------------------------------------------------------------------
    def apply_membership(self) -> dict[str, list[str]]:
        """Step boundary (no generate running): adopt READY replicas (each loads the current
        version first) and stop drained ones. Returns what changed."""
        if self._membership is None:
            return {}
        snap = ray.get(self._membership.changes.remote(self._epoch, 0.0), timeout=60)
        out = self._apply_drains(snap)
        out["added"], out["failed"] = [], []
        for rid, handle, node in snap["ready"]:
            if rid in self.replica_ids:
                continue
            i = len(self.actors)
            self.actors.append(handle)
            self.alive.append(False)
            self.replica_ids.append(rid)
            self.nodes.append(node)
            self.infos.append({"replica_id": rid})
            if self._bring_current(i, self.revive_timeout_s):  # loads the current version by reference
                self.infos[i] = ray.get(handle.info.remote(), timeout=60)
                self._membership.adopted.remote(rid, i)
                out["added"].append(rid)
            else:
                self.retired.add(i)
                self._membership.failed.remote(rid, f"could not load weight version {self.version}")
                out["failed"].append(rid)
        return out

    def report_served(self, chunks_by_actor: list[int]) -> None:
        """Tell the membership actor the version served and chunks per replica (for `status`)."""
        if self._membership is not None:
            self._membership.report.remote(self.version, {self.replica_ids[i]: k for i, k in enumerate(chunks_by_actor)
                                                          if k and i < len(self.replica_ids)})

    # ---- mid-step --------------------------------------------------------------------------
    def membership_watch(self) -> list[Any]:
        """The armed long poll (0 or 1 refs) for generate to wait on beside its chunks."""
        if self._membership is None:
            return []
        if self._watch is None:
            self._watch = self._membership.changes.remote(self._epoch, WATCH_S)
        return [self._watch]

    def on_membership_change(self) -> None:
        """The long poll answered: apply drains now (adds wait for the step boundary), re-arm."""
        ref, self._watch = self._watch, None
        try:
            snap = ray.get(ref)
        except RayError as exc:  # the membership actor is gone: the run goes on with the replicas it has
            print(f"rollout membership actor lost ({type(exc).__name__}); replicas can no longer be added or "
                  "drained in this run", flush=True)
            self._membership = None
            return
        self._apply_drains(snap)

    def _apply_drains(self, snap: dict) -> dict[str, list[str]]:
        self._epoch = snap["epoch"]
        drained = []
        for rid in snap["draining"]:
            i = self.replica_ids.index(rid) if rid in self.replica_ids else None
            if i is None or i in self.retired:
                continue
            self.draining.add(i)
            if self.release_if_drained(i):
                drained.append(rid)
        return {"drained": drained}

    def release_if_drained(self, i: int) -> bool:
        """Stop replica i if it is draining and holds no chunk; True if it was stopped."""
        if i not in self.draining or self._busy[i] > 0:
            return False
        self._retire(i)
        self._membership.released.remote(self.replica_ids[i])
        return True

    def _retire(self, i: int) -> None:
        self.draining.discard(i)
        self.retired.add(i)
        self.alive[i] = False
        group, handle = getattr(self, "group", None), self.actors[i]
        if group is not None and any(m.handle == handle for m in group.members):
            group.remove(handle)  # the run's own replica: killed for good; a bundle of the plan stays with the run
        else:  # added by the membership actor, which gives its bundle back when told (released/lost)
            try:
                ray.kill(handle, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass

    # ---- node loss -------------------------------------------------------------------------
    def forget_lost(self, down: Iterable[int]) -> list[int]:
        """Retire the down replicas whose node is gone (Ray would restart them elsewhere only if a
        bundle happened to fit; the pool does not wait for that at every step). Returns them."""
        if self._membership is None:
            return []
        down = [i for i in down if i not in self.retired and i < len(self.nodes) and self.nodes[i]]
        if not down:
            return []
        live = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
        lost = [i for i in down if self.nodes[i] not in live]
        for i in lost:
            self._retire(i)
            self._membership.lost.remote(self.replica_ids[i], f"node {self.nodes[i][:12]} lost")
        return lost

    def node_lost(self, i: int) -> bool:
        """Whether replica i's node is gone (False when unknown: no membership actor)."""
        if self._membership is None or i >= len(self.nodes) or not self.nodes[i]:
            return False
        return self.nodes[i] not in {n["NodeID"] for n in ray.nodes() if n["Alive"]}
