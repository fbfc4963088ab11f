"""The text `python -m radrl_dist.train --plan` prints: one line per actor, then one per node."""

from __future__ import annotations

import sys
from pathlib import Path

from radrl_dist.cluster.description import ClusterDescription, ClusterDescriptionError, local_gpu_count
from radrl_dist.cluster.plan import Plan, PlanError, make_plan
from radrl_dist.config.schema import RadRLConfig


def _gpus_text(gpu_ids: tuple[int, ...], share: float) -> str:
    if not gpu_ids:
        return "-"
    ids = ",".join(str(i) for i in gpu_ids)
    return ids if share >= 1 else f"{ids} ({share:g})"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def render_plan(plan: Plan) -> str:
    tp = {d.role: d.tensor_parallel_size for d in plan.demands}
    rows = [["role", "actor", "node", "gpus", "cpus", "note"]]
    for p in plan.placements:
        if p.role == "rollout":
            note = f"engine, TP {tp.get('rollout', 1)}" if p.gpu_ids else "engine"
        elif p.role == "learner":
            note = f"rank {p.index}"
        else:
            note = "labeler"
        rows.append([p.role, str(p.index), p.node, _gpus_text(p.gpu_ids, p.gpu_share), f"{p.cpus:g}", note])
    nodes = [["node", "gpu type", "gpus used", "cpus used", "roles"]]
    for n in plan.cluster.nodes:
        on = [p for p in plan.placements if p.node == n.name]
        roles = sorted({p.role for p in on}, key=["rollout", "learner", "reward"].index)
        used_gpus = sum(p.gpus for p in on)
        nodes.append([
            n.name, n.gpu_type or "-", f"{used_gpus:g}/{n.num_gpus}",
            f"{sum(p.cpus for p in on):g}/{n.num_cpus:g}", ",".join(roles) or "-",
        ])
    mode = "colocated (roles share GPUs, time-sliced)" if plan.colocate else "roles on separate GPUs"
    head = (
        f"placement plan: {len(plan.cluster.nodes)} node(s), {plan.cluster.total_gpus} GPU(s), "
        f"{plan.cluster.total_cpus:g} CPU(s); {mode}"
    )
    foot = "GPU indices are the planner's accounting; Ray picks the physical devices inside each node."
    idle = idle_capacity(plan)
    return "\n".join([head, "", *_table(rows), "", *_table(nodes), "", *([idle, ""] if idle else []), foot])


def idle_capacity(plan: Plan) -> str | None:
    """A line saying which GPUs and nodes no actor uses (None when everything is used): a plan that
    leaves most of a cluster idle is usually a config written for a smaller one."""
    used_gpus = {(p.node, g) for p in plan.placements for g in p.gpu_ids}
    used_nodes = {p.node for p in plan.placements}
    # a node with nothing to offer (the launcher's CPU: 0 head) is not idle capacity
    idle_nodes = [n.name for n in plan.cluster.nodes if n.name not in used_nodes and (n.num_gpus or n.num_cpus)]
    idle_gpus = plan.cluster.total_gpus - len(used_gpus)
    if not idle_gpus and not idle_nodes:
        return None
    names = ", ".join(idle_nodes) if len(idle_nodes) <= 4 else f"{idle_nodes[0]} ... {idle_nodes[-1]}"
    nodes = f"; {len(idle_nodes)} of {len(plan.cluster.nodes)} node(s) host no actor ({names})" if idle_nodes else ""
    return (f"idle: {idle_gpus} of {plan.cluster.total_gpus} GPU(s) unused{nodes}. Raise rollout.num_actors / "
            f"learner.num_workers / reward.num_actors to use them, or run on a smaller cluster.")


def load_description(config: RadRLConfig, description: str | Path | None) -> ClusterDescription:
    """None: this machine as a local Ray would see it; 'ray': the running cluster; else a YAML file."""
    if description is None:
        return ClusterDescription.single_node(config.cluster.num_cpus, local_gpu_count())
    if str(description) == "ray":
        return ClusterDescription.from_ray(config.cluster.address)
    return ClusterDescription.from_yaml(description)


def print_plan(config: RadRLConfig, description: str | Path | None = None) -> str:
    """The `--plan` text for `config` on the described cluster (raises PlanError if a role does not fit)."""
    return render_plan(make_plan(config, load_description(config, description)))


def plan_command(config: RadRLConfig, description: str | Path | None = None) -> int:
    """`--plan`: print the plan and return 0, or print one line saying why there is none and return 2
    (a missing or invalid description, a role that does not fit, no running cluster for `ray`)."""
    try:
        print(print_plan(config, description))
        return 0
    except (ClusterDescriptionError, PlanError) as exc:
        print(f"--plan: {exc}", file=sys.stderr)
    except ConnectionError as exc:
        print(f"--plan --cluster ray: no running Ray cluster to describe ({exc})", file=sys.stderr)
    return 2
