"""Cluster manifests: schema-valid, secure by default, and consistent with the planner and config."""

import copy
import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from radrl_dist.cluster import ClusterDescription, make_plan
from radrl_dist.config.schema import RadRLConfig

from .k8s_schemas import BY_KIND, RAY_CLUSTER

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "cluster/kuberay"


def load(path):
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("name", ["raycluster.yaml", "rayjob.yaml", "configmap.yaml", "networkpolicy.yaml"])
def test_kuberay_manifest_matches_schema(name):
    doc = load(KUBE / name)
    jsonschema.validate(doc, BY_KIND[doc["kind"]])


def test_schema_rejects_broken_manifests():
    doc = load(KUBE / "raycluster.yaml")
    bad = copy.deepcopy(doc)
    bad["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = 8
    with pytest.raises(jsonschema.ValidationError, match="8 is not of type 'string'"):
        jsonschema.validate(bad, RAY_CLUSTER)
    bad = copy.deepcopy(doc)
    bad["spec"]["workerGroupSpecs"][1]["replica"] = 1  # typo
    with pytest.raises(jsonschema.ValidationError, match="'replica' was unexpected"):
        jsonschema.validate(bad, RAY_CLUSTER)
    bad = copy.deepcopy(doc)
    bad["apiVersion"] = "ray.io/v1alpha1"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, RAY_CLUSTER)


def _role_resources(group):
    raw = group["rayStartParams"].get("resources", '"{}"')
    return json.loads(raw.strip('"').replace('\\"', '"'))


def description_from_raycluster(spec) -> ClusterDescription:
    """What the worker groups give Ray at their current replica counts (the head runs no actors)."""
    nodes = []
    for g in spec["workerGroupSpecs"]:
        limits = g["template"]["spec"]["containers"][0]["resources"]["limits"]
        nodes.append({"name": g["groupName"], "replicas": g["replicas"], "num_cpus": float(limits["cpu"]),
                      "num_gpus": int(limits.get("nvidia.com/gpu", 0)), "resources": _role_resources(g)})
    return ClusterDescription.from_dict({"nodes": nodes})


def test_rayjob_runs_train_with_the_configmap_on_the_raycluster_spec():
    cluster, job, cm = load(KUBE / "raycluster.yaml"), load(KUBE / "rayjob.yaml"), load(KUBE / "configmap.yaml")
    assert job["spec"]["rayClusterSpec"] == cluster["spec"], "rayjob.yaml drifted from raycluster.yaml"
    assert job["spec"]["entrypoint"] == "python -m radrl_dist.train --config /configs/config.yaml"
    head = cluster["spec"]["headGroupSpec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in head["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in head["volumes"]}
    assert volumes[mounts["/configs"]]["configMap"]["name"] == cm["metadata"]["name"]
    assert "config.yaml" in cm["data"]


def test_configmap_config_is_valid_and_its_plan_fits_the_worker_groups():
    cm = load(KUBE / "configmap.yaml")
    config = RadRLConfig.model_validate(yaml.safe_load(cm["data"]["config.yaml"]))
    spec = load(KUBE / "raycluster.yaml")["spec"]
    desc = description_from_raycluster(spec)
    plan = make_plan(config, desc)
    assert desc.total_gpus == sum(p.gpus for p in plan.placements) == 34  # the plan uses every GPU
    assert plan.nodes_of("rollout") == ["rollout-0", "rollout-1"]
    assert plan.nodes_of("reward") == ["reward-0"]
    assert plan.nodes_of("learner") == ["learner-0", "learner-1"]
    roles = {g["groupName"]: _role_resources(g) for g in spec["workerGroupSpecs"]}
    assert roles == {"rollout": {"radrl_rollout": 1}, "reward": {"radrl_reward": 1}, "learner": {"radrl_learner": 1}}


def test_kuberay_security_defaults():
    spec = load(KUBE / "raycluster.yaml")["spec"]
    assert spec["authOptions"] == {"mode": "token"}
    assert spec["headGroupSpec"]["serviceType"] == "ClusterIP"
    assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    policy = load(KUBE / "networkpolicy.yaml")
    assert policy["spec"]["podSelector"] == {"matchLabels": {"ray.io/node-type": "head"}}


def test_ray_launcher_yaml_validates_against_rays_schema():
    from ray.autoscaler._private.util import fillout_defaults, validate_config

    config = load(ROOT / "cluster/ray_cluster.yaml")
    schema = json.loads((Path(__import__("ray.autoscaler").autoscaler.__file__).parent / "ray-schema.json").read_text())
    jsonschema.validate(config, schema)
    validate_config(fillout_defaults(config))  # what `ray up` checks after merging the provider defaults
    bad = copy.deepcopy(config)
    bad["available_node_types"]["train_h100"]["resources"]["GPU"] = 0.5
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_ray_launcher_security_and_roles():
    config = load(ROOT / "cluster/ray_cluster.yaml")
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head and "RAY_AUTH_MODE=token ray start --head" in head
    assert "RAY_AUTH_MODE=token ray start --address" in " ".join(config["worker_start_ray_commands"])
    assert "~/.ray/auth_token" in config["file_mounts"]
    types = config["available_node_types"]
    assert types["head"]["resources"] == {"CPU": 0}
    for name, role in [("rollout_h100", "rollout"), ("reward_h100", "reward"), ("train_h100", "learner")]:
        assert types[name]["resources"][f"radrl_{role}"] == 1 and types[name]["resources"]["GPU"] == 8


def _submit(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(env_extra or {})
    return subprocess.run([str(ROOT / "cluster/submit.sh"), *args], capture_output=True, text=True, env=env, timeout=30)


def test_submit_sh_dry_run_and_excludes(tmp_path):
    r = _submit("--dry-run", "--address", "http://127.0.0.1:9999", "--", "--config", "c.yaml",
                env_extra={"RAY_AUTH_TOKEN": "t0ken", "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("ray job submit --address http://127.0.0.1:9999 --working-dir ")
    assert out.rstrip().endswith("-- python -m radrl_dist.train --config c.yaml")
    # the excludes, applied the way Ray applies them to the working dir
    from ray._private.runtime_env.packaging import _get_excludes

    script = (ROOT / "cluster/submit.sh").read_text()
    env_json = script.split('runtime_env="$(cat <<JSON\n', 1)[1].split("\nJSON", 1)[0]
    excludes = json.loads(env_json)["excludes"]
    match = _get_excludes(ROOT, excludes)
    for kept in ["radrl_dist/data/schema.py", "radrl_dist/cluster/plan.py", "configs/x.yaml", "cluster/submit.sh"]:
        assert not match(ROOT / kept), kept
    for dropped in ["data/mimic/train.parquet", ".venv/bin/python", "runs/demo/metrics.jsonl",
                    "cache/tiny_models/a.safetensors", ".git/HEAD", "radrl_dist/__pycache__/x.pyc"]:
        assert match(ROOT / dropped), dropped


def test_submit_sh_refuses_without_token_or_with_auth_disabled(tmp_path):
    r = _submit("--dry-run", env_extra={"HOME": str(tmp_path)})
    assert r.returncode == 2 and "no Ray auth token" in r.stderr
    r = _submit("--dry-run", env_extra={"HOME": str(tmp_path), "RAY_AUTH_TOKEN": "x", "RAY_AUTH_MODE": "disabled"})
    assert r.returncode == 2 and "only submits with token auth" in r.stderr
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray/auth_token").write_text("abc")
    assert _submit("--dry-run", env_extra={"HOME": str(tmp_path)}).returncode == 0
