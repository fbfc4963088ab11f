"""Actors of one class, each in one placement bundle: the one spawning path of every role.

Why one helper (after OpenRLHF's actor group): rollout replicas, learner ranks and labeller actors
all need the same four things, and each role used to do them its own way: start an actor inside a
bundle (one the run's plan reserved, or a one-bundle group made on demand when a pool grows), Ray's
restart policy, a health probe, and a shutdown that kills the actors for good and gives back the
bundles made for them. The roles keep what is theirs (dispatch, weights, membership); where an
actor runs is decided here and in the plan, nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from radrl_dist.cluster.placement import RoleBundles
from radrl_dist.cluster.placement_groups import PlacementTimeout


@dataclass(frozen=True)
class Bundle:
    """One slot an actor runs in: bundle `index` of group `pg`, which reserves `resources`."""

    pg: PlacementGroup
    index: int
    resources: Mapping[str, float]
    node: str | None = None  # the planned node (None: wherever Ray found room)
    owned: bool = False  # the group was made for this slot only: it is removed with the actor

    def actor_options(self) -> dict[str, Any]:
        """What an actor in this bundle asks for: the bundle's CPUs and GPUs (never more), pinned to it."""
        return {
            "num_cpus": float(self.resources.get("CPU", 0.0)),
            "num_gpus": float(self.resources.get("GPU", 0.0)),
            "scheduling_strategy": PlacementGroupSchedulingStrategy(self.pg, placement_group_bundle_index=self.index),
        }


def role_resources(cpus: float, gpus: float = 0.0) -> dict[str, float]:
    """The bundle of one actor that may run anywhere (no node pin): what an elastic add reserves."""
    return {"CPU": float(cpus), **({"GPU": float(gpus)} if gpus else {})}


def bundles_of(pg: PlacementGroup, spec: RoleBundles) -> list[Bundle]:
    """The bundles of a role's group made from the plan (`create_placement_groups`), in actor order."""
    return [Bundle(pg, i, dict(b), spec.nodes[i]) for i, b in enumerate(spec.bundles)]


def reserve_group(resources: Sequence[Mapping[str, float]], strategy: str = "PACK", name: str = "",
                  lifetime: str | None = None) -> list[Bundle]:
    """A new group with one bundle per entry; its bundles are `owned` (removed with the group's last
    actor by `ActorGroup.shutdown`). Returns at once: Ray queues actors until the group is placed."""
    pg = placement_group([dict(r) for r in resources], strategy=strategy, name=name, lifetime=lifetime)
    return [Bundle(pg, i, dict(r), owned=True) for i, r in enumerate(resources)]


def reserve_bundle(resources: Mapping[str, float], name: str = "", lifetime: str | None = None) -> Bundle:
    """A one-bundle group for one actor (a pool growing while it runs). Returns at once."""
    return reserve_group([resources], name=name, lifetime=lifetime)[0]


def wait_placed(bundles: Sequence[Bundle], timeout_s: float, what: str) -> None:
    """Wait until every bundle's group is placed; on timeout release the owned ones and raise
    PlacementTimeout naming `what`, the resources asked for and what the cluster has free. With an
    autoscaling cluster a pending bundle is what makes a node come up: give it time to boot."""
    groups = {id(b.pg): b.pg.ready() for b in bundles}
    ready, pending = ray.wait(list(groups.values()), num_returns=len(groups), timeout=timeout_s)
    if pending:
        release(bundles)
        placed = sum(1 for b in bundles if groups[id(b.pg)] in ready)
        raise PlacementTimeout(f"{what}: not placed after {timeout_s:g}s: "
                               f"{missing_resources(bundles[0].resources, len(bundles), placed)}")


def missing_resources(bundle: Mapping[str, float], n_total: int, n_placed: int) -> str:
    """"requested CPU 5 for 20 actors ({'CPU': 0.25} each, 2 placed); free now CPU 0.5 of 4 ...": what a
    start asked for against what the cluster has, for the resource kinds the bundle names."""
    free, total = ray.available_resources(), ray.cluster_resources()
    want = ", ".join(f"{k} {v * n_total:g}" for k, v in bundle.items())
    have = ", ".join(f"{k} {free.get(k, 0.0):g} of {total.get(k, 0.0):g}" for k in bundle)
    return (f"requested {want} for {n_total} actors ({dict(bundle)} each, {n_placed} placed); free now {have} "
            f"(add nodes, drain other work, or ask for fewer actors)")


