"""Starting and stopping labeller actors, each in its own one-bundle placement group.

One group per actor (rather than one group for the role) is what lets the pool grow, shrink and
swap while training runs: a fixed group cannot change size. The first actors' bundles are the
run's plan (pinned to their planned nodes); later ones go wherever there is room. Actors start
through the cluster's actor-group helper, like every role's. A start is all-or-nothing: if any new
actor fails to be placed or to load its labeller in time, every new actor and group is removed and
the caller gets the reason, so the serving actors are never touched by a failed swap.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from radrl_dist.cluster.actor_group import ActorGroup, Bundle, missing_resources, release, reserve_bundle, stop_actor
from radrl_dist.rewards.pool.actor import RewardActor
from radrl_dist.rewards.pool.composite_scoring import model_components
from radrl_dist.rewards.pool.recovery import member_group_name
from radrl_dist.rewards.pool.scheduling import Slot, describe_error
from radrl_dist.rewards.pool.settings import PoolSettings
from radrl_dist.rewards.pool.types import SwapError


@dataclass
class Member:
    slot: Slot
    handle: Any
    bundle: Bundle


async def start_members(settings: PoolSettings, ids: list[str], spec: str, tokenizer: str | None,
                        generation: int, timeout: float | None = None) -> list[Member]:
    """Place, start and warm up `len(ids)` actors within `timeout` (default start_timeout_s); all
    ready or SwapError saying what is missing (nothing left behind)."""
    timeout = settings.start_timeout_s if timeout is None else timeout
    members: list[Member] = []
    group = ActorGroup("reward", RewardActor, max_restarts=settings.max_restarts)
    try:
        for aid in ids:
            bundle = reserve_bundle(settings.bundle(int(aid[1:])), name=member_group_name(settings, aid))
            handle = group.spawn_into(bundle, spec, tokenizer, settings.batch_size, settings.delay_s,
                                      model_components(settings.spec), name=f"{settings.name}-{aid}",
                                      namespace=settings.namespace)
            members.append(Member(Slot(aid, spec, generation), handle, bundle))
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
                        f"{missing_resources(members[0].bundle.resources, len(members), len(done))}")
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
    await m.bundle.pg.ready()


async def _info(m: Member) -> None:
    m.slot.info = await m.handle.info.remote()
    if m.slot.info.get("error"):
        raise SwapError(m.slot.info["error"])
    m.slot.labeler_name, m.slot.labeler_version = m.slot.info["name"], m.slot.info["version"]


def stop_member(m: Member) -> None:
    """Kill the actor for good and give its placement bundle back."""
    stop_actor(m.handle)
    release([m.bundle])
