import numpy as np
import pytest
import torch

from radrl_dist.weight_sync.manifest import iter_buckets, iter_tensors, manifest_tensors, pack_state
from radrl_dist.weight_sync.transport import make_transport


def named():
    g = torch.Generator().manual_seed(0)
    return [("a", torch.randn(5, 3, generator=g)), ("b", torch.randn(7, generator=g).bfloat16()), ("c", torch.arange(4))]


def test_unknown_transport_is_named():
    with pytest.raises(ValueError, match="'nccl'.*known"):
        make_transport("nccl")


def test_inprocess_roundtrip_and_meta():
    m = make_transport("inprocess").publish(3, "full", named(), 64, meta={"x": 1})
    assert m.version == 3 and m.meta["bytes"] == sum(e.nbytes for e in m.entries) == 60 + 14 + 32 and m.meta["x"] == 1
    for (n, t), (n2, t2) in zip(named(), manifest_tensors(m)):
        assert n == n2 and t.dtype == t2.dtype and torch.equal(t, t2)


def test_objref_puts_each_bucket_once(ray_local):
    n_buckets = len(pack_state(named(), 64)[1])
    assert n_buckets >= 2
    m = make_transport("objref").publish(1, "lora", named(), 64, lora_config={"r": 2})
    assert all(type(b).__name__ == "ObjectRef" for b in m.buckets) and len(m.buckets) == n_buckets
    assert m.meta["num_buckets"] == n_buckets and m.meta["publish_s"] >= 0 and m.meta["transport"] == "objref"
    got = dict(manifest_tensors(m))
    assert all(torch.equal(t, got[n]) for n, t in named())
    with pytest.raises(ValueError, match="kind"):
        make_transport("objref").publish(1, "delta", named(), 64)


def layers(seed: int, n: int = 7, numel: int = 40_000) -> list[tuple[str, torch.Tensor]]:
    """160 KB float32 tensors: each bucket is large enough for Ray's shared-memory store."""
    g = torch.Generator().manual_seed(seed)
    return [(f"layers.{i}.weight", torch.randn(numel, generator=g)) for i in range(n)]


def test_objref_staging_reuse_never_corrupts_a_published_version(ray_local):
    """7 buckets through 2 reused staging buffers, twice: both versions read back exactly, so every
    put finished copying before its staging buffer was overwritten (within and across versions)."""
    transport = make_transport("objref")
    v1 = transport.publish(1, "full", layers(1), 200_000)
    v2 = transport.publish(2, "full", layers(2), 200_000)
    assert v1.meta["num_buckets"] == v2.meta["num_buckets"] == 7
    for m, seed in ((v2, 2), (v1, 1)):
        got = dict(manifest_tensors(m))
        assert all(torch.equal(t, got[n]) for n, t in layers(seed))


def test_buckets_do_not_depend_on_the_memory_they_are_packed_into():
    """Reused staging memory holds old bytes: the alignment padding must not carry them."""
    fresh = pack_state(named(), 64)[1]
    dirty = [buf.copy() for _, buf in iter_buckets(named(), 64, alloc=lambda n: np.full(n + 16, 0xFF, np.uint8))]
    assert len(fresh) == len(dirty) and all(np.array_equal(a, b) for a, b in zip(fresh, dirty))


def test_odd_dtypes_and_shapes_roundtrip():
    tensors = [("scalar", torch.tensor(3.5)), ("mask", torch.tensor([True, False, True])),
               ("empty", torch.zeros(0, 4)), ("t", torch.arange(6.0).reshape(2, 3).t()),  # non-contiguous
               ("h", torch.randn(3, 5).half())]
    entries, buckets = pack_state(tensors, 16)
    got = dict(iter_tensors(entries, buckets))
    for n, t in tensors:
        assert got[n].dtype == t.dtype and got[n].shape == t.shape and torch.equal(got[n], t), n


def test_objref_puts_tensor_views_and_receivers_read_the_store_zero_copy(ray_local):
    """One copy per side: no staging buffers kept by the sender; the receiver's bytes are read-only
    views of the object store (Ray maps numpy arrays), so the engine's copy_ is the only copy."""
    import ray

    tensors = [("w", torch.randn(64, 64)), ("t", torch.arange(12.0).reshape(3, 4).t()),  # non-contiguous
               ("h", torch.randn(40).bfloat16()), ("e", torch.zeros(0))]
    transport = make_transport("objref")
    m = transport.publish(1, "full", tensors, 1 << 20)
    arrays = ray.get(m.buckets[0])
    assert isinstance(arrays, list) and len(arrays) == 4
    assert all(not a.flags.writeable and not a.flags.owndata for a in arrays if a.size)
    got = dict(manifest_tensors(m))
    for n, t in tensors:
        assert got[n].dtype == t.dtype and torch.equal(got[n], t), n
