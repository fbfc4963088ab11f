"""How packed weight buckets travel from the learner to rollout actors.

Contract (any transport): `publish(version, kind, entries, buckets, lora_config, meta)` is called on
learner rank 0 after `pack_state`, makes the buckets reachable by every rollout actor, and returns the
`WeightManifest` the actors receive; receivers call `manifest_tensors(manifest)` to get named tensors.
`manifest.meta` carries at least `transport`, `bytes`, `num_buckets` and `publish_s` so sync cost is
logged every step.

Room for an NCCL broadcast transport (very large full-weight models): its `publish` would put no
bytes in the manifest; `buckets` would hold (group name, bucket sizes) and the rollout actors, which
joined a learner-rank-0 + rollout process group beforehand, would post matching `broadcast` receives
into preallocated buffers before `manifest_tensors` yields from them. The manifest's entries (names,
offsets, shapes, dtypes) stay the same, so the receiving load code does not change.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from radrl_dist.weight_sync.manifest import BucketEntry, WeightManifest


class WeightTransport(Protocol):
    name: str

    def publish(
        self,
        version: int,
        kind: str,
        entries: list[BucketEntry],
        buckets: list[np.ndarray],
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
