"""What a restarted router needs to come back as it was.

Ray restarts the router process (`reward.router_max_restarts`) but not its state, and the labeller
actors it created die with it (an actor's children share its fate), while the placement groups it
created belong to the job and keep their CPUs/GPUs reserved. So the router writes its membership
(labeller spec, tokenizer, generation, number of active actors) to Ray's key-value store (the GCS,
which outlives any worker) on every change; a restarted router reads it back, removes the groups
its dead incarnation left, and starts fresh actors numbered after the old ones. Ray plumbing only.
"""

from __future__ import annotations

import json
import re

import ray
from ray.experimental import internal_kv  # the GCS key-value store Ray's own libraries use
from ray.util.placement_group import PlacementGroup, placement_group_table, remove_placement_group

from radrl_dist.rewards.pool.settings import PoolSettings


def _key(s: PoolSettings) -> str:
    return f"radrl/reward-pool/{s.namespace}/{s.name}"


def member_group_name(s: PoolSettings, actor_id: str) -> str:
    """Placement group of one labeller actor; the namespace keeps equally named pools apart."""
    return f"{s.namespace}/{s.name}-{actor_id}"


def save_membership(s: PoolSettings, state: dict) -> None:
    internal_kv._internal_kv_put(_key(s), json.dumps(state), overwrite=True)


def load_membership(s: PoolSettings) -> dict | None:
    raw = internal_kv._internal_kv_get(_key(s))
    return json.loads(raw) if raw else None


def forget_membership(s: PoolSettings) -> None:
    internal_kv._internal_kv_del(_key(s))


def _member_groups(s: PoolSettings) -> list[tuple[int, dict]]:
    pat = re.compile(re.escape(member_group_name(s, "a")) + r"(\d+)$")
    out = []
    for entry in placement_group_table().values():
        m = pat.match(entry.get("name") or "")
        if m:
            out.append((int(m.group(1)), entry))
    return out


def next_actor_index(s: PoolSettings) -> int:
    """First actor number no group of this pool ever used (names of dead actors may linger)."""
    return max((i for i, _ in _member_groups(s)), default=-1) + 1


def remove_orphaned_groups(s: PoolSettings) -> list[str]:
    """Remove this pool's labeller groups that are still reserved; call only while it has no actors."""
    gone = []
    for _, entry in _member_groups(s):
        if entry["state"] != "REMOVED":
            remove_placement_group(PlacementGroup(ray.PlacementGroupID.from_hex(entry["placement_group_id"])))
            gone.append(entry["name"])
    return gone
