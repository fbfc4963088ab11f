"""Ray object-store transport: one `ray.put` per bucket, one copy on the sender, none or one on a receiver.

Sender: a bucket is put as a list of uint8 numpy *views* of its tensors, so Ray's serialiser copies
each tensor's bytes straight into the shared-memory store (pickle protocol 5 out-of-band buffers):
no packed staging copy, no staging memory kept between versions. Each view is cut into pieces of at
most `PIECE_BYTES` (1 MiB): Ray 2.60 copies an out-of-band buffer larger than 1 MiB with
`parallel_memcopy` over 6 threads it starts per buffer (`MEMCOPY_THREADS`, compiled in), which on a
2-core node measured about 2x slower than one plain `memcpy` (what it uses up to 1 MiB). Puts run on a
thread, bucket k while bucket k+1's views are made (a GPU or non-contiguous tensor needs its one host
copy first).
Receiver: `ray.get` of numpy arrays is zero-copy from the store on the same node and a tensor's
pieces lie back to back there, so each tensor is one read-only view of the store
(`manifest.manifest_tensors`). A CPU engine may adopt those views as its weights (no receiver copy;
`receive.ModuleWeights`); a GPU or vLLM engine copies them once (host to device).

The refs are owned by the publishing process (learner rank 0): a version lives while that actor
and any holder of its manifest or of views into it live; dropping them frees its buckets.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import ray
import torch
from ray._private.internal_api import get_memory_info_reply, get_state_from_address

from radrl_dist.weight_sync.manifest import BucketEntry, WeightManifest, layout, pack_state


def build_manifest(version, kind, entries, buckets, lora_config, meta, name, timing) -> WeightManifest:
    """A manifest with the transport's bookkeeping in `meta` (transport, bytes, num_buckets, timings)."""
    check_kind(kind)
    m = WeightManifest(version=int(version), kind=kind, entries=list(entries), buckets=buckets,
                       lora_config=lora_config, meta=dict(meta or {}))
    m.meta.update(transport=name, bytes=m.total_bytes, num_buckets=len(buckets), **timing)
    return m


def check_kind(kind: str) -> None:
    if kind not in ("full", "lora"):
        raise ValueError(f"manifest kind must be 'full' or 'lora', got {kind!r}")


def host_bytes(t: torch.Tensor) -> np.ndarray:
    """A uint8 numpy view of a tensor's bytes (a copy only when it is on a GPU or not contiguous)."""
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    return t.contiguous().reshape(-1).view(torch.uint8).numpy()


PIECE_BYTES = 1 << 20  # Ray copies a buffer up to this size with one memcpy (kMemcopyDefaultThreshold)


def pieces(b: np.ndarray, piece_bytes: int = PIECE_BYTES) -> list[np.ndarray]:
    """Views of `b` of at most `piece_bytes` each (one empty view for an empty tensor)."""
    return [b[i : i + piece_bytes] for i in range(0, max(b.size, 1), piece_bytes)]


def bucket_items(entries: list[BucketEntry], tensors: list[tuple[str, torch.Tensor]]) -> list[list[int]]:
    """Indices into `tensors`, grouped by the bucket `layout` put them in."""
    groups: list[list[int]] = []
    for i, e in enumerate(entries):
        if e.bucket == len(groups):
            groups.append([])
        groups[e.bucket].append(i)
    return groups


class ObjectRefTransport:
    name = "objref"

    def __init__(self):
        self._putter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="weight-put")

    def publish(self, version: int, kind: str, tensors: Iterable[tuple[str, torch.Tensor]], bucket_bytes: int,
                lora_config: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> WeightManifest:
        check_kind(kind)  # before any bytes move
        t0 = time.perf_counter()
        tensors = list(tensors)
        entries = layout(tensors, bucket_bytes)
        futures: list[Future] = []
        try:
            for idx in bucket_items(entries, tensors):
                views = [p for i in idx for p in pieces(host_bytes(tensors[i][1]))]
                futures.append(self._putter.submit(ray.put, views))
            refs = [f.result() for f in futures]
        finally:
            for f in futures:  # on error, let puts finish before the caller frees the tensors
                f.exception()
        return build_manifest(version, kind, entries, refs, lora_config, meta, self.name,
                              {"publish_s": time.perf_counter() - t0})

    def close(self) -> None:
        self._putter.shutdown(wait=True)


class InProcessTransport:
    """Buckets stay as fresh arrays in the manifest (one process, or pickled along with it)."""

    name = "inprocess"

    def publish(self, version: int, kind: str, tensors: Iterable[tuple[str, torch.Tensor]], bucket_bytes: int,
                lora_config: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> WeightManifest:
        check_kind(kind)
        t0 = time.perf_counter()
        entries, buckets = pack_state(tensors, bucket_bytes)
        return build_manifest(version, kind, entries, buckets, lora_config, meta, self.name,
                              {"publish_s": time.perf_counter() - t0})

    def close(self) -> None:
        pass


def object_store_bytes_used() -> int:
    """Bytes in use in the Ray object store across nodes (what a published version occupies)."""
    reply = get_memory_info_reply(get_state_from_address(ray.get_runtime_context().gcs_address))
    return int(reply.store_stats.object_store_bytes_used)
