"""The router's scoring half: idempotent `score`, the batch dispatcher, retries and health checks.

A mixin of RewardRouter (router.py holds state and membership). Dispatch runs on the router's event
loop; everything that reads model output (answer extraction, the composite) runs in worker threads on
outputs cut to `max_output_chars`, so one long or hostile output never holds the loop, and with it
every other request.
"""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import ray

from radrl_dist.constants import NUM_OBSERVATIONS
from radrl_dist.rewards.pool import scheduling as sch
from radrl_dist.rewards.pool.composite_scoring import Provenance, assemble, label_jobs, split_rows, unique_texts
from radrl_dist.rewards.pool.types import RewardPoolError, ScoreRequest, ScoreResult

_LIVE = (sch.ACTIVE, sch.STARTING, sch.SUSPECT)


class Dispatcher:
    # ---------------------------------------------------------------- score
    async def score(self, requests: list[ScoreRequest]) -> list[ScoreResult]:
        """Records in request order. An id seen before returns its first record (same content
        required); ids failing after all retries raise RewardPoolError naming them."""
        await self._ensure_started()  # a restarted router re-creates its actors on first use
        loop = asyncio.get_running_loop()
        out: list[ScoreResult | None] = [None] * len(requests)
        waits: list[tuple[int, asyncio.Future]] = []
        fresh: list[int] = []
        for i, r in enumerate(requests):
            r.check()
            cid, fp = r.candidate_id, r.fingerprint()
            if cid in self.results:
                self._same(cid, fp, self.results[cid][0])
                out[i] = self.results[cid][1]
                self.stats["duplicates"] += 1
            elif cid in self.inflight:
                self._same(cid, fp, self.inflight[cid][0])
                waits.append((i, self.inflight[cid][1]))
                self.stats["duplicates"] += 1
            else:
                self.inflight[cid] = (fp, loop.create_future())
                fresh.append(i)
        self.stats["requests"] += 1
        if fresh:
            reqs = [requests[i] for i in fresh]
            try:
                scored = await self._score_fresh(reqs)
            except BaseException as exc:
                for r in reqs:
                    fut = self.inflight.pop(r.candidate_id)[1]
                    fut.set_exception(exc)
                    fut.exception()  # mark retrieved: waiters (if any) still get it
                raise
            for i, r, res in zip(fresh, reqs, scored):
                fp, fut = self.inflight.pop(r.candidate_id)
                self.results[r.candidate_id] = (fp, res)
                fut.set_result(res)
                out[i] = res
                self.stats["scored"] += 1
                if res.labeler_version:
                    self.by_version[res.labeler_version] += 1
            while len(self.results) > self.s.result_cache:
                self.results.popitem(last=False)
        for i, fut in waits:
            out[i] = await asyncio.shield(fut)
        return out  # type: ignore[return-value]

    @staticmethod
    def _same(cid: str, fp: tuple, seen: tuple) -> None:
        if fp != seen:
            raise ValueError(f"candidate {cid!r} was sent again with different content; ids must be unique")

    async def _score_fresh(self, reqs: list[ScoreRequest]) -> list[ScoreResult]:
        loop = asyncio.get_running_loop()
        capped = [r.capped(self.s.max_output_chars) for r in reqs]
        reqs, cut = [c[0] for c in capped], [c[1] for c in capped]
        if any(cut):
            self.stats["output_capped"] += sum(cut)
        jobs = await asyncio.to_thread(label_jobs, self.s.spec, reqs)
        units = [sch.Unit(r.candidate_id, j, loop.create_future()) if j is not None else None
                 for r, j in zip(reqs, jobs)]
        live = [u for u in units if u is not None]
        self.pending.extend(live)
        self._kick()
        got = await asyncio.gather(*(u.future for u in live), return_exceptions=True)
        bad = [(u, g) for u, g in zip(live, got) if isinstance(g, BaseException)]
        if bad:
            raise RewardPoolError(f"{len(bad)} of {len(reqs)} candidates could not be labelled; first "
                                  f"{bad[0][0].key!r}: {bad[0][1]}", [u.key for u, _ in bad])
        it = iter(got)
        labels, prov, scores = [], [], []
        for u in units:
            pair, p, sc = next(it) if u is not None else (None, Provenance(), None)
            labels.append(pair)
            prov.append(p)
            scores.append(sc)
        results = await asyncio.to_thread(assemble, self.s.spec, reqs, labels, prov, scores)
        return [dataclasses.replace(r, flags={**r.flags, "output_capped": c}) for r, c in zip(results, cut)]

    # ---------------------------------------------------------------- dispatch
    def _kick(self) -> None:
        slots = [m.slot for m in self.members.values()]
        while (nxt := sch.next_batch(slots, self.pending, self.s.max_inflight_batches, self.s.batch_size)):
            slot, units = nxt
            slot.outstanding_batches += 1
            slot.outstanding_items += len(units)
            slot.last_sent = next(self._sends)
            self._spawn(self._run_batch(self.members[slot.actor_id], units))
        if self.pending and not self.starting and not any(s.state in _LIVE for s in slots):
            self._fail(list(self.pending), "no live reward actor (all drained, dead or removed); add actors")
            self.pending.clear()

    def _fail(self, units: list[sch.Unit], why: str) -> None:
        for u in units:
            if not u.future.done():
                u.future.set_exception(RewardPoolError(f"candidate {u.key!r}: {why}; errors: {u.errors[-3:]}", [u.key]))
        self.stats["failed"] += len(units)

    async def _run_batch(self, m, units: list[sch.Unit]) -> None:
        slot = m.slot
        jobs = [u.job for u in units]
        texts = unique_texts(jobs)
        for u in units:
            u.attempts += 1
        self.stats["batches"] += 1
        self.stats["batch_items"] += len(units)
        try:
            rows, name, version = np.zeros((0, NUM_OBSERVATIONS), dtype=np.int8), None, None
            if texts:
                rows, name, version = await m.handle.label.remote(texts)
            pairs = split_rows(jobs, texts, np.asarray(rows))
            scores = [None] * len(jobs)
            items = [(j.scorers, j.answer, j.pair_reference) for j in jobs if j.scorers]
            if items:  # model-based rewards: the same actor scores (answer, reference) pairs
                it = iter(await m.handle.score_pairs.remote(items))
                scores = [next(it) if j.scorers else None for j in jobs]
        except Exception as exc:  # noqa: BLE001 - any failure re-queues the batch
            self._batch_failed(m, units, exc)
        else:
            slot.batches_done += 1
            slot.items_done += len(units)
            if name is not None:
                slot.labeler_name, slot.labeler_version = name, version
            for u, pair, sc in zip(units, pairs, scores):
                if not u.future.done():
                    u.future.set_result((pair, Provenance(name, version, slot.actor_id, u.attempts), sc))
        finally:
            slot.outstanding_batches -= 1
            slot.outstanding_items -= len(units)
            self._kick()

    def _batch_failed(self, m, units: list[sch.Unit], exc: BaseException) -> None:
        slot, why = m.slot, sch.describe_error(exc)
        slot.failures += 1
        self.stats["batch_failures"] += 1
        if isinstance(exc, ray.exceptions.RayActorError) and slot.state in (sch.ACTIVE, sch.DRAINING):
            self._event("actor_suspect", actor=slot.actor_id, reason=why)
            prev, slot.state = slot.state, sch.SUSPECT
            self._spawn(self._health_check(m, prev))
        retry = []
        for u in units:
            u.errors.append(f"{slot.actor_id}: {why}")
            u.avoid = slot.actor_id
            (retry if u.attempts <= self.s.max_retries else []).append(u)
        self._fail([u for u in units if u not in retry], f"failed {self.s.max_retries + 1} times")
        if retry:
            self.stats["retried"] += len(retry)
            delay = sch.backoff_s(min(u.attempts for u in retry), self.s.backoff_s, self.s.backoff_max_s)
            asyncio.get_running_loop().call_later(delay, self._requeue, retry)

    def _requeue(self, units: list[sch.Unit]) -> None:
        self.pending.extendleft(reversed(units))
        self._kick()

    async def _health_check(self, m, prev: str) -> None:
        """A failed actor either restarts (Ray `max_restarts`) and serves again, or is gone and
        gets replaced by a fresh one running the current labeller."""
        slot = m.slot
        try:
            slot.info = await asyncio.wait_for(m.handle.info.remote(), self.s.health_timeout_s)
            if slot.info.get("error"):
                raise RuntimeError(f"restarted without a labeler: {slot.info['error']}")
        except Exception as exc:  # noqa: BLE001
            self._event("actor_dead", actor=slot.actor_id, reason=sch.describe_error(exc))
            self._remove(m)
            self._save()
            if prev == sch.ACTIVE and self.s.replace_dead:
                self.starting += 1  # counted now, so the queue waits for the replacement
                self._spawn(self._replace(slot.actor_id))
            self._kick()
            return
        slot.state = prev
        self.stats["restarts_seen"] += 1
        self._event("actor_restarted", actor=slot.actor_id)
        self._kick()

    async def _replace(self, dead_id: str) -> None:
        try:
            new = await self._add(1, self.labeler_spec, self.tokenizer)
            self._event("actor_replaced", actor=dead_id, by=new[0].slot.actor_id)
        except Exception as exc:  # noqa: BLE001 - pending work fails with a reason if nothing is left
            self._event("replace_failed", actor=dead_id, reason=str(exc))
        finally:
            self.starting -= 1
            self._kick()
