"""Placement plans for 1, 2 and 8 node layouts, exact; and the errors when a role does not fit."""

from pathlib import Path

import pytest

from radrl_dist.cluster import ClusterDescription, PlanError, make_plan, print_plan
from radrl_dist.cluster.description import ClusterDescriptionError
from radrl_dist.config.schema import RadRLConfig

ROOT = Path(__file__).resolve().parents[2]


def cfg(rollout=(1, 0, 1), learner=(1, 0), reward=(1, 0), colocate=False, engine="vllm", **cluster):
    """rollout=(num_actors, gpus_per_actor, tp), learner=(workers, gpus), reward=(actors, gpus)."""
    return RadRLConfig.model_validate({
        "rollout": {"engine": engine, "num_actors": rollout[0], "gpus_per_actor": rollout[1],
                    "tensor_parallel_size": rollout[2], "cpus_per_actor": 4},
        "learner": {"num_workers": learner[0], "gpus_per_worker": learner[1], "cpus_per_worker": 4},
        "reward": {"num_actors": reward[0], "gpus_per_actor": reward[1], "cpus_per_actor": 2},
        "cluster": {"colocate": colocate, **cluster},
    })


def gpu_nodes(n, gpus=8, cpus=96, **extra):
    return ClusterDescription.from_dict({"nodes": [
        {"name": f"n{i}", "num_cpus": cpus, "num_gpus": gpus, "gpu_type": "H100", **extra} for i in range(n)
    ]})


def layout(plan, role):
    return [(p.node, p.gpu_ids) for p in plan.role(role)]


def test_one_node_8_gpus():
    plan = make_plan(cfg(rollout=(2, 2, 2), learner=(3, 1), reward=(2, 0.5)), gpu_nodes(1))
    assert layout(plan, "rollout") == [("n0", (0, 1)), ("n0", (2, 3))]
    assert layout(plan, "learner") == [("n0", (4,)), ("n0", (5,)), ("n0", (6,))]
    assert layout(plan, "reward") == [("n0", (7,)), ("n0", (7,))]  # two half shares of GPU 7
    assert [p.gpu_share for p in plan.role("reward")] == [0.5, 0.5]


def test_two_nodes_inference_node_and_training_node():
    plan = make_plan(cfg(rollout=(4, 2, 2), learner=(6, 1), reward=(2, 1)), gpu_nodes(2))
    assert layout(plan, "rollout") == [("n0", (0, 1)), ("n0", (2, 3)), ("n0", (4, 5)), ("n0", (6, 7))]
    assert layout(plan, "learner") == [("n1", (i,)) for i in range(6)]
    assert layout(plan, "reward") == [("n1", (6,)), ("n1", (7,))]


def test_eight_nodes_from_yaml_with_cpu_head():
    desc = ClusterDescription.from_yaml(ROOT / "cluster/descriptions/h100_8x8.yaml")
    assert [n.name for n in desc.nodes][:3] == ["head", "h100-0", "h100-1"] and desc.total_gpus == 64
    plan = make_plan(cfg(rollout=(8, 4, 4), learner=(28, 1), reward=(4, 1)), desc)
    # TP-4 engines: two per node on the first four GPU nodes, never split across nodes
    assert layout(plan, "rollout") == [
        (f"h100-{i // 2}", (0, 1, 2, 3) if i % 2 == 0 else (4, 5, 6, 7)) for i in range(8)
    ]
    # learner ranks fill h100-4..6 completely, then h100-7's first four GPUs
    expected = [(f"h100-{4 + r // 8}", (r % 8,)) for r in range(28)]
    assert layout(plan, "learner") == expected
    assert plan.nodes_of("learner") == ["h100-4", "h100-5", "h100-6", "h100-7"]
    assert layout(plan, "reward") == [("h100-7", (g,)) for g in (4, 5, 6, 7)]
    assert not [p for p in plan.placements if p.node == "head"]


