"""Backend health: which backends the race waits for.

Every backend is probed actively: each ``interval`` the LS sends it one query
(``--probe-name``, type SOA) on the backend's socket, under a random ID; the
backend hands a reply with that ID to :meth:`HealthMonitor.probe_reply`, which
checks the question too, before the race sees it, even when a race happens to
use the same ID. Any reply, even REFUSED, proves the backend alive, and so
does a reply to a client's query within the probe's round (as dnsdist's lazy
health checks count live traffic). A probe still unanswered a third and two
thirds into its round is sent again, the same datagram, so that one lost
datagram, or two, on a lossy link does not fail the round (the race's queries
are sent again too, :mod:`resolver.ls.retransmit`). A backend slower than a
third of the round answers the probe and its copy both: the first reply
answers the probe, and the others are counted as duplicates
(:attr:`resolver.obs.stats.BackendStats.duplicates`, as the race counts a
second reply to a query it sent again) and dropped, not handed to the race,
which would count them as forged. The probe's ID is known until the next
probe leaves (the next round, or one a timeout brings forward), so a reply
that comes later than that, from a backend slower than two thirds of the
round, is the race's to judge and counted as forged. A backend that leaves
``down_after`` rounds in a row without a reply is marked down;
so is one whose port the kernel reports unreachable (an ICMP error on the
connected socket), at once. A down backend is not asked and not waited for,
and it is probed until it answers, when it is used again.

Passive signs only hasten a probe. Timeouts and ICMP errors trigger one
without waiting for the next tick. A timeout alone never marks a backend
down: with ``--silent-miss`` backends (the assignment's TS), silence is their
normal way of saying no. Such backends need a probe name they answer
positively; the root SOA works for ``--table`` servers.

State changes are logged once each, not once per query, and told to every
listener given to :meth:`HealthMonitor.subscribe` (the race stops asking and
waiting for a backend that is down).

A backend that has not answered yet is *starting* (:attr:`Backend.starting`,
which the status page and ``resolver_backend_state`` show): its first state is logged
once, as dnsdist logs each backend's first health check, ``is up`` (info)
when it first answers, ``is down`` (warning) when it is found down. A
starting backend is asked like one that is up, except that an unreachable
port found in the first probe round marks it down at once, for the race, and
is held back from the log until that round ends: a backend started a moment
after the LS is used only once it answers, but not reported down. One still
without a reply when the round ends is reported down then if its port was
unreachable, else after ``down_after`` silent rounds, as later on; it is
starting until then. A backend a reload keeps (:meth:`HealthMonitor.inherit`)
is not starting.
"""
from __future__ import annotations

import asyncio
import logging
import os
import struct
from time import perf_counter
from typing import Callable, Sequence

import dns.name

from .backends import Backend
from .settings import ProbeSettings

log = logging.getLogger("resolver.ls")

TYPE_SOA = 6
PROBE_COPIES = 3        # datagrams a probe round sends a backend at most, spread over the round


