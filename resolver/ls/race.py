"""The race: a query goes to the backends it may go to; the first reply that answers wins.

Which backends are asked: those up that the query's static route allows
(:mod:`resolver.ls.routes`; every backend when no route covers the name),
the learned owners of the name or its zone among them first
(:mod:`resolver.ls.learning`), the others only when an owner says no or stays
silent past its RTO, and in a replica group one member, picked by the group's
policy and replaced when it fails (:mod:`resolver.ls.groups`). With learning
off, no route and no group, every backend is asked at once: the fan-out.

Per query the LS keeps one :class:`Pending` entry, keyed by the random ID it
sent upstream (the same ID to every backend, each on its own connected UDP
socket, or over its TCP connection when the client came over TCP).
A reply counts only if it comes from a backend still awaited, carries that ID
and the query's opcode, its sections parse, and it repeats the question: type and class exactly, the name letter case aside
(RFC 4343; some servers echo it lower-cased), and the client always gets its
own spelling back (:func:`resolver.ls.rule.judge`). An error reply
(FORMERR, NOTIMP, SERVFAIL, REFUSED, BADVERS) may carry no question at all, as
NSD's FORMERR for some malformed queries does; it counts as that "no", and the
client gets it with its question echoed. Then:

* a reply that answers the question (:func:`resolver.ls.rule.noerror_rank`:
  records of the type asked) wins at once and goes to the client under the
  client's ID;
* any other reply is a "no", kept if it is the best so far (a truncated
  reply, an open CNAME chain, then NODATA, then an authoritative NXDOMAIN, … then REFUSED: the
  ranks of :mod:`resolver.ls.rule`), and sent once every backend said no;
* a "no" that says the name exists (NODATA, an open CNAME chain, a truncated
  reply) goes back after a short grace even while other backends stay
  silent, so a backend silent on that name costs it milliseconds, not the
  timeout: twice the time within which the slowest awaited backend sent 99%
  of its replies, at least 10 ms, or ``nodata_grace`` while that time is not
  known yet (:meth:`Race.grace`);
* at the deadline the client gets NXDOMAIN, or SERVFAIL with
  ``--on-timeout servfail``; an NXDOMAIN a backend already sent is passed on
  in place of the made-up one, since it carries the zone's SOA;
* only backends that are up (:mod:`resolver.ls.health`) are asked and waited
  for: when every one of them has said no, the best "no" goes back at once,
  and when none is up, the timeout answer does;
* a query that finds the table full, or its client holding its share of it,
  may end the oldest race early with SERVFAIL and take its place (jostling,
  :mod:`resolver.ls.admission`); else it gets SERVFAIL at once (or no reply,
  with ``--on-overflow drop``).

The ranking of negative replies is :func:`resolver.ls.rule.negative_rank`.
The race knows the health monitor only through :class:`HealthSignals`: it
hears of each change and names the backends a race timed out waiting for.

A backend still silent past its retransmission timeout gets a UDP query
again (:mod:`resolver.ls.retransmit`), so a lost datagram costs that backend's
RTO, not the timeout. Its RTO comes from its reply times
(:mod:`resolver.ls.rtt`): a reply to a UDP query sent to it once is a sample
(one per SRTT at most); a reply to a query it got more than once is none
(Karn's algorithm), and a second reply to such a query is counted as a
duplicate, not a forgery.

Deadlines need no timer per query: all queries share one timeout, so the
entries are already in deadline order in a deque, and one timer at a time
fires at the oldest deadline; the deque is rid of ended races as it grows
(:mod:`resolver.ls.compaction`). Graces, which differ by the backends awaited,
sit in a heap with one timer for the earliest.
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import os
from collections import deque
from time import perf_counter
from typing import Callable, Iterator, Protocol, Sequence

import dns.rdatatype

from ..net.listening import Sink
from ..obs.querylog import QueryLog
from ..obs.stats import BackendStats, LatencyHistogram, LsStats, upper_bound
from ..wire import (BADVERS, EDE_NO_REACHABLE_AUTHORITY, NOERROR, NXDOMAIN, RCODE_NAMES, REFUSED, SERVFAIL, Query,
                    WireError, as_asked_by, fit)
from .admission import Admission, oldest_running
from .cache import ANSWER as KEEP_ANSWER
from .cache import FAILURE as KEEP_FAILURE
from .cache import NEGATIVE as KEEP_NEGATIVE
from .cache import AnswerCache, CachedAnswer, cache_key, shareable
from .chase import Chase
from .compaction import compaction_after, without_ended
from .fifo_timer import FifoTimer
from .groups import Groups
from .header import own_reply, passed_on
from .learning import LearnedOwners
from .retransmit import Retransmitter
from .routes import Route, RouteTable
from .rule import ALIAS, ANSWER, NAME_EXISTS, NODATA, REFERRAL, as_asked, negative_rank, noerror_rank, rank_of
from .settings import LsSettings

log = logging.getLogger("resolver.ls")

MAX_INFLIGHT_LIMIT = 60000   # leaves free IDs in the 16-bit space
GRACE_FLOOR = 0.01          # seconds: the shortest NODATA grace, however fast the backends
GRACE_QUANTILE = 0.99       # the grace waits for this share of the slowest awaited backend's replies ...
GRACE_FACTOR = 2.0          # ... times this
GRACE_MIN_REPLIES = 20      # a window with fewer replies than this says nothing yet (see Race._tail)
GRACE_WINDOW = 1000         # the grace reads a backend's latest replies: a window this long at most
FAILURE_RANK = negative_rank(SERVFAIL, False)   # ranks at or below this are a backend's failure, not an answer
JOIN_LIMIT = 1000            # identical queries that may wait on one race


class Upstream(Protocol):
    """A backend as the race uses it (:class:`resolver.ls.backends.Backend`)."""

    index: int
    name: str
    stats: BackendStats

    def send(self, data: bytes) -> None: ...

    def send_stream(self, data: bytes) -> None: ...


class HealthSignals(Protocol):
    """The health monitor as the race uses it (:class:`resolver.ls.health.HealthMonitor`)."""

    def subscribe(self, listener: Callable[[Upstream, bool], None]) -> None:
        """Call ``listener(backend, up)`` on every change of a backend's health."""

    def suspect(self, backend: Upstream) -> None:
        """A race timed out waiting for ``backend``: probe it now."""


