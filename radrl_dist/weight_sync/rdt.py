"""Ray Direct Transport (RDT): a version's buckets stay in learner rank 0's memory and each rollout
actor pulls them point to point through one RDT object ref, never through the object store.

How a push goes: rank 0 packs the buckets (one copy, on its device) and returns the manifest without
bytes; the driver calls rank 0's `rdt_buckets(version)` with `.options(tensor_transport=...)`, which
leaves the tensors where they are and hands the driver a ref; passing that ref to every rollout
actor's `load_weights_rdt` makes Ray send the tensors sender -> receiver out of band, and the task
runs once they have all arrived (a receiver never loads half a version).

The wire is our own registered tensor transport (`TENSOR_TRANSPORT`) over the standalone weight
group the `collective` transport builds (gloo on CPU, NCCL when the buckets are on a GPU), not Ray's
built-in "gloo"/"nccl" transports: those run over `ray.util.collective`, whose gloo group reuses a
process's `torch.distributed` default group, and learner rank 0 already has one (DeepSpeed's, over
the learner ranks), so Ray's gloo group cannot span rank 0 and the rollout actors
(tests/weight_sync/test_weight_sync.py keeps the reproduction, marked expected to fail). Sending
over our group makes `rdt` run, and be tested, on CPU with the real learner.

Membership: the driver records each member's rank (`set_group_members`, read by Ray in the driver
when it plans a transfer); each member records its own group (`set_process_group`, read by Ray in
that actor when it sends or receives). Actors that use it are created with
`enable_tensor_transport=True` (`ACTOR_OPTIONS`). A restarted or late actor is outside the group and
catches up over `objref`, like `collective`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from ray.experimental.rdt import (
    CommunicatorMetadata,
    TensorTransportManager,
    TensorTransportMetadata,
    register_tensor_transport,
)
from ray.experimental.rdt.util import transport_manager_info

from radrl_dist.weight_sync.buffers import ByteBuffers
from radrl_dist.weight_sync.manifest import WeightManifest, bucket_sizes, iter_buckets, layout
from radrl_dist.weight_sync.objref import build_manifest, check_kind

TENSOR_TRANSPORT = "RADRL_WEIGHT_GROUP"
ACTOR_OPTIONS = {"enable_tensor_transport": True}  # actors that send or receive over RDT
_SEND_TAG = 7  # point-to-point tag on the weight group (the group carries nothing else while RDT uses it)

_process_group: Any = None  # this process's weight group (`collective._Group`), set on join
_group_ranks: dict[str, int] = {}  # driver: actor id (hex) -> rank in the current weight group
_recv_buffers = ByteBuffers()  # a receiver's bucket buffers, reused across versions
_lock = threading.Lock()


def set_process_group(group: Any) -> None:
    """This process's membership of the weight group (None when it leaves; its buffers go too).
    Joining also registers the tensor transport here, so an actor Ray restarted in place has it."""
    global _process_group
    if group is not None:
        register()
        _recv_buffers.device = group.device
    _process_group = group
    if group is None:
        _recv_buffers.clear()


def set_group_members(actors: list[Any]) -> None:
    """Driver side: the current group's actor handles in rank order (empty: no group)."""
    with _lock:
        _group_ranks.clear()
        _group_ranks.update({a._actor_id.hex(): rank for rank, a in enumerate(actors)})


def _rank_of(actor: Any) -> int:
    with _lock:
        rank = _group_ranks.get(actor._actor_id.hex())
    if rank is None:
        raise RuntimeError(f"{actor} is not in the weight group: connect the WeightSync (rdt) first")
    return rank


def _group() -> Any:
    if _process_group is None:
        raise RuntimeError("this process has no weight group: it joins one when WeightSync connects (rdt)")
    return _process_group


def _receive_buffers(tensor_meta: list, device: str) -> list[torch.Tensor]:
    """Buffers for one version's buckets (flat uint8), reused from the last version where they fit:
    the engine copies out of them before the next version arrives (rdt manifests are never adopted)."""
    out = []
    for i, (shape, dtype) in enumerate(tensor_meta):
        n = int(torch.Size(shape).numel())
        if dtype != torch.uint8 or len(shape) != 1:
            out.append(torch.empty(shape, dtype=dtype, device=device))
            continue
        out.append(_recv_buffers.get(i, n))
    return out


@dataclass
class GroupRanks(CommunicatorMetadata):
    src_rank: int = 0
    dst_rank: int = 0


