"""One local Ray, two HF rollout actors (real RolloutPool) and a sender actor for every weight-sync test.

The actors are created as a run with `weight_sync.transport=rdt` creates them (Ray's tensor transport
on), which every transport runs with. The sender hosts the learner's real `WeightSender` and publishes tensors the test stages (a perturbed
copy of the tiny model's language model, or a LoRA adapter): the learner's DeepSpeed gather is
covered in tests/learner; here the subject is the path from rank 0's tensors to the engines.
"""

from __future__ import annotations

import time

import pytest
import ray

from radrl_dist.rollout.pool import RolloutPool
from radrl_dist.weight_sync.endpoints import WeightSender
from radrl_dist.weight_sync.transport import actor_class_for
from tests.rollout.conftest import MAX_PROMPT, image_dir, model_cfg, resolve, rollout_cfg  # noqa: F401 (image_dir: a fixture)


class SenderWorker:
    """Learner rank 0 as WeightSync sees it: rendezvous, group membership, export(version, kind, transport)."""

    def __init__(self):
        self.sender = WeightSender()
        self.staged: dict[str, tuple] = {}
        self.delay_s = 0.0

    def stage(self, kind: str, tensors, lora_config=None) -> None:
        self.staged = {"kind": kind, "tensors": tensors, "lora_config": lora_config}

    def set_delay(self, seconds: float) -> None:
        self.delay_s = seconds

    def rendezvous_address(self, loopback: bool):
        from radrl_dist.learner.worker import _free_port

        return "127.0.0.1", _free_port()

    def join_weight_group(self, host, port, world, loopback, timeout_s):
        self.sender.join_group(host, port, world, "127.0.0.1", timeout_s)

    def leave_weight_group(self):
        self.sender.leave_group()

    def export(self, version: int, kind: str, transport: str):
        time.sleep(self.delay_s)
        st = self.staged
        return self.sender.publish(transport, version, st["kind"], st["tensors"], 64 * 1024, st["lora_config"])

    def rdt_buckets(self, version: int):
        return self.sender.rdt_buckets(version)

    def rdt_objects_held(self) -> int:
        """Versions Ray's RDT store on this actor still holds (bounded: old ones are freed)."""
        store = ray._private.worker.global_worker.rdt_manager.rdt_store
        return sum(1 for copies in store._rdt_store.values() if copies)


class SenderGroup:
    """LearnerGroup's export surface over one SenderWorker actor."""

    def __init__(self):
        self.workers = [actor_class_for(ray.remote(SenderWorker), "rdt").options(num_cpus=0.25, max_restarts=0).remote()]
        self.version = 0

    def start_export(self, kind="auto", version=None, transport=None, republish=False):
        new = self.version if republish else (version or self.version + 1)
        return new, [self.workers[0].export.remote(new, kind, transport)]

    def finish_export(self, version, refs):
        m = ray.get(refs)[0]
        self.version = max(self.version, version)
        return m

    def republish(self, kind="auto", transport=None):
        return self.finish_export(*self.start_export(kind, transport=transport, republish=True))


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("tiny_models")


@pytest.fixture(scope="module")
def cluster(tiny_cache):
    resolve(tiny_cache)  # build the tiny model once, before two actors race for it
    if ray.is_initialized():  # a session-scoped Ray of an earlier package (tests/learner) is still up
        ray.shutdown()
    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False)
    pool = RolloutPool(rollout_cfg("hf", num_actors=2), model_cfg(tiny_cache), MAX_PROMPT, max_restarts=4,
                       revive_timeout_s=120, transport="rdt")  # rdt: Ray's tensor transport on (any transport runs)
    yield pool
    pool.shutdown()
    ray.shutdown()
