"""The reward router: a named async Ray actor in front of M labeller actors.

Why an async actor: many `score` calls (one per rollout batch, from the driver or several drivers)
wait on labeller batches at once; one event loop holds the queue, so batching across requests,
least-outstanding balancing, retries and membership changes need no locks. Label work is queued per
candidate (`Unit`); a dispatcher packs the queue front into labeller-sized batches for whichever
active actor has the fewest items outstanding. A failed batch goes back to the queue front after
backoff and is taken by another actor; its candidates are failed (named) after `max_retries`.
Results are cached by candidate id, so resending an id returns its first record: nothing is scored
twice. Membership (add, drain, swap) changes which actors are ACTIVE; batches already sent finish
where they are, the next ones go to the new actors.

Ray restarts a killed router (`router_max_restarts`); the new incarnation reads its membership back
(recovery.py) and re-creates its labeller actors on first use, and clients resend what they had in
flight (ids are idempotent), so a router death costs a pause, not the run.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections import Counter, OrderedDict, deque

import ray

from radrl_dist.rewards.pool import recovery
from radrl_dist.rewards.pool import scheduling as sch
from radrl_dist.rewards.pool.dispatch import Dispatcher
from radrl_dist.rewards.pool.members import Member, start_members, stop_member
from radrl_dist.rewards.pool.settings import PoolSettings
from radrl_dist.rewards.pool.types import ScoreResult, SwapError


class RewardRouter(Dispatcher):
    def __init__(self, settings: PoolSettings) -> None:
        self.s = settings
        self.labeler_spec, self.tokenizer, self.generation = settings.labeler, settings.tokenizer, 0
        self.members: dict[str, Member] = {}
        self.pending: deque[sch.Unit] = deque()
        self.results: OrderedDict[str, tuple[tuple, ScoreResult]] = OrderedDict()
        self.inflight: dict[str, tuple[tuple, asyncio.Future]] = {}
        self.stats: Counter = Counter()
        self.by_version: Counter = Counter()
        self.events: deque[dict] = deque(maxlen=100)
        self._ids = itertools.count()
        self._sends = itertools.count(1)
        self._tasks: set[asyncio.Task] = set()
        self._membership = asyncio.Lock()
        self.starting = 0  # actors being started; pending work waits for them instead of failing
        self.started = False
        self.restarted = ray.get_runtime_context().was_current_actor_reconstructed

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> dict:
        await self._ensure_started()
        return await self.status()

    async def _ensure_started(self) -> None:
        """Start the labeller actors once: the configured ones at creation, or after a restart the
        membership the previous incarnation saved, numbered after its actors."""
        if self.started:
            return
        async with self._membership:
            if self.started:
                return
            n = self.s.num_actors
            if self.restarted:
                saved = recovery.load_membership(self.s) or {}
                self.labeler_spec = saved.get("labeler", self.labeler_spec)
                self.tokenizer = saved.get("tokenizer", self.tokenizer)
                self.generation = saved.get("generation", self.generation)
                n = max(1, saved.get("active", n))
                self._ids = itertools.count(recovery.next_actor_index(self.s))
                freed = recovery.remove_orphaned_groups(self.s)
                self._event("router_restarted", labeler=self.labeler_spec, actors=n, freed_groups=len(freed))
            await self._add(n, self.labeler_spec, self.tokenizer)
            self.started = True

    def _save(self) -> None:
        active = sum(m.slot.state == sch.ACTIVE for m in self.members.values())
        recovery.save_membership(self.s, {"labeler": self.labeler_spec, "tokenizer": self.tokenizer,
                                          "generation": self.generation, "active": active})

    def ping(self) -> str:
        return "ok"

    def pid(self) -> int:
        return os.getpid()

    def _event(self, kind: str, **detail) -> None:
        self.events.append({"time": time.time(), "kind": kind, **detail})

    def _spawn(self, coro) -> None:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _add(self, n: int, spec: str, tokenizer: str | None, timeout: float | None = None) -> list[Member]:
        ids = [f"a{next(self._ids)}" for _ in range(n)]
        self.starting += n
        try:
            new = await start_members(self.s, ids, spec, tokenizer, self.generation, timeout)
        finally:
            self.starting -= n
        for m in new:
            m.slot.state = sch.ACTIVE
            self.members[m.slot.actor_id] = m
        self._save()
        self._kick()
        return new

    def _remove(self, m: Member) -> None:
        m.slot.state = sch.DEAD
        self.members.pop(m.slot.actor_id, None)
        stop_member(m)

    async def _wait_drained(self, ms: list[Member], timeout: float | None) -> None:
        end = None if timeout is None else time.monotonic() + timeout
        while any(m.slot.outstanding_batches for m in ms):
            if end is not None and time.monotonic() > end:
                raise TimeoutError(f"actors {[m.slot.actor_id for m in ms]} still busy after {timeout:g}s")
            await asyncio.sleep(0.01)
        for m in ms:
            self._remove(m)
        self._save()

    # ---------------------------------------------------------------- operator API
    async def add(self, n: int = 1, spec: str | None = None, tokenizer: str | None = None,
                  timeout: float | None = None) -> list[str]:
        """Start n more actors (current labeller unless `spec`) within `timeout` (default
        start_timeout_s); raises SwapError saying what is missing if they cannot start."""
        if n < 1:
            raise ValueError(f"add: n must be >= 1, got {n}")
        await self._ensure_started()
        async with self._membership:
            try:
                new = await self._add(n, spec or self.labeler_spec, tokenizer if spec else self.tokenizer, timeout)
            except SwapError as exc:
                self._event("add_failed", reason=str(exc))
                raise
        self._event("add", actors=[m.slot.actor_id for m in new])
        return [m.slot.actor_id for m in new]

    async def drain(self, n: int | None = None, actor_ids: list[str] | None = None,
                    timeout: float | None = 300.0, force: bool = False) -> list[str]:
        """Stop sending to some actors, let their batches finish, then remove them."""
        await self._ensure_started()
        async with self._membership:
            active = [m for m in self.members.values() if m.slot.state == sch.ACTIVE]
            if actor_ids:
                unknown = [a for a in actor_ids if a not in self.members]
                if unknown:
                    raise ValueError(f"drain: no such actor(s) {unknown}; actors are {sorted(self.members)}")
                chosen = [self.members[a] for a in actor_ids]
            else:
                chosen = sorted(active, key=lambda m: m.slot.outstanding_items)[: (n or 1)]
            left = [m for m in active if m not in chosen]
            if not left and not force:
                raise ValueError("drain would leave no active reward actor (scoring would stop); add actors "
                                 "first, use swap, or pass force=True")
            for m in chosen:
                m.slot.state = sch.DRAINING
            self._kick()
            await self._wait_drained(chosen, timeout)
        ids = [m.slot.actor_id for m in chosen]
        self._event("drain", actors=ids)
        return ids

    async def swap(self, spec: str, tokenizer: str | None = None, num_actors: int | None = None,
                   timeout: float | None = 300.0) -> dict:
        """Replace every active actor by `num_actors` (default: as many) running labeller `spec`.
        New actors start first; only when all are ready do they take new batches, and the old ones
        drain. If they fail, the old ones keep serving and SwapError says why."""
        await self._ensure_started()
        async with self._membership:
            old = [m for m in self.members.values() if m.slot.state == sch.ACTIVE]
            n = num_actors or max(1, len(old))
            ids = [f"a{next(self._ids)}" for _ in range(n)]
            try:
                new = await start_members(self.s, ids, spec, tokenizer, self.generation + 1)
            except SwapError as exc:
                self._event("swap_failed", spec=spec, reason=str(exc))
                raise
            self.generation += 1
            self.labeler_spec, self.tokenizer = spec, tokenizer
            for m in new:
                m.slot.state = sch.ACTIVE
                self.members[m.slot.actor_id] = m
            for m in old:
                m.slot.state = sch.DRAINING
            self._save()
            self._kick()
            await self._wait_drained(old, timeout)
        out = {"old": [m.slot.actor_id for m in old], "new": ids, "spec": spec,
               "version": new[0].slot.labeler_version, "generation": self.generation}
        self._event("swap", **out)
        return out

    async def status(self) -> dict:
        if self.restarted:
            await self._ensure_started()  # a restarted router shows (and serves) its actors again
        return {"name": self.s.name, "labeler": self.labeler_spec, "tokenizer": self.tokenizer,
                "generation": self.generation, "pending": len(self.pending), "pid": os.getpid(),
                "started": self.started, "restarted": self.restarted,
                "actors": [m.slot.public() for m in self.members.values()],
                "stats": dict(self.stats), "scored_by_version": dict(self.by_version), "events": list(self.events)}

    async def shutdown(self) -> None:
        for m in list(self.members.values()):
            self._remove(m)
        recovery.forget_membership(self.s)


RewardRouterActor = ray.remote(RewardRouter)