class IdSource:
    """Unpredictable 16-bit query IDs from the system's CSPRNG, read in batches."""

    def __init__(self) -> None:
        self._ids: Iterator[int] = iter(())

    def __call__(self) -> int:
        for uid in self._ids:
            return uid
        self._ids = iter(memoryview(os.urandom(4096)).cast("H"))
        return next(self._ids)


class Pending:
    """One client query waiting for its backends."""

    __slots__ = ("uid", "data", "q", "sink", "addr", "waiting", "best", "best_rank", "best_from", "started",
                 "deadline", "done", "grace_due", "link", "resent", "key", "asked", "rest", "late", "late_at",
                 "untimed", "route", "learned", "hedge", "named", "zoned", "cache_key", "stale", "joined", "answered",
                 "unsure", "refresh")

    def __init__(self, uid: int, data: bytes, q: Query, key: bytes, sink: Sink, addr: object, waiting: int,
                 started: float, deadline: float, link: bool = False):
        self.uid = uid
        self.data = data            # the client's query, with the client's ID
        self.q = q
        self.sink = sink
        self.addr = addr
        self.waiting = waiting      # one bit per backend not yet heard from
        self.best: bytes | None = None
        self.best_rank = -1
        self.best_from = -1          # the backend that sent the best negative reply
        self.started = started      # perf_counter(): the event loop's clock ticks in milliseconds
        self.deadline = deadline
        self.done = False
        self.grace_due = 0.0         # when its NODATA goes back (0: no grace started)
        self.link = link            # a link of a CNAME chain the LS follows: its sink is the Chase, not a client
        self.resent = 0             # one bit per backend sent the query again (resolver.ls.retransmit)
        self.key = key              # the name asked, lower-cased, as routes and learned owners are kept (RFC 4343)
        self.asked = waiting        # one bit per backend asked
        self.rest = 0               # the backends to ask if the learned owners asked first say no or stay silent
        self.late = 0               # one bit per backend last asked after the race began, at late_at
        self.late_at = 0.0          # perf_counter() when they were asked
        self.untimed = 0            # one bit per backend asked late before that: its reply is not timed
        self.route: Route | None = None     # the static route that chose the backends, if any
        self.learned = False        # learned owners were asked first
        self.hedge = ""             # why the race asked more than the learned owners: "silent", "negative"
        self.named = 0              # the name's learned owner when the race began (resolver.ls.learning)
        self.zoned = 0              # else the learned owners of its zone: their "no" teaches nothing new
        self.cache_key: bytes | None = None     # its result is offered to the answer cache under this key
        self.stale: CachedAnswer | None = None  # the expired answer to fall back on (RFC 8767)
        self.joined: list[tuple[bytes, Query, Sink, object]] | None = None    # identical queries waiting on it
        self.answered = False       # its client got the stale answer already (the client-response timer)
        self.unsure = False         # a backend it may go to was down or failed: its "no" is not cached
        self.refresh = False        # a prefetch: no client waits for it


