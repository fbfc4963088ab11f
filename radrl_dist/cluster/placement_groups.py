"""Ray plumbing: create the per-role placement groups from bundle specs and wait for them.

Why a timeout with a message: a placement group that cannot be satisfied waits forever in Ray,
which looks like a hung job. We wait a bounded time, remove what we created, and say which role's
group is pending and what the cluster has free.
"""

from __future__ import annotations

import time
from typing import Any

import ray

from ray.util.placement_group import placement_group, remove_placement_group

from radrl_dist.cluster.placement import RoleBundles


class PlacementTimeout(RuntimeError):
    """A role's placement group was not ready in time."""


def create_placement_groups(specs: dict[str, RoleBundles], timeout_s: float = 120.0) -> dict[str, Any]:
    """Create one placement group per role and wait for all; on timeout remove them and raise."""
    pgs: dict[str, Any] = {}
    try:
        for role, spec in specs.items():
            pgs[role] = placement_group([dict(b) for b in spec.bundles], strategy=spec.strategy, name=spec.name)
        deadline = time.monotonic() + timeout_s
        for role, pg in pgs.items():
            left = max(0.0, deadline - time.monotonic())
            if not pg.wait(timeout_seconds=left):
                spec = specs[role]
                raise PlacementTimeout(
                    f"{role}: placement group {spec.name!r} ({len(spec.bundles)} bundles, first "
                    f"{spec.bundles[0]}) not ready after {timeout_s:g}s; the cluster has free "
                    f"{ray.available_resources()}"
                )
    except BaseException:
        for pg in pgs.values():
            remove_placement_group(pg)
        raise
    return pgs


def remove_placement_groups(pgs: dict[str, Any]) -> None:
    for pg in pgs.values():
        remove_placement_group(pg)
