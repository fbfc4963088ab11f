"""Which replica takes the next chunk: earliest expected finish, so a slow replica is not handed the
chunk that would end the step last.

Plain greedy work queues ("next chunk to the first free replica") lose at the end of a step: a
replica three times slower picks up one of the last chunks and the step waits for it. Here the pool
keeps each replica's measured seconds per study; a free replica gets the head chunk only if no busy
replica would finish that chunk sooner (counting the work it already holds). Pure functions, no Ray.
"""

from __future__ import annotations

EMA_WEIGHT = 0.5  # weight of the newest measurement in a replica's seconds-per-study estimate


def pick_replica(free: list[int], finish_at: dict[int, float], sec_per_study: dict[int, float],
                 n_pending: int, chunk_size: int) -> int | None:
    """The free replica to send the head chunk to now, or None to hold it for a busy, faster one.

    `finish_at[i]`: when live replica i is expected to be done with what it holds (now, if idle);
    `free`: replicas that may take one more chunk now. Simulates handing the pending chunks out in
    order, each to the replica that would finish it first; the first one a free replica wins is sent.
    Until every live replica has a measurement, the first free replica gets it (plain work queue).
    """
    if not free:
        return None
    if any(i not in sec_per_study for i in finish_at):
        return free[0]
    ends = dict(finish_at)
    for _ in range(n_pending):
        best = min(ends, key=lambda i: (ends[i] + sec_per_study[i] * chunk_size, i not in free))
        if best in free:
            return best
        ends[best] += sec_per_study[best] * chunk_size
    return None


def update_rate(sec_per_study: dict[int, float], replica: int, seconds: float, studies: int) -> None:
    """Fold one chunk's wall time into replica's seconds-per-study estimate (EMA)."""
    rate = seconds / max(1, studies)
    old = sec_per_study.get(replica)
    sec_per_study[replica] = rate if old is None else EMA_WEIGHT * rate + (1 - EMA_WEIGHT) * old
