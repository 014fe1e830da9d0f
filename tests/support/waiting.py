"""Bounded waits: poll a condition until it holds, failing with what was awaited.

Every wait in the tests goes through here, so that none is unbounded and none
is a bare sleep standing in for "ready".
"""
from __future__ import annotations

import asyncio
import time
from typing import Callable

POLL = 0.02     # seconds between two looks at the condition


def _check(started: float, timeout: float, what: str) -> float:
    """Seconds since ``started``; an AssertionError naming ``what`` once ``timeout`` has passed."""
    elapsed = time.monotonic() - started
    assert elapsed < timeout, f"{what}: not within {timeout:g} s"
    return elapsed


def wait_until(condition: Callable[[], object], timeout: float = 5.0, what: str = "condition",
               interval: float = POLL) -> float:
    """Call ``condition()`` until it is true, at most ``timeout`` seconds (``interval`` apart).

    Returns the seconds it took; raises AssertionError mentioning ``what`` when
    the time is up. ``interval`` 0 suits a condition that itself waits (a query).
    """
    started = time.monotonic()
    while not condition():
        _check(started, timeout, what)
        if interval:
            time.sleep(interval)
    return time.monotonic() - started


async def wait_until_async(condition: Callable[[], object], timeout: float = 5.0, what: str = "condition",
                           interval: float = POLL) -> float:
    """:func:`wait_until` inside an event loop: the loop runs while it waits."""
    started = time.monotonic()
    while not condition():
        _check(started, timeout, what)
        await asyncio.sleep(interval)
    return time.monotonic() - started
