"""Turn a Plan into Ray placement-group specs: one group per role, one bundle per actor.

Pure (no Ray import), so the bundles can be checked for an 8-node cluster without one. Each bundle
carries the actor's CPUs and GPUs plus a tiny amount of a resource that exists only on the planned
node (`node:<ip>`, or a unique custom label when several Ray nodes share an IP), which pins the
bundle to that node whatever the strategy. Role-restricted nodes (`radrl_<role>`) are requested too.
"""

from __future__ import annotations

from dataclasses import dataclass

from radrl_dist.cluster.description import ROLE_LABEL_PREFIX
from radrl_dist.cluster.plan import ROLES, Plan, PlanError

AFFINITY_AMOUNT = 0.001  # a sliver of the node's unique resource: pins the bundle, blocks nothing


@dataclass(frozen=True)
class RoleBundles:
    role: str
    name: str  # placement group name, e.g. "radrl-rollout"
    strategy: str
    bundles: tuple[dict[str, float], ...]
    nodes: tuple[str, ...]  # planned node of each bundle

    def actor_options(self, index: int) -> dict[str, float]:
        """`num_cpus`/`num_gpus` for the actor that runs in bundle `index` (it must ask no more)."""
        b = self.bundles[index]
        return {"num_cpus": b.get("CPU", 0.0), "num_gpus": b.get("GPU", 0.0)}


def _check_strategy(role: str, strategy: str, nodes: list[str]) -> None:
    distinct = len(set(nodes))
    if strategy == "STRICT_PACK" and distinct > 1:
        raise PlanError(
            f"{role}: cluster.placement_strategy STRICT_PACK needs all {len(nodes)} bundles on one node, "
            f"but the plan uses {distinct} nodes; use PACK"
        )
    if strategy == "STRICT_SPREAD" and distinct < len(nodes):
        raise PlanError(
            f"{role}: cluster.placement_strategy STRICT_SPREAD needs each bundle on its own node, "
            f"but the plan puts {len(nodes)} bundles on {distinct} nodes; use SPREAD or PACK"
        )


def bundle_specs(plan: Plan, strategy: str = "PACK", name_prefix: str = "radrl") -> dict[str, RoleBundles]:
    """Placement-group specs per role, in placement order (rollout, learner, reward)."""
    gpu_roles = {p.role for p in plan.placements if p.gpus > 0}
    # Colocated roles reserve a 1/k slice of each shared GPU so that all k roles fit in Ray's books.
    gpu_scale = 1.0 / len(gpu_roles) if plan.colocate and gpu_roles else 1.0
    cluster = plan.cluster
    specs: dict[str, RoleBundles] = {}
    for role in ROLES:
        placed = plan.role(role)
        if not placed:
            continue
        label = f"{ROLE_LABEL_PREFIX}{role}"
        role_restricted = any(n.has_label(label) for n in cluster.nodes)
        bundles = []
        for p in placed:
            b: dict[str, float] = {"CPU": p.cpus}
            if p.gpus > 0:
                b["GPU"] = round(p.gpus * gpu_scale, 4)
            key = cluster.affinity_resource(p.node)
            if key is None and len(cluster.nodes) > 1:
                raise PlanError(
                    f"{role}: node {p.node!r} has no unique resource to pin a bundle to; give it an "
                    f"address (node:<ip>) or a custom resource only it has"
                )
            if key is not None:
                b[key] = AFFINITY_AMOUNT
            if role_restricted:
                b[label] = AFFINITY_AMOUNT
            bundles.append(b)
        nodes = [p.node for p in placed]
        _check_strategy(role, strategy, nodes)
        specs[role] = RoleBundles(role, f"{name_prefix}-{role}", strategy, tuple(bundles), tuple(nodes))
    return specs
