"""LearnerGroup: K LearnerWorker actors forming one torch.distributed group (gloo on CPU, NCCL on GPU).

The group, not the user, picks the rendezvous: rank 0 reports its node address (loopback when the
whole group runs on one CPU-only node) and a free port. A batch of Candidates (SFT, benches) is
planned once here (`plan_step`) and each rank's share put in the object store once; a GRPO step
arrives by reference (`train_on_rollouts`: the ranks fetch the rollout actors' objects and plan the
same way themselves). The per-rank metric sums are merged here into one dict per step.
"""

from __future__ import annotations

import threading
import time

import ray
import torch

from radrl_dist import object_bytes
from radrl_dist.cluster.actor_group import ActorGroup, Bundle, reserve_group, role_resources, wait_placed
from radrl_dist.config.schema import RadRLConfig
from radrl_dist.grpo.loss import merge_loss_stats
from radrl_dist.learner.batch import LearnerHandoff, TrainingSample, plan_step
from radrl_dist.learner.worker import LearnerWorker
from radrl_dist.weight_sync.manifest import WeightManifest
from radrl_dist.weight_sync.transport import actor_class_for

_PHASES = ("logprob_s", "reference_s", "backward_s", "optimizer_s")


class LearnerGroup:
    def __init__(self, cfg: RadRLConfig, model_path: str, total_updates: int | None = None,
                 bundles: list[Bundle] | None = None, transport: str = "objref", temperature: float | None = None):
        """`bundles`: rank r runs in bundles[r], from the run's plan (ranks in order, node by node);
        None reserves a group of `num_workers` bundles here (SFT, tests, benches)."""
        self.cfg, self.transport = cfg, transport
        lc = cfg.learner
        self.world = lc.num_workers
        total = total_updates or cfg.train.steps * lc.updates_per_step
        temp = cfg.rollout.temperature if temperature is None else temperature
        self.version = 0
        # Submissions to all ranks happen under this lock so every rank sees collective calls in one
        # order, even when a rollout actor's catch-up export comes from another thread (async mode).
        self._lock = threading.Lock()
        if bundles is None:
            bundles = reserve_group([role_resources(lc.cpus_per_worker, lc.gpus_per_worker)] * self.world)
            wait_placed(bundles, cfg.cluster.placement_timeout_s, f"learner: {self.world} ranks")
        if len(bundles) != self.world:
            raise ValueError(f"learner: {len(bundles)} bundles for learner.num_workers={self.world} ranks")
        env = {"DS_ACCELERATOR": "cpu"} if lc.gpus_per_worker == 0 else {}
        worker_cls = actor_class_for(ray.remote(LearnerWorker), cfg.weight_sync.transport)
        self.group = ActorGroup("learner", worker_cls, env_vars=env)  # a rank is not restarted
        self.workers = self.group.spawn(bundles, lambda rank: (cfg, rank, self.world, str(model_path), total, temp))
        planned = {b.node for b in bundles}
        single_node = (len(planned) == 1 if None not in planned
                       else len({n["NodeID"] for n in ray.nodes() if n["Alive"]}) == 1)
        addr, port = ray.get(self.workers[0].rendezvous_address.remote(single_node and lc.gpus_per_worker == 0))
        t0 = time.perf_counter()
        self.setup_info = ray.get([w.setup.remote(addr, port) for w in self.workers])
        self.setup_s = time.perf_counter() - t0

    def _all(self, method: str, *args, **kwargs) -> list:
        with self._lock:
            refs = [getattr(w, method).remote(*args, **kwargs) for w in self.workers]
        return ray.get(refs)

    def train_step(self, candidates: list[TrainingSample]) -> dict:
        """One rollout batch -> `updates_per_step` optimizer updates; returns merged metrics."""
        lc = self.cfg.learner
        t0 = time.perf_counter()
        plan = plan_step(candidates, self.world, lc.micro_batch_size, lc.updates_per_step)
        refs = [ray.put(p) for p in plan]
        with self._lock:
            calls = [w.train_step.remote(r) for w, r in zip(self.workers, refs)]
        return self._merge(object_bytes.get(calls), t0)

    def train_on_rollouts(self, step: LearnerHandoff) -> dict:
        """A GRPO step handed over by reference: each rank fetches the candidates and prompt inputs
        from the object store and trains on its share (LearnerWorker.train_on_rollouts); nothing of
        the batch passes through this process. {} when no candidate had a token to train on."""
        t0 = time.perf_counter()
        with self._lock:
            calls = [w.train_on_rollouts.remote(step) for w in self.workers]
        per_rank = object_bytes.get(calls)
        return self._merge(per_rank, t0) if per_rank[0] else {}

    def _merge(self, per_rank: list[list[dict]], t0: float) -> dict:
        """Per-rank, per-update results -> one metrics dict for the step."""
        updates = []
        for u in range(len(per_rank[0])):
            ranks = [per_rank[r][u] for r in range(self.world)]
            m = merge_loss_stats([s for rk in ranks for s in rk["parts"]])
            m.update(grad_norm=ranks[0]["grad_norm"], lr=ranks[0]["lr"],
                     micro_batches=ranks[0]["micro_batches"])
            m.update({k: max(rk["timing"][k] for rk in ranks) for k in _PHASES})  # the slowest rank sets the pace
            updates.append(m)
        out = {k: sum(u[k] for u in updates) / len(updates) for k in updates[0] if k not in _PHASES}
        out.update({k: sum(u[k] for u in updates) for k in _PHASES + ("tokens", "seqs")})
        out["updates"] = len(updates)
        out["step_s"] = time.perf_counter() - t0
        return out

    def logprobs(self, candidates: list[TrainingSample]) -> list[torch.Tensor]:
        """Current-policy log-probs per candidate, in input order (all ranks take part: ZeRO-3)."""
        mbs = self.cfg.learner.micro_batch_size
        shares = [list(range(len(candidates)))[r :: self.world] for r in range(self.world)]
        n_micro = max(-(-len(s) // mbs) for s in shares)
        jobs = []
        for s in shares:
            mb = [[candidates[i] for i in s[k * mbs : (k + 1) * mbs]] for k in range(n_micro)]
            jobs.append([m if m else [candidates[0]] for m in mb])
        with self._lock:
            calls = [w.logprobs.remote(j) for w, j in zip(self.workers, jobs)]
        results = ray.get(calls)
        out: list[torch.Tensor | None] = [None] * len(candidates)
        for s, res in zip(shares, results):
            for i, lp in zip(s, res):
                out[i] = lp
        return out

    def export(self, kind: str = "auto", version: int | None = None, transport: str | None = None) -> WeightManifest:
        """Publish the current weights; versions are monotonic (default: previous + 1)."""
        new, refs = self.start_export(kind, version, transport)
        return self.finish_export(new, refs)

    def start_export(self, kind: str = "auto", version: int | None = None, transport: str | None = None,
                     republish: bool = False) -> tuple[int, list]:
        """Submit the collective export on every rank; returns (version, refs) for `finish_export`.

        Split in two because a group transport (collective) moves the bytes inside the export: the
        rollout actors' receives must be started while rank 0's export runs.
        """
        if republish:
            version = self.version
        elif version is not None and version <= self.version:
            raise ValueError(f"weight version must increase: got {version}, last published {self.version}")
        lora = self.cfg.learner.lora.enabled
        if kind not in ("auto", "lora", "full", "merged") or (kind != "auto" and (kind in ("lora", "merged")) != lora):
            raise ValueError(f"export kind {kind!r} does not fit this learner (LoRA {'on' if lora else 'off'}): "
                             f"use {'lora or merged' if lora else 'full'} or auto")
        new = version if version is not None else self.version + 1
        with self._lock:  # a catch-up export from the rollout thread must not interleave with a collective step
            refs = [w.export.remote(new, kind, transport or self.transport) for w in self.workers]
        return new, refs

    def finish_export(self, version: int, refs: list) -> WeightManifest:
        """Rank 0's manifest once every rank's export is done; the version is then the learner's."""
        manifest = ray.get(refs)[0]
        self.version = max(self.version, version)
        return manifest

    def set_objective(self, objective: str, temperature: float | None = None) -> None:
        """'grpo' (default) or 'sft' (token-mean NLL of the candidates' completions; advantages unused)."""
        self._all("set_objective", objective, temperature)

    def republish(self, kind: str = "auto", transport: str | None = None) -> WeightManifest:
        """Publish the current weights again under the current version (resume: resync fresh actors)."""
        return self.finish_export(*self.start_export(kind, transport=transport, republish=True))

    def save_checkpoint(self, ckpt_dir: str, tag: str, client_state: dict | None = None,
                        adapter_dir: str | None = None) -> str:
        state = dict(client_state or {}, weight_version=self.version)
        return self._all("save_checkpoint", ckpt_dir, tag, state, adapter_dir)[0]

    def load_checkpoint(self, ckpt_dir: str, tag: str | None = None) -> dict:
        client = self._all("load_checkpoint", ckpt_dir, tag)[0]
        self.version = int(client.get("weight_version", self.version))
        return client

    def save_adapter(self, out_dir: str) -> str:
        return self._all("save_adapter", out_dir)[0]

    def shutdown(self) -> None:
        self.group.shutdown()
        self.workers = []