class Race:
    """The pending-query table and the rules that end each race."""

    def __init__(self, backends: Sequence[Upstream], settings: LsSettings, health: HealthSignals | None = None,
                 query_log: QueryLog | None = None, stats: LsStats | None = None) -> None:
        """Race across ``backends`` by ``settings`` (timeout, timeout rcode, in-flight limit, retransmission).

        ``health``, when given, tells the race which backends are up; without it
        every backend counts as up. ``query_log`` gets one line per query. ``stats``: the
        counters to count into (a reload carries them over), new ones when None.
        Raises ValueError without backends, or for retransmission settings
        :class:`resolver.ls.rtt.RttEstimator` refuses.
        """
        if not backends:
            raise ValueError("at least one backend is needed")
        self.backends = list(backends)
        self.timeout = settings.timeout
        self.timeout_rcode = settings.timeout_rcode
        self.max_inflight = min(settings.max_inflight, MAX_INFLIGHT_LIMIT)
        self.drop_overflow = settings.drop_overflow     # past the limit: no reply instead of SERVFAIL
        self.admission = Admission(settings.inflight_per_client, settings.jostle_timeout)
        self.nodata_grace = settings.nodata_grace
        self.pending: dict[int, Pending] = {}
        self.up_mask = (1 << len(self.backends)) - 1
        self.health = health
        self.query_log = query_log
        self._deadlines: deque[Pending] = deque()
        self._deadlines_compact_at = compaction_after(0)    # its length at which ended races are taken out
        self._timer: asyncio.TimerHandle | None = None
        self._graces: list[tuple[float, int, Pending]] = []     # a heap by due time (graces differ)
        self._grace_order = itertools.count()
        self._grace_timer: asyncio.TimerHandle | None = None
        # Per backend, its latency counts when its grace window began, and the counts of the
        # window before, once there was one (see _tail()).
        self._window_start = [list(backend.stats.latency.counts) for backend in self.backends]
        self._window_before: list[list[int] | None] = [None] * len(self.backends)
        self._new_id = IdSource()
        self.retransmit = Retransmitter(self.backends, settings.retransmit, self.timeout, self._overdue)
        self.groups = Groups(settings.groups, self.backends)
        self._counted = self.groups.counted     # the backends whose outstanding replies are counted (_heard)
        self.routes = route_table(settings.routes, self.backends, self.groups)
        self.learned = LearnedOwners(settings.learn.size, settings.learn.max_ttl) if settings.learn.enabled else None
        self.cache = AnswerCache(settings.cache) if settings.cache.entries else None
        self.all_mask = (1 << len(self.backends)) - 1
        self._running: dict[bytes, Pending] = {}    # by cache key: the race a cacheable query may join
        self._joined = 0                            # queries waiting on another's race, in all
        self._stale_timer = FifoTimer(settings.cache.stale_answer_timeout, self.timeout, self._stale_due)
        # Per upstream ID, the backends a race still awaited when it ended: their
        # replies are late, not forged; above them (shifted by _resent_shift), the
        # backends it sent the query again, whose second replies are duplicates.
        # And when a race that had a grace started (perf_counter(), else 0.0): its
        # late replies are timed too, so the grace learns from the replies it did
        # not wait for.
        self._ended = [0] * 65536
        self._ended_at = [0.0] * 65536
        self._resent_shift = len(self.backends)
        self._loop = asyncio.get_running_loop()
        self._stale_timer.loop = self._loop
        self.draining = False       # answer_all() was called: the LS is stopping
        self.stats = stats if stats is not None else LsStats()
        if health is not None:
            health.subscribe(self.set_backend_up)

    def reply(self, sink: Sink, out: bytes, addr: object) -> None:
        """Send a client its reply, counted by rcode: every reply to a client goes through here."""
        self.stats.replies[out[3] & 0x0F] += 1
        sink.send(out, addr)

    def submit(self, data: bytes, q: Query, sink: Sink, addr: object, link: bool = False) -> None:
        """Answer one query: a client's, from the answer cache when it holds a fresh answer, else by
        joining an identical query's race or starting its own; or with ``link`` one link of a CNAME
        chain the LS follows (:mod:`resolver.ls.chase`), whose reply goes to ``sink`` uncounted.

        A query with an EDNS Client Subnet option is raced on its own and its answer not kept: the
        backend may have answered for that subnet alone (RFC 7871 7.3.1; the LS keeps no answers
        by subnet, as Unbound without its subnetcache module keeps none)."""
        cache = self.cache
        if cache is None or link or q.subnet:     # a client subnet's answer may be that subnet's alone
            self._start(data, q, sink, addr, link)
            return
        ckey = cache_key(data, q, sink.stream)
        now = self._loop.time()
        cached = cache.lookup(ckey, now)
        if cached is not None and now < cached.expires:
            self._from_cache(cached, data, q, sink, addr, now)
            if cache.wants_prefetch(cached, now) and ckey not in self._running:
                self._start(data, q, REFRESH[sink.stream], REFRESH_ADDRESS, ckey=ckey, refresh=True)
            return
        if cached is not None and now < cached.recheck_at:     # its refresh failed a moment ago
            self._from_cache(cached, data, q, sink, addr, now, stale=True)
            return
        if not self._join(ckey, data, q, sink, addr):
            self._start(data, q, sink, addr, ckey=ckey, stale=cached)

    def _from_cache(self, cached: CachedAnswer, data: bytes, q: Query, sink: Sink, addr: object, now: float,
                    stale: bool = False, started: float | None = None) -> bytes:
        """Answer a client from the cache: ``cached`` fresh, or with ``stale`` as a stale answer (RFC 8767),
        logged as taking the time since ``started`` (perf_counter(); none when None). Returns the reply
        before it is cut to the client's size."""
        out = self.cache.serve(cached, data, q, now, stale)     # type: ignore[union-attr]
        outcome = "stale" if stale else "cache"
        self.stats.outcomes[outcome] += 1
        self.reply(sink, fit(out, data, q, sink.stream), addr)
        self.log(sink, addr, q, outcome, out[3] & 0x0F, perf_counter() if started is None else started, outcome)
        return out

    def _instead_of_race(self, data: bytes, q: Query, sink: Sink, addr: object, stale: CachedAnswer | None,
                         refresh: bool) -> bool:
        """A query that can start no race (every backend it may go to down, or no room): whether that
        is dealt with without a refusal: a prefetch is let go (no client waits for it), and a query
        with an expired answer to fall back on gets it (RFC 8767)."""
        if stale is not None:
            self._from_cache(stale, data, q, sink, addr, self._loop.time(), stale=True)
        return refresh or stale is not None

    def _join(self, ckey: bytes, data: bytes, q: Query, sink: Sink, addr: object) -> bool:
        """Whether the query joined the race of an identical one (the same key, so the same transport
        and size) already running; at most :data:`JOIN_LIMIT` a race and ``max_inflight`` in all wait so."""
        running = self._running.get(ckey)
        if running is None:
            return False
        now = self._loop.time()
        if running.answered and running.stale.servable_stale(now):     # type: ignore[union-attr]
            self._from_cache(running.stale, data, q, sink, addr, now, stale=True)   # type: ignore[arg-type]
            return True     # its clients got the stale answer already: so does this one
        joined = running.joined
        if (joined is not None and len(joined) >= JOIN_LIMIT) or self._joined >= self.max_inflight:
            return False
        if joined is None:
            running.joined = joined = []
        joined.append((data, q, sink, addr))
        self._joined += 1
        return True

    def _start(self, data: bytes, q: Query, sink: Sink, addr: object, link: bool = False, ckey: bytes | None = None,
               stale: CachedAnswer | None = None, refresh: bool = False) -> None:
        """Start the race for one query; its result is offered to the cache under ``ckey``, ``stale`` is
        the expired answer to fall back on, and a ``refresh`` (a prefetch) has no client to answer."""
        key = q.qname.lower()
        route, allowed = self._allowed(key)
        if not allowed:     # every backend it may go to is down: the timeout answer, not other backends
            if not self._instead_of_race(data, q, sink, addr, stale, refresh):
                via = f"route={route.domain}" if route is not None else ""
                self._refuse_at_once(data, q, sink, addr, "all-down", self.timeout_rcode, link, via=via,
                                     ede=EDE_NO_REACHABLE_AUTHORITY)
            return
        client = addr[0]        # type: ignore[index]
        if ((len(self.pending) >= self.max_inflight or self.admission.at_share(client))
                and not self._make_room(client)):
            if not self._instead_of_race(data, q, sink, addr, stale, refresh):
                self._refuse_at_once(data, q, sink, addr, "overflow", SERVFAIL, link,
                                     send=link or not self.drop_overflow or sink.stream)  # TCP always gets its reply
            return
        uid = self._new_id()
        while uid in self.pending:
            uid = self._new_id()
        started = perf_counter()
        entry = Pending(uid, data, q, key, sink, addr, allowed, started, self._loop.time() + self.timeout, link)
        entry.route = route
        first = allowed
        if self.learned is not None:
            entry.named, entry.zoned = self.learned.lookup(key, started)
            owners = (entry.named or entry.zoned) & allowed
            if owners and owners != allowed:
                first, entry.rest, entry.learned = owners, allowed & ~owners, True
        if self.groups:
            first = self.groups.choose(first)
        entry.waiting = entry.asked = first
        if ckey is not None:
            entry.cache_key, entry.stale, entry.refresh = ckey, stale, refresh
            self._running[ckey] = entry
            if stale is not None:
                self._stale_timer.watch(entry)
        self.stats.routing["learned" if entry.learned else "fanout" if route is None else "route"] += 1
        self.pending[uid] = entry
        self.admission.admit(client, entry)
        deadlines = self._deadlines
        deadlines.append(entry)
        if len(deadlines) >= self._deadlines_compact_at:
            self._deadlines, self._deadlines_compact_at = without_ended(deadlines)
        if self._timer is None:
            self._arm()
        self._send(entry, first)
        if not sink.stream or entry.rest or first & self.groups.grouped:
            self.retransmit.watch(entry)        # TCP sends no copies: watched only for a hedge or a failover

    def _allowed(self, key: bytes) -> tuple[Route | None, int]:
        """The static route for the name ``key`` (wire form, lower-cased; None when no route covers it),
        and the mask of the backends its query may go to: those of the route, or all, that are up."""
        route = self.routes.lookup(key) if self.routes else None
        return route, self.up_mask & route.mask if route is not None else self.up_mask

    def _send(self, entry: Pending, mask: int) -> None:
        """Send ``entry``'s query under its upstream ID to the backends of ``mask``: over UDP, or over
        TCP for a TCP client."""
        upstream = entry.uid.to_bytes(2, "big") + entry.data[2:]
        if entry.sink.stream:
            for backend in self.backends:
                if mask >> backend.index & 1:
                    backend.send_stream(upstream)
        else:
            for backend in self.backends:
                if mask >> backend.index & 1:
                    backend.send(upstream)
        if mask & self._counted:
            self._count_outstanding(mask & self._counted, 1)

    def _heard(self, entry: Pending, mask: int) -> None:
        """The race no longer awaits the backends of ``mask``: they replied, failed or went down,
        or another member of their replica group answered for them."""
        counted = entry.waiting & mask & self._counted
        entry.waiting &= ~mask
        if counted:
            self._count_outstanding(counted, -1)

    def _count_outstanding(self, mask: int, change: int) -> None:
        """Add ``change`` to the races awaiting each backend of ``mask``, the members of a replica
        group whose policy counts them (:class:`resolver.ls.groups.LeastOutstanding`)."""
        for backend in self.backends:
            if mask >> backend.index & 1:
                backend.stats.outstanding += change

    def _ask_more(self, entry: Pending, mask: int) -> None:
        """Ask the backends of ``mask`` too, now that the race has begun: they are awaited, watched for
        their RTO and their replies timed from now."""
        entry.asked |= mask
        entry.untimed |= entry.late
        entry.late, entry.late_at = mask, perf_counter()
        entry.waiting |= mask
        self._send(entry, mask)
        self.retransmit.watch_late(entry, mask)

    def _widen(self, entry: Pending, why: str) -> None:
        """The learned owners asked first said no (``why`` "negative") or stayed silent past their RTO
        ("silent"): ask the other backends the query may go to (the hedge)."""
        mask = self.groups.choose(entry.rest & self.up_mask)
        entry.rest = 0
        if not mask:
            return
        entry.hedge = why
        self.stats.hedges[why] += 1
        for backend in self.backends:
            if mask >> backend.index & 1:
                backend.stats.hedges += 1
        self._ask_more(entry, mask)

    def _fail_over(self, entry: Pending, index: int) -> bool:
        """Backend ``index`` failed this race (an error reply, silent past its RTO, its connection
        lost, down): in a replica group, ask a member not asked yet in its place. Whether one was."""
        replacement = self.groups.replacement(index, self.up_mask & ~entry.asked)
        if replacement:
            self.backends[replacement.bit_length() - 1].stats.failovers += 1
            self._ask_more(entry, replacement)
        return bool(replacement)

    def _overdue(self, entry: Pending, index: int) -> None:
        """Backend ``index`` has been silent past its RTO since ``entry``'s query went to it
        (:mod:`resolver.ls.retransmit`): another member of its group in its place, or when there is
        none, the hedge (a group whose member is replaced has not failed the race)."""
        if not (self.groups.grouped >> index & 1 and self._fail_over(entry, index)) and entry.rest:
            self._widen(entry, "silent")

    def plan(self, qname: bytes, qtype: int = 1) -> dict[str, object]:
        """How a query for ``qname`` (wire form) would choose its backends now, for ``client
        --explain`` and the status page: ``route`` (the static route's domain, or None),
        ``learned`` (the names of the units known to answer the name or own its zone, first),
        ``first`` (the backends and groups asked at once), ``hedge`` (those asked if the first
        say no or stay silent past their RTO), ``targets`` (the route's backends and groups, down ones
        included; empty without a route) and ``down`` (the backends it may go to that are down). A group
        is named once, by its name (:meth:`Groups.names`); no member is picked and nothing is learned.
        ``cached``: the answers the cache holds for ``qname`` and ``qtype`` (:meth:`cached`)."""
        key = qname.lower()
        route, allowed = self._allowed(key)
        owners = self.learned.owners(key, perf_counter()) & allowed if self.learned is not None else 0
        first, rest = (owners, allowed & ~owners) if owners and owners != allowed else (allowed, 0)
        reach = route.mask if route is not None else (1 << len(self.backends)) - 1
        names = self.groups.names
        return {"route": route.domain if route is not None else None,
                "targets": names(route.mask) if route is not None else [], "learned": names(owners),
                "first": names(first), "hedge": names(rest),
                "down": [b.name for b in self.backends if (reach & ~self.up_mask) >> b.index & 1],
                "cached": self.cached(key, qtype)}

    def cached(self, qname: bytes, qtype: int) -> list[dict[str, object]]:
        """What the cache holds for ``qname`` (wire form, lower-cased) and ``qtype``, class IN, one
        dict per key (:func:`resolver.ls.cache.cache_key`): ``type`` (text), ``flags`` (which of
        ``edns``, ``do``, ``cd`` the entry is for, comma-separated), ``size`` (the octets its
        queries' replies may take: a UDP client's, or 65535 over TCP), ``rcode`` (text),
        ``ttl_left`` (seconds) and ``stale``; nothing is counted or moved."""
        if self.cache is None:
            return []
        now = self._loop.time()
        found = []
        for key, entry in self.cache.holding(qname + qtype.to_bytes(2, "big") + b"\x00\x01", now):
            bits, size = key[-3], key[-2] << 8 | key[-1]
            flags = [flag for flag, bit in (("edns", 4), ("do", 1), ("cd", 2)) if bits & bit]
            found.append({"type": dns.rdatatype.to_text(qtype), "flags": ",".join(flags), "size": size,
                          "rcode": RCODE_NAMES.get(entry.rcode, str(entry.rcode)),
                          "ttl_left": entry.ttl_left(now), "stale": not entry.fresh(now)})
        return found

    def _make_room(self, client: object) -> bool:
        """The table is full, or ``client`` holds its share: jostle the oldest race (the client's own
        when it is at its share) if it has waited the jostle timeout. Whether a query from ``client``
        may start its race now (not when the jostled race's reply started another in its place: a link
        of a CNAME chain the LS follows)."""
        admission = self.admission
        oldest = admission.oldest(client) if admission.at_share(client) else oldest_running(self._deadlines)
        if not admission.may_jostle(oldest):
            return False
        self._jostle(oldest)        # type: ignore[arg-type]
        return len(self.pending) < self.max_inflight and not admission.at_share(client)

    def _jostle(self, entry: Pending) -> None:
        """End a race early to make room, with SERVFAIL, counted as jostled.

        Not the answer its deadline would give: a backend still silent had not had its time, so a
        backend's NXDOMAIN passed on, or a made-up one, could deny a name that exists, and stubs and
        resolvers cache NXDOMAIN for the zone's negative TTL. SERVFAIL says the LS gave up (RFC 2308
        7.1 lets it be cached for five minutes at most; most stubs ask again). Unbound drops a
        jostled query without a reply; a TCP client needs one, and a UDP client gets it at once
        rather than after its own timeout. No backend is blamed: the race ended, but not at its deadline.
        """
        self._close(entry, own_reply(entry.data, entry.q, SERVFAIL), "jostled")
        oldest_running(self._deadlines)     # ended races at its left go now, not at their deadline

    def set_backend_up(self, backend: Upstream, up: bool) -> None:
        """Health changed: ask the backend again, or stop waiting for it in every race."""
        bit = 1 << backend.index
        self.up_mask = (self.up_mask | bit) if up else (self.up_mask & ~bit)
        if up:
            return
        for entry in [e for e in self.pending.values() if e.waiting & bit]:
            if not entry.done:
                self._heard(entry, bit)
                self._failed(entry, backend.index)
                if not entry.waiting:
                    self._give_up(entry)

    def _failed(self, entry: Pending, index: int, refused: bool = False) -> None:
        """Backend ``index`` failed this race: another member of its group in its place, or when there
        is none, the hedge. A group still awaiting a member has not failed. Unless it ``refused`` the
        query (REFUSED: not its zone, in split DNS), it might have held the name, so the race's "no"
        is not one for the cache."""
        grouped = self.groups.grouped >> index & 1
        if grouped and (self._fail_over(entry, index) or entry.waiting & self.groups.unit[index]):
            return
        if not refused:
            entry.unsure = True
        if entry.rest:
            self._widen(entry, "negative")

    def _refuse_at_once(self, data: bytes, q: Query, sink: Sink, addr: object, outcome: str, rcode: int,
                        link: bool, send: bool = True, via: str = "", ede: int | None = None) -> None:
        """A query that starts no race (too many waiting, or no backend it may go to up): its reply
        has ``rcode``, and the extended error ``ede`` (RFC 8914) when the client sent EDNS."""
        self.stats.outcomes[outcome] += 1
        self.log(sink, addr, q, outcome, rcode, perf_counter(), via)
        if send:
            self._deliver(sink, own_reply(data, q, rcode, ede=ede), addr, link)
        else:
            self.stats.dropped[outcome] += 1

    def _deliver(self, sink: Sink, out: bytes, addr: object, link: bool) -> None:
        """A race's reply: to its client (counted), or to the chase whose link it was."""
        if link:
            sink.send(out, addr)
        else:
            self.reply(sink, out, addr)

    def on_reply(self, backend: Upstream, data: bytes) -> None:
        """A reply from a backend: a UDP datagram, or a message on its TCP connection."""
        stats = backend.stats
        if len(data) < 12 or not data[2] & 0x80:
            stats.forged += 1
            return
        uid = (data[0] << 8) | data[1]
        entry = self.pending.get(uid)
        bit = 1 << backend.index
        if entry is None:
            if self._ended[uid] & bit:
                self._ended[uid] &= ~bit
                stats.late += 1
                stats.replies[data[3] & 0x0F] += 1
                if self._ended_at[uid]:
                    stats.latency.observe(perf_counter() - self._ended_at[uid])
            elif self._ended[uid] >> self._resent_shift & bit:
                stats.duplicates += 1
            else:
                stats.forged += 1
            return
        if not entry.waiting & bit:
            if entry.resent & bit:
                stats.duplicates += 1
            elif entry.asked & self.groups.grouped & bit:
                stats.late += 1         # another member of its group answered for it
            else:
                stats.forged += 1
            return
        question = entry.q.question
        if (data[2] ^ entry.data[2]) & 0x78:       # another opcode: not a reply to this query (RFC 1035 4.1.1)
            stats.forged += 1
            return
        try:
            if data[4:6] == b"\x00\x01" and data[12:12 + len(question)] == question:
                # rule.judge's usual case, inline, and rule.rank_of's NOERROR case too
                rank = (rank_of if data[3] & 0x0F else noerror_rank)(data, 12 + len(question), entry.q.qtype)
            else:
                judged = as_asked(data, entry.data, entry.q)    # the rare replies that need a second look
                if judged is None:
                    stats.forged += 1
                    return
                data, rank = judged
        except WireError:
            stats.forged += 1       # sections that do not parse: no answer, no "no"
            return
        rcode = data[3] & 0x0F
        if rank < REFERRAL and rcode == NOERROR:
            rcode = BADVERS         # rule.rcode_of: the OPT record's extended rcode
        stats.replies[rcode] += 1
        now = perf_counter()
        elapsed = now - (entry.late_at if entry.late & bit else entry.started)
        stats.latency.observe(elapsed)
        if not (entry.resent | entry.untimed) & bit and not entry.sink.stream:
            # Karn: only a query sent once over UDP times the backend's RTO, and ends its backoff
            retransmit = self.retransmit
            if now >= retransmit.next_sample[backend.index]:
                retransmit.sample(backend.index, elapsed, now)
            elif retransmit.rtt[backend.index].timeouts:
                retransmit.rtt[backend.index].answered(now)
        if rank == ANSWER:
            self._heard(entry, bit)     # a second reply to a copy sent again is a duplicate, not late
            if self.learned is not None:
                self.learned.answered(entry.key, self.groups.unit[backend.index], data, 12 + len(question), now)
            self._finish(entry, data, backend.index)
            return
        if self.learned is not None and NODATA >= rank >= REFERRAL and not entry.zoned & bit:
            self._learn_zone(entry, backend.index, data, rank, 12 + len(question), now)
        self._negative(entry, bit, data, rank)

    def on_lost(self, backend: Upstream, queries: list[bytes]) -> None:
        """TCP queries a backend will not answer (no connection): count them as SERVFAIL."""
        for query in queries:
            entry = self.pending.get((query[0] << 8) | query[1])
            if entry is not None and entry.waiting & (1 << backend.index):
                self._negative(entry, 1 << backend.index, None, negative_rank(SERVFAIL, False))

    def _learn_zone(self, entry: Pending, index: int, data: bytes, rank: int, question_end: int, now: float) -> None:
        """Backend ``index``, not yet known to own the name's zone, said no (``rank``: NODATA, an NXDOMAIN,
        a referral) at ``now`` (perf_counter()): learn the zone its SOA names; an NXDOMAIN from the
        name's learned owner ends what was learned of it. (A zone's owners are learned again once
        their entry expires, so a known owner's "no" need not be read.)"""
        learned = self.learned
        learned.denied(self.groups.unit[index], data, question_end, now)    # type: ignore[union-attr]
        if rank < NODATA and data[3] & 0x0F == NXDOMAIN and entry.named >> index & 1:
            learned.forget(entry.key, self.groups.unit[index])       # type: ignore[union-attr]

    def _negative(self, entry: Pending, bit: int, data: bytes | None, rank: int) -> None:
        index = bit.bit_length() - 1
        self._heard(entry, bit)
        if rank > entry.best_rank:
            entry.best, entry.best_rank, entry.best_from = data, rank, index
        if rank <= FAILURE_RANK:
            self._failed(entry, index, refused=data is not None and data[3] & 0x0F == REFUSED)
        else:
            if self.groups.grouped & bit:
                self._heard(entry, self.groups.unit[index])     # a member's definite "no" is its group's
            if entry.rest:
                self._widen(entry, "negative")
        if not entry.waiting:
            self._give_up(entry)
        elif entry.best_rank >= NAME_EXISTS and not entry.grace_due:
            self._start_grace(entry)

    def _start_grace(self, entry: Pending) -> None:
        """The name exists (NODATA, an open alias): give the silent backends a little longer (:meth:`grace`)."""
        entry.grace_due = self._loop.time() + self.grace(entry.waiting)
        earliest = self._graces[0][0] if self._graces else None
        heapq.heappush(self._graces, (entry.grace_due, next(self._grace_order), entry))
        if earliest is None or entry.grace_due < earliest:
            if self._grace_timer is not None:
                self._grace_timer.cancel()
            self._arm_grace()

    def grace(self, waiting: int) -> float:
        """Seconds a NODATA waits for the backends in the ``waiting`` mask, adapted to how fast they reply.

        :data:`GRACE_FACTOR` times the time within which the slowest of them sent
        :data:`GRACE_QUANTILE` of its latest replies (the upper bound of that latency
        bucket, late replies to earlier graces included; :meth:`_tail`): the tail, not
        the mean, so a backend that is sometimes slow keeps its answers, and a backend
        that is always slow (a VPN 300 ms away) is waited for as long as it needs,
        up to the race's deadline. At least :data:`GRACE_FLOOR`. While the reply
        time of any of them is not known yet, ``nodata_grace`` (``--nodata-grace``).
        """
        slowest = 0.0
        for backend in self.backends:
            if waiting & (1 << backend.index):
                tail = self._tail(backend.index, backend.stats.latency)
                if tail is None:
                    return self.nodata_grace
                slowest = max(slowest, tail)
        return max(GRACE_FLOOR, GRACE_FACTOR * slowest)

    def _tail(self, index: int, latency: LatencyHistogram) -> float | None:
        """Seconds within which backend ``index`` sent :data:`GRACE_QUANTILE` of its latest replies,
        or None while that is not known (fewer than :data:`GRACE_MIN_REPLIES` replies yet).

        The latest replies are those of its window, which holds :data:`GRACE_WINDOW`
        replies at most before the next begins, and of the window before: the slower
        of the two counts. So a backend that turns slow after a long fast run is
        waited for as soon as one of its slow replies is seen, and one that turned
        fast again is waited for less once a whole window says so.
        """
        start = self._window_start[index]
        counts = [now - then for now, then in zip(latency.counts, start)]
        replies = sum(counts)
        if replies > GRACE_WINDOW:
            self._window_start[index] = list(latency.counts)
            self._window_before[index], counts, replies = counts, [], 0
        before = self._window_before[index]
        if before is None and replies < GRACE_MIN_REPLIES:
            return None
        return max(upper_bound(window, GRACE_QUANTILE) or 0.0 for window in (before or [], counts))

    def _arm_grace(self) -> None:
        graces = self._graces
        self._grace_timer = self._loop.call_at(graces[0][0], self._end_graces) if graces else None

    def _end_graces(self) -> None:
        """Send the best "no" of every query whose grace is over (those still waiting for a backend)."""
        now = self._loop.time()
        graces = self._graces
        while graces and (graces[0][2].done or graces[0][0] <= now):
            entry = heapq.heappop(graces)[2]
            if not entry.done:
                self._give_up(entry)
        self._arm_grace()

    def _finish(self, entry: Pending, reply: bytes | None, winner: int = -1) -> None:
        """Send the client a backend's reply under its own ID (SERVFAIL for None): the winner's, or
        the best "no". The result is offered to the cache: an answer always, a "no" only once every
        backend awaited has said it: a SERVFAIL when each failed, an NXDOMAIN or NODATA when none failed
        and none of the backends the query may go to was down (:meth:`_close`)."""
        cached = entry.cache_key is not None
        settled = cached and not entry.waiting
        if reply is None:
            self._close(entry, own_reply(entry.data, entry.q, SERVFAIL), "failed", kind=KEEP_FAILURE if settled else None)
            return
        out = passed_on(entry.data, reply)
        if winner >= 0:
            self.backends[winner].stats.wins += 1
            self._close(entry, out, "won", self.backends[winner], KEEP_ANSWER if cached else None)
            return
        kind = None
        if settled:
            kind = (KEEP_FAILURE if entry.best_rank <= FAILURE_RANK
                    else KEEP_NEGATIVE if not entry.unsure and self._asked_all(entry) else None)
        self._close(entry, out, "negative", self.backends[entry.best_from], kind)

    def _close(self, entry: Pending, out: bytes, outcome: str, backend: Upstream | None = None,
               kind: str | None = None) -> None:
        """Forget the query, send its reply (cut to a UDP client's size) to its client and to the
        queries that joined it, count how it ended, and log it when there is a query log.

        ``kind``: how the cache may keep ``out`` (:mod:`resolver.ls.cache`), None when not, and always
        for a race whose result is not for the cache. A race with an expired answer to fall back on
        whose result is a failure (not an answer, NODATA, or a "no" from every backend) gives the stale
        answer instead, and keeps it in the cache, served without asking the backends again for a
        while (RFC 8767 4 and 5, :meth:`_stale_instead`).
        """
        stale = entry.stale
        if stale is not None and stale_wanted(outcome, kind, out[3] & 0x0F) \
                and stale.servable_stale(now := self._loop.time()):
            fallback = self._stale_instead(entry, now)
            if fallback is None:        # its client has the stale answer already
                self._forget(entry, outcome, backend, out[3] & 0x0F)
                self._answer_joined(entry, out)
                return
            out, outcome = fallback, "stale"
        elif kind is not None:
            out = self._kept(entry, out, kind)
        self._forget(entry, outcome, backend, out[3] & 0x0F)
        if not (entry.answered or entry.refresh):
            self._deliver(entry.sink, fit(out, entry.data, entry.q, entry.sink.stream), entry.addr, entry.link)
        self._answer_joined(entry, out, stale=outcome == "stale")

    def _answer_joined(self, entry: Pending, out: bytes, stale: bool = False) -> None:
        """The queries that joined ``entry``'s race get its reply ``out`` (``stale``: a stale answer),
        each under its own ID and spelling of the question, cut to its size, and without the EDNS
        options of the first client's exchange (its COOKIE is its own: :func:`resolver.ls.cache.shareable`)."""
        joined = entry.joined
        if not joined:
            return
        entry.joined = None
        self._joined -= len(joined)
        self.stats.outcomes["joined"] += len(joined)
        if stale:
            self.cache.stats.stale += len(joined)     # type: ignore[union-attr]
        out = shareable(out)
        for data, q, sink, addr in joined:
            self.reply(sink, fit(as_asked_by(out, data, q), data, q, sink.stream), addr)

    def _kept(self, entry: Pending, out: bytes, kind: str) -> bytes:
        """Offer ``out``, the result of ``entry``'s race, to the cache as ``kind``; the reply its client
        gets: as the cache will give it when kept (TTLs clamped, no options of one exchange) but with
        ``out``'s AA, else ``out``."""
        now = self._loop.time()
        kept = self.cache.store(entry.cache_key, out, kind, now)    # type: ignore[union-attr,arg-type]
        return out if kept is None else self.cache.first(kept, entry.data, entry.q, now, out)   # type: ignore[union-attr]

    def _stale_instead(self, entry: Pending, now: float) -> bytes | None:
        """``entry``'s race failed to refresh its stale answer at ``now``: that answer goes back for a
        while without asking again (RFC 8767 5); returns it for the race's client, or None when the
        client has it already (its client-response timer ran out)."""
        self.cache.refresh_failed(entry.stale, now)     # type: ignore[union-attr,arg-type]
        if entry.answered:
            return None
        return self.cache.serve(entry.stale, entry.data, entry.q, now, stale=True)   # type: ignore[union-attr,arg-type]

    def _asked_all(self, entry: Pending) -> bool:
        """Whether ``entry``'s race asked every backend its query may go to (down ones included), a
        replica group through any member: only then may its "no" be the name's (not when the hedge
        had none up to ask, or one was down from the start)."""
        reach = entry.route.mask if entry.route is not None else self.all_mask
        covered = 0
        unit = self.groups.unit
        for backend in self.backends:
            if entry.asked >> backend.index & 1:
                covered |= unit[backend.index]
        return not reach & ~covered

    def chased(self, origin: object, out: bytes, answered: bool, spoken: bool) -> bytes | None:
        """A chain the LS followed for the race ``origin`` (a :class:`Pending`) ended with ``out``
        (:mod:`resolver.ls.chase`): kept in the cache when it ends in the records asked for (``answered``),
        replaced by the race's stale answer when no backend spoke for its end (``spoken`` false: its
        target's backend is down or failing, RFC 8767), and given to the queries that joined the race.
        Returns the reply for the race's own client (as the cache gives it), or None when it wants
        none (it got the stale answer already, or the race was a prefetch)."""
        entry: Pending = origin     # type: ignore[assignment]
        stale = entry.stale
        served_stale = False
        if answered and entry.cache_key is not None:
            out = self._kept(entry, out, KEEP_ANSWER)
        elif not spoken and stale is not None and stale.servable_stale(now := self._loop.time()):
            fallback = self._stale_instead(entry, now)
            if fallback is None:
                return None
            out, served_stale = fallback, True
            self.stats.outcomes["stale"] += 1
        self._answer_joined(entry, out, stale=served_stale)
        return None if entry.answered or entry.refresh else out

    def _stale_due(self, entry: Pending) -> None:
        """The client-response timer (RFC 8767 5) of a race with a stale answer ran out: its client
        and the queries that joined it get the stale answer now; the race goes on to refresh the cache."""
        now = self._loop.time()
        if entry.done or entry.answered or not entry.stale.servable_stale(now):     # type: ignore[union-attr]
            return
        entry.answered = True
        out = self._from_cache(entry.stale, entry.data, entry.q, entry.sink, entry.addr, now, stale=True,  # type: ignore[arg-type]
                               started=entry.started)
        self._answer_joined(entry, out, stale=True)

    def _forget(self, entry: Pending, outcome: str, backend: Upstream | None, rcode: int | None) -> None:
        """The race is over: count how it ended, and log it unless ``rcode`` is None (logged later)."""
        del self.pending[entry.uid]
        self.admission.release(entry.addr[0])     # type: ignore[index]
        if entry.cache_key is not None:
            if self._running.get(entry.cache_key) is entry:
                del self._running[entry.cache_key]
        if entry.waiting & self._counted:
            self._count_outstanding(entry.waiting & self._counted, -1)
        self._ended[entry.uid] = entry.waiting | entry.asked & self.groups.grouped | entry.resent << self._resent_shift
        self._ended_at[entry.uid] = entry.started if entry.grace_due else 0.0
        entry.done = True
        if entry.link:
            outcome = "link"        # a link of a chain the LS follows: the chase logs the client's outcome
        elif entry.refresh:
            outcome = "prefetch"    # no client: it refreshes the cache
        self.stats.outcomes[outcome] += 1
        if rcode is not None and self.query_log is not None:
            self.log(entry.sink, entry.addr, entry.q, outcome if backend is None else f"{outcome}:{backend}", rcode,
                     entry.started, via_of(entry))

    def log(self, sink: Sink, addr: object, q: Query, outcome: str, rcode: int, started: float, via: str = "") -> None:
        """The query log's line for a query that started at ``started`` (perf_counter()), if there is a log;
        ``sink``: what it came through (its transport); ``via``: how the backends asked were chosen (:func:`via_of`)."""
        if self.query_log is not None:
            self.query_log.write(addr, q.qname, q.qtype, outcome, rcode, perf_counter() - started, sink.stream, via)

    def _arm(self) -> None:
        if self._deadlines:
            self._timer = self._loop.call_at(self._deadlines[0].deadline, self._expire)
        else:
            self._timer = None

    def _expire(self) -> None:
        """Answer every query whose deadline has passed, then wait for the next deadline."""
        now = self._loop.time()
        deadlines = self._deadlines
        while deadlines and (deadlines[0].done or deadlines[0].deadline <= now):
            entry = deadlines.popleft()
            if not entry.done:
                self._time_out(entry)
        self._arm()

    def _time_out(self, entry: Pending) -> None:
        for backend in self.backends:
            if entry.waiting & (1 << backend.index):
                backend.stats.timeouts += 1
                if self.health is not None:
                    self.health.suspect(backend)
        self._give_up(entry, use_best=self._best_at_deadline(entry))

    def _best_at_deadline(self, entry: Pending) -> bool:
        """Whether a race ended before every backend replied passes on its best "no": a "no" that
        says the name exists does (a grace as long as the timeout), and so does a backend's NXDOMAIN,
        which carries the zone's SOA, unless --on-timeout servfail; anything else gets the timeout answer."""
        backend_nxdomain = entry.best is not None and entry.best[3] & 0x0F == NXDOMAIN
        return entry.best_rank >= NAME_EXISTS or (self.timeout_rcode == NXDOMAIN and backend_nxdomain)

    def _give_up(self, entry: Pending, use_best: bool = True) -> None:
        """No backend still awaited says yes: the best negative reply, or the timeout answer.

        A client's query whose best reply is an open alias chain is followed instead
        (:mod:`resolver.ls.chase`); the chase's own races end as any other.
        """
        if use_best and entry.best_rank == ALIAS and not entry.link:
            self._forget(entry, "followed", None, None)     # logged by the chase, with the rcode the client gets
            Chase(self, entry.data, entry.q, entry.sink, entry.addr, entry.best,
                  (f"followed:{self.backends[entry.best_from]}", entry.started), entry.deadline, entry).start()
            return
        if use_best and entry.best_rank >= 0:
            self._finish(entry, entry.best)     # None: a backend failed without a reply (SERVFAIL)
        else:
            self._close(entry, own_reply(entry.data, entry.q, self.timeout_rcode), "timeout")

    def answer_all(self) -> None:
        """Shutting down: every query still waiting gets its answer now, as at its deadline; none is lost.

        A CNAME chain the LS was following gets its answer too: a chase starts no new race
        once :attr:`draining` is set (:mod:`resolver.ls.chase`).
        """
        self.draining = True
        for entry in list(self.pending.values()):
            if not entry.done:
                self._give_up(entry, use_best=self._best_at_deadline(entry))

    @property
    def inflight(self) -> int:
        """Races waiting for backends now."""
        return len(self.pending)

    def close(self) -> None:
        for timer in (self._timer, self._grace_timer):
            if timer is not None:
                timer.cancel()
        self._stale_timer.close()
        self.retransmit.close()


