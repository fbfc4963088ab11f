"""RewardPool: the driver's (and the operator's) handle on a running reward router.

`RewardPool.create(cfg)` places the router in its own placement group, names it, and returns once
its labeller actors are up; `RewardPool.connect(name, namespace)` finds it from any process attached
to the same Ray cluster. Every method is a thin call to the router; nothing is scored here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ray
from ray.util.placement_group import get_placement_group, placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from radrl_dist.rewards.pool.router import RewardRouterActor
from radrl_dist.rewards.pool.settings import PoolSettings
from radrl_dist.rewards.pool.types import ScoreRequest, ScoreResult

DEFAULT_NAME = "radrl-reward-router"
DEFAULT_NAMESPACE = "radrl"


class RewardPool:
    def __init__(self, router: Any, name: str, namespace: str, pg: Any = None) -> None:
        self.router, self.name, self.namespace, self._pg = router, name, namespace, pg

    @classmethod
    def create(cls, cfg, *, prompt_formats: Mapping[str, str] | None = None, name: str | None = None,
               namespace: str | None = None, detached: bool = False, **overrides) -> RewardPool:
        """Start router + `cfg.num_actors` labeller actors (cfg: RewardConfig). `overrides` set
        PoolSettings fields. Raises (and leaves nothing behind) if the actors fail to start."""
        name = name or cfg.pool_name
        namespace = namespace or cfg.pool_namespace
        settings = PoolSettings.from_config(cfg, prompt_formats, name=name, namespace=namespace, **overrides)
        try:
            ray.get_actor(name, namespace=namespace)
        except ValueError:
            pass
        else:
            raise ValueError(f"a reward router named {name!r} already runs in namespace {namespace!r}; "
                             f"connect to it (RewardPool.connect) or pick another name")
        pg = placement_group([{"CPU": cfg.router_cpus}], strategy="PACK", name=f"{name}-router",
                             lifetime="detached" if detached else None)
        router = None
        try:
            ray.get(pg.ready(), timeout=settings.start_timeout_s)
            router = RewardRouterActor.options(
                name=name, namespace=namespace, num_cpus=cfg.router_cpus, max_concurrency=1000,
                lifetime="detached" if detached else None,
                scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=0),
            ).remote(settings)
            pool = cls(router, name, namespace, pg)
            ray.get(router.start.remote(), timeout=settings.start_timeout_s + 30)
            return pool
        except BaseException:
            if router is not None:
                ray.kill(router)  # its labeller actors die with it (the router owns them)
            remove_placement_group(pg)
            raise

    @classmethod
    def connect(cls, name: str = DEFAULT_NAME, namespace: str = DEFAULT_NAMESPACE) -> RewardPool:
        try:
            router = ray.get_actor(name, namespace=namespace)
        except ValueError as exc:
            raise ValueError(f"no reward router named {name!r} in namespace {namespace!r} on this Ray "
                             f"cluster; is the training run up?") from exc
        return cls(router, name, namespace)

    # ---------------------------------------------------------------- scoring
    def score(self, requests: Sequence[ScoreRequest], timeout: float | None = None) -> list[ScoreResult]:
        return ray.get(self.score_async(requests), timeout=timeout)

    def score_async(self, requests: Sequence[ScoreRequest]) -> ray.ObjectRef:
        return self.router.score.remote(list(requests))

    # ---------------------------------------------------------------- operating
    def status(self, timeout: float | None = 60) -> dict:
        return ray.get(self.router.status.remote(), timeout=timeout)

    def add(self, n: int = 1, spec: str | None = None, tokenizer: str | None = None) -> list[str]:
        return ray.get(self.router.add.remote(n, spec, tokenizer))

    def drain(self, n: int | None = None, actor_ids: list[str] | None = None, timeout: float | None = 300.0,
              force: bool = False) -> list[str]:
        return ray.get(self.router.drain.remote(n, actor_ids, timeout, force))

    def swap(self, spec: str, tokenizer: str | None = None, num_actors: int | None = None,
             timeout: float | None = 300.0) -> dict:
        return ray.get(self.router.swap.remote(spec, tokenizer, num_actors, timeout))

    def swap_async(self, spec: str, tokenizer: str | None = None, num_actors: int | None = None) -> ray.ObjectRef:
        return self.router.swap.remote(spec, tokenizer, num_actors)

    def actor(self, actor_id: str) -> Any:
        """Handle of one labeller actor (drills, debugging): they are named f"{pool}-{actor_id}"."""
        return ray.get_actor(f"{self.name}-{actor_id}", namespace=self.namespace)

    def shutdown(self) -> None:
        """Stop the labeller actors, the router and its placement group."""
        try:
            ray.get(self.router.shutdown.remote(), timeout=60)
        finally:
            ray.kill(self.router)
            pg = self._pg
            if pg is None:
                try:
                    pg = get_placement_group(f"{self.name}-router")
                except ValueError:
                    pg = None
            if pg is not None:
                remove_placement_group(pg)