def test_tp_engine_skips_a_node_without_room_and_learner_fills_holes_in_order():
    plan = make_plan(cfg(rollout=(2, 4, 4), learner=(4, 1), reward=(1, 0)), gpu_nodes(2, gpus=6))
    assert layout(plan, "rollout") == [("n0", (0, 1, 2, 3)), ("n1", (0, 1, 2, 3))]
    assert layout(plan, "learner") == [("n0", (4,)), ("n0", (5,)), ("n1", (4,)), ("n1", (5,))]
    assert layout(plan, "reward") == [("n0", ())]  # CPU-only labeler


def test_role_labels_restrict_nodes():
    desc = ClusterDescription.from_yaml(ROOT / "cluster/descriptions/h100_2x8_roles.yaml")
    plan = make_plan(cfg(rollout=(2, 2, 2), learner=(4, 1), reward=(2, 1)), desc)
    assert plan.nodes_of("rollout") == ["infer-0"]
    assert plan.nodes_of("learner") == ["train-0"] and plan.nodes_of("reward") == ["train-0"]
    with pytest.raises(PlanError, match=r"^rollout: actor 4 of 5 does not fit"):
        make_plan(cfg(rollout=(5, 2, 2), learner=(1, 1), reward=(1, 1)), desc)


def test_fractional_reward_shares_do_not_mix_with_other_roles():
    plan = make_plan(cfg(rollout=(1, 0.5, 1), learner=(1, 0), reward=(2, 0.25), engine="hf"), gpu_nodes(1, gpus=2))
    assert layout(plan, "rollout") == [("n0", (0,))]
    assert layout(plan, "reward") == [("n0", (1,)), ("n0", (1,))]  # not onto rollout's half-free GPU 0


def test_colocate_overlaps_gpus_but_counts_cpus_once():
    c = cfg(rollout=(4, 1, 1), learner=(4, 1), reward=(2, 0.5), colocate=True)
    plan = make_plan(c, gpu_nodes(1, gpus=4, cpus=40))
    assert layout(plan, "rollout") == layout(plan, "learner") == [("n0", (i,)) for i in range(4)]
    assert layout(plan, "reward") == [("n0", (0,)), ("n0", (0,))]
    with pytest.raises(PlanError, match="^reward: actor 1 of 2 does not fit.*0 CPUs free"):
        make_plan(c, gpu_nodes(1, gpus=4, cpus=34))  # 16 + 16 + 2 CPUs


def test_error_tp_larger_than_any_node():
    with pytest.raises(PlanError, match=r"^rollout: one actor needs 16 GPUs inside one node \(tensor_parallel_size=16\)"):
        make_plan(cfg(rollout=(1, 16, 16), learner=(1, 0), reward=(1, 0)), gpu_nodes(2))


def test_error_names_the_role_that_does_not_fit_and_what_is_free():
    with pytest.raises(PlanError) as e:
        make_plan(cfg(rollout=(4, 2, 2), learner=(7, 1), reward=(2, 1)), gpu_nodes(2))  # 17 > 16
    msg = str(e.value)
    assert msg.startswith("reward: actor 1 of 2 does not fit")
    assert "after rollout, learner" in msg and "n1: 0/8 GPUs free" in msg


def test_error_gpus_but_no_gpu_nodes_and_bad_fraction():
    with pytest.raises(PlanError, match="^learner: learner.gpus_per_worker=1 but the cluster has no GPUs"):
        make_plan(cfg(learner=(1, 1)), ClusterDescription.single_node(8, 0))
    with pytest.raises(PlanError, match=r"^reward: reward.gpus_per_actor=1.5: above 1"):
        make_plan(cfg(reward=(1, 1.5)), gpu_nodes(1))
    with pytest.raises(PlanError, match="^rollout: cluster.colocate"):
        make_plan(cfg(rollout=(1, 2, 2), colocate=True), gpu_nodes(1))


