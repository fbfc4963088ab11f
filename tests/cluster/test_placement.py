"""Bundle specs from plans (pure), and real placement groups from a plan on a local Ray."""

import time

import pytest

from radrl_dist.cluster import ClusterDescription, PlanError, bundle_specs, make_plan
from radrl_dist.cluster.placement import AFFINITY_AMOUNT, RoleBundles
from radrl_dist.config.schema import RadRLConfig


def cfg(rollout, learner, reward, colocate=False):
    return RadRLConfig.model_validate({
        "rollout": {"engine": "vllm", "num_actors": rollout[0], "gpus_per_actor": rollout[1],
                    "tensor_parallel_size": rollout[2], "cpus_per_actor": 4},
        "learner": {"num_workers": learner[0], "gpus_per_worker": learner[1], "cpus_per_worker": 8},
        "reward": {"num_actors": reward[0], "gpus_per_actor": reward[1], "cpus_per_actor": 2},
        "cluster": {"colocate": colocate},
    })


def two_nodes(addresses=True):
    return ClusterDescription.from_dict({"nodes": [
        {"name": f"n{i}", "num_cpus": 96, "num_gpus": 8, **({"address": f"10.0.0.{i + 1}"} if addresses else {})}
        for i in range(2)
    ]})


def test_bundles_per_role_pinned_to_planned_nodes():
    plan = make_plan(cfg((4, 2, 2), (6, 1), (2, 1)), two_nodes())
    specs = bundle_specs(plan, "PACK")
    assert list(specs) == ["rollout", "learner", "reward"]
    ro = specs["rollout"]
    assert ro.name == "radrl-rollout" and ro.strategy == "PACK"
    assert ro.bundles == tuple({"CPU": 4, "GPU": 2, "node:10.0.0.1": AFFINITY_AMOUNT} for _ in range(4))
    assert specs["learner"].bundles[0] == {"CPU": 8, "GPU": 1, "node:10.0.0.2": AFFINITY_AMOUNT}
    assert specs["learner"].nodes == ("n1",) * 6 and specs["reward"].nodes == ("n1", "n1")
    assert ro.actor_options(3) == {"num_cpus": 4, "num_gpus": 2}


def test_strict_strategies_checked_against_the_plan():
    plan = make_plan(cfg((1, 2, 2), (12, 1), (1, 1)), two_nodes())  # learner spans n0 and n1
    with pytest.raises(PlanError, match="^learner: cluster.placement_strategy STRICT_PACK .* uses 2 nodes"):
        bundle_specs(plan, "STRICT_PACK")
    with pytest.raises(PlanError, match="^rollout: cluster.placement_strategy STRICT_SPREAD"):
        bundle_specs(make_plan(cfg((2, 2, 2), (1, 1), (1, 1)), two_nodes()), "STRICT_SPREAD")
    assert bundle_specs(make_plan(cfg((2, 2, 2), (1, 1), (1, 1)), two_nodes()), "STRICT_PACK")


def test_nodes_without_unique_resource_cannot_be_pinned():
    plan = make_plan(cfg((1, 2, 2), (1, 1), (1, 1)), two_nodes(addresses=False))
    with pytest.raises(PlanError, match="^rollout: node 'n0' has no unique resource"):
        bundle_specs(plan)
    shared_ip = ClusterDescription.from_dict({"nodes": [
        {"name": "a", "address": "127.0.0.1", "num_cpus": 2, "resources": {"node_a": 1}},
        {"name": "b", "address": "127.0.0.1", "num_cpus": 2, "resources": {"node_b": 1}},
    ]})
    specs = bundle_specs(make_plan(RadRLConfig(), shared_ip))
    assert specs["rollout"].bundles[0] == {"CPU": 0.5, "node_a": AFFINITY_AMOUNT}


