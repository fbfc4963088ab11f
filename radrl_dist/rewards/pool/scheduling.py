"""Pure scheduling rules of the router: actor bookkeeping, least-outstanding choice, batch
formation across requests, retry placement and backoff. No Ray and no asyncio, so every rule is
tested alone; router.py only wires them to actor handles and futures.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Actor states. Only ACTIVE takes new batches; DRAINING finishes what it has then goes away;
# SUSPECT failed a call and waits for a health check (restarting or gone).
STARTING, ACTIVE, DRAINING, SUSPECT, DEAD = "starting", "active", "draining", "suspect", "dead"


@dataclass
class Unit:
    """One candidate's labelling work; retried as a whole so its rows come from one actor."""

    key: str  # candidate id
    job: Any  # assemble.LabelJob
    future: Any = None  # resolved with (labels, provenance) or an exception
    attempts: int = 0
    avoid: str | None = None  # actor that last failed it
    errors: list[str] = field(default_factory=list)


@dataclass
class Slot:
    """The router's view of one labeller actor."""

    actor_id: str
    spec: str
    generation: int
    state: str = STARTING
    labeler_name: str = ""
    labeler_version: str = ""
    outstanding_batches: int = 0
    outstanding_items: int = 0
    batches_done: int = 0
    items_done: int = 0
    failures: int = 0
    last_sent: int = 0  # dispatch sequence number of its latest batch (0: never)
    info: dict = field(default_factory=dict)

    def public(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "info"} | {"info": dict(self.info)}


def pick_slot(slots: Iterable[Slot], max_inflight: int) -> Slot | None:
    """The active actor with room that has the fewest items outstanding; ties (e.g. all idle) go to
    the one that was sent a batch longest ago. Breaking ties by id instead sent every request of a
    one-request-at-a-time stream (a training loop) to the same idle actor while another stayed idle."""
    free = [s for s in slots if s.state == ACTIVE and s.outstanding_batches < max_inflight]
    if not free:
        return None
    return min(free, key=lambda s: (s.outstanding_items, s.outstanding_batches, s.last_sent, s.actor_id))


def take_batch(pending: deque[Unit], actor_id: str, batch_size: int, others_active: bool,
               scan_limit: int | None = None) -> list[Unit]:
    """Pop up to `batch_size` units from the front of `pending`, in order, for `actor_id`.

    A unit that just failed on this actor is left for another one when another active actor exists
    (its place in the queue is kept). Units from different requests share a batch: that is the
    micro-batching."""
    if not others_active:
        n = min(batch_size, len(pending))
        return [pending.popleft() for _ in range(n)]
    taken: list[Unit] = []
    kept: list[Unit] = []
    limit = scan_limit if scan_limit is not None else 4 * batch_size
    scanned = 0
    while pending and len(taken) < batch_size and scanned < limit:
        u = pending.popleft()
        scanned += 1
        (kept if u.avoid == actor_id else taken).append(u)
    pending.extendleft(reversed(kept))
    return taken


def next_batch(slots: list[Slot], pending: deque[Unit], max_inflight: int,
               batch_size: int) -> tuple[Slot, list[Unit]] | None:
    """The next (actor, batch) to send, or None. When the preferred actor can take nothing (every unit
    near the front just failed on it), the next actor in preference order is asked, so retries never
    wait on an actor they avoid while another one is idle."""
    refused: set[str] = set()
    while pending:
        slot = pick_slot([s for s in slots if s.actor_id not in refused], max_inflight)
        if slot is None:
            return None
        others = any(s.state == ACTIVE and s is not slot for s in slots)
        units = take_batch(pending, slot.actor_id, batch_size, others)
        if units:
            return slot, units
        refused.add(slot.actor_id)
    return None


def backoff_s(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff before retry number `attempt` (1-based): base, 2 base, 4 base ... <= cap."""
    if attempt <= 0 or base <= 0:
        return 0.0
    return min(cap, base * 2.0 ** (attempt - 1))


_ERROR_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Interrupt)): (.+)$", re.M)


def describe_error(exc: BaseException, limit: int = 400) -> str:
    """One line saying why a call failed, short enough for a status table or an exception.

    Ray wraps an actor's exception in tracebacks; the last "SomeError: message" line in them is
    the root cause (e.g. the FileNotFoundError of a missing checkpoint), so that is what we keep."""
    text = str(exc)
    cause = getattr(exc, "cause", None) or exc.__cause__
    if cause is not None:
        text += "\n" + str(cause)
    lines = [(k, " ".join(m.split())) for k, m in _ERROR_LINE.findall(text)
             if not k.endswith(("RayTaskError", "ActorDiedError", "RayActorError"))]
    if lines:
        kind, msg = lines[-1]
        out = f"{type(exc).__name__}: {kind.rsplit('.', 1)[-1]}: {msg}"
    else:
        out = f"{type(exc).__name__}: {' '.join(text.split()) or type(exc).__name__}"
    return out if len(out) <= limit else out[: limit - 3] + "..."
