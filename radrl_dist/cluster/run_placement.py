"""The run's placement: the plan `--plan --cluster ray` prints, made into the bundles every role uses.

Why here and once: the plan is a pure function of the config and the cluster (plan.py), so the run
describes the running cluster, makes the same plan, prints it, and reserves exactly its bundles:
rollout and learner get one placement group per role (all or nothing, pinned node by node), reward
actors get one one-bundle group each from their planned bundles (the reward pool adds, drains and
swaps actors while the run goes on, which a fixed group cannot do). No role places itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ray

from radrl_dist.cluster.actor_group import Bundle, bundles_of
from radrl_dist.cluster.description import ClusterDescription
from radrl_dist.cluster.placement import bundle_specs
from radrl_dist.cluster.placement_groups import create_placement_groups, remove_placement_groups
from radrl_dist.cluster.plan import Plan, make_plan
from radrl_dist.cluster.render import render_plan
from radrl_dist.config.schema import RadRLConfig


@dataclass
class RunPlacement:
    plan: Plan
    text: str  # what `--plan --cluster ray` prints for this config on this cluster
    rollout: list[Bundle]
    learner: list[Bundle]
    reward: list[dict[str, float]]  # each labeller actor's planned bundle; the pool makes a group per actor
    groups: dict[str, Any] = field(default_factory=dict)

    def release(self) -> None:
        """Remove the role groups (after the roles' actors are gone)."""
        groups, self.groups = self.groups, {}
        remove_placement_groups(groups)


def place_run(config: RadRLConfig, description: ClusterDescription | None = None,
              timeout_s: float | None = None) -> RunPlacement:
    """Plan on the running cluster (or `description`) and reserve the rollout and learner groups.

    Raises PlanError when a role does not fit the cluster, PlacementTimeout when the cluster has the
    room on paper but not free now (other jobs), naming the role in both cases.
    """
    desc = description or ClusterDescription.from_ray()
    plan = make_plan(config, desc)
    job = ray.get_runtime_context().get_job_id()
    specs = bundle_specs(plan, config.cluster.placement_strategy, name_prefix=f"radrl-{job}")
    reward = specs.pop("reward")
    timeout = config.cluster.placement_timeout_s if timeout_s is None else timeout_s
    groups = create_placement_groups(specs, timeout_s=timeout)
    return RunPlacement(plan=plan, text=render_plan(plan),
                        rollout=bundles_of(groups["rollout"], specs["rollout"]),
                        learner=bundles_of(groups["learner"], specs["learner"]),
                        reward=[dict(b) for b in reward.bundles], groups=groups)
