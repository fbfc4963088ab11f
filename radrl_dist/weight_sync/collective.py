"""Collective transport: packed buckets broadcast from learner rank 0 to every rollout actor.

One process group spans learner rank 0 (rank 0) and the rollout actors (ranks 1..N): gloo on CPU,
NCCL when the buckets live on a GPU. The group is standalone (its own TCPStore and
`ProcessGroupGloo`/`ProcessGroupNCCL` object), not `torch.distributed`'s default group: the learner
already owns a default group (DeepSpeed's, over the learner ranks), and `ray.util.collective`'s
gloo backend reuses the default group when one exists (`TorchGLOOGroup` then calls
`new_group(range(world))` over the *learner's* world), so it cannot span learner rank 0 and the
rollout actors. vLLM's weight-transfer engines build their groups standalone for the same reason.

Wire protocol per version: the manifest without bytes (the control plane: version, kind, entries,
LoRA config) is broadcast first as a length and a pickled uint8 tensor, then each bucket. The sender
packs into two reused staging buffers: bucket k+1 is packed while bucket k's broadcast is in flight
(double buffering). Receivers keep one buffer per bucket (reused across versions, so memory stays
at one model's worth) and hand the engine a manifest of zero-copy views, loaded only once every
bucket has arrived: a broken broadcast never leaves an engine with half a version.

A group is fixed: an actor that restarts or joins later is not in it and catches up over `objref`
(`WeightSync.catch_up`); the driver rebuilds the group at the next step boundary.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from radrl_dist.weight_sync.buffers import ByteBuffers
from radrl_dist.weight_sync.manifest import WeightManifest, bucket_sizes, iter_buckets, layout
from radrl_dist.weight_sync.objref import build_manifest, check_kind


def join_group(store_host: str, store_port: int, world: int, rank: int, my_host: str, timeout_s: float,
               device: str = "cpu"):
    """This process's handle on the weight group (rank 0 hosts the rendezvous store)."""
    timeout = timedelta(seconds=timeout_s)
    store = dist.TCPStore(store_host, store_port, world, is_master=rank == 0, timeout=timeout,
                          wait_for_workers=False)
    if device.startswith("cuda"):
        opts = dist.ProcessGroupNCCL.Options()
        opts._timeout = timeout
        pg = dist.ProcessGroupNCCL(store, rank, world, opts)
    else:
        opts = dist.ProcessGroupGloo._Options()
        opts._devices = [dist.ProcessGroupGloo.create_device(hostname=my_host)]
        opts._timeout = timeout
        pg = dist.ProcessGroupGloo(store, rank, world, opts)
    return _Group(pg, store, rank, world, device)


class _Group:
    def __init__(self, pg, store, rank: int, world: int, device: str):
        self.pg, self.store, self.rank, self.world, self.device = pg, store, rank, world, device

    def broadcast(self, t: torch.Tensor):
        opts = dist.BroadcastOptions()
        opts.rootRank = 0
        return self.pg.broadcast([t], opts)

    def close(self) -> None:
        self.pg = self.store = None


def _send_header(group: _Group, header: WeightManifest) -> None:
    payload = torch.frombuffer(bytearray(pickle.dumps(header)), dtype=torch.uint8).to(group.device)
    group.broadcast(torch.tensor([payload.numel()], dtype=torch.int64, device=group.device)).wait()
    group.broadcast(payload).wait()


def _recv_header(group: _Group) -> WeightManifest:
    n = torch.zeros(1, dtype=torch.int64, device=group.device)
    group.broadcast(n).wait()
    payload = torch.empty(int(n.item()), dtype=torch.uint8, device=group.device)
    group.broadcast(payload).wait()
    return pickle.loads(payload.cpu().numpy().tobytes())


class CollectiveTransport:
    """The sender, on learner rank 0, once it has joined the group (`attach`)."""

    name = "collective"

    def __init__(self, group: _Group | None = None, staging_slots: int = 2):
        self.group = group
        self._slots = staging_slots
        self._staging = ByteBuffers(group.device if group is not None else "cpu")

    def publish(self, version: int, kind: str, tensors: Iterable[tuple[str, torch.Tensor]], bucket_bytes: int,
                lora_config: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> WeightManifest:
        check_kind(kind)
        if self.group is None:
            raise RuntimeError(f"weight version {version}: the collective transport has no group (WeightSync.connect first)")
        t0 = time.perf_counter()
        tensors = list(tensors)
        entries = layout(tensors, bucket_bytes)
        header = build_manifest(version, kind, entries, [], lora_config, meta, self.name, {})
        header.meta["num_buckets"] = len(bucket_sizes(entries))
        _send_header(self.group, header)
        works: list[Any] = []
        waited = 0.0

        def alloc(nbytes: int):
            nonlocal waited
            k = len(works)
            if k >= self._slots:  # slot k % slots carried bucket k - slots: its broadcast must be done
                w = time.perf_counter()
                works[k - self._slots].wait()
                waited += time.perf_counter() - w
            buf = self._staging.get(k % self._slots, nbytes)
            return buf.numpy() if self.group.device == "cpu" else buf

        for _entries, buf in iter_buckets(tensors, bucket_bytes, alloc):
            t = torch.from_numpy(buf) if not isinstance(buf, torch.Tensor) else buf
            works.append(self.group.broadcast(t))
        for w in works:
            w.wait()
        header.meta.update(publish_s=time.perf_counter() - t0, send_wait_s=waited)
        return header

    def close(self) -> None:
        if self.group is not None:
            self.group.close()
        self.group = None


class CollectiveReceiver:
    """A rollout actor's side: receives one version's buckets into reused buffers."""

    def __init__(self, group: _Group):
        self.group = group
        self._buffers = ByteBuffers(group.device)

    def receive(self) -> WeightManifest:
        """Blocks until rank 0 broadcasts a version; returns it with zero-copy views of the buffers."""
        t0 = time.perf_counter()
        header = _recv_header(self.group)
        buckets = [self._buffers.get(i, n) for i, n in enumerate(bucket_sizes(header.entries))]
        works = [self.group.broadcast(b) for b in buckets]
        for w in works:
            w.wait()
        header.buckets = buckets
        header.meta["receive_s"] = time.perf_counter() - t0
        return header

    def close(self) -> None:
        self.group.close()
        self._buffers.clear()
