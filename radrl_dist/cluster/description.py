"""What a cluster offers: nodes with CPUs, GPUs and custom resources.

Why a description of its own: the planner is a pure function, so `--plan` can show a layout for a
cluster that is not running (from a YAML file), and tests can check 8-node layouts on a laptop.
`from_ray()` builds the same description from a live cluster, so the plan and the real placement
groups agree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import ray
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# Resources Ray creates itself; everything else on a node is a custom label set by the operator.
_RAY_BUILTIN = {"CPU", "GPU", "memory", "object_store_memory"}
_RAY_BUILTIN_PREFIXES = ("node:", "accelerator_type:")
ROLE_LABEL_PREFIX = "radrl_"  # a node with resource `radrl_rollout` only hosts rollout (see plan.py)


def local_gpu_count() -> int:
    """NVIDIA GPUs this process may use, without importing CUDA: CUDA_VISIBLE_DEVICES when set, else
    the devices the driver lists (what a local `ray.init()` would detect)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    gpus = Path("/proc/driver/nvidia/gpus")
    return sum(1 for _ in gpus.iterdir()) if gpus.is_dir() else 0


class ClusterDescriptionError(ValueError):
    """A description that cannot be used; the message names the node or field."""


class NodeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    address: str | None = Field(None, description="node IP; gives bundles the `node:<ip>` affinity")
    num_cpus: float = Field(ge=0)
    num_gpus: int = Field(0, ge=0)
    gpu_type: str | None = None
    resources: dict[str, float] = Field(default_factory=dict, description="custom Ray resources (labels)")

    def has_label(self, key: str) -> bool:
        return self.resources.get(key, 0) > 0


class ClusterDescription(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    nodes: tuple[NodeSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> "ClusterDescription":
        seen: set[str] = set()
        for n in self.nodes:
            if n.name in seen:
                raise ValueError(f"nodes: name {n.name!r} appears twice")
            seen.add(n.name)
        return self

    # ---- queries -------------------------------------------------------------------------
    @property
    def total_gpus(self) -> int:
        return sum(n.num_gpus for n in self.nodes)

    @property
    def total_cpus(self) -> float:
        return sum(n.num_cpus for n in self.nodes)

    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node named {name!r}")

    def affinity_resource(self, name: str) -> str | None:
        """A resource that exists on this node only, to pin a bundle there.

        `node:<ip>` when the node's address is unique; otherwise a custom resource no other node
        has (several Ray nodes on one host share an IP: label them, e.g. `{"node_a": 1}`).
        """
        node = self.node(name)
        others = [n for n in self.nodes if n.name != name]
        if node.address and all(o.address != node.address for o in others):
            return f"node:{node.address}"
        for key in sorted(node.resources):
            if key.startswith(ROLE_LABEL_PREFIX) or not node.has_label(key):
                continue
            if all(not o.has_label(key) for o in others):
                return key
        return None

    # ---- constructors --------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, source: str = "cluster description") -> "ClusterDescription":
        """Parse `{nodes: [...]}`; an entry with `replicas: N` expands to N nodes `<name>-<i>`."""
        if not isinstance(data, dict) or "nodes" not in data:
            raise ClusterDescriptionError(f"{source}: expected a mapping with a 'nodes' list")
        if not isinstance(data["nodes"], list):
            raise ClusterDescriptionError(f"{source}: 'nodes' must be a list")
        nodes: list[dict[str, Any]] = []
        for i, entry in enumerate(data["nodes"]):
            if not isinstance(entry, dict):
                raise ClusterDescriptionError(f"{source}: nodes[{i}] must be a mapping")
            entry = dict(entry)
            replicas = entry.pop("replicas", None)
            if replicas is None:
                nodes.append(entry)
                continue
            if not isinstance(replicas, int) or replicas < 1:
                raise ClusterDescriptionError(f"{source}: nodes[{i}].replicas must be a positive integer")
            if entry.get("address"):
                raise ClusterDescriptionError(f"{source}: nodes[{i}]: 'address' cannot be used with replicas")
            nodes.extend({**entry, "name": f"{entry.get('name', 'node')}-{k}"} for k in range(replicas))
        try:
            return cls(nodes=tuple(nodes))
        except ValidationError as exc:
            lines = [f"{source}: invalid"]
            for err in exc.errors():
                lines.append(f"  {'.'.join(str(p) for p in err['loc'])}: {err['msg']}")
            raise ClusterDescriptionError("\n".join(lines)) from exc

    @classmethod
    def from_yaml(cls, path: str | Path) -> "ClusterDescription":
        p = Path(path)
        if not p.is_file():
            raise ClusterDescriptionError(f"cluster description not found: {p}")
        try:
            data = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:
            raise ClusterDescriptionError(f"{p}: not valid YAML: {exc}") from exc
        return cls.from_dict(data, source=str(p))

    @classmethod
    def single_node(cls, num_cpus: float | None = None, num_gpus: int = 0, name: str = "local") -> "ClusterDescription":
        """This machine as one node (the `--plan` default when no description is given)."""
        return cls(nodes=(NodeSpec(name=name, num_cpus=num_cpus or float(os.cpu_count() or 1), num_gpus=num_gpus),))

    @classmethod
    def from_ray_nodes(cls, ray_nodes: list[dict[str, Any]]) -> "ClusterDescription":
        """Build from the list `ray.nodes()` returns (dead nodes and nodes with nothing to offer skipped)."""
        alive = [n for n in ray_nodes if n.get("Alive", True)]
        ips = [n.get("NodeManagerAddress") for n in alive]
        specs = []
        for n in alive:
            res: dict[str, float] = dict(n.get("Resources") or {})
            ip = n.get("NodeManagerAddress")
            node_id = str(n.get("NodeID", ""))
            name = ip if ips.count(ip) == 1 else f"{ip}/{node_id[:8]}"
            gpu_type = next((k.split(":", 1)[1] for k in res if k.startswith("accelerator_type:")), None)
            custom = {
                k: float(v) for k, v in res.items() if k not in _RAY_BUILTIN and not k.startswith(_RAY_BUILTIN_PREFIXES)
            }
            cpus, gpus = float(res.get("CPU", 0)), int(res.get("GPU", 0))
            if cpus == 0 and gpus == 0:
                continue
            specs.append(NodeSpec(name=name, address=ip, num_cpus=cpus, num_gpus=gpus, gpu_type=gpu_type, resources=custom))
        if not specs:
            raise ClusterDescriptionError("the Ray cluster has no alive node with CPUs or GPUs")
        specs.sort(key=lambda s: (-s.num_gpus, s.name))  # GPU nodes first, in a stable order
        return cls(nodes=tuple(specs))

    @classmethod
    def from_ray(cls, address: str | None = None) -> "ClusterDescription":
        """Describe a running Ray cluster (connects to `address` unless Ray is already initialised)."""
        if ray.is_initialized():
            return cls.from_ray_nodes(ray.nodes())
        ray.init(address=address or "auto", logging_level="ERROR", log_to_driver=False)
        try:
            return cls.from_ray_nodes(ray.nodes())
        finally:
            ray.shutdown()
