"""Retransmission: a UDP query goes to a backend again when the backend has not replied within its RTO.

A race sends a client's query to each backend once (:mod:`resolver.ls.race`).
Over UDP a datagram lost on the way there or back would leave the one backend
that has the name silent, and the client would wait for the race's timeout. So
a backend the race still awaits when its retransmission timeout (RTO,
:mod:`resolver.ls.rtt`) has passed since the query went out gets the same
datagram again, the same ID included, on its connected socket; then again after
twice that time, and so on (RFC 6298 5.5), each interval at most the RTO's
ceiling, at most ``retries`` copies in all, none once the race's deadline has
come. A reply to any copy ends the wait for that backend; the race counts a
second one as a duplicate. Backends the race no longer awaits (they replied,
or went down) get no copy. TCP queries are not retransmitted: TCP does that.

No timer per query, and one append per query: the queries in the order they
went out, in one deque, with one timer at the oldest's send time plus the
shortest RTO of any backend (brought forward when an RTO comes down). Most
races are over by then, and their entries just leave the deque. A query still
awaited gets its copies: at once to each backend whose RTO has passed, later to
the others; each later copy, which only a loss or a slow backend calls for,
waits in one heap by due time with one timer for the earliest. A race that
ends stays in the deque and the heap until it would fall due (up to the RTO's
ceiling, once a flood of queries nobody answers has backed the RTO off), so
both are rebuilt without ended races as they grow (:mod:`resolver.ls.compaction`):
under a flood whose races end early (jostled, :mod:`resolver.ls.admission`)
they keep little more than the races running.

A backend's replies are timed at most once per SRTT: RFC 6298 (section 3)
asks for a sample at least once per round trip, and its gains assume about one
(RFC 7323, appendix G); at thousands of queries a second, timing every reply
would also make the estimator forget within milliseconds, and cost the hot path.

The same clock tells the race when a backend it awaits is *overdue*, silent
past its RTO since the query went to it, over UDP or TCP alike: the race then
asks the backends that a learned owner was asked ahead of (the hedge,
:mod:`resolver.ls.learning`), or another member of a replica group in place
of a silent one (:mod:`resolver.ls.groups`). So this runs with ``retries`` 0
too, sending no copies then. Backends a race asks after it started (a hedge, a
member in place of another) are watched from the moment they are asked
(:meth:`Retransmitter.watch_late`).
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections import deque
from time import perf_counter
from typing import Callable, Protocol, Sequence

from ..obs.stats import BackendStats
from .compaction import compaction_after, without_ended
from .rtt import RttEstimator
from .settings import RetransmitSettings


class Pending(Protocol):
    """A race's query as retransmission sees it (:class:`resolver.ls.race.Pending`)."""

    uid: int            # the ID sent upstream
    data: bytes         # the client's query, with the client's ID
    deadline: float     # the race's, on the event loop's clock
    waiting: int        # one bit per backend not yet heard from
    done: bool          # the race is over
    resent: int         # one bit per backend sent the query again (set here)
    sink: object        # where the reply goes: ``sink.stream`` is true for a TCP client (no copies sent again)


class Upstream(Protocol):
    """A backend as retransmission uses it (:class:`resolver.ls.backends.Backend`)."""

    index: int
    stats: BackendStats
    probe_answered_at: float    # perf_counter() when it last answered a health probe

    def send(self, data: bytes) -> None: ...


# A query's next copy to one backend: (due, order, entry, backend index, interval in s, copies sent so far)
Later = tuple[float, int, Pending, int, float, int]


