"""RewardPool: the driver's (and the operator's) handle on a running reward router.

`RewardPool.create(cfg)` places the router in its own placement group, names it, and returns once
its labeller actors are up; `RewardPool.connect(name, namespace)` finds it from any process attached
to the same Ray cluster. Every method is a thin call to the router; nothing is scored here.

A killed router is restarted by Ray (`reward.router_max_restarts`) and `score` calls are resent to
it (Ray task retries; candidate ids make a resend harmless). `score` also pings a router that is
slow to answer: one that stays silent for `reward.router_recover_timeout_s`, or is dead for good,
raises RouterLostError with the resume hint, as a learner death stops the run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import ray
from ray.util.placement_group import get_placement_group, placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from radrl_dist import object_bytes
from radrl_dist.rewards.pool import scheduling as sch
from radrl_dist.rewards.pool.router import RewardRouterActor
from radrl_dist.rewards.pool.settings import PoolSettings
from radrl_dist.rewards.pool.step_scores import StepScores, score_step
from radrl_dist.rewards.pool.types import RouterLostError, ScoreRequest, ScoreResult

DEFAULT_NAME = "radrl-reward-router"
DEFAULT_NAMESPACE = "radrl"


class RewardPool:
    check_every_s = 10.0  # how long `score` waits before asking whether the router is still there

    def __init__(self, router: Any, name: str, namespace: str, pg: Any = None,
                 recover_timeout_s: float = 300.0) -> None:
        self.router, self.name, self.namespace, self._pg = router, name, namespace, pg
        self.recover_timeout_s = recover_timeout_s

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
                max_restarts=settings.router_max_restarts, lifetime="detached" if detached else None,
                scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=0),
            ).remote(settings)
            pool = cls(router, name, namespace, pg, settings.router_recover_timeout_s)
            ray.get(router.start.remote(), timeout=settings.start_timeout_s + 30)
            return pool
        except BaseException:
            if router is not None:
                ray.kill(router)  # its labeller actors die with it (the router owns them)
            remove_placement_group(pg)
            raise

    @classmethod
    def connect(cls, name: str = DEFAULT_NAME, namespace: str = DEFAULT_NAMESPACE,
                recover_timeout_s: float = 300.0) -> RewardPool:
        try:
            router = ray.get_actor(name, namespace=namespace)
        except ValueError as exc:
            raise ValueError(f"no reward router named {name!r} in namespace {namespace!r} on this Ray "
                             f"cluster; is the training run up?") from exc
        return cls(router, name, namespace, recover_timeout_s=recover_timeout_s)

    # ---------------------------------------------------------------- scoring
    def score(self, requests: Sequence[ScoreRequest], timeout: float | None = None) -> list[ScoreResult]:
        """Records in request order; survives router restarts (GetTimeoutError after `timeout`)."""
        return self._await(self.score_async(requests), f"{len(requests)} candidates", timeout)

    def score_step(self, request_refs: Sequence[ray.ObjectRef], timeout: float | None = None) -> StepScores:
        """Score a training step given by reference: one ref per rollout chunk to its list of
        ScoreRequests (radrl_dist.rollout.handoff). The router reads the requests from the object
        store and a small task summarises the records (step_scores.score_step), so what comes back
        here is one float per candidate and the step's metric means. Same restart and loss handling
        as `score`."""
        ref = score_step.remote(self.router, list(request_refs))
        return self._await(ref, f"{len(request_refs)} rollout chunks", timeout)

    def _await(self, ref: ray.ObjectRef, what: str, timeout: float | None) -> Any:
        """Wait for `ref` without fetching it, pinging a router that is slow to answer; then get it."""
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            wait_s = self.check_every_s if end is None else max(0.0, min(self.check_every_s, end - time.monotonic()))
            if ray.wait([ref], timeout=wait_s, fetch_local=False)[0]:
                try:
                    return object_bytes.get(ref)
                except ray.exceptions.RayActorError as exc:
                    raise self._lost(exc) from exc
            if end is not None and time.monotonic() >= end:
                raise ray.exceptions.GetTimeoutError(f"reward pool {self.name!r}: {what} not scored in {timeout:g}s")
            self._check_alive()

    def score_async(self, requests: Sequence[ScoreRequest]) -> ray.ObjectRef:
        """Ray resends the call to a restarted router (until its restarts run out)."""
        return self.router.score.options(max_task_retries=-1).remote(list(requests))

    def _check_alive(self) -> None:
        try:
            ray.get(self.router.ping.options(max_task_retries=-1).remote(), timeout=self.recover_timeout_s)
        except ray.exceptions.GetTimeoutError as exc:
            raise self._lost(f"it answered no ping for {self.recover_timeout_s:g}s") from exc
        except ray.exceptions.RayActorError as exc:
            raise self._lost(exc) from exc

    def _lost(self, why: Any) -> RouterLostError:
        if isinstance(why, BaseException):
            why = sch.describe_error(why, 300)
        return RouterLostError(
            f"reward router {self.name!r} (namespace {self.namespace!r}) is gone and Ray did not bring it back "
            f"({why}); the run stops. Its last complete checkpoint is intact: restart the training run with "
            f"--set checkpoint.resume=auto to continue from it.")

    # ---------------------------------------------------------------- operating
    def status(self, timeout: float | None = 60) -> dict:
        return ray.get(self.router.status.options(max_task_retries=-1).remote(), timeout=timeout)

    def add(self, n: int = 1, spec: str | None = None, tokenizer: str | None = None,
            timeout: float | None = None) -> list[str]:
        """`timeout`: seconds for placement and labeller load (default reward.start_timeout_s)."""
        return ray.get(self.router.add.remote(n, spec, tokenizer, timeout))

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
