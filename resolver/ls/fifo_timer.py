"""One timer for many waits of the same length: they fall due in the order they began.

The race ends each query at its deadline with one timer for all (every query
waits the same timeout); this is the same idea for any other fixed delay,
such as the client-response timer of a race that has a stale answer to fall
back on (RFC 8767 5). No timer per query: a deque, and one timer at a time.
"""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Callable, Generic, Protocol, TypeVar


class Ending(Protocol):
    done: bool      # ended meanwhile: nothing is due


T = TypeVar("T", bound=Ending)


class FifoTimer(Generic[T]):
    """Calls ``due(item)`` ``delay`` seconds after :meth:`watch` (``item`` not done by then).

    ``horizon``: seconds after which every item is done anyway (the race's
    timeout): a ``delay`` not shorter than that never fires, and nothing is kept.
    ``loop`` is set before the first :meth:`watch`.
    """

    def __init__(self, delay: float, horizon: float, due: Callable[[T], None]) -> None:
        self.delay = delay
        self.enabled = delay < horizon
        self.loop: asyncio.AbstractEventLoop | None = None
        self._due = due
        self._queue: deque[tuple[float, T]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def watch(self, item: T) -> None:
        if not self.enabled:
            return
        assert self.loop is not None
        self._queue.append((self.loop.time() + self.delay, item))
        if self._timer is None:
            self._arm()

    def _arm(self) -> None:
        queue = self._queue
        while queue and queue[0][1].done:
            queue.popleft()
        self._timer = self.loop.call_at(queue[0][0], self._fire) if queue else None    # type: ignore[union-attr]

    def _fire(self) -> None:
        now = self.loop.time()      # type: ignore[union-attr]
        queue = self._queue
        while queue and queue[0][0] <= now:
            _, item = queue.popleft()
            if not item.done:
                self._due(item)
        self._arm()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue.clear()