class Retransmitter:
    """Sends UDP queries again to the backends still silent past their RTO, by ``settings``.

    ``backends``: all of the race's, by index. ``timeout``: the race's, in
    seconds; a query went out at its deadline minus that, on the event loop's
    clock. ``overdue(entry, index)`` is called once per race and backend
    awaited, when the backend's RTO has passed since the query went to it. :attr:`rtt` holds each backend's
    :class:`~resolver.ls.rtt.RttEstimator`, by backend index; :meth:`sample`
    feeds it. Raises ValueError for a floor and ceiling the estimator refuses.
    """

    def __init__(self, backends: Sequence[Upstream], settings: RetransmitSettings, timeout: float,
                 overdue: Callable[[Pending, int], None]) -> None:
        self.backends = list(backends)
        self.overdue = overdue
        self.copies = 1 + settings.retries
        self.ceiling = settings.ceiling
        self.timeout = timeout
        self.rtt = [RttEstimator(settings.floor, settings.ceiling) for _ in self.backends]
        self.next_sample = [0.0] * len(self.backends)    # perf_counter() from which a backend's next reply is timed
        self._sent: deque[Pending] = deque()    # UDP queries, in the order they went out
        self._sent_compact_at = compaction_after(0)     # its length at which ended races are taken out
        self._shortest = min(rtt.rto for rtt in self.rtt)
        self._timer: asyncio.Handle | None = None     # uvloop's call_at gives a plain Handle for a time past
        self._timer_due = math.inf              # when the timer fires (inf: none set)
        self._later: list[Later] = []           # a heap by due time
        self._compact_at = compaction_after(0)          # the heap's length at which ended races are taken out
        self._order = itertools.count()
        self._later_timer: asyncio.Handle | None = None
        self._later_at = math.inf               # when it fires (inf: none set)
        self._loop = asyncio.get_running_loop()

    def watch(self, entry: Pending) -> None:
        """``entry``'s query has just gone to each backend of its ``waiting`` mask."""
        self._sent.append(entry)
        if len(self._sent) >= self._sent_compact_at:
            self._sent, self._sent_compact_at = without_ended(self._sent)
        if self._timer is None:
            self._arm(entry.deadline - self.timeout + self._shortest)

    def sample(self, index: int, seconds: float, now: float) -> None:
        """Backend ``index`` replied ``seconds`` after a query it got once, at ``now`` (perf_counter()):
        a sample for its RTO (:meth:`RttEstimator.sample`); its next reply is timed an SRTT later."""
        rtt = self.rtt[index]
        rtt.sample(seconds, now)
        self.next_sample[index] = now + rtt.srtt
        if rtt.rto < self._shortest:
            self._shortest = rtt.rto
            if self._sent:
                due = self._sent[0].deadline - self.timeout + rtt.rto
                if due < self._timer_due:
                    self._arm(due)

    def _arm(self, due: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(due, self._first_due)
        self._timer_due = due

    def _first_due(self) -> None:
        """Every query still awaited the shortest RTO after it went out: a copy now to each backend
        awaited whose RTO has passed, a copy later to the others."""
        now = max(self._loop.time(), self._timer_due)    # uvloop's clock counts whole milliseconds
        self._shortest = shortest = min(rtt.rto for rtt in self.rtt)
        queue, timeout = self._sent, self.timeout
        while queue:
            entry = queue[0]
            if entry.done:
                queue.popleft()
                continue
            sent = entry.deadline - timeout
            if sent + shortest > now:
                break
            queue.popleft()
            for index, rtt in enumerate(self.rtt):
                if entry.waiting & (1 << index):
                    rto = rtt.rto
                    if sent + rto <= now:
                        self._due(entry, index, rto, 1)
                    else:
                        self._schedule(sent + rto, entry, index, rto, 1)
        self._timer, self._timer_due = None, math.inf
        if queue:
            self._arm(queue[0].deadline - timeout + shortest)

    def watch_late(self, entry: Pending, mask: int) -> None:
        """``entry``'s query has just gone to the backends of ``mask`` too, after the race began."""
        now = self._loop.time()
        for index, rtt in enumerate(self.rtt):
            if mask & (1 << index):
                self._schedule(now + rtt.rto, entry, index, rtt.rto, 1)

    def _due(self, entry: Pending, index: int, interval: float, copies: int) -> None:
        """Backend ``index`` has left ``entry``'s query unanswered ``interval`` seconds after the last of
        the ``copies`` sent so far. After the first it is overdue (the race hears of it) and its
        RTO has passed unanswered (:meth:`RttEstimator.timed_out`). A UDP query goes again if
        copies are left; the next after twice that."""
        backend = self.backends[index]
        stream = entry.sink.stream      # type: ignore[attr-defined]
        if copies == 1:
            if not stream:
                self.rtt[index].timed_out(perf_counter(), backend.probe_answered_at)
            self.overdue(entry, index)
            if entry.done or not entry.waiting & (1 << index):
                return
        if stream or copies >= self.copies:
            return
        entry.resent |= 1 << index
        backend.stats.retransmissions += 1
        backend.send(entry.uid.to_bytes(2, "big") + entry.data[2:])
        if copies + 1 < self.copies:
            interval = min(self.ceiling, 2 * interval)
            self._schedule(self._loop.time() + interval, entry, index, interval, copies + 1)

    def _schedule(self, due: float, entry: Pending, index: int, interval: float, copies: int) -> None:
        """A copy of ``entry``'s query to backend ``index`` at ``due``, unless the race's deadline comes first."""
        if due >= entry.deadline:
            return
        heapq.heappush(self._later, (due, next(self._order), entry, index, interval, copies))
        if len(self._later) >= self._compact_at:
            self._compact()
        self._arm_later(due)

    def _compact(self) -> None:
        """Take the copies of ended races out of the heap (:func:`compaction_after`)."""
        self._later = [item for item in self._later if not item[2].done]
        heapq.heapify(self._later)
        self._compact_at = compaction_after(len(self._later))

    def _arm_later(self, due: float) -> None:
        """Have the heap's timer fire at ``due`` unless it fires before."""
        if due < self._later_at:
            if self._later_timer is not None:
                self._later_timer.cancel()
            self._later_timer = self._loop.call_at(due, self._later_due)
            self._later_at = due

    def _later_due(self) -> None:
        """Send every copy that has fallen due, to the backends still awaited."""
        now = max(self._loop.time(), self._later_at)     # uvloop's clock counts whole milliseconds
        self._later_timer, self._later_at = None, math.inf
        later = self._later
        while later and later[0][0] <= now:
            _, _, entry, index, interval, copies = heapq.heappop(later)
            if not entry.done and entry.waiting & (1 << index):
                self._due(entry, index, interval, copies)
        if later:
            self._arm_later(later[0][0])

    def close(self) -> None:
        for timer in (self._timer, self._later_timer):
            if timer is not None:
                timer.cancel()