def test_cpu_only_defaults_fit_the_local_node():
    plan = make_plan(RadRLConfig(), ClusterDescription.single_node(2, 0))
    assert {p.node for p in plan.placements} == {"local"} and all(not p.gpu_ids for p in plan.placements)
    with pytest.raises(PlanError, match="^learner: actor 0 of 1 does not fit"):
        make_plan(RadRLConfig(), ClusterDescription.single_node(0.6, 0))  # rollout takes 0.5


def test_print_plan_table():
    text = print_plan(cfg(rollout=(4, 2, 2), learner=(6, 1), reward=(2, 1)),
                      ROOT / "cluster/descriptions/h100_2x8_roles.yaml")
    lines = text.splitlines()
    assert lines[0].startswith("placement plan: 2 node(s), 16 GPU(s), 384 CPU(s)")
    assert any(l.split() == ["rollout", "3", "infer-0", "6,7", "4", "engine,", "TP", "2"] for l in lines)
    assert any(l.split() == ["learner", "5", "train-0", "5", "4", "rank", "5"] for l in lines)
    assert any(l.split() == ["train-0", "H100", "8/8", "28/192", "learner,reward"] for l in lines)
    assert not any(l.startswith("idle:") for l in lines)  # every GPU used
    local = print_plan(RadRLConfig(), None)
    assert "local" in local and "0 GPU(s)" in local


def test_description_errors_name_the_field():
    with pytest.raises(ClusterDescriptionError, match="nodes.1.num_gpus"):
        ClusterDescription.from_dict({"nodes": [{"name": "a", "num_cpus": 1}, {"name": "b", "num_cpus": 1, "num_gpus": -1}]})
    with pytest.raises(ClusterDescriptionError, match="name 'a' appears twice"):
        ClusterDescription.from_dict({"nodes": [{"name": "a", "num_cpus": 1}, {"name": "a", "num_cpus": 1}]})
    with pytest.raises(ClusterDescriptionError, match="replicas must be a positive integer"):
        ClusterDescription.from_dict({"nodes": [{"name": "a", "num_cpus": 1, "replicas": 0}]})
    with pytest.raises(ClusterDescriptionError, match="not found"):
        ClusterDescription.from_yaml("/nonexistent/cluster.yaml")


def test_from_ray_nodes_reads_resources_labels_and_gpu_type():
    nodes = [
        {"NodeID": "aa" * 28, "Alive": True, "NodeManagerAddress": "10.0.0.1",
         "Resources": {"CPU": 16.0, "memory": 1e9, "node:10.0.0.1": 1.0, "node:__internal_head__": 1.0}},
        {"NodeID": "bb" * 28, "Alive": True, "NodeManagerAddress": "10.0.0.2",
         "Resources": {"CPU": 96.0, "GPU": 8.0, "accelerator_type:H100": 1.0, "node:10.0.0.2": 1.0,
                       "radrl_rollout": 1.0}},
        {"NodeID": "cc" * 28, "Alive": False, "NodeManagerAddress": "10.0.0.3", "Resources": {"CPU": 4.0}},
    ]
    d = ClusterDescription.from_ray_nodes(nodes)
    assert [(n.name, n.num_cpus, n.num_gpus, n.gpu_type) for n in d.nodes] == [
        ("10.0.0.2", 96.0, 8, "H100"), ("10.0.0.1", 16.0, 0, None)]
    assert d.nodes[0].resources == {"radrl_rollout": 1.0} and d.nodes[1].resources == {}
    assert d.affinity_resource("10.0.0.2") == "node:10.0.0.2"


def launcher_node_shapes() -> dict[tuple[float, int], set[str]]:
    """(CPUs, GPUs) of each node type in cluster/ray_cluster.yaml -> the role labels it carries."""
    import yaml

    types = yaml.safe_load((ROOT / "cluster/ray_cluster.yaml").read_text())["available_node_types"]
    shapes: dict[tuple[float, int], set[str]] = {}
    for t in types.values():
        res = t["resources"]
        shapes.setdefault((float(res.get("CPU", 0)), int(res.get("GPU", 0))), set()).update(
            k for k in res if k.startswith("radrl_"))
    return shapes


