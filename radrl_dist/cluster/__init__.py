"""Cluster layout: describe a cluster, plan where each actor runs, turn the plan into placement groups."""

from radrl_dist.cluster.description import ClusterDescription, ClusterDescriptionError, NodeSpec
from radrl_dist.cluster.plan import Placement, Plan, PlanError, make_plan
from radrl_dist.cluster.placement import RoleBundles, bundle_specs
from radrl_dist.cluster.render import print_plan, render_plan

__all__ = [
    "ClusterDescription", "ClusterDescriptionError", "NodeSpec", "Placement", "Plan", "PlanError",
    "RoleBundles", "bundle_specs", "make_plan", "print_plan", "render_plan",
]
