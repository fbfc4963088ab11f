"""How packed weight buckets travel from the learner to rollout actors.

Contract (any transport): `publish(version, kind, tensors, bucket_bytes, lora_config, meta)` is
called on learner rank 0 with the gathered named tensors; it packs them into buckets (`iter_buckets`,
so it can choose the memory and overlap packing with sending), makes the buckets reachable by every
rollout actor, and returns the `WeightManifest` the actors receive; receivers call
`manifest_tensors(manifest)` to get named tensors. `manifest.meta` carries at least `transport`,
`bytes`, `num_buckets` and `publish_s` (pack + send, wall) so sync cost is logged every step.
A transport object may keep state between versions (staging memory): callers keep one per process.

Room for an NCCL broadcast transport (very large full-weight models): its `publish` would put no
bytes in the manifest; `buckets` would hold (group name, bucket sizes) and the rollout actors, which
joined a learner-rank-0 + rollout process group beforehand, would post matching `broadcast` receives
into preallocated buffers before `manifest_tensors` yields from them. The manifest's entries (names,
offsets, shapes, dtypes) stay the same, so the receiving load code does not change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import torch

from radrl_dist.weight_sync.manifest import WeightManifest


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


def make_transport(name: str) -> WeightTransport:
    """Transport by config name. Known: 'objref' (Ray object store), 'inprocess' (no Ray; tests, 1 process)."""
    if name == "objref":
        from radrl_dist.weight_sync.objref import ObjectRefTransport

        return ObjectRefTransport()
    if name == "inprocess":
        from radrl_dist.weight_sync.objref import InProcessTransport

        return InProcessTransport()
    raise ValueError(f"unknown weight transport {name!r}; known: 'objref', 'inprocess'")
