"""The two ends of weight sync as they live inside the learner and rollout actors.

`WeightSender` (learner rank 0) keeps one transport per name across versions (staging memory, a
process group). `WeightReceiver` (a rollout actor) holds its membership of the weight group. The
group serves both group transports: `collective` broadcasts over it, `rdt` sends point to point over
it (`rdt.set_process_group`).
Both are plain objects so the actors stay thin and tests can host them in any Ray actor.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from radrl_dist.weight_sync import rdt
from radrl_dist.weight_sync.collective import CollectiveReceiver, CollectiveTransport, join_group
from radrl_dist.weight_sync.manifest import WeightManifest
from radrl_dist.weight_sync.transport import WeightTransport, make_transport


class WeightSender:
    def __init__(self, device: str = "cpu"):
        self.device = device
        self._transports: dict[str, WeightTransport] = {}

    def transport(self, name: str) -> WeightTransport:
        if name not in self._transports:  # kept: a transport reuses its memory / group across versions
            self._transports[name] = make_transport(name, self.device)
        return self._transports[name]

    def join_group(self, store_host: str, store_port: int, world: int, my_host: str, timeout_s: float) -> None:
        """Rank 0 of a new weight group (replaces any previous group)."""
        self.leave_group()
        group = join_group(store_host, store_port, world, 0, my_host, timeout_s, self.device)
        self._transports["collective"] = CollectiveTransport(group)
        rdt.set_process_group(group)

    def leave_group(self) -> None:
        rdt.set_process_group(None)
        old = self._transports.pop("collective", None)
        if old is not None:
            old.close()

    def rdt_buckets(self, version: int) -> list[torch.Tensor]:
        """`version`'s packed buckets, for rank 0's RDT method (`rdt` transport)."""
        return self.transport("rdt").buckets(version)

    def publish(self, transport: str, version: int, kind: str, tensors: Iterable[tuple[str, torch.Tensor]],
                bucket_bytes: int, lora_config: dict[str, Any] | None = None,
                meta: dict[str, Any] | None = None) -> WeightManifest:
        return self.transport(transport).publish(version, kind, tensors, bucket_bytes, lora_config, meta)

    def close(self) -> None:
        for t in self._transports.values():
            t.close()
        self._transports.clear()


class WeightReceiver:
    def __init__(self, device: str = "cpu"):
        self.device = device
        self._collective: CollectiveReceiver | None = None

    @property
    def in_group(self) -> bool:
        return self._collective is not None

    def join_group(self, store_host: str, store_port: int, world: int, rank: int, my_host: str, timeout_s: float) -> None:
        self.leave_group()
        self._collective = CollectiveReceiver(join_group(store_host, store_port, world, rank, my_host, timeout_s, self.device))
        rdt.set_process_group(self._collective.group)

    def leave_group(self) -> None:
        rdt.set_process_group(None)
        if self._collective is not None:
            self._collective.close()
        self._collective = None

    def receive(self) -> WeightManifest:
        """The next version broadcast to the group (all buckets arrived)."""
        if self._collective is None:
            raise RuntimeError("this rollout actor is not in a weight group; it catches up over objref")
        try:
            return self._collective.receive()
        except Exception:
            self.leave_group()  # a broken broadcast breaks the group: rebuilt at the next step boundary
            raise
