"""Starting and stopping labeller actors, each in its own one-bundle placement group.

One group per actor (rather than one group for the role) is what lets the pool grow, shrink and
swap while training runs: a fixed group cannot change size. A start is all-or-nothing: if any new
actor fails to be placed or to load its labeller in time, every new actor and group is removed and
the caller gets the reason, so the serving actors are never touched by a failed swap.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import ray
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from radrl_dist.rewards.pool.actor import RewardActor
from radrl_dist.rewards.pool.assemble import model_components
from radrl_dist.rewards.pool.recovery import member_group_name
from radrl_dist.rewards.pool.scheduling import Slot, describe_error
from radrl_dist.rewards.pool.settings import PoolSettings
from radrl_dist.rewards.pool.types import SwapError


@dataclass
class Member:
    slot: Slot
    handle: Any
    pg: Any


async def start_members(settings: PoolSettings, ids: list[str], spec: str, tokenizer: str | None,
                        generation: int, timeout: float | None = None) -> list[Member]:
    """Place, start and warm up `len(ids)` actors within `timeout` (default start_timeout_s); all
    ready or SwapError saying what is missing (nothing left behind)."""
    timeout = settings.start_timeout_s if timeout is None else timeout
    members: list[Member] = []
    try:
        for aid in ids:
            pg = placement_group([settings.bundle()], strategy="PACK", name=member_group_name(settings, aid))
            handle = RewardActor.options(
                name=f"{settings.name}-{aid}", namespace=settings.namespace,
                num_cpus=settings.cpus_per_actor, num_gpus=settings.gpus_per_actor,
                max_restarts=settings.max_restarts, max_task_retries=0,
                scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=0),
            ).remote(spec, tokenizer, settings.batch_size, settings.delay_s, model_components(settings.spec))
            members.append(Member(Slot(aid, spec, generation), handle, pg))
        await _wait_ready(settings, members, spec, timeout)
        return members
    except BaseException:
        for m in members:
            stop_member(m)
        raise


async def _wait_ready(settings: PoolSettings, members: list[Member], spec: str, timeout: float) -> None:
    """One deadline for placement and labeller load together; the error names the missing part."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    placed = {asyncio.ensure_future(_placed(m)): m for m in members}
    done, waiting = await asyncio.wait(placed, timeout=timeout)
    if waiting:
        for f in waiting:
            f.cancel()
        raise SwapError(f"labeler {spec!r}: {len(waiting)} of {len(members)} new actors not placed in {timeout:g}s: "
                        f"{missing_resources(settings.bundle(), len(members), len(done))}")
    infos = {asyncio.ensure_future(_info(m)): m for m in members}
    done, waiting = await asyncio.wait(infos, timeout=max(0.0, end - loop.time()))
    for f in waiting:
        f.cancel()
    errors = [(infos[f], f.exception()) for f in done if f.exception() is not None]
    if errors:
        m, exc = min(errors, key=lambda e: e[0].slot.actor_id)
        why = str(exc) if isinstance(exc, SwapError) else describe_error(exc, 600)
        raise SwapError(f"labeler {spec!r}: {len(errors)} of {len(members)} new actors failed to start; "
                        f"first ({m.slot.actor_id}): {why}")
    if waiting:
        late = sorted(infos[f].slot.actor_id for f in waiting)
        raise SwapError(f"labeler {spec!r}: actors {late} were placed but did not load their labeler in "
                        f"{timeout:g}s (raise reward.start_timeout_s for a slow model or filesystem)")


async def _placed(m: Member) -> None:
    await m.pg.ready()


async def _info(m: Member) -> None:
    m.slot.info = await m.handle.info.remote()
    if m.slot.info.get("error"):
        raise SwapError(m.slot.info["error"])
    m.slot.labeler_name, m.slot.labeler_version = m.slot.info["name"], m.slot.info["version"]


def missing_resources(bundle: dict[str, float], n_total: int, n_placed: int) -> str:
    """"requested CPU 5 for 20 actors ({'CPU': 0.25} each, 2 placed); free now CPU 0.5 of 4 ...": what a start
    asked for against what the cluster has, for the resource kinds the bundle names."""
    free, total = ray.available_resources(), ray.cluster_resources()
    want = ", ".join(f"{k} {v * n_total:g}" for k, v in bundle.items())
    have = ", ".join(f"{k} {free.get(k, 0.0):g} of {total.get(k, 0.0):g}" for k in bundle)
    return (f"requested {want} for {n_total} actors ({bundle} each, {n_placed} placed); free now {have} "
            f"(add nodes, drain other work, or ask for fewer actors)")


def stop_member(m: Member) -> None:
    """Kill the actor for good and give its placement bundle back."""
    try:
        ray.kill(m.handle, no_restart=True)
    except Exception:  # noqa: BLE001 - already gone
        pass
    try:
        remove_placement_group(m.pg)
    except Exception:  # noqa: BLE001
        pass