@pytest.mark.parametrize("path", sorted((ROOT / "cluster/descriptions").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_descriptions_match_the_launcher_cluster(path):
    """A plan from a shipped description must be runnable on the shipped launcher cluster: every
    node is one of its node types (the head has CPU 0 there, so no actor may be planned on it)."""
    shapes = launcher_node_shapes()
    for n in ClusterDescription.from_yaml(path).nodes:
        shape = (n.num_cpus, n.num_gpus)
        assert shape in shapes, f"{path.name}: node {n.name} {shape} is no node type of ray_cluster.yaml {sorted(shapes)}"
        assert {k for k in n.resources if k.startswith("radrl_")} <= shapes[shape] | {"radrl_reward", "radrl_learner"}


def test_radvlm_plan_on_the_8x8_cluster_keeps_off_the_head_and_reports_idle_nodes():
    from radrl_dist.config import load_config

    config = load_config(ROOT / "configs/radvlm_grpo.yaml")
    text = print_plan(config, ROOT / "cluster/descriptions/h100_8x8.yaml")
    plan = make_plan(config, ClusterDescription.from_yaml(ROOT / "cluster/descriptions/h100_8x8.yaml"))
    assert plan.role("reward") and not [p for p in plan.placements if p.node == "head"]
    assert "idle: 56 of 64 GPU(s) unused; 7 of 9 node(s) host no actor (h100-1 ... h100-7)" in text


def test_plan_cli_errors_are_one_line(capsys):
    from radrl_dist.train.__main__ import main

    assert main(["--plan", "--cluster", "missing.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "--plan: cluster description not found: missing.yaml"
    assert main(["--plan", "--cluster", str(ROOT / "cluster/descriptions/h100_2x8_roles.yaml"),
                 "--set", "rollout.num_actors=40", "--set", "rollout.gpus_per_actor=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("--plan: rollout: actor 8 of 40 does not fit") and len(err.strip().splitlines()) == 1


def test_train_help_names_files_that_exist(capsys):
    import re

    from radrl_dist.train.__main__ import EPILOG

    paths = re.findall(r"(?:cluster|configs)/[\w./-]+\.yaml", EPILOG)
    assert paths and all((ROOT / p).is_file() for p in paths), paths


def test_cluster_num_gpus_is_refused_naming_what_replaces_it():
    from radrl_dist.config import load_config
    from radrl_dist.config.loader import ConfigError

    with pytest.raises(ConfigError, match=r"cluster: .*num_gpus was removed: the run plans on the running Ray "
                                          r"cluster's GPUs \(see `--plan --cluster ray`"):
        load_config(None, ["cluster.num_gpus=2"])
    # a GPU config needs no GPU count of its own: whether it fits is the plan's question
    assert load_config(None, ["rollout.gpus_per_actor=1", "learner.gpus_per_worker=1"]).learner.gpus_per_worker == 1


def test_gpu_budget_counts_roles_unless_colocated():
    """What `cluster.num_gpus` used to check, now asked of the cluster itself: 3 roles x 1 GPU on 2 GPUs."""
    with pytest.raises(PlanError, match=r"^reward: actor 0 of 1 does not fit .* n0: 0/2 GPUs free"):
        make_plan(cfg(rollout=(1, 1, 1), learner=(1, 1), reward=(1, 1)), gpu_nodes(1, gpus=2))
    plan = make_plan(cfg(rollout=(1, 1, 1), learner=(1, 1), reward=(1, 1), colocate=True), gpu_nodes(1, gpus=2))
    assert {p.gpu_ids for p in plan.placements} == {(0,)}