def release(bundles: Sequence[Bundle]) -> None:
    """Remove the groups of owned bundles (each once); groups the plan made stay with the run."""
    for pg in {id(b.pg): b.pg for b in bundles if b.owned}.values():
        try:
            remove_placement_group(pg)
        except Exception:  # noqa: BLE001 - already removed
            pass


def _where() -> dict[str, Any]:
    ctx = ray.get_runtime_context()
    return {"node_id": ctx.get_node_id(), "ip": ray.util.get_node_ip_address(), "pg": ctx.get_placement_group_id()}


@dataclass
class Member:
    handle: Any
    bundle: Bundle
    name: str | None = None


@dataclass
class ActorGroup:
    """Actors of one Ray actor class for one role; `spawn_into` is the only way they start.

    Restart policy: Ray restarts a dead actor in place (same bundle) up to `max_restarts` times;
    calls are not retried by Ray (`max_task_retries`), the roles resend work themselves.
    """

    role: str
    actor_cls: Any  # a Ray actor class (`ray.remote(...)`)
    max_restarts: int = 0
    max_task_retries: int = 0
    env_vars: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)  # e.g. max_concurrency
    members: list[Member] = field(default_factory=list)

    @property
    def handles(self) -> list[Any]:
        return [m.handle for m in self.members]

    def spawn_into(self, bundle: Bundle, *args, name: str | None = None, namespace: str | None = None,
                   **kwargs) -> Any:
        """Start one actor in `bundle` (constructor args follow) and return its handle at once."""
        opts: dict[str, Any] = {**self.options, **bundle.actor_options(),
                                "max_restarts": self.max_restarts, "max_task_retries": self.max_task_retries}
        if self.env_vars:
            opts["runtime_env"] = {"env_vars": dict(self.env_vars)}
        if name is not None:
            opts.update(name=name, namespace=namespace)
        handle = self.actor_cls.options(**opts).remote(*args, **kwargs)
        self.members.append(Member(handle, bundle, name))
        return handle

    def spawn(self, bundles: Sequence[Bundle], args_of: Callable[[int], tuple]) -> list[Any]:
        """One actor per bundle, actor i built with `args_of(i)`; handles in bundle order."""
        return [self.spawn_into(b, *args_of(i)) for i, b in enumerate(bundles)]

    def bundle_of(self, handle: Any) -> Bundle:
        return next(m.bundle for m in self.members if m.handle == handle)

    def health(self, timeout_s: float = 30.0) -> list[bool]:
        """Whether each actor answers a no-op call within `timeout_s` (False: dead or restarting)."""
        refs = [m.handle.__ray_call__.remote(lambda self: True) for m in self.members]
        out = []
        for r in refs:
            try:
                out.append(bool(ray.get(r, timeout=timeout_s)))
            except (RayActorError, GetTimeoutError):
                out.append(False)
        return out

    def locate(self, timeout_s: float = 60.0) -> list[dict[str, Any]]:
        """Where each actor actually runs: node id, node IP, placement group id (status, tests)."""
        return ray.get([m.handle.__ray_call__.remote(lambda self: _where()) for m in self.members], timeout=timeout_s)

    def remove(self, handle: Any) -> None:
        """Kill one actor for good and give back its bundle if it was made for it."""
        member = next(m for m in self.members if m.handle == handle)
        self.members.remove(member)
        stop_actor(member.handle)
        if member.bundle.owned and not any(m.bundle.pg is member.bundle.pg for m in self.members):
            release([member.bundle])

    def shutdown(self) -> None:
        """Kill every actor for good (no Ray restart), then remove the groups made for them."""
        members, self.members = self.members, []
        for m in members:
            stop_actor(m.handle)
        release([m.bundle for m in members])


def stop_actor(handle: Any) -> None:
    """Kill an actor for good (Ray does not restart it); a gone actor is fine."""
    try:
        ray.kill(handle, no_restart=True)
    except Exception:  # noqa: BLE001 - already gone
        pass
