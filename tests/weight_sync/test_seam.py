"""Pure parts of the seam: config validation, the registry, and the layout both sides agree on."""

from __future__ import annotations

import typing

import pytest
import ray
import torch
from pydantic import ValidationError

from radrl_dist.config.schema import RadRLConfig, WeightSyncConfig
from radrl_dist.weight_sync.endpoints import WeightSender
from radrl_dist.weight_sync.manifest import bucket_sizes, iter_buckets, layout
from radrl_dist.weight_sync.transport import actor_class_for, transport_names, transport_spec


def test_gpu_only_transport_on_a_cpu_config_names_the_field(monkeypatch):
    with pytest.raises(ValidationError, match="weight_sync.transport"):
        RadRLConfig(weight_sync={"transport": "nccl"})
    for name in ("objref", "collective", "rdt"):  # every shipped transport runs on CPU
        assert RadRLConfig(weight_sync={"transport": name}).weight_sync.transport == name
    monkeypatch.setattr(WeightSyncConfig, "GPU_ONLY", frozenset({"rdt"}))  # a GPU-only one, when there is one
    with pytest.raises(ValidationError, match=r"weight_sync\.transport: 'rdt' moves GPU tensors"):
        RadRLConfig(weight_sync={"transport": "rdt"})
    gpu = {"learner": {"gpus_per_worker": 1}, "rollout": {"gpus_per_actor": 1}}
    assert RadRLConfig(weight_sync={"transport": "rdt"}, **gpu).weight_sync.transport == "rdt"


def test_every_cpu_transport_in_config_is_registered_and_flags_agree():
    allowed = set(typing.get_args(WeightSyncConfig.model_fields["transport"].annotation))
    for name in allowed:
        assert name in transport_names() and transport_spec(name).gpu_only == (name in WeightSyncConfig.GPU_ONLY)
    assert transport_spec("collective").group and transport_spec("rdt").group and not transport_spec("objref").group
    plain = ray.remote(WeightSender)
    assert actor_class_for(plain, "objref") is plain
    assert actor_class_for(plain, "rdt").__ray_metadata__.enable_tensor_transport
    with pytest.raises(ValueError, match="unknown weight transport 'nccl'; known: 'collective', 'inprocess', 'objref', 'rdt'"):
        transport_spec("nccl")


def test_layout_is_exactly_what_iter_buckets_fills():
    """The collective header is announced from `layout` before any bucket is packed by `iter_buckets`."""
    g = torch.Generator().manual_seed(0)
    tensors = [("a", torch.randn(5, 3, generator=g)), ("empty", torch.zeros(0)), ("b", torch.randn(7, generator=g).bfloat16()),
               ("big", torch.randn(40, generator=g)), ("c", torch.arange(3)), ("d", torch.tensor([True]))]
    for bucket_bytes in (1, 24, 64, 1000):
        packed = [e for entries, _ in iter_buckets(tensors, bucket_bytes) for e in entries]
        sizes = [buf.size for _, buf in iter_buckets(tensors, bucket_bytes)]
        assert layout(tensors, bucket_bytes) == packed
        assert bucket_sizes(packed) == sizes
