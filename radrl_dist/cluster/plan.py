"""Which actor lands on which node and GPU: a pure function of the config and a cluster description.

Rules (first fit, nodes in the description's order, GPUs in index order):
- Roles are placed in the order rollout, learner, reward. Rollout engines go first because a
  tensor-parallel engine needs all its GPUs inside one node; the learner then fills whole nodes in
  order (its ranks stay contiguous, which keeps NCCL traffic inside nodes); reward actors, small and
  often fractional, take what is left.
- One actor is one process, so all GPUs of an actor are on one node: a rollout engine with
  `gpus_per_actor: 2` (tensor_parallel_size 2) takes 2 free GPUs of one node; replicas spread over
  nodes as nodes fill.
- A fractional GPU share (`gpus_per_actor: 0.25`) packs several actors of the same role onto one GPU;
  a share above 1 must be a whole number.
- Roles get GPUs of their own unless `cluster.colocate` is set; then each role is laid out on the
  whole cluster independently (time-sliced sharing) and only CPUs are counted across roles.
- Role labels: when any node carries the custom resource `radrl_<role>` (e.g. `radrl_rollout`), that
  role only uses such nodes. Unlabelled roles may use any node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from radrl_dist.cluster.description import ROLE_LABEL_PREFIX, ClusterDescription, NodeSpec
from radrl_dist.config.schema import RadRLConfig

ROLES = ("rollout", "learner", "reward")  # placement order
_EPS = 1e-9


class PlanError(ValueError):
    """A role that does not fit; the message names the role, the actor and what is free."""


@dataclass(frozen=True)
class RoleDemand:
    role: str
    count: int
    gpus_each: float
    cpus_each: float
    config_key: str  # where the GPU count comes from, for messages
    tensor_parallel_size: int = 1


@dataclass(frozen=True)
class Placement:
    role: str
    index: int  # actor index within its role (learner: its rank)
    node: str
    gpu_ids: tuple[int, ...]  # GPU indices on the node (planner's accounting; Ray picks devices)
    gpu_share: float  # share of each listed GPU: 1.0 whole GPUs, <1 fractional, 0 no GPU
    cpus: float

    @property
    def gpus(self) -> float:
        return len(self.gpu_ids) * self.gpu_share


@dataclass(frozen=True)
class Plan:
    cluster: ClusterDescription
    placements: tuple[Placement, ...]
    colocate: bool = False
    demands: tuple[RoleDemand, ...] = field(default=())

    def role(self, role: str) -> list[Placement]:
        return [p for p in self.placements if p.role == role]

    def nodes_of(self, role: str) -> list[str]:
        """Nodes a role uses, in description order."""
        used = {p.node for p in self.role(role)}
        return [n.name for n in self.cluster.nodes if n.name in used]


def demands_from_config(config: RadRLConfig) -> tuple[RoleDemand, ...]:
    r, w, lr = config.rollout, config.reward, config.learner
    by_role = {
        "rollout": RoleDemand("rollout", r.num_actors, r.gpus_per_actor, r.cpus_per_actor,
                              "rollout.gpus_per_actor", r.tensor_parallel_size),
        "learner": RoleDemand("learner", lr.num_workers, lr.gpus_per_worker, lr.cpus_per_worker,
                              "learner.gpus_per_worker"),
        "reward": RoleDemand("reward", w.num_actors, w.gpus_per_actor, w.cpus_per_actor, "reward.gpus_per_actor"),
    }
    return tuple(by_role[role] for role in ROLES)


class _Free:
    """Mutable free capacity: CPUs per node, and the free share of each GPU per node."""

    def __init__(self, cluster: ClusterDescription):
        self.cpus = {n.name: n.num_cpus for n in cluster.nodes}
        self.fresh_gpus(cluster)

    def fresh_gpus(self, cluster: ClusterDescription) -> None:
        self.gpus = {n.name: [1.0] * n.num_gpus for n in cluster.nodes}
        self.owner: dict[str, list[str | None]] = {n.name: [None] * n.num_gpus for n in cluster.nodes}

    def summary(self, nodes: list[NodeSpec]) -> str:
        parts = []
        for n in nodes:
            whole = sum(1 for g in self.gpus[n.name] if g >= 1 - _EPS)
            parts.append(f"{n.name}: {whole}/{n.num_gpus} GPUs free, {self.cpus[n.name]:g} CPUs free")
        return "; ".join(parts)


def _allowed_nodes(cluster: ClusterDescription, role: str) -> list[NodeSpec]:
    label = f"{ROLE_LABEL_PREFIX}{role}"
    labelled = [n for n in cluster.nodes if n.has_label(label)]
    return labelled or list(cluster.nodes)


def _take(free: _Free, node: NodeSpec, d: RoleDemand) -> tuple[tuple[int, ...], float] | None:
    """Reserve one actor of `d` on `node` if it fits: (gpu ids, share per GPU)."""
    if free.cpus[node.name] < d.cpus_each - _EPS:
        return None
    gpus, owner = free.gpus[node.name], free.owner[node.name]
    if d.gpus_each == 0:
        ids: tuple[int, ...] = ()
        share = 0.0
    elif d.gpus_each < 1:
        # a GPU shared by fractions stays within one role: roles never share GPUs unless colocated
        idx = next(
            (i for i, g in enumerate(gpus) if g >= d.gpus_each - _EPS and owner[i] in (None, d.role)), None
        )
        if idx is None:
            return None
        gpus[idx] -= d.gpus_each
        owner[idx] = d.role
        ids, share = (idx,), d.gpus_each
    else:
        whole = [i for i, g in enumerate(gpus) if g >= 1 - _EPS][: int(d.gpus_each)]
        if len(whole) < d.gpus_each:
            return None
        for i in whole:
            gpus[i], owner[i] = 0.0, d.role
        ids, share = tuple(whole), 1.0
    free.cpus[node.name] -= d.cpus_each
    return ids, share


def _check_shape(cluster: ClusterDescription, d: RoleDemand, nodes: list[NodeSpec]) -> None:
    """Errors that no amount of free capacity would fix, stated plainly."""
    if d.gpus_each > 1 and not float(d.gpus_each).is_integer():
        raise PlanError(f"{d.role}: {d.config_key}={d.gpus_each:g}: above 1 a GPU count must be whole")
    biggest = max(n.num_gpus for n in nodes)
    if d.gpus_each > 0 and biggest == 0:
        raise PlanError(f"{d.role}: {d.config_key}={d.gpus_each:g} but the cluster has no GPUs")
    if d.gpus_each > biggest:
        tp = f" (tensor_parallel_size={d.tensor_parallel_size})" if d.role == "rollout" else ""
        raise PlanError(
            f"{d.role}: one actor needs {d.gpus_each:g} GPUs inside one node{tp}, "
            f"but the largest node it may use has {biggest}"
        )


def make_plan(config: RadRLConfig, cluster: ClusterDescription) -> Plan:
    """Place every actor of every role, or raise PlanError naming the role that does not fit."""
    demands = demands_from_config(config)
    colocate = config.cluster.colocate
    if colocate and any(d.gpus_each > 1 for d in demands):
        worst = next(d for d in demands if d.gpus_each > 1)
        raise PlanError(
            f"{worst.role}: cluster.colocate shares GPUs between roles, which Ray can do only for actors "
            f"of at most one GPU; {worst.config_key}={worst.gpus_each:g}. Set cluster.colocate: false."
        )
    free = _Free(cluster)
    placements: list[Placement] = []
    done: list[str] = []
    for d in demands:
        nodes = _allowed_nodes(cluster, d.role)
        _check_shape(cluster, d, nodes)
        if colocate:
            free.fresh_gpus(cluster)
        for i in range(d.count):
            for node in nodes:
                got = _take(free, node, d)
                if got is not None:
                    placements.append(Placement(d.role, i, node.name, got[0], got[1], d.cpus_each))
                    break
            else:
                after = f" after {', '.join(done)}" if done else ""
                need = f"{d.gpus_each:g} GPU(s) on one node and {d.cpus_each:g} CPUs"
                total = math.ceil(d.count * d.gpus_each) if d.gpus_each else 0
                raise PlanError(
                    f"{d.role}: actor {i} of {d.count} does not fit (needs {need}; the role needs "
                    f"{total} GPUs and {d.count * d.cpus_each:g} CPUs in all). "
                    f"Free{after}: {free.summary(nodes)}"
                )
        done.append(d.role)
    return Plan(cluster=cluster, placements=tuple(placements), colocate=colocate, demands=demands)
