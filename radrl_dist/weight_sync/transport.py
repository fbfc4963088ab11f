"""How packed weight buckets travel from the learner to rollout actors: transports by name.

Contract (any transport's sender): `publish(version, kind, tensors, bucket_bytes, lora_config, meta)`
runs on learner rank 0 with the gathered named tensors, moves the bytes and returns the
`WeightManifest` (the control plane: version, names, shapes, dtypes, LoRA config). `manifest.meta`
carries at least `transport`, `bytes`, `num_buckets` and `publish_s` so sync cost is logged every
step. A sender may keep state between versions (a process group), so callers keep one per process.

Receivers: for a transport whose bytes ride in the manifest (`objref`, `inprocess`) the rollout actor
loads the manifest it is handed (`manifest_tensors`). A `group` transport (`collective`) moves the
bytes inside `publish`: every rollout actor must post its matching receive at the same time, so the
driver-side `WeightSync` starts both sides together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

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
    make: Callable[[], WeightTransport]  # the sender, built on learner rank 0
    group: bool  # bytes move inside publish, receivers must join a process group first
    gpu_only: bool
    summary: str


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


def make_transport(name: str) -> WeightTransport:
    """A sender by config name (see `transport_names()`)."""
    return transport_spec(name).make()


register_transport(TransportSpec("objref", ObjectRefTransport, group=False, gpu_only=False,
                                 summary="Ray object store; one copy on the sender, CPU HF engines adopt the store views; late joiners load the same refs"))
register_transport(TransportSpec("inprocess", InProcessTransport, group=False, gpu_only=False,
                                 summary="buckets pickled with the manifest; one process or tests"))
register_transport(TransportSpec("collective", CollectiveTransport, group=True, gpu_only=False,
                                 summary="bucket broadcast over a gloo (CPU) / NCCL (GPU) group; late joiners catch up over objref"))
