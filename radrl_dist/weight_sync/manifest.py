"""The versioned weight manifest and the bucket packing both sides agree on.

A bucket is one flat uint8 numpy array (Ray stores numpy zero-copy in its object store, so readers
map the bytes instead of unpickling tensors). Each entry records where its bytes are, with shape and
dtype, so bfloat16 survives without numpy knowing the type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

_DTYPES = {str(d): d for d in (torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int32, torch.int8, torch.uint8, torch.bool)}


@dataclass(frozen=True)
class BucketEntry:
    name: str
    bucket: int
    offset: int
    nbytes: int
    shape: tuple[int, ...]
    dtype: str  # str(torch.dtype), e.g. "torch.bfloat16"


@dataclass
class WeightManifest:
    """What a rollout actor needs to load one weight version.

    kind "full": language-model tensors under their HF state-dict names.
    kind "lora": PEFT adapter tensors (names as `get_peft_model_state_dict` gives them) plus
    `lora_config` (r, lora_alpha, target_modules, ...) so receivers can apply or merge them.
    `buckets` holds either the arrays themselves (in-process) or Ray object refs to them.
    """

    version: int
    kind: Literal["full", "lora"]
    entries: list[BucketEntry]
    buckets: list[Any]
    lora_config: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(e.nbytes for e in self.entries)

    def names(self) -> list[str]:
        return [e.name for e in self.entries]


def _aligned(offset: int, to: int = 8) -> int:
    return -(-offset // to) * to


def _fill(pending: list[tuple[str, torch.Tensor]], size: int, index: int, buf: np.ndarray) -> list[BucketEntry]:
    """Copy `pending` tensors into `buf[:size]` (straight from the tensor's device, one copy each)."""
    entries, off = [], 0
    for name, t in pending:
        n = t.numel() * t.element_size()
        start = _aligned(off)  # every entry starts on an 8-byte boundary so it can be viewed as its dtype
        buf[off:start] = 0  # padding is zeroed so a bucket's bytes depend only on its tensors
        if n:
            torch.from_numpy(buf[start : start + n]).copy_(t.detach().reshape(-1).view(torch.uint8))
        entries.append(BucketEntry(name, index, start, n, tuple(t.shape), str(t.dtype)))
        off = start + n
    return entries


def iter_buckets(
    tensors: Iterable[tuple[str, torch.Tensor]], bucket_bytes: int, alloc: Callable[[int], np.ndarray] | None = None
) -> Iterator[tuple[list[BucketEntry], np.ndarray]]:
    """Stream tensors into flat uint8 buckets of at most `bucket_bytes` (a larger tensor gets its own).

    Yields each bucket as soon as it is full, with its entries, so a transport can send bucket k
    while bucket k+1 is packed. `alloc(n)` gives the memory for an n-byte bucket (at least n bytes;
    default a fresh array): a transport that copies the bytes away passes reusable staging buffers.
    """
    if bucket_bytes <= 0:
        raise ValueError("bucket_bytes must be positive")
    alloc = alloc or (lambda n: np.empty(n, dtype=np.uint8))
    pending: list[tuple[str, torch.Tensor]] = []
    size = index = 0
    for name, t in tensors:
        n = t.numel() * t.element_size()
        if pending and _aligned(size) + n > bucket_bytes:
            buf = alloc(size)[:size]
            yield _fill(pending, size, index, buf), buf
            pending, size, index = [], 0, index + 1
        pending.append((name, t))
        size = _aligned(size) + n
    if pending:
        buf = alloc(size)[:size]
        yield _fill(pending, size, index, buf), buf


def pack_state(
    tensors: Iterable[tuple[str, torch.Tensor]], bucket_bytes: int
) -> tuple[list[BucketEntry], list[np.ndarray]]:
    """All buckets at once, each in its own fresh array (in-process manifests, tests)."""
    entries: list[BucketEntry] = []
    buckets: list[np.ndarray] = []
    for bucket_entries, buf in iter_buckets(tensors, bucket_bytes):
        entries += bucket_entries
        buckets.append(buf)
    return entries, buckets


def iter_tensors(entries: list[BucketEntry], buckets: list[np.ndarray]) -> Iterator[tuple[str, torch.Tensor]]:
    """Named tensors viewing the bucket bytes (no copy; clone if you keep them past the buckets)."""
    import warnings

    with warnings.catch_warnings():  # Ray hands back read-only arrays; the views are only read
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        views = [torch.from_numpy(np.asarray(b)) if not isinstance(b, torch.Tensor) else b for b in buckets]
    for e in entries:
        raw = views[e.bucket][e.offset : e.offset + e.nbytes]
        dtype = _DTYPES[e.dtype]
        yield e.name, raw.view(dtype).reshape(e.shape)


def manifest_tensors(manifest: WeightManifest) -> Iterator[tuple[str, torch.Tensor]]:
    """Receiving side: fetch the buckets (one `ray.get` for all refs) and yield named tensors."""
    buckets = list(manifest.buckets)
    ref_idx = [i for i, b in enumerate(buckets) if type(b).__name__ == "ObjectRef"]
    if ref_idx:
        import ray

        for i, arr in zip(ref_idx, ray.get([buckets[i] for i in ref_idx])):
            buckets[i] = arr
    yield from iter_tensors(manifest.entries, buckets)
