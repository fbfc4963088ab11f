"""One learner rank: a Ray actor holding a DeepSpeed engine over the policy.

All public methods except `rendezvous_address` are collective: the LearnerGroup calls them on every
rank at once with matching arguments (ZeRO shards parameters, gradients and optimizer state).
"""

from __future__ import annotations

import os
import socket
import time
from contextlib import nullcontext
from datetime import timedelta

import ray
import torch

from radrl_dist.config.schema import RadRLConfig
from radrl_dist.grpo.loss import grpo_loss, nll_loss
from radrl_dist.learner.batch import LearnerHandoff, RankUpdate, TrainingSample, candidates_from_rollouts, collate, plan_step
from radrl_dist.learner.checkpoint import load_learner_state, save_learner_state, write_peft_adapter
from radrl_dist.learner.engine_setup import build_optimizer, build_policy, ds_config, prepare_cpu_deepspeed_env
from radrl_dist.learner.export import gather_export, lora_config_dict
from radrl_dist.learner.logprobs import completion_logprobs
from radrl_dist.models.loading import load_policy
from radrl_dist.models.tokenizer import vision_token_ids_at
from radrl_dist.weight_sync.endpoints import WeightSender


def _sum_parts(parts: list[dict[str, float]]) -> dict[str, float]:
    """Micro-batch metric sums of one update added up (merge_loss_stats only adds them, so merging
    these per-rank sums gives the same means)."""
    keys = {k for p in parts for k in p}
    return {k: sum(p.get(k, 0.0) for p in parts) for k in keys}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


