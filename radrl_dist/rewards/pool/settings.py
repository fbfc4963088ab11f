"""The router's settings as one picklable value, made from a RewardConfig (no Ray here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from radrl_dist.rewards.composite import CompositeSpec
from radrl_dist.rewards.pool.composite_scoring import spec_from_config


@dataclass(frozen=True)
class PoolSettings:
    spec: CompositeSpec
    labeler: str = "rules"
    tokenizer: str | None = None
    num_actors: int = 1
    cpus_per_actor: float = 0.25
    gpus_per_actor: float = 0.0
    batch_size: int = 64
    max_retries: int = 3
    max_restarts: int = 2
    max_inflight_batches: int = 2
    backoff_s: float = 0.05
    backoff_max_s: float = 2.0
    start_timeout_s: float = 180.0
    router_max_restarts: int = 3
    router_recover_timeout_s: float = 300.0  # a client gives up on a router silent for this long
    max_output_chars: int = 65536  # model output cut to this before any parser sees it
    health_timeout_s: float = 60.0  # a suspect actor that answers no ping within this is replaced
    replace_dead: bool = True
    result_cache: int = 200_000  # candidate ids remembered for idempotency
    delay_s: float = 0.0  # per-batch sleep in the actors: drills only
    name: str = "radrl-reward-router"
    namespace: str = "radrl"  # labeller actors are named f"{name}-{actor_id}" in it
    # the first actors' bundles from the run's plan (node-pinned, radrl_dist.cluster.run_placement);
    # actors added, swapped in or restarted later take `bundle()` wherever the cluster has room
    planned_bundles: tuple[dict[str, float], ...] = ()

    @classmethod
    def from_config(cls, cfg, prompt_formats: Mapping[str, str] | None = None, **overrides) -> PoolSettings:
        """From a RewardConfig; `overrides` set any field (e.g. delay_s in a drill)."""
        base = dict(spec=spec_from_config(cfg, prompt_formats), labeler=cfg.labeler, tokenizer=cfg.labeler_tokenizer,
                    num_actors=cfg.num_actors, cpus_per_actor=cfg.cpus_per_actor, gpus_per_actor=cfg.gpus_per_actor,
                    batch_size=cfg.batch_size, max_retries=cfg.max_retries, max_restarts=cfg.max_restarts,
                    max_inflight_batches=cfg.max_inflight_batches, backoff_s=cfg.retry_backoff_s,
                    backoff_max_s=cfg.retry_backoff_max_s, start_timeout_s=cfg.start_timeout_s,
                    router_max_restarts=cfg.router_max_restarts, router_recover_timeout_s=cfg.router_recover_timeout_s,
                    max_output_chars=cfg.max_output_chars, name=cfg.pool_name, namespace=cfg.pool_namespace)
        unknown = set(overrides) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown reward pool setting(s) {sorted(unknown)}")
        return cls(**{**base, **overrides})

    def bundle(self, actor_number: int | None = None) -> dict[str, float]:
        """Labeller actor `a<actor_number>`'s placement bundle: its planned one, else CPUs/GPUs anywhere."""
        if actor_number is not None and actor_number < len(self.planned_bundles):
            return dict(self.planned_bundles[actor_number])
        b = {"CPU": self.cpus_per_actor}
        if self.gpus_per_actor > 0:
            b["GPU"] = self.gpus_per_actor
        return b
