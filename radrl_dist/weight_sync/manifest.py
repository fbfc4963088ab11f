"""The versioned weight manifest and the bucket packing both sides agree on.

A bucket is one flat uint8 numpy array (Ray stores numpy zero-copy in its object store, so readers
map the bytes instead of unpickling tensors). Each entry records where its bytes are, with shape and
dtype, so bfloat16 survives without numpy knowing the type.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import ray
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


def _fill(pending: list[tuple[str, torch.Tensor]], size: int, index: int, buf: np.ndarray | torch.Tensor) -> list[BucketEntry]:
    """Copy `pending` tensors into `buf[:size]` (straight from the tensor's device, one copy each)."""
    entries, off = [], 0
    for name, t in pending:
        n = t.numel() * t.element_size()
        start = _aligned(off)  # every entry starts on an 8-byte boundary so it can be viewed as its dtype
        buf[off:start] = 0  # padding is zeroed so a bucket's bytes depend only on its tensors
        if n:
            dst = buf[start : start + n]
            dst = dst if isinstance(dst, torch.Tensor) else torch.from_numpy(dst)
            dst.copy_(t.detach().reshape(-1).view(torch.uint8))
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


def layout(tensors: Iterable[tuple[str, torch.Tensor]], bucket_bytes: int) -> list[BucketEntry]:
    """Where each tensor goes, without moving bytes: the same buckets and offsets `iter_buckets` fills.

    Lets a sender announce the whole manifest (the control plane) before any bucket is sent.
    """
    if bucket_bytes <= 0:
        raise ValueError("bucket_bytes must be positive")
    entries: list[BucketEntry] = []
    size = index = in_bucket = 0
    for name, t in tensors:
        n = t.numel() * t.element_size()
        if in_bucket and _aligned(size) + n > bucket_bytes:
            size, index, in_bucket = 0, index + 1, 0
        start = _aligned(size)
        entries.append(BucketEntry(name, index, start, n, tuple(t.shape), str(t.dtype)))
        size, in_bucket = start + n, in_bucket + 1
    return entries


def bucket_sizes(entries: list[BucketEntry]) -> list[int]:
    """Bytes of each packed bucket (end of its last entry)."""
    sizes: dict[int, int] = {}
    for e in entries:
        sizes[e.bucket] = max(sizes.get(e.bucket, 0), e.offset + e.nbytes)
    return [sizes[i] for i in range(len(sizes))]


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


def _as_tensor(b) -> torch.Tensor:
    if isinstance(b, torch.Tensor):
        return b
    with warnings.catch_warnings():  # Ray hands back read-only arrays; the views are only read
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.asarray(b))


class _Span:
    """Read-only array interface over `nbytes` at `address`; holds the pieces that own that memory."""

    def __init__(self, pieces: list[np.ndarray], address: int, nbytes: int):
        self.pieces = pieces
        self.__array_interface__ = {"shape": (nbytes,), "typestr": "|u1", "data": (address, True), "version": 3}


def joined_pieces(pieces: list[np.ndarray]) -> np.ndarray:
    """One flat uint8 array of consecutive pieces: a view when they lie back to back in memory.

    `objref` puts each tensor as pieces of at most `PIECE_BYTES` (see objref.py for why); Ray lays a
    list's out-of-band buffers one after another in one store object (every piece but a tensor's last
    is a multiple of 64 bytes, Ray's alignment, so no padding falls between them). When the addresses
    show exactly that, the tensor is one read-only view spanning them (its base holds every piece, so
    the store object stays mapped); otherwise (another layout) the pieces are copied into a fresh array.
    """
    if len(pieces) == 1:
        return pieces[0]
    start = pieces[0].__array_interface__["data"][0]
    end = start
    for p in pieces:
        if p.__array_interface__["data"][0] != end:
            return np.concatenate(pieces)
        end += p.size
    return np.asarray(_Span(pieces, start, end - start))


def _entry_bytes(entries: list[BucketEntry], bucket: Any) -> Iterator[tuple[BucketEntry, torch.Tensor]]:
    """(entry, flat uint8 tensor of its bytes) for one bucket's entries, in order."""
    if not isinstance(bucket, (list, tuple)):
        flat = _as_tensor(bucket)
        for e in entries:
            yield e, flat[e.offset : e.offset + e.nbytes]
        return
    k = 0
    for e in entries:  # a list bucket: each entry's bytes are the next pieces, summing to nbytes
        pieces, got = [], 0
        while k < len(bucket) and (got < e.nbytes or not pieces):
            pieces.append(np.asarray(bucket[k]).reshape(-1))
            got += pieces[-1].size
            k += 1
        if got != e.nbytes:
            raise ValueError(f"bucket {e.bucket}: entry {e.name!r} needs {e.nbytes} bytes, its pieces hold {got}")
        yield e, _as_tensor(joined_pieces(pieces))
    if k != len(bucket):
        raise ValueError(f"bucket {entries[0].bucket if entries else '?'} has {len(bucket) - k} pieces no entry claims")


def iter_tensors(entries: list[BucketEntry], buckets: list[Any]) -> Iterator[tuple[str, torch.Tensor]]:
    """Named tensors viewing the bucket bytes (no copy; clone if you keep them past the buckets).

    A bucket is either one flat uint8 array (entries index it by byte offset) or a list of uint8
    arrays, each entry's bytes being the next one or more of them (what `objref` puts: each tensor
    is serialised straight into the object store in pieces, with no packed staging copy).
    """
    by_bucket: dict[int, list[BucketEntry]] = {}
    for e in entries:
        by_bucket.setdefault(e.bucket, []).append(e)
    for i, bucket in enumerate(buckets):
        for e, raw in _entry_bytes(by_bucket.get(i, []), bucket):
            yield e.name, raw.view(_DTYPES[e.dtype]).reshape(e.shape)


def manifest_tensors(manifest: WeightManifest) -> Iterator[tuple[str, torch.Tensor]]:
    """Receiving side: named tensors of a manifest whose buckets are arrays or Ray object refs.

    Refs are fetched one bucket at a time, in order, with the next bucket's transfer started
    (`ray.wait(fetch_local=True)`) while this one is loaded, so a remote node's pull of bucket k+1
    overlaps the engine's copy of bucket k; on the same node each `ray.get` maps shared memory.
    """
    buckets = list(manifest.buckets)
    if not any(_is_ref(b) for b in buckets):
        yield from iter_tensors(manifest.entries, buckets)
        return
    by_bucket: dict[int, list[BucketEntry]] = {}
    for e in manifest.entries:
        by_bucket.setdefault(e.bucket, []).append(e)
    for i, b in enumerate(buckets):
        if i + 1 < len(buckets) and _is_ref(buckets[i + 1]):
            ray.wait([buckets[i + 1]], fetch_local=True, timeout=0)  # start the next pull
        arr = ray.get(b) if _is_ref(b) else b
        local = [BucketEntry(e.name, 0, e.offset, e.nbytes, e.shape, e.dtype) for e in by_bucket.get(i, [])]
        yield from iter_tensors(local, [arr])
        del arr


def is_store_backed(manifest: WeightManifest) -> bool:
    """Its tensors are views of immutable Ray objects (an `objref` manifest), which a CPU receiver may
    keep as its weights; any other manifest's bytes may be reused by their sender or receiver."""
    return bool(manifest.buckets) and all(_is_ref(b) for b in manifest.buckets)


def _is_ref(b: Any) -> bool:
    return type(b).__name__ == "ObjectRef"
