"""Ray object-store transport: each bucket is `ray.put` once; the manifest carries the refs.

Readers on the same node map the bucket bytes from shared memory (numpy uint8 is zero-copy in Ray);
other nodes pull each bucket once. The refs are owned by the publishing process (learner rank 0),
so a published version lives as long as that actor and any holder of the manifest.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from radrl_dist.weight_sync.manifest import BucketEntry, WeightManifest


def _manifest(version, kind, entries, buckets, lora_config, meta, name, seconds) -> WeightManifest:
    if kind not in ("full", "lora"):
        raise ValueError(f"manifest kind must be 'full' or 'lora', got {kind!r}")
    m = WeightManifest(version=int(version), kind=kind, entries=list(entries), buckets=buckets,
                       lora_config=lora_config, meta=dict(meta or {}))
    m.meta.update(transport=name, bytes=m.total_bytes, num_buckets=len(buckets), publish_s=seconds)
    return m


class ObjectRefTransport:
    name = "objref"

    def publish(self, version: int, kind: str, entries: list[BucketEntry], buckets: list[np.ndarray],
                lora_config: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> WeightManifest:
        import ray

        t0 = time.perf_counter()
        refs = [ray.put(b) for b in buckets]
        return _manifest(version, kind, entries, refs, lora_config, meta, self.name, time.perf_counter() - t0)


class InProcessTransport:
    """Buckets stay as arrays in the manifest (one process, or pickled along with it)."""

    name = "inprocess"

    def publish(self, version: int, kind: str, entries: list[BucketEntry], buckets: list[np.ndarray],
                lora_config: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> WeightManifest:
        return _manifest(version, kind, entries, list(buckets), lora_config, meta, self.name, 0.0)