class HealthMonitor:
    """Probes the backends, marks them up or down, and reports each change."""

    def __init__(self, backends: Sequence[Backend], settings: ProbeSettings = ProbeSettings()) -> None:
        self.backends = list(backends)
        self.listeners: list[Callable[[Backend, bool], None]] = []
        # Each backend's probe: an SOA query for its own probe name, or the global one.
        self.probe_question = _soa_question(settings.name)
        own = dict(settings.names)
        self.own_questions = {backend.index: _soa_question(own[backend.name]) for backend in backends
                              if own and backend.name in own}
        self.interval = settings.interval
        self.down_after = settings.down_after
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._copy_timer: asyncio.TimerHandle | None = None
        self._early: set[int] = set()      # backends with a probe brought forward
        self._probes: dict[int, bytes] = {}     # each backend's probe of this round, by backend index
        self._answered: set[int] = set()   # backends whose probe of this round has had its reply
        self._replies = {backend.index: 0 for backend in backends}    # its replies to queries, at the round's start
        for backend in backends:
            backend.starting = True
        self._held: dict[int, str] | None = None    # in the first round: why starting backends are down, unlogged

    def subscribe(self, listener: Callable[[Backend, bool], None]) -> None:
        """Call ``listener(backend, up)`` on every change of a backend's health."""
        self.listeners.append(listener)

    def start(self) -> None:
        """Send the first probes now, then one every ``interval`` seconds."""
        self._timer = self._loop.call_soon(self._tick, True)

    def close(self) -> None:
        for timer in (self._timer, self._copy_timer):
            if timer is not None:
                timer.cancel()

    @staticmethod
    def is_up(backend: Backend) -> bool:
        return backend.up

    def _tick(self, first: bool = False) -> None:
        """Judge the last probe of every backend, then send the next one; ``first``: the first round starts."""
        if first:
            self._held = {}
        elif self._held is not None:     # the first round ends
            held, self._held = self._held, None
            for backend in self.backends:
                if backend.index in held:
                    self._set(backend, False, held[backend.index])
        for backend in self.backends:
            self._judge(backend)
            self._probe(backend)
        self._timer = self._loop.call_later(self.interval, self._tick)
        self._copy_timer = self._copies_later(PROBE_COPIES - 1)

    def _copies_later(self, left: int) -> asyncio.TimerHandle | None:
        """The timer that sends the probes still unanswered again ``1 / PROBE_COPIES`` of a round from
        now, ``left`` times in all (None when none are left). One timer for every backend."""
        return self._loop.call_later(self.interval / PROBE_COPIES, self._send_copies, left) if left > 0 else None

    def _send_copies(self, left: int) -> None:
        """Send each probe still unanswered again; ``left``: the copies this round sends, this one included."""
        for backend in self.backends:
            if self._awaited(backend):
                backend.send_probe(self._probes[backend.index])
        self._copy_timer = self._copies_later(left - 1)

    def _awaited(self, backend: Backend) -> bool:
        """Whether the backend has a probe out that has had no reply yet."""
        return backend.probe_id is not None and backend.index not in self._answered

    def _judge(self, backend: Backend) -> None:
        replies = sum(backend.stats.replies)
        answered_queries = replies != self._replies[backend.index]
        self._replies[backend.index] = replies
        if not self._awaited(backend):
            return
        if answered_queries and backend.up:     # it replied to clients' queries this round: alive
            backend.probe_failures = 0
            if backend.starting:
                self._set(backend, True, "answers queries")
            return
        backend.probe_failures += 1
        if backend.probe_failures >= self.down_after:
            self._set(backend, False, f"{backend.probe_failures} probes unanswered")

    def _probe(self, backend: Backend) -> None:
        probe_id = int.from_bytes(os.urandom(2), "big")
        backend.probe_id = probe_id
        self._answered.discard(backend.index)
        probe = self._probes[backend.index] = struct.pack("!HHHHHH", probe_id, 0, 1, 0, 0, 0) + self._question(backend)
        backend.send_probe(probe)

    def probe_reply(self, backend: Backend, data: bytes) -> bool:
        """Whether ``data``, a UDP message of 12 octets or more from the backend with the ID of its
        latest probe (:attr:`Backend.probe_id`), is a reply to that probe: QR set and the probe's
        question. If so it is taken: the first such reply answers the probe (the backend is alive),
        each later one, to a copy of the probe, is counted in ``backend.stats.duplicates``. False for
        anything else, such as the reply to a race's query that drew the same ID."""
        question = self._question(backend)
        if not data[2] & 0x80 or data[12:12 + len(question)] != question:
            return False
        if backend.index in self._answered:
            backend.stats.duplicates += 1
            return True
        self._answered.add(backend.index)
        backend.probe_failures = 0
        backend.probe_answered_at = perf_counter()
        self._set(backend, True, "answers probes" if backend.starting else "answers probes again")
        return True

    def _question(self, backend: Backend) -> bytes:
        return self.own_questions.get(backend.index, self.probe_question)

    def suspect(self, backend: Backend) -> None:
        """A timeout: probe this backend now rather than at the next tick."""
        if backend.index not in self._early and not self._awaited(backend):
            self._early.add(backend.index)
            self._loop.call_soon(self._probe_early, backend)

    def _probe_early(self, backend: Backend) -> None:
        self._early.discard(backend.index)
        if not self._awaited(backend):
            self._probe(backend)

    def inherit(self, backend: Backend, earlier: Backend) -> None:
        """``backend`` stands in for ``earlier``, the same server (name and address) before a
        reload: it starts with its health, so a backend down stays down (neither asked nor
        waited for) until it answers a probe, rather than counting as up as at start. Told to
        the listeners without a log line: to the operator, nothing changed (it is not starting)."""
        backend.starting = False
        backend.probe_failures = earlier.probe_failures
        backend.probe_answered_at = earlier.probe_answered_at
        if not earlier.up:
            backend.up = False
            for listener in self.listeners:
                listener(backend, False)

    def unreachable(self, backend: Backend) -> None:
        """The kernel says nothing listens on the backend's port: down at once."""
        self._set(backend, False, "port unreachable")

    def _set(self, backend: Backend, up: bool, why: str) -> None:
        """Mark the backend up or down for ``why``: logged on a change, and as the first state of a
        starting backend, except down in the first round, which is held until the round ends."""
        if backend.starting:
            if not up and self._held is not None:
                self._held[backend.index] = why
                self._tell(backend, up)
                return
            backend.starting = False
            if self._held is not None:
                self._held.pop(backend.index, None)
            log.log(logging.INFO if up else logging.WARNING, "backend %s is %s (%s)", backend,
                    "up" if up else "down", why)
            self._tell(backend, up)
            return
        if backend.up == up:
            return
        log.warning("backend %s is %s (%s)", backend, "up" if up else "down", why)
        self._tell(backend, up)

    def _tell(self, backend: Backend, up: bool) -> None:
        """Mark the backend and tell the listeners, if that changes its state."""
        if backend.up == up:
            return
        backend.up = up
        for listener in self.listeners:
            listener(backend, up)


def _soa_question(name: str) -> bytes:
    """The question section of an SOA query for ``name`` in class IN."""
    return dns.name.from_text(name).to_wire() + struct.pack("!HH", TYPE_SOA, 1)
