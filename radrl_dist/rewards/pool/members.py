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
from radrl_dist.rewards.pool.scheduling import Slot, describe_error
from radrl_dist.rewards.pool.settings import PoolSettings
from radrl_dist.rewards.pool.types import SwapError


@dataclass
class Member:
    slot: Slot
    handle: Any
    pg: Any


async def start_members(settings: PoolSettings, ids: list[str], spec: str, tokenizer: str | None,
                        generation: int) -> list[Member]:
    """Place, start and warm up `len(ids)` actors; all ready or SwapError (nothing left behind)."""
    members: list[Member] = []
    try:
        for aid in ids:
            pg = placement_group([settings.bundle()], strategy="PACK", name=f"{settings.name}-{aid}")
            handle = RewardActor.options(
                name=f"{settings.name}-{aid}", namespace=settings.namespace,
                num_cpus=settings.cpus_per_actor, num_gpus=settings.gpus_per_actor,
                max_restarts=settings.max_restarts, max_task_retries=0,
                scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=0),
            ).remote(spec, tokenizer, settings.batch_size, settings.delay_s, model_components(settings.spec))
            members.append(Member(Slot(aid, spec, generation), handle, pg))

        async def ready(m: Member) -> None:
            try:
                await asyncio.wait_for(m.pg.ready(), settings.start_timeout_s)
            except asyncio.TimeoutError:
                raise SwapError(f"actor {m.slot.actor_id}: placement bundle {settings.bundle()} not granted in "
                                f"{settings.start_timeout_s:g}s; free: {ray.available_resources()}") from None
            m.slot.info = await m.handle.info.remote()
            if m.slot.info.get("error"):
                raise SwapError(m.slot.info["error"])
            m.slot.labeler_name, m.slot.labeler_version = m.slot.info["name"], m.slot.info["version"]

        results = await asyncio.wait_for(asyncio.gather(*(ready(m) for m in members), return_exceptions=True),
                                         settings.start_timeout_s + 5)
        errors = [(m, r) for m, r in zip(members, results) if isinstance(r, BaseException)]
        if errors:
            m, exc = errors[0]
            why = str(exc) if isinstance(exc, SwapError) else describe_error(exc, 600)
            raise SwapError(f"labeler {spec!r}: {len(errors)} of {len(members)} new actors failed to start; "
                            f"first ({m.slot.actor_id}): {why}")
        return members
    except BaseException as exc:
        for m in members:
            stop_member(m)
        if isinstance(exc, asyncio.TimeoutError):
            raise SwapError(f"labeler {spec!r}: new actors not ready in {settings.start_timeout_s:g}s") from None
        raise


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