def route_table(routes: Sequence[tuple[str, Sequence[str]]], backends: Sequence[Upstream],
                groups: Groups) -> RouteTable:
    """The static routes (``--route``) as backend masks: a target is a backend's name (its ADDR:PORT
    when it has none) or a replica group's, which stands for all its members. Raises ValueError
    for a target that is neither."""
    masks = {backend.name: 1 << backend.index for backend in backends}
    masks.update(groups.by_name())
    table = {}
    for domain, targets in routes:
        unknown = [target for target in targets if target not in masks]
        if unknown:
            raise ValueError(f"route {domain}: no backend or group named {unknown[0]!r}")
        mask = 0
        for target in targets:
            mask |= masks[target]
        table[domain] = mask
    return RouteTable(table)


def via_of(entry: Pending) -> str:
    """How a race chose the backends it asked, as the query log says it, comma-separated:
    ``route=DOMAIN`` (a static route), ``learned`` (the learned owners first) and
    ``hedge=silent`` or ``hedge=negative`` (the others asked after them), or ``fanout``."""
    parts = [f"route={entry.route.domain}"] if entry.route is not None else []
    if entry.learned:
        parts.append("learned")
    if entry.hedge:
        parts.append(f"hedge={entry.hedge}")
    return ",".join(parts) or "fanout"


class _Refresh:
    """The sink of a prefetch's race: no client waits for it. ``stream``: it asks over TCP, as the
    queries whose answer it refreshes came."""

    def __init__(self, stream: bool) -> None:
        self.stream = stream

    def send(self, data: bytes, addr: object) -> None:
        pass


REFRESH = {False: _Refresh(False), True: _Refresh(True)}     # by transport
REFRESH_ADDRESS = ("prefetch", 0)    # whom a prefetch is admitted and logged as: its share bounds them


def stale_wanted(outcome: str, kind: str | None, rcode: int) -> bool:
    """Whether a race that ended so (``outcome``, cache ``kind``, ``rcode``) failed to refresh its
    answer, so that the stale one goes back instead (RFC 8767 4): not when a backend answered, or
    every backend said no (the name is gone), or one said the name exists (NODATA)."""
    if outcome == "won" or kind == KEEP_NEGATIVE:
        return False
    return not (outcome == "negative" and rcode == NOERROR and kind is None)
