"""Queues of races in start or due order that ended races leave only when they reach the front.

The race's deadline queue and retransmission's queues hold races in the order
they started (or fall due), and forget an ended race only when it comes to
the front. That is one step per race, but a race that waits long at the front
(a query no backend answers, waiting out ``--timeout``) keeps every race that
started after it, ended or not: at 20,000 queries a second and a 5 s timeout,
100,000 of them. So such a queue is rebuilt without its ended races whenever
it has grown a quarter since the last time: each race costs a constant share
of the rebuilds (amortised), and the queue holds little more than the races
still running.
"""
from __future__ import annotations

from collections import deque
from typing import Protocol, TypeVar

COMPACT_FLOOR = 4096        # items a queue may hold before its ended races are taken out


def compaction_after(left: int) -> int:
    """The length at which a queue that holds ``left`` items after its ended races were taken out
    is next rid of them: a quarter longer, so that ended races are at most a fifth of it, or
    :data:`COMPACT_FLOOR`."""
    return max(COMPACT_FLOOR, left * 5 // 4)


class Race(Protocol):
    done: bool          # the race is over


R = TypeVar("R", bound=Race)


def without_ended(queue: deque[R]) -> tuple[deque[R], int]:
    """``queue`` rebuilt without its ended races, in the same order, and the length at which to
    rebuild it next (:func:`compaction_after`). Called once the queue reaches that length."""
    left = deque(race for race in queue if not race.done)
    return left, compaction_after(len(left))
