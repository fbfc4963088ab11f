import numpy as np
import pytest
import torch

from radrl_dist.weight_sync.manifest import manifest_tensors, pack_state
from radrl_dist.weight_sync.transport import make_transport


def named():
    g = torch.Generator().manual_seed(0)
    return [("a", torch.randn(5, 3, generator=g)), ("b", torch.randn(7, generator=g).bfloat16()), ("c", torch.arange(4))]


def test_unknown_transport_is_named():
    with pytest.raises(ValueError, match="'nccl'.*known"):
        make_transport("nccl")


def test_inprocess_roundtrip_and_meta():
    entries, buckets = pack_state(named(), 64)
    m = make_transport("inprocess").publish(3, "full", entries, buckets, meta={"x": 1})
    assert m.version == 3 and m.meta["bytes"] == sum(e.nbytes for e in entries) == 60 + 14 + 32 and m.meta["x"] == 1
    for (n, t), (n2, t2) in zip(named(), manifest_tensors(m)):
        assert n == n2 and t.dtype == t2.dtype and torch.equal(t, t2)


def test_objref_puts_each_bucket_once(ray_local):
    entries, buckets = pack_state(named(), 64)
    assert len(buckets) >= 2
    m = make_transport("objref").publish(1, "lora", entries, buckets, lora_config={"r": 2})
    assert all(type(b).__name__ == "ObjectRef" for b in m.buckets) and len(m.buckets) == len(buckets)
    assert m.meta["num_buckets"] == len(buckets) and m.meta["publish_s"] >= 0
    got = dict(manifest_tensors(m))
    assert all(torch.equal(t, got[n]) for n, t in named())
    with pytest.raises(ValueError, match="kind"):
        make_transport("objref").publish(1, "delta", entries, [np.zeros(1, np.uint8)])
