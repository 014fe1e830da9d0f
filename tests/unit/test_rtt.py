"""The RTT estimator on its own: RFC 6298's arithmetic, the floor and ceiling, and the backoff."""
from __future__ import annotations

import pytest

from resolver.ls.rtt import BACKOFF_AFTER, BACKOFF_QUIET, RttEstimator

FLOOR, CEILING = 0.01, 2.0
LATER = BACKOFF_QUIET       # perf_counter() of the timeouts: the quiet time after the samples, at 0, has passed


def test_before_any_sample_the_rto_is_unbounds_first_one():
    assert RttEstimator(FLOOR, CEILING).rto == pytest.approx(0.376)


def test_the_first_sample_sets_srtt_and_half_of_it_as_rttvar():
    rtt = RttEstimator(FLOOR, CEILING)
    rtt.sample(0.1, 0.0)
    assert (rtt.srtt, rtt.rttvar, rtt.rto) == pytest.approx((0.1, 0.05, 0.3))


def test_later_samples_move_srtt_an_eighth_and_rttvar_a_quarter_of_the_way():
    rtt = RttEstimator(FLOOR, CEILING)
    rtt.sample(0.1, 0.0)
    rtt.sample(0.3, 0.0)             # 0.2 above SRTT
    assert rtt.srtt == pytest.approx(0.1 + 0.2 / 8)
    assert rtt.rttvar == pytest.approx(0.05 + (0.2 - 0.05) / 4)
    assert rtt.rto == pytest.approx(rtt.srtt + 4 * rtt.rttvar)
    rtt.sample(0.0, 0.0)             # below SRTT: the deviation counts as its size
    assert rtt.rttvar == pytest.approx(0.0875 + (0.125 - 0.0875) / 4)


def test_a_fast_backends_rto_stays_at_the_floor():
    rtt = RttEstimator(FLOOR, CEILING)
    for _ in range(50):
        rtt.sample(0.0002, 0.0)
    assert rtt.rto == FLOOR


def test_a_slow_backends_rto_stops_at_the_ceiling():
    rtt = RttEstimator(FLOOR, CEILING)
    rtt.sample(1.5, 0.0)             # 1.5 + 4 * 0.75 = 4.5 s unbounded
    assert rtt.rto == CEILING


def test_the_rto_backs_off_only_past_a_few_timeouts_in_a_row_and_a_sample_ends_it():
    rtt = RttEstimator(FLOOR, CEILING)
    rtt.sample(0.001, 0.0)
    for _ in range(BACKOFF_AFTER):
        rtt.timed_out(LATER)
    assert rtt.rto == FLOOR                 # random loss alone does not slow the next queries
    rtt.timed_out(LATER)
    assert rtt.rto == 2 * FLOOR
    rtt.timed_out(LATER)
    assert rtt.rto == 4 * FLOOR
    for _ in range(20):
        rtt.timed_out(LATER)
    assert rtt.rto == CEILING               # a dead backend: at most the ceiling
    rtt.sample(0.001, 0.0)
    assert rtt.rto == FLOOR and rtt.timeouts == 0


def test_a_sample_between_timeouts_starts_the_count_again():
    rtt = RttEstimator(FLOOR, CEILING)
    rtt.sample(0.001, 0.0)
    for _ in range(5):
        for _ in range(BACKOFF_AFTER):
            rtt.timed_out(LATER)
        rtt.sample(0.001, 0.0)
    assert rtt.rto == FLOOR


def test_timeouts_near_a_query_answered_in_time_do_not_back_off():
    """A backend that answers some names and is silent on others (--silent-miss): its silences within
    the quiet time of an answer are misses, not a slow backend, so a lost datagram waits no longer."""
    rtt = RttEstimator(FLOOR, CEILING)
    rtt.sample(0.001, 0.0)
    for step in range(50):
        rtt.timed_out(step * BACKOFF_QUIET / 100)
    assert rtt.rto == FLOOR and rtt.timeouts == 0
    rtt.answered(BACKOFF_QUIET / 2)
    for _ in range(BACKOFF_AFTER + 1):
        rtt.timed_out(1.5 * BACKOFF_QUIET + 0.01)
    assert rtt.rto == 2 * FLOOR         # quiet for longer: the count runs again


def test_timeouts_near_a_probe_answered_do_not_back_off():
    """A backend asked rarely for its own names, amid misses: its probe replies show it alive."""
    rtt = RttEstimator(FLOOR, CEILING)
    rtt.sample(0.001, 0.0)
    for _ in range(BACKOFF_AFTER + 5):
        rtt.timed_out(10 * BACKOFF_QUIET, alive_at=10 * BACKOFF_QUIET - 0.5)
    assert rtt.rto == FLOOR
    for _ in range(BACKOFF_AFTER + 1):
        rtt.timed_out(12 * BACKOFF_QUIET, alive_at=10 * BACKOFF_QUIET - 0.5)
    assert rtt.rto == 2 * FLOOR         # no probe answered for longer: the count runs


@pytest.mark.parametrize("floor, ceiling", [(0.0, 1.0), (-0.1, 1.0), (2.0, 1.0)])
def test_a_floor_not_above_zero_or_above_the_ceiling_is_refused(floor, ceiling):
    with pytest.raises(ValueError, match="floor"):
        RttEstimator(floor, ceiling)
