"""The text `python -m radrl_dist.train --plan` prints: one line per actor, then one per node."""

from __future__ import annotations

from pathlib import Path

from radrl_dist.cluster.description import ClusterDescription
from radrl_dist.cluster.plan import Plan, make_plan
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
    return "\n".join([head, "", *_table(rows), "", *_table(nodes), "", foot])


def load_description(config: RadRLConfig, description: str | Path | None) -> ClusterDescription:
    """None: this machine from the config; 'ray': the running cluster; else a YAML file."""
    if description is None:
        return ClusterDescription.single_node(config.cluster.num_cpus, config.cluster.num_gpus)
    if str(description) == "ray":
        return ClusterDescription.from_ray(config.cluster.address)
    return ClusterDescription.from_yaml(description)


def print_plan(config: RadRLConfig, description: str | Path | None = None) -> str:
    """The `--plan` text for `config` on the described cluster (raises PlanError if a role does not fit)."""
    return render_plan(make_plan(config, load_description(config, description)))