def test_role_labels_requested_and_colocated_gpus_sliced():
    labelled = ClusterDescription.from_dict({"nodes": [
        {"name": "i", "address": "10.0.0.1", "num_cpus": 64, "num_gpus": 4, "resources": {"radrl_rollout": 1}},
        {"name": "t", "address": "10.0.0.2", "num_cpus": 64, "num_gpus": 4},
    ]})
    specs = bundle_specs(make_plan(cfg((2, 2, 2), (3, 1), (1, 1)), labelled))
    assert specs["rollout"].bundles[0] == {"CPU": 4, "GPU": 2, "node:10.0.0.1": AFFINITY_AMOUNT,
                                           "radrl_rollout": AFFINITY_AMOUNT}
    assert "radrl_learner" not in specs["learner"].bundles[0]
    one = ClusterDescription.from_dict({"nodes": [{"name": "x", "num_cpus": 64, "num_gpus": 2}]})
    specs = bundle_specs(make_plan(cfg((2, 1, 1), (2, 1), (2, 0.5), colocate=True), one))
    # three roles share each GPU: each reserves a third of its share so Ray's books balance
    assert [b["GPU"] for b in specs["rollout"].bundles] == [0.3333, 0.3333]
    assert [b["GPU"] for b in specs["reward"].bundles] == [0.1667, 0.1667]
    assert "node:" not in str(specs["rollout"].bundles)  # one node: nothing to pin


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=4, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def test_placement_groups_from_plan_on_local_ray(local_ray):
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    from radrl_dist.cluster.placement_groups import create_placement_groups, remove_placement_groups

    ray = local_ray
    desc = ClusterDescription.from_ray()
    assert len(desc.nodes) == 1 and desc.nodes[0].num_cpus == 4
    config = RadRLConfig.model_validate({"rollout": {"num_actors": 2}, "learner": {"num_workers": 2}})
    specs = bundle_specs(make_plan(config, desc), config.cluster.placement_strategy)
    pgs = create_placement_groups(specs, timeout_s=60)
    try:
        assert ray.available_resources()["CPU"] == pytest.approx(4 - 2 * 0.5 - 2 * 0.5 - 0.25)

        @ray.remote
        def where():
            return ray.util.get_node_ip_address()

        refs = [
            where.options(**spec.actor_options(i), scheduling_strategy=PlacementGroupSchedulingStrategy(
                pgs[role], placement_group_bundle_index=i)).remote()
            for role, spec in specs.items() for i in range(len(spec.bundles))
        ]
        assert set(ray.get(refs, timeout=60)) == {desc.nodes[0].address}
    finally:
        remove_placement_groups(pgs)


def test_placement_group_timeout_names_the_role(local_ray):
    from radrl_dist.cluster.placement_groups import PlacementTimeout, create_placement_groups

    too_big = {"learner": RoleBundles("learner", "radrl-test-big", "PACK", ({"CPU": 64.0},), ("local",))}
    with pytest.raises(PlacementTimeout, match=r"^learner: placement group 'radrl-test-big' .* not ready after 2s"):
        create_placement_groups(too_big, timeout_s=2)
    assert local_ray.util.placement_group_table()  # the pending group was removed, not leaked
    assert all(v["state"] == "REMOVED" for v in local_ray.util.placement_group_table().values()
               if v["name"] == "radrl-test-big")


def test_wait_placed_names_what_is_missing_and_gives_the_bundle_back(local_ray):
    from radrl_dist.cluster.actor_group import reserve_bundle, wait_placed
    from radrl_dist.cluster.placement_groups import PlacementTimeout

    b = reserve_bundle({"CPU": 64.0}, name="radrl-test-too-big")
    with pytest.raises(PlacementTimeout, match=r"^rollout replica 3: not placed after 1s: requested CPU 64 for 1 "
                                               r"actors .*free now CPU [\d.]+ of 4"):
        wait_placed([b], 1, "rollout replica 3")
    table = local_ray.util.placement_group_table(b.pg)
    assert table["state"] == "REMOVED"


def test_actor_group_spawns_into_bundles_checks_health_and_gives_owned_bundles_back(local_ray):
    from radrl_dist.cluster.actor_group import ActorGroup, reserve_bundle, reserve_group

    ray = local_ray

    @ray.remote
    class Worker:
        def __init__(self, tag):
            self.tag = tag

        def get(self):
            return self.tag

    group = ActorGroup("test", Worker, max_restarts=0)
    shared = reserve_group([{"CPU": 0.5}, {"CPU": 0.5}])
    handles = group.spawn(shared, lambda i: (f"w{i}",))
    extra = group.spawn_into(reserve_bundle({"CPU": 0.25}), "extra")
    assert ray.get([h.get.remote() for h in handles + [extra]], timeout=60) == ["w0", "w1", "extra"]
    where = group.locate()
    assert [w["pg"] for w in where] == [shared[0].pg.id.hex()] * 2 + [group.bundle_of(extra).pg.id.hex()]
    assert group.health() == [True, True, True]
    ray.kill(handles[1], no_restart=True)  # asynchronous: a call sent just after may still be served
    deadline = time.monotonic() + 30
    while (health := group.health(timeout_s=20)) != [True, False, True] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert health == [True, False, True]
    extra_pg = group.bundle_of(extra).pg
    group.remove(extra)  # its own group goes with it; the shared group stays while an actor uses it
    assert ray.util.placement_group_table(extra_pg)["state"] == "REMOVED"
    assert ray.util.placement_group_table(shared[0].pg)["state"] == "CREATED"
    group.shutdown()
    assert ray.util.placement_group_table(shared[0].pg)["state"] == "REMOVED" and not group.members
