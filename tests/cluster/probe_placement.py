"""Run as a driver against a running cluster (RAY_ADDRESS set): describe it, plan, create the
placement groups, start one task per bundle and report where each ran, as one JSON line."""

import json
import sys

import ray
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from radrl_dist.cluster import ClusterDescription, bundle_specs, make_plan
from radrl_dist.cluster.placement_groups import create_placement_groups, remove_placement_groups
from radrl_dist.config.schema import RadRLConfig


def main() -> None:
    config = RadRLConfig.model_validate(json.loads(sys.argv[1]))
    ray.init(address="auto", logging_level="ERROR", log_to_driver=False)
    desc = ClusterDescription.from_ray()
    specs = bundle_specs(make_plan(config, desc), config.cluster.placement_strategy)
    pgs = create_placement_groups(specs, timeout_s=60)

    @ray.remote
    def where() -> str:
        return ray.util.get_node_ip_address()

    try:
        ran = {
            role: ray.get([
                where.options(**spec.actor_options(i), scheduling_strategy=PlacementGroupSchedulingStrategy(
                    pgs[role], placement_group_bundle_index=i)).remote()
                for i in range(len(spec.bundles))
            ], timeout=120)
            for role, spec in specs.items()
        }
    finally:
        remove_placement_groups(pgs)
    planned = {role: [desc.node(n).address for n in spec.nodes] for role, spec in specs.items()}
    print(json.dumps({"description": desc.model_dump(), "planned": planned, "ran": ran}))


if __name__ == "__main__":
    main()
