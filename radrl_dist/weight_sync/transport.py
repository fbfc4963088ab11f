"""How packed weight buckets travel from the learner to rollout actors: transports by name.

Contract (any transport's sender): `publish(version, kind, tensors, bucket_bytes, lora_config, meta)`
runs on learner rank 0 with the gathered named tensors, moves the bytes and returns the
`WeightManifest` (the control plane: version, names, shapes, dtypes, LoRA config). `manifest.meta`
carries at least `transport`, `bytes`, `num_buckets` and `publish_s` so sync cost is logged every
step. A sender may keep state between versions (a process group), so callers keep one per process.

Receivers (`TransportSpec.delivery`): "manifest" (`objref`, `inprocess`): the bytes ride in the
manifest and the rollout actor loads the manifest it is handed (`manifest_tensors`). "broadcast"
(`collective`): the bytes move inside `publish`, so every rollout actor must post its matching
receive at the same time and the driver-side `WeightSync` starts both sides together. "direct"
(`rdt`): `publish` stages the buckets on rank 0; the driver hands each actor a Ray Direct Transport
ref to them. Group transports need the weight group (`WeightSync.connect`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import ray
import torch

from radrl_dist.weight_sync import rdt
from radrl_dist.weight_sync.collective import CollectiveTransport
from radrl_dist.weight_sync.manifest import WeightManifest
from radrl_dist.weight_sync.objref import InProcessTransport, ObjectRefTransport


class WeightTransport(Protocol):
    name: str

    def publish(
        self,
        version: int,
        kind: str,
        tensors: Iterable[tuple[str, torch.Tensor]],
        bucket_bytes: int,
        lora_config: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> WeightManifest: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class TransportSpec:
    name: str
    make: Callable[[str], WeightTransport]  # the sender on learner rank 0, given its device
    delivery: Literal["manifest", "broadcast", "direct"]
    gpu_only: bool
    summary: str

    @property
    def group(self) -> bool:
        """Receivers must join the weight group first."""
        return self.delivery != "manifest"


_REGISTRY: dict[str, TransportSpec] = {}


def register_transport(spec: TransportSpec) -> None:
    if spec.name in _REGISTRY:
        raise ValueError(f"weight transport {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec


def transport_names() -> list[str]:
    return sorted(_REGISTRY)


def transport_spec(name: str) -> TransportSpec:
    if name not in _REGISTRY:
        raise ValueError(f"unknown weight transport {name!r}; known: {', '.join(repr(n) for n in transport_names())}")
    return _REGISTRY[name]


def actor_class_for(actor_cls: Any, name: str) -> Any:
    """The Ray actor class a run with transport `name` creates learner / rollout actors from. rdt needs
    Ray's tensor transport on, a flag of the class (not of `.options`), so it gets a twin class with
    it, after our tensor transport is registered in this (the creating) process; others: unchanged."""
    if transport_spec(name).delivery != "direct":
        return actor_cls
    rdt.register()
    return ray.remote(**rdt.ACTOR_OPTIONS)(actor_cls.__ray_actor_class__)


def make_transport(name: str, device: str = "cpu") -> WeightTransport:
    """A sender by config name (see `transport_names()`), on learner rank 0's device."""
    return transport_spec(name).make(device)


register_transport(TransportSpec("objref", lambda device: ObjectRefTransport(), "manifest", gpu_only=False,
                                 summary="Ray object store; one copy on the sender, CPU HF engines adopt the store views; late joiners load the same refs"))
register_transport(TransportSpec("inprocess", lambda device: InProcessTransport(), "manifest", gpu_only=False,
                                 summary="buckets pickled with the manifest; one process or tests"))
register_transport(TransportSpec("collective", lambda device: CollectiveTransport(), "broadcast", gpu_only=False,
                                 summary="bucket broadcast over a gloo (CPU) / NCCL (GPU) group; late joiners catch up over objref"))
register_transport(TransportSpec("rdt", rdt.DirectTransport, "direct", gpu_only=False,
                                 summary="Ray Direct Transport refs, sent point to point over the weight group (gloo / NCCL); late joiners catch up over objref"))