class WeightGroupTensorTransport(TensorTransportManager):
    """Two-sided send/recv over the weight group; Ray orders each pair's transfers on one thread."""

    def tensor_transport_backend(self) -> str:
        return TENSOR_TRANSPORT

    @staticmethod
    def is_one_sided() -> bool:
        return False

    @staticmethod
    def can_abort_transport() -> bool:
        return True  # a peer that dies fails the other side's gloo/NCCL op; abort drops the group

    def actor_has_tensor_transport(self, actor: Any) -> bool:
        with _lock:
            return actor._actor_id.hex() in _group_ranks

    def extract_tensor_transport_metadata(self, obj_id: str, rdt_object: list[torch.Tensor]) -> TensorTransportMetadata:
        devices = {t.device.type for t in rdt_object}
        if len(devices) > 1:
            raise ValueError(f"an RDT weight object holds tensors on several devices: {sorted(devices)}")
        return TensorTransportMetadata(tensor_meta=[(t.shape, t.dtype) for t in rdt_object],
                                       tensor_device=devices.pop() if devices else None)

    def get_communicator_metadata(self, src_actor: Any, dst_actor: Any, backend: str | None = None) -> GroupRanks:
        return GroupRanks(src_rank=_rank_of(src_actor), dst_rank=_rank_of(dst_actor))

    def recv_multiple_tensors(self, obj_id: str, tensor_transport_metadata: TensorTransportMetadata,
                              communicator_metadata: GroupRanks, target_buffers: list | None = None) -> list[torch.Tensor]:
        group = _group()
        out = target_buffers or _receive_buffers(tensor_transport_metadata.tensor_meta, group.device)
        for t in out:
            group.pg.recv([t], communicator_metadata.src_rank, _SEND_TAG).wait()
        return out

    def send_multiple_tensors(self, tensors: list[torch.Tensor], tensor_transport_metadata: TensorTransportMetadata,
                              communicator_metadata: GroupRanks) -> None:
        group = _group()
        for t in tensors:
            group.pg.send([t], communicator_metadata.dst_rank, _SEND_TAG).wait()

    def garbage_collect(self, obj_id: str, tensor_transport_meta: TensorTransportMetadata, tensors: list) -> None:
        pass  # the sender's staging list is dropped by `DirectTransport` at the next version

    def abort_transport(self, obj_id: str, communicator_metadata: GroupRanks) -> None:
        set_process_group(None)  # the group is broken: WeightSync rebuilds it at the next step boundary


def register() -> None:
    """Make `TENSOR_TRANSPORT` known to Ray in this process (idempotent). The driver calls it before
    creating the actors (Ray then registers it on each of them); members call it again on joining
    (`set_process_group`)."""
    with _lock:
        if TENSOR_TRANSPORT not in transport_manager_info:
            register_tensor_transport(TENSOR_TRANSPORT, ["cpu", "cuda"], WeightGroupTensorTransport, torch.Tensor)


class DirectTransport:
    """The sender on learner rank 0: packs a version into staging buffers reused across versions
    (pushes are sequential and a late actor catches up over objref, so no transfer reads the
    previous version once the next is packed) and serves them to `buckets` until the next one."""

    name = "rdt"

    def __init__(self, device: str = "cpu"):
        self.device = device
        self._staging = ByteBuffers(device)
        self._staged: tuple[int, list[torch.Tensor]] | None = None

    def publish(self, version: int, kind: str, tensors: Iterable[tuple[str, torch.Tensor]], bucket_bytes: int,
                lora_config: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> WeightManifest:
        check_kind(kind)
        t0 = time.perf_counter()
        self._staged = None
        tensors = list(tensors)
        entries = layout(tensors, bucket_bytes)
        slots = itertools.count()  # bucket k is packed into staging buffer k
        buckets = [buf for _, buf in iter_buckets(tensors, bucket_bytes, lambda n: self._staging.get(next(slots), n))]
        self._staged = (int(version), buckets)
        header = build_manifest(version, kind, entries, [], lora_config, meta, self.name,
                                {"publish_s": time.perf_counter() - t0})
        header.meta["num_buckets"] = len(buckets)
        return header

    def buckets(self, version: int) -> list[torch.Tensor]:
        """The packed buckets of `version` (what rank 0's RDT method returns)."""
        if self._staged is None or self._staged[0] != version:
            have = None if self._staged is None else self._staged[0]
            raise RuntimeError(f"weight version {version}: not staged on this sender (it holds {have})")
        return self._staged[1]

    def close(self) -> None:
        self._staged = None
        self._staging.clear()


def with_buckets(header: WeightManifest, buckets: list[torch.Tensor]) -> WeightManifest:
    """A receiver's manifest: the header the driver passed plus the buckets RDT delivered."""
    sizes, got = bucket_sizes(header.entries), [int(b.numel()) for b in buckets]
    if got != sizes:
        raise ValueError(f"weight version {header.version}: received buckets of {got} bytes, the manifest says {sizes}")
    header.buckets = list(buckets)
    return header
