"""Dispatch without Ray: config fields validate, the bench-only throttle picks one replica, and the
earliest-finish rule keeps the last chunks off a slow replica."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from radrl_dist.config.schema import RolloutConfig
from radrl_dist.rollout.actor import slow_factor
from radrl_dist.rollout.dispatch import pick_replica, update_rate


def test_slow_factor_throttles_only_the_named_replica():
    cfg = RolloutConfig(num_actors=3, debug_slow_actor={"index": 1, "factor": 3.0})
    assert [slow_factor(cfg, i) for i in range(3)] == [1.0, 3.0, 1.0]
    assert slow_factor(RolloutConfig(), 0) == 1.0


@pytest.mark.parametrize("bad", [{"chunk_size": 0}, {"chunks_in_flight": 0}, {"debug_slow_actor": {"index": 0, "factor": 0.5}},
                                 {"debug_slow_actor": {"index": 0, "factr": 3}}])
def test_bad_dispatch_config_fails_with_its_path(bad):
    with pytest.raises(ValidationError) as err:
        RolloutConfig(**bad)
    assert next(iter(bad)) in str(err.value)


def test_pick_replica_holds_the_last_chunk_for_a_faster_busy_replica():
    rates = {0: 3.0, 1: 1.0}  # seconds per study: replica 0 is three times slower
    assert pick_replica([0, 1], {0: 0.0, 1: 0.0}, rates, n_pending=1, chunk_size=1) == 1
    # replica 1 is busy until t=0.5: it still finishes the one pending chunk (t=1.5) before replica 0 would (t=3)
    assert pick_replica([0], {0: 0.0, 1: 0.5}, rates, n_pending=1, chunk_size=1) is None
    # with four chunks pending, replica 1 alone would end at t=4.5: replica 0 takes one now
    assert pick_replica([0], {0: 0.0, 1: 0.5}, rates, n_pending=4, chunk_size=1) == 0
    assert pick_replica([], {0: 0.0, 1: 0.5}, rates, n_pending=4, chunk_size=1) is None


def test_pick_replica_is_a_plain_work_queue_until_every_replica_is_measured():
    assert pick_replica([0], {0: 0.0, 1: 0.5}, {1: 1.0}, n_pending=1, chunk_size=1) == 0


def test_update_rate_is_an_ema_per_study():
    rates: dict[int, float] = {}
    update_rate(rates, 2, seconds=4.0, studies=2)
    assert rates == {2: 2.0}
    update_rate(rates, 2, seconds=1.0, studies=1)
    assert rates[2] == pytest.approx(1.5)
