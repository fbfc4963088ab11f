"""Ray object-store transport: each bucket is `ray.put` once; the manifest carries the refs.

Readers on the same node map the bucket bytes from shared memory (numpy uint8 is zero-copy in Ray);
other nodes pull each bucket once. The refs are owned by the publishing process (learner rank 0),
so a published version lives as long as that actor and any holder of the manifest.

Why staging buffers and a put thread: `ray.put` copies a bucket into the object store, so the
learner-side bucket is scratch memory the moment the put returns. Packing into two reused buffers
(instead of a fresh array per bucket) avoids first-touch page faults on every export, and putting
bucket k on a thread while bucket k+1 is packed overlaps the two copies. The buffers (two buckets'
worth, `learner.export_bucket_mb` each) stay allocated for the transport's lifetime.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from radrl_dist.weight_sync.manifest import BucketEntry, WeightManifest, iter_buckets, pack_state


def _manifest(version, kind, entries, buckets, lora_config, meta, name, timing) -> WeightManifest:
    if kind not in ("full", "lora"):
        raise ValueError(f"manifest kind must be 'full' or 'lora', got {kind!r}")
    m = WeightManifest(version=int(version), kind=kind, entries=list(entries), buckets=buckets,
                       lora_config=lora_config, meta=dict(meta or {}))
    m.meta.update(transport=name, bytes=m.total_bytes, num_buckets=len(buckets), **timing)
    return m


class _StagingRing:
    """`slots` reusable uint8 buffers, grown to the largest bucket seen (never shrunk)."""

    def __init__(self, slots: int):
        self.buffers: list[np.ndarray] = [np.empty(0, dtype=np.uint8) for _ in range(slots)]

    def get(self, index: int, nbytes: int) -> np.ndarray:
        slot = index % len(self.buffers)
        if self.buffers[slot].size < nbytes:
            self.buffers[slot] = np.empty(nbytes, dtype=np.uint8)
        return self.buffers[slot]


class ObjectRefTransport:
    name = "objref"

    def __init__(self, staging_slots: int = 2):
        self._ring = _StagingRing(staging_slots)
        self._putter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="weight-put")

    def publish(self, version: int, kind: str, tensors: Iterable[tuple[str, torch.Tensor]], bucket_bytes: int,
                lora_config: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> WeightManifest:
        import ray

        if kind not in ("full", "lora"):  # before any bytes move
            raise ValueError(f"manifest kind must be 'full' or 'lora', got {kind!r}")
        t0 = time.perf_counter()
        futures: list[Future] = []
        entries: list[BucketEntry] = []
        waited = 0.0

        def alloc(nbytes: int) -> np.ndarray:
            nonlocal waited
            k = len(futures)  # the bucket about to be packed
            if k >= len(self._ring.buffers):  # its slot was last used by bucket k - slots: wait for that put
                w = time.perf_counter()
                futures[k - len(self._ring.buffers)].result()
                waited += time.perf_counter() - w
            return self._ring.get(k, nbytes)

        try:
            for bucket_entries, buf in iter_buckets(tensors, bucket_bytes, alloc):
                entries += bucket_entries
                futures.append(self._putter.submit(ray.put, buf))
            refs = [f.result() for f in futures]
        finally:
            for f in futures:  # on error, let puts finish before the staging memory is reused
                f.exception()
        wall = time.perf_counter() - t0
        return _manifest(version, kind, entries, refs, lora_config, meta, self.name,
                         {"publish_s": wall, "put_wait_s": waited})


class InProcessTransport:
    """Buckets stay as fresh arrays in the manifest (one process, or pickled along with it)."""

    name = "inprocess"

    def publish(self, version: int, kind: str, tensors: Iterable[tuple[str, torch.Tensor]], bucket_bytes: int,
                lora_config: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> WeightManifest:
        t0 = time.perf_counter()
        entries, buckets = pack_state(tensors, bucket_bytes)
        return _manifest(version, kind, entries, buckets, lora_config, meta, self.name,
                         {"publish_s": time.perf_counter() - t0, "put_wait_s": 0.0})
