"""Pure router rules: least-outstanding choice, cross-request batches, retry placement, backoff,
and the no-Ray scoring path (label_with + assemble) against the in-process composite."""

from __future__ import annotations

from collections import deque

import pytest

from radrl_dist.config.schema import RewardConfig
from radrl_dist.labelers.factory import build_labeler
from radrl_dist.rewards.pool import scheduling as sch
from radrl_dist.rewards.pool.composite_scoring import Provenance, assemble, label_jobs, label_with, spec_from_config
from radrl_dist.rewards.pool.types import ScoreRequest

from .conftest import assert_same_as_direct, make_requests


def slot(aid, state=sch.ACTIVE, batches=0, items=0):
    return sch.Slot(aid, "rules", 0, state=state, outstanding_batches=batches, outstanding_items=items)


def test_pick_slot_least_outstanding_and_only_active_with_room():
    slots = [slot("a0", items=40, batches=1), slot("a1", items=8, batches=1), slot("a2", sch.DRAINING),
             slot("a3", sch.SUSPECT), slot("a4", items=0, batches=2)]
    assert sch.pick_slot(slots, max_inflight=2).actor_id == "a1"  # a4 is full, a2/a3 not active
    assert sch.pick_slot([slots[2], slots[3], slots[4]], max_inflight=2) is None


def test_take_batch_mixes_requests_and_skips_units_that_failed_here():
    q = deque(sch.Unit(f"r{r}-{i}", None) for r in range(3) for i in range(3))
    assert [u.key for u in sch.take_batch(q, "a0", 4, others_active=True)] == ["r0-0", "r0-1", "r0-2", "r1-0"]
    q[0].avoid = "a0"
    got = sch.take_batch(q, "a0", 2, others_active=True)
    assert [u.key for u in got] == ["r1-2", "r2-0"] and q[0].key == "r1-1"  # kept in place
    assert [u.key for u in sch.take_batch(q, "a0", 9, others_active=False)] == ["r1-1", "r2-1", "r2-2"]


def test_backoff_doubles_and_caps():
    assert [sch.backoff_s(a, 0.05, 0.3) for a in range(0, 6)] == [0.0, 0.05, 0.1, 0.2, 0.3, 0.3]


def test_assemble_without_ray_equals_direct_composite():
    cfg = RewardConfig()
    spec = spec_from_config(cfg)
    reqs = make_requests(60)
    jobs = label_jobs(spec, reqs)
    assert [j is None for j in jobs] == [r.task == "grounding" for r in reqs]
    assert all((j.reference is None) == (r.reference_labels is not None) for r, j in zip(reqs, jobs) if j)
    live = [j for j in jobs if j is not None]
    labelled = iter(label_with(build_labeler("rules"), live))
    labels = [next(labelled) if j is not None else None for j in jobs]
    results = assemble(spec, reqs, labels, [Provenance("rules", "v", "a0", 1)] * len(reqs))
    assert_same_as_direct(cfg, reqs, results)
    assert results[0].flags["empty_output"] and not results[1].flags["empty_output"]


def test_bad_requests_name_the_candidate():
    with pytest.raises(ValueError, match="c9: task"):
        ScoreRequest("c9", "caption", "x").check()
    with pytest.raises(ValueError, match="c8: grounding needs image_size"):
        ScoreRequest("c8", "grounding", "x").check()
    with pytest.raises(ValueError, match="c7: reference_labels"):
        ScoreRequest("c7", "report", "x", reference_labels=(1, 2)).check()
    with pytest.raises(ValueError, match="prompt format"):
        spec_from_config(RewardConfig(), {"report": "markdown"})


def test_describe_error_keeps_the_root_cause_of_a_ray_traceback():
    exc = RuntimeError("The actor died because of an error raised in its creation task, ray::a2 (pid=1)\n"
                       '  File "actor.py", line 31, in __init__\n    self.labeler = build_labeler(spec)\n'
                       "FileNotFoundError: CheXbert checkpoint /nonexistent/chexbert.pth not found")
    assert sch.describe_error(exc) == "RuntimeError: FileNotFoundError: CheXbert checkpoint /nonexistent/chexbert.pth not found"
    assert sch.describe_error(ValueError("x" * 999), limit=20) == "ValueError: xxxxx..."


def test_pick_slot_ties_go_to_the_actor_sent_a_batch_longest_ago():
    a, b = slot("a0"), slot("a1")
    picked = []
    for seq in range(1, 7):  # one small request at a time: both idle at every choice
        s = sch.pick_slot([a, b], max_inflight=2)
        s.last_sent = seq
        picked.append(s.actor_id)
    assert picked == ["a0", "a1"] * 3


def test_retries_go_to_the_other_idle_actor_when_the_preferred_one_is_the_one_they_failed_on():
    """a1 restarted after a kill: both idle, a1 preferred (sent a batch longest ago), every queued unit
    avoids a1. The batch must go to a0; stopping at a1's empty batch stalled the pool for good."""
    a0, a1 = slot("a0"), slot("a1")
    a0.last_sent, a1.last_sent = 11, 4
    q = deque(sch.Unit(f"u{i}", None) for i in range(5))
    for u in q:
        u.avoid = "a1"
    chosen, units = sch.next_batch([a0, a1], q, max_inflight=2, batch_size=4)
    assert chosen is a0 and [u.key for u in units] == ["u0", "u1", "u2", "u3"] and [u.key for u in q] == ["u4"]
    assert sch.next_batch([a1], q, max_inflight=2, batch_size=4)[0] is a1  # alone, it takes them anyway
    assert sch.next_batch([slot("a2", sch.SUSPECT)], q, 2, 4) is None


def test_capped_request_keeps_short_outputs_and_cuts_long_ones():
    r = ScoreRequest("c1", "report", "x" * 10)
    assert r.capped(10) == (r, False)
    cut, was = r.capped(4)
    assert was and cut.text == "xxxx" and cut.candidate_id == "c1" and cut.task == "report"
    assert ScoreRequest("c2", "report", None).capped(4)[1] is False  # type: ignore[arg-type]