class LearnerWorker:
    def __init__(self, cfg: RadRLConfig, rank: int, world: int, model_path: str, total_updates: int,
                 temperature: float = 1.0):
        self.cfg, self.rank, self.world = cfg, rank, world
        self.model_path, self.total_updates, self.temperature = model_path, total_updates, temperature
        self.on_gpu = cfg.learner.gpus_per_worker > 0 and torch.cuda.is_available()
        if not self.on_gpu:
            os.environ.setdefault("DS_ACCELERATOR", "cpu")
        self.engine = None
        self.ref_model = None
        self.updates_done = 0
        self.objective = "grpo"  # "sft": token-mean NLL of the completions (radrl_dist.sft)
        self.weight_sender = WeightSender("cuda" if self.on_gpu else "cpu")  # rank 0's end of weight sync

    def rendezvous_address(self, loopback: bool) -> tuple[str, int]:
        """Rank 0's address and a port free on its node, for the process group's TCP store."""
        return ("127.0.0.1" if loopback else ray.util.get_node_ip_address()), _free_port()

    def setup(self, master_addr: str, master_port: int) -> dict:
        os.environ.update(MASTER_ADDR=master_addr, MASTER_PORT=str(master_port), RANK=str(self.rank),
                          WORLD_SIZE=str(self.world), LOCAL_RANK="0")
        if self.on_gpu:
            torch.cuda.set_device(0)  # Ray gives each worker its own GPU as device 0
        else:
            prepare_cpu_deepspeed_env()
        import deepspeed  # lazy: deepspeed, only on learner ranks (the driver never loads it)

        t0 = time.perf_counter()
        deepspeed.init_distributed(dist_backend="nccl" if self.on_gpu else "gloo", auto_mpi_discovery=False,
                                   timeout=timedelta(minutes=10), rank=self.rank, world_size=self.world)
        t_dist = time.perf_counter() - t0
        mc = self.cfg.model
        model = load_policy(self.model_path, "float32", mc.attn_implementation)
        model.config.use_cache = False
        self.pad_id = model.config.get_text_config().pad_token_id or 0
        self.suppress_ids = vision_token_ids_at(self.model_path)
        policy, trainable = build_policy(model, self.cfg)
        opt, sched = build_optimizer(trainable, self.cfg, self.total_updates)
        self.engine, _, _, _ = deepspeed.initialize(model=policy, optimizer=opt, lr_scheduler=sched,
                                                    config=ds_config(self.cfg, self.on_gpu))
        self.float_dtype = torch.bfloat16 if self.on_gpu else torch.float32
        if self.cfg.grpo.beta > 0 and not self.cfg.learner.lora.enabled:
            ref = load_policy(self.model_path, "bfloat16" if self.on_gpu else "float32", mc.attn_implementation)
            self.ref_model = ref.to(self.engine.device).eval().requires_grad_(False)
        n_trainable = sum(int(getattr(p, "ds_numel", p.numel())) for _, p in trainable)
        return {"rank": self.rank, "init_distributed_s": t_dist, "setup_s": time.perf_counter() - t0,
                "trainable_params": n_trainable, "device": str(self.engine.device)}

    # ---------------------------------------------------------------- training

    def _reference_ctx(self):
        return self.engine.module.disable_adapter() if self.cfg.learner.lora.enabled else nullcontext()

    def _update(self, upd: RankUpdate) -> dict:
        g, eng = self.cfg.grpo, self.engine
        eng.train()
        parts, t = [], {"logprob_s": 0.0, "reference_s": 0.0, "backward_s": 0.0, "optimizer_s": 0.0}
        for cands in upd.micro_batches:
            mb = collate(cands, self.pad_id).to(eng.device, self.float_dtype)
            ref = None
            if g.beta > 0 and self.objective == "grpo":
                t0 = time.perf_counter()
                with torch.no_grad(), self._reference_ctx():
                    ref, _ = completion_logprobs(self.ref_model or eng, mb, self.temperature, suppress_ids=self.suppress_ids)
                t["reference_s"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            logp, ent = completion_logprobs(eng, mb, self.temperature, with_entropy=True, suppress_ids=self.suppress_ids)
            if self.objective == "sft":
                loss, stats = nll_loss(logp, mb.completion_mask, upd.norm, entropy=ent)
            else:
                loss, stats = grpo_loss(logp, mb.behaviour_logps, mb.advantages, mb.completion_mask, upd.norm,
                                    ref_logp=ref, entropy=ent, beta=g.beta, kl_estimator=g.kl_estimator,
                                    clip_low=g.clip_low, clip_high=g.clip_high, aggregation=g.aggregation,
                                    logratio_clamp=g.logratio_clamp, kl_clamp=g.kl_clamp, dual_clip=g.dual_clip)
            t["logprob_s"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            # DeepSpeed averages gradients over ranks; the loss is already normalised by global counts.
            eng.backward(loss * self.world, scale_wrt_gas=False)
            t["backward_s"] += time.perf_counter() - t0
            parts.append(stats)
        t0 = time.perf_counter()
        eng.step()
        t["optimizer_s"] = time.perf_counter() - t0
        self.updates_done += 1
        gn = eng.get_global_grad_norm()
        # one sum per rank, not one dict per micro-batch: what goes back does not grow with the batch
        return {"parts": [_sum_parts(parts)], "timing": t, "grad_norm": float(gn) if gn is not None else float("nan"),
                "lr": float(eng.get_lr()[0]), "micro_batches": len(upd.micro_batches)}

    def train_step(self, updates: list[RankUpdate]) -> list[dict]:
        return [self._update(u) for u in updates]

    def train_on_rollouts(self, step: LearnerHandoff) -> list[dict]:
        """One GRPO step handed over by reference: fetch every chunk's candidates and prompt inputs
        from the object store, build the step's candidates and plan exactly as every other rank does
        (deterministic), train on this rank's share. [] when no candidate has a token to train on."""
        fetched = ray.get([ref for pair in step.chunks for ref in pair])
        rollouts, prompts = [], {}
        for k in range(0, len(fetched), 2):
            rollouts.extend(fetched[k])
            prompts.update(fetched[k + 1])
        cands = candidates_from_rollouts(rollouts, prompts, step.advantages)
        if not cands:
            return []
        lc = self.cfg.learner
        return self.train_step(plan_step(cands, self.world, lc.micro_batch_size, lc.updates_per_step)[self.rank])

    def logprobs(self, micro_batches: list[list[TrainingSample]]) -> list[torch.Tensor]:
        """Current-policy log-probs per candidate (completion length each), no gradient."""
        self.engine.eval()
        out = []
        with torch.no_grad():
            for cands in micro_batches:
                mb = collate(cands, self.pad_id).to(self.engine.device, self.float_dtype)
                logp, _ = completion_logprobs(self.engine, mb, self.temperature, suppress_ids=self.suppress_ids)
                out.extend(logp[i, : c.completion_ids.shape[0]].float().cpu() for i, c in enumerate(cands))
        return out

    # ---------------------------------------------------------------- weights and state

    def export(self, version: int, kind: str, transport: str = "objref"):
        """Collective gather; rank 0 packs, publishes and returns the manifest, others None."""
        lc = self.cfg.learner
        if kind == "auto":
            kind = "lora" if lc.lora.enabled else "full"
        if kind in ("lora", "merged") and not lc.lora.enabled:
            raise ValueError(f"export kind {kind!r} needs learner.lora.enabled")
        t0 = time.perf_counter()
        tensors = gather_export(self.engine.module, kind, self.rank == 0, include_vision=not lc.freeze_vision)
        t_gather = time.perf_counter() - t0
        if self.rank != 0:
            return None
        lora_cfg = lora_config_dict(self.engine.module) if kind == "lora" else None
        meta = {"gather_s": t_gather, "export_kind": kind, "updates": self.updates_done}
        m = self.weight_sender.publish(transport, version, "lora" if kind == "lora" else "full", tensors,
                                       int(lc.export_bucket_mb * (1 << 20)), lora_cfg, meta)
        m.meta["export_s"] = t_gather + m.meta["publish_s"]
        return m

    def join_weight_group(self, store_host: str, store_port: int, world: int, loopback: bool, timeout_s: float) -> None:
        """Rank 0 only: become rank 0 of the learner-to-rollout weight group (collective transport)."""
        my_host = "127.0.0.1" if loopback else ray.util.get_node_ip_address()
        self.weight_sender.join_group(store_host, store_port, world, my_host, timeout_s)

    def leave_weight_group(self) -> None:
        self.weight_sender.leave_group()

    def rdt_buckets(self, version: int) -> list[torch.Tensor]:
        """Rank 0 only (`rdt` transport): called with `.options(tensor_transport=...)`, so the buckets
        stay here and each rollout actor's load pulls them point to point."""
        return self.weight_sender.rdt_buckets(version)

    def save_checkpoint(self, ckpt_dir: str, tag: str, client_state: dict, adapter_dir: str | None = None) -> str:
        state = dict(client_state, updates_done=self.updates_done)
        path = save_learner_state(self.engine, ckpt_dir, tag, self.rank, state)
        if adapter_dir and self.cfg.learner.lora.enabled:
            self.save_adapter(adapter_dir)
        return str(path)

    def load_checkpoint(self, ckpt_dir: str, tag: str | None = None) -> dict:
        client = load_learner_state(self.engine, ckpt_dir, self.rank, tag)
        self.updates_done = int(client.get("updates_done", self.updates_done))
        return client

    def save_adapter(self, out_dir: str) -> str | None:
        """Collective; rank 0 writes the adapter in PEFT format."""
        tensors = gather_export(self.engine.module, "lora", self.rank == 0, include_vision=True)
        if self.rank == 0:
            return str(write_peft_adapter(self.engine.module.peft_config["default"], tensors, out_dir))
        return None

    def set_objective(self, objective: str, temperature: float | None = None) -> None:
        if objective not in ("grpo", "sft"):
            raise ValueError(f"objective must be 'grpo' or 'sft', got {objective!r}")
        self.objective = objective
        if temperature is not None:
            self.temperature = temperature

    def ping(self) -> int:
        return self.rank
