"""The versioned weight manifest and the bucket packing both sides agree on.

A bucket is one flat uint8 numpy array (Ray stores numpy zero-copy in its object store, so readers
map the bytes instead of unpickling tensors). Each entry records where its bytes are, with shape and
dtype, so bfloat16 survives without numpy knowing the type.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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


def pack_state(
    tensors: Iterable[tuple[str, torch.Tensor]], bucket_bytes: int
) -> tuple[list[BucketEntry], list[np.ndarray]]:
    """Group tensors into flat uint8 buckets of at most `bucket_bytes` (a larger tensor gets its own)."""
    if bucket_bytes <= 0:
        raise ValueError("bucket_bytes must be positive")
    entries: list[BucketEntry] = []
    pending: list[tuple[str, torch.Tensor]] = []
    buckets: list[np.ndarray] = []
    size = 0

    def flush() -> None:
        nonlocal pending, size
        if not pending:
            return
        buf = np.zeros(size, dtype=np.uint8)
        off = 0
        for name, t in pending:
            raw = t.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy()
            off = _aligned(off)  # every entry starts on an 8-byte boundary so it can be viewed as its dtype
            buf[off : off + raw.size] = raw
            entries.append(BucketEntry(name, len(buckets), off, raw.size, tuple(t.shape), str(t.dtype)))
            off += raw.size
        buckets.append(buf)
        pending, size = [], 0

    for name, t in tensors:
        n = t.numel() * t.element_size()
        if pending and _aligned(size) + n > bucket_bytes:
            flush()
        pending.append((name, t))
        size = _aligned(size) + n
    flush()
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
