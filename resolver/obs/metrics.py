"""Prometheus metrics and the status page's JSON, read from :mod:`resolver.obs.stats` at scrape time.

The names follow CoreDNS and dnsdist: a ``resolver_`` prefix, ``_total`` on
counters, ``_seconds`` on durations, the backend's name in a ``backend``
label (CoreDNS's forward plugin says ``to``) and rcodes by name::

    resolver_ls_requests_total{proto="udp"}                 queries received
    resolver_ls_responses_total{rcode="NOERROR"}            replies sent
    resolver_ls_races_total{outcome="won"}                  how races ended (as in the query log)
    resolver_ls_inflight                                    races waiting now
    resolver_ls_dropped_total{reason="malformed"}           queries dropped without a reply
    resolver_ls_refused_total{reason="acl"}                 queries refused by the allow-list or rate limit
    resolver_backend_requests_total{backend="ts1"}          queries sent, retransmissions included (not health probes)
    resolver_backend_responses_total{backend, rcode}        replies, late ones included
    resolver_backend_wins_total{backend}                    races won
    resolver_backend_timeouts_total{backend}                races that timed out waiting for it
    resolver_backend_late_responses_total{backend}          replies after their race ended
    resolver_backend_forged_responses_total{backend}        dropped: unknown ID, other question or socket, unparsable
    resolver_backend_source_port_rotations_total{backend}   UDP sockets replaced by one on a new random port
    resolver_backend_retransmissions_total{backend}         queries sent again: UDP past its RTO, TCP on a new connection
    resolver_backend_duplicate_responses_total{backend}     second replies to a query or probe sent again
    resolver_backend_up{backend}                            1 asked (up, or starting and reachable), 0 down (resolver.ls.health)
    resolver_backend_state{backend, state}                  1 for its state now, starting, up or down; 0 for the others
    resolver_backend_response_duration_seconds{backend}     histogram of replies within their race (and after a grace)
    resolver_backend_hedges_total{backend}                  queries sent to it after the learned owners (a hedge)
    resolver_backend_failovers_total{backend}               queries sent to it in place of a failed group member
    resolver_backend_outstanding{backend}                   races awaiting its reply now
    resolver_ls_routing_total{how="learned"}                races by how they chose their first backends
    resolver_ls_hedges_total{why="silent"}                  races that asked more than the learned owners, by why
    resolver_ls_learned_entries                             names and zones learned routing holds (0 when off)
    resolver_ls_learned_capacity                            entries it holds at most (0 when off)
    resolver_ls_upstream_queries_per_query                  queries sent to backends, retransmissions aside, per race
    resolver_ls_cache_hits_total                            answers served from the answer cache, fresh
    resolver_ls_cache_misses_total                          lookups that found no fresh answer
    resolver_ls_cache_stale_total                           stale answers served (RFC 8767)
    resolver_ls_cache_prefetches_total                      refreshes of answers asked for late in their TTL
    resolver_ls_cache_evictions_total                       answers dropped for room, least recently used first
    resolver_ls_cache_expired_total                         answers dropped past their TTL and stale window
    resolver_ls_cache_inserts_total                         answers stored
    resolver_ls_cache_flushed_total                         answers dropped by POST /cache/flush
    resolver_ls_cache_entries                               answers held now, expired ones until looked up
    resolver_ls_cache_bytes                                 octets they take, as the cache counts them
    resolver_ls_cache_capacity_entries                      answers held at most
    resolver_ls_cache_capacity_bytes                        octets at most (only with --cache-size NMiB)
    resolver_group_members{group}                           members of a replica group
    resolver_group_members_up{group}                        those of them up
    resolver_ts_requests_total{zone, proto}                 TS queries, "none" for no zone
    resolver_ts_responses_total{zone, rcode}                TS replies

Counters only grow while a process lives; a restart sets them back to zero,
which Prometheus's ``rate()`` expects. With the answer cache off (``--cache-size 0``)
its series are there, at zero, as learned routing's are when it is off, so a
dashboard's queries keep working; ``resolver_ls_cache_capacity_entries`` 0 says off.

Both are rendered from a *reading* (:meth:`ServerMetrics.reading`): a
process's figures as JSON-able data in three parts, ``counters`` (they only
grow), ``gauges`` (what holds now; ``workers`` is 1 in each reading) and
``config`` (what every worker of a server has alike: routes, groups, the
backends in order, zone sizes). With ``--workers`` the parent sums the
workers' readings with :func:`add` and renders the sum the same way
(:mod:`resolver.obs.hub`), so one process and N show the same series.

The servers are read through :class:`LsSource` and :class:`TsSource`, protocols
this module owns: it imports neither :mod:`resolver.ls` nor :mod:`resolver.ts`,
so their insides can change without breaking ``/metrics``.
"""
from __future__ import annotations

import time
from collections import Counter
from functools import reduce
from typing import Any, Iterable, Iterator, Mapping, Protocol, Sequence

import dns.exception
import dns.name
import dns.rdatatype

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from .. import __version__
from ..wire import RCODE_NAMES
from .stats import BackendStats, LsStats, ZoneTally, cumulative, zone_replies, zone_requests

PROTOCOLS = ("udp", "tcp")
BACKEND_STATES = ("starting", "up", "down")    # a backend's health, as resolver_backend_state labels it
PLAN_TYPE = "A"         # /plan lists the cached answers of this type unless told another


class BackendSource(Protocol):
    """One backend of the LS, as the metrics read it."""

    index: int          # its bit in the race's masks of backends
    name: str           # the label: NAME from NAME=ADDR:PORT, else the address
    address: str        # ADDR:PORT
    up: bool            # per its health probes: asked and waited for
    starting: bool      # not judged yet by its probes: neither answered nor reported down
    stats: BackendStats


class Named(Protocol):
    name: str


class RouteSource(Protocol):
    """A static route (:class:`resolver.ls.routes.Route`)."""

    domain: str         # absolute, lower-cased text
    mask: int           # the backends its names may go to, one bit per backend index


class GroupSource(Protocol):
    """A replica group (:class:`resolver.ls.groups.Group`)."""

    name: str
    mask: int           # its members, one bit per backend index

    @property
    def policy(self) -> Named: ...


class GroupsSource(Protocol):
    @property
    def groups(self) -> Sequence[GroupSource]: ...

    def names(self, mask: int) -> list[str]:
        """The units of ``mask`` by name (:meth:`resolver.ls.groups.Groups.names`)."""


class LearnedSource(Protocol):
    """Learned routing's table (:class:`resolver.ls.learning.LearnedOwners`)."""

    size: int           # entries at most

    def __len__(self) -> int: ...


class CacheStatsSource(Protocol):
    """What the answer cache did (:class:`resolver.ls.cache.CacheStats`); each name is in :data:`CACHE_COUNTERS`."""

    hits: int
    misses: int
    stale: int
    prefetches: int
    evictions: int
    expired: int
    inserts: int
    flushed: int


class CacheBounds(Protocol):
    """The answer cache's bounds (:class:`resolver.ls.settings.CacheSettings`)."""

    entries: int                # answers at most
    max_bytes: int | None       # octets at most, as the cache counts them; None: no such bound


class CacheSource(Protocol):
    """The answer cache (:class:`resolver.ls.cache.AnswerCache`)."""

    stats: CacheStatsSource
    bytes: int                  # octets its answers take, as :func:`resolver.ls.cache.entry_size` counts them
    settings: CacheBounds

    def __len__(self) -> int: ...

    def flush(self, name: bytes | None = None) -> int:
        """Drop every answer, or those for ``name`` (wire form) and below; returns how many."""


class PendingSource(Protocol):
    waiting: int        # the backends a race awaits, one bit per backend index


class RtoSource(Protocol):
    """One backend's RTT estimate (:class:`resolver.ls.rtt.RttEstimator`)."""

    rto: float          # its retransmission timeout now, in seconds


class RetransmitSource(Protocol):
    """Retransmission's clock (:class:`resolver.ls.retransmit.Retransmitter`)."""

    rtt: Sequence[RtoSource]    # by backend index


class RaceSource(Protocol):
    """The LS's race, as the metrics and ``/plan`` read it (:class:`resolver.ls.race.Race`)."""

    @property
    def pending(self) -> Mapping[int, PendingSource]: ...

    @property
    def routes(self) -> Iterable[RouteSource]: ...

    @property
    def groups(self) -> GroupsSource: ...

    @property
    def learned(self) -> LearnedSource | None: ...

    @property
    def retransmit(self) -> RetransmitSource: ...

    @property
    def cache(self) -> CacheSource | None:
        """The answer cache; None when it is off."""

    def plan(self, qname: bytes, qtype: int) -> dict[str, Any]:
        """How a query for ``qname`` (wire form) would choose its backends now: ``route``,
        ``targets``, ``learned``, ``first``, ``hedge``, ``down``, and ``cached``, what the cache holds
        for ``qname`` and ``qtype`` (:meth:`resolver.ls.race.Race.plan`)."""


class LsSource(Protocol):
    """The LS, as the metrics read it (:class:`resolver.ls.balancer.LoadBalancer`)."""

    @property
    def stats(self) -> LsStats: ...

    @property
    def inflight(self) -> int: ...

    @property
    def backends(self) -> Sequence[BackendSource]: ...

    @property
    def race(self) -> RaceSource: ...


class TsSource(Protocol):
    """The TS, as the metrics read it (:class:`resolver.ts.server.AuthoritativeServer`)."""

    @property
    def tallies(self) -> dict[str, ZoneTally]:
        """Counters by zone name (``"none"`` for queries no zone owns)."""

    @property
    def silent_miss(self) -> bool: ...

    def zone_sizes(self) -> dict[str, int]:
        """Names in each zone served, by zone name."""


# The answer cache's counters (:class:`CacheStatsSource`), each ``resolver_ls_cache_NAME_total``.
CACHE_COUNTERS = {
    "hits": "Answers served from the answer cache while fresh.",
    "misses": "Cache lookups that found no fresh answer (a stale one included).",
    "stale": "Stale answers served past their TTL (RFC 8767): every backend failed, or the client "
             "response timer ran out first.",
    "prefetches": "Refreshes asked for answers hit late in their TTL (--prefetch).",
    "evictions": "Answers dropped to make room, least recently used first.",
    "expired": "Answers dropped past their TTL and their stale window.",
    "inserts": "Answers stored: positive, negative (RFC 2308) and SERVFAIL.",
    "flushed": "Answers dropped by a flush (POST /cache/flush on the metrics address).",
}


class NoCache(LookupError):
    """Raised by :meth:`ServerMetrics.flush` where no answer cache runs; the message says why."""


class Unavailable(RuntimeError):
    """Raised by the metrics of a server with workers when the figures cannot be had now: no
    worker has answered yet, or one did not answer a flush in time; the message says why."""


def dns_name(text: str) -> dns.name.Name:
    """``text`` as a DNS name (absolute); raises ValueError, saying so, for one that is not."""
    try:
        return dns.name.from_text(text)
    except dns.exception.DNSException as exc:
        raise ValueError(f"not a DNS name: {text!r} ({exc})") from None


def rcode_counts(counts: list[int]) -> dict[str, int]:
    """Counts by rcode name, leaving out rcodes never seen."""
    return {RCODE_NAMES.get(rcode, str(rcode)): n for rcode, n in enumerate(counts) if n}


def add(a: Any, b: Any) -> Any:
    """The sum of two readings' ``counters`` (or ``gauges``): numbers added, lists element by
    element, dicts key by key (a key that only one has is kept as it is), None counting as nothing."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, dict):
        return {key: add(a.get(key), b.get(key)) for key in {**a, **b}}
    if isinstance(a, list):
        return [add(x, y) for x, y in zip(a, b)]
    return a + b


def total(readings: Sequence[dict[str, Any]], departed: dict[str, Any] | None = None) -> dict[str, Any]:
    """The sum of several workers' readings (at least one), as one reading: their counters summed
    with ``departed`` (the counters of workers that ended), their gauges summed, and the first's
    config, role and version."""
    return {**readings[0], "counters": reduce(add, (reading["counters"] for reading in readings), departed or {}),
            "gauges": reduce(add, (reading["gauges"] for reading in readings))}


class ServerMetrics(Collector):
    """What the metrics endpoint and the status page read: one server process's :meth:`reading`,
    rendered by the class of its role (:data:`KINDS`)."""

    role = ""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def uptime(self) -> float:
        """Seconds since this object was made, as the server started."""
        return time.monotonic() - self.started

    def reading(self) -> dict[str, Any]:
        """This process's figures as JSON-able data (see the module's docstring)."""
        return {"role": self.role, "version": __version__, "uptime": round(self.uptime(), 3),
                "counters": {}, "gauges": {"workers": 1}, "config": {}}

    def figures(self) -> dict[str, Any]:
        """The reading that ``/metrics`` and the status JSON show: here this process's own."""
        return self.reading()

    async def refresh(self) -> None:
        """Bring :meth:`figures` up to date before it is read; nothing to do for one process."""

    def collect(self) -> Iterator[Metric]:
        figures = self.figures()
        info = GaugeMetricFamily("resolver_build_info", "The running version and role.", labels=["version", "role"])
        info.add_metric([figures["version"], figures["role"]], 1)
        yield info
        yield GaugeMetricFamily("resolver_uptime_seconds", "Seconds since the server started.", value=self.uptime())
        yield from KINDS[figures["role"]].families(figures)

    def status(self) -> dict:
        """The status page's JSON: totals; the page turns two readings into rates."""
        figures = self.figures()
        return {"role": figures["role"], "version": figures["version"], "uptime": round(self.uptime(), 3),
                **KINDS[figures["role"]].summary(figures)}

    async def plan(self, name: str, rdtype: str = PLAN_TYPE) -> dict[str, Any] | None:
        """``/plan``'s JSON: how a query for ``name`` (of type ``rdtype``) would be routed; None for a
        server that routes nothing (the TS)."""
        return None

    async def flush(self, name: str | None) -> int:
        """Drop the cached answers for ``name`` (text) and the names below it, or every one (None);
        returns how many. Raises ValueError for a name that is not a DNS name, :class:`NoCache`
        where no answer cache runs (here: the TS caches nothing)."""
        raise NoCache("no answer cache here: only the LS caches answers")


def backend_counters(stats: BackendStats) -> dict[str, Any]:
    """One backend's counters, as a reading holds them."""
    return {"sent": stats.sent, "replies": list(stats.replies), "wins": stats.wins, "timeouts": stats.timeouts,
            "late": stats.late, "forged": stats.forged, "rotations": stats.rotations,
            "retransmissions": stats.retransmissions, "duplicates": stats.duplicates, "hedges": stats.hedges,
            "failovers": stats.failovers, "latency": list(stats.latency.counts), "latency_sum": stats.latency.sum}


class LsMetrics(ServerMetrics):
    """The LS's counters, its races and each backend."""

    role = "ls"

    def __init__(self, source: LsSource) -> None:
        self.source = source
        super().__init__()

    def reading(self) -> dict[str, Any]:
        """``counters``: the LS's (:class:`LsStats`), the cache's and each backend's by name;
        ``gauges``: races in flight, learned routing's and the cache's size now and at most, each
        backend's ``up``, ``starting`` and ``down`` (each 1 or 0; down: judged and not up) and races
        awaiting it; ``config``: whether learning and the cache
        are on, the routes, the groups and the backends in order."""
        source, base = self.source, super().reading()
        stats, race, backends = source.stats, source.race, source.backends
        cache, learned = race.cache, race.learned
        return {**base,
                "counters": {"queries": list(stats.queries), "replies": list(stats.replies),
                             "outcomes": dict(stats.outcomes), "dropped": dict(stats.dropped),
                             "refused": dict(stats.refused), "routing": dict(stats.routing),
                             "hedges": dict(stats.hedges),
                             "cache": {name: getattr(cache.stats, name) if cache is not None else 0
                                       for name in CACHE_COUNTERS},
                             "backends": {b.name: backend_counters(b.stats) for b in backends}},
                "gauges": {**base["gauges"], "inflight": source.inflight,
                           "learned": {"entries": len(learned) if learned is not None else 0,
                                       "capacity": learned.size if learned is not None else 0},
                           "cache": {"entries": len(cache), "bytes": cache.bytes, "capacity": cache.settings.entries,
                                     "max_bytes": cache.settings.max_bytes} if cache is not None else
                                    {"entries": 0, "bytes": 0, "capacity": 0, "max_bytes": None},
                           "backends": {b.name: {"up": int(b.up), "starting": int(b.starting),
                                                 "down": int(not (b.up or b.starting)), "outstanding": n}
                                        for b, n in zip(backends, self.outstanding())}},
                "config": {"learning": learned is not None, "cache": cache is not None, "routes": self.routes(),
                           "groups": [{"name": group.name, "policy": group.policy.name,
                                       "members": [b.name for b in backends if group.mask >> b.index & 1]}
                                      for group in race.groups.groups],
                           "backends": [{"name": b.name, "address": b.address} for b in backends]}}

    def outstanding(self) -> list[int]:
        """Per backend, in order, the races awaiting its reply now: read off the race's table at
        scrape time, so it holds for every backend, not only for the members of a
        ``least-outstanding`` group, whose :attr:`BackendStats.outstanding` the race keeps."""
        masks = Counter(entry.waiting for entry in self.source.race.pending.values())
        return [sum(n for mask, n in masks.items() if mask >> b.index & 1) for b in self.source.backends]

    def routes(self) -> list[dict[str, Any]]:
        """The static routes, in the order given: the domain and the backends and groups its names go to."""
        race = self.source.race
        return [{"domain": route.domain, "targets": race.groups.names(route.mask)} for route in race.routes]

    @staticmethod
    def queries(figures: dict[str, Any]) -> int:
        """Client queries received, both transports."""
        return sum(figures["counters"]["queries"])

    @staticmethod
    def per_worker(reading: dict[str, Any]) -> dict[str, Any]:
        """What the status JSON shows of each worker: its queries, races in flight and cached answers."""
        gauges = reading["gauges"]
        return {"queries": LsMetrics.queries(reading), "inflight": gauges["inflight"],
                "cache_entries": gauges["cache"]["entries"]}

    @staticmethod
    def is_up(figures: dict[str, Any], name: str) -> bool:
        """Whether backend ``name`` is up in every worker's probes (the one process's, in one)."""
        return figures["gauges"]["backends"][name]["up"] == figures["gauges"]["workers"]

    @staticmethod
    def state(figures: dict[str, Any], name: str) -> str:
        """Backend ``name``'s health as the status page and ``resolver_backend_state`` show it:
        ``down`` when a worker's probes found it down (the one process's, in one), else
        ``starting`` while a worker's first probes have not judged it yet (:mod:`resolver.ls.health`),
        else ``up``."""
        backend = figures["gauges"]["backends"][name]
        return "down" if backend["down"] else "starting" if backend["starting"] else "up"

    @staticmethod
    def cache(figures: dict[str, Any]) -> dict[str, Any]:
        """The answer cache: ``enabled``, each of :data:`CACHE_COUNTERS`, ``entries`` (answers held),
        ``bytes`` (the octets they take, as the cache counts them), ``capacity`` (answers at most) and
        ``max_bytes`` (octets at most; None without a memory bound); zeros when it is off."""
        if not figures["config"]["cache"]:
            return {"enabled": False, **dict.fromkeys(CACHE_COUNTERS, 0), "entries": 0, "bytes": 0, "capacity": 0,
                    "max_bytes": None}
        return {"enabled": True, **figures["counters"]["cache"], **figures["gauges"]["cache"]}

    @staticmethod
    def upstream_per_race(figures: dict[str, Any]) -> float:
        """Queries sent to backends (:attr:`BackendStats.sent` less its retransmissions) per race started
        (the sum of :attr:`LsStats.routing`); 0.0 before the first race."""
        counters = figures["counters"]
        races = sum(counters["routing"].values())
        sent = sum(counters["backends"][b["name"]]["sent"] - counters["backends"][b["name"]]["retransmissions"]
                   for b in figures["config"]["backends"])
        return sent / races if races else 0.0

    @staticmethod
    def groups(figures: dict[str, Any]) -> list[dict[str, Any]]:
        """The replica groups: name, policy and members in order, and the members that are up."""
        return [{**group, "up": [name for name in group["members"] if LsMetrics.is_up(figures, name)]}
                for group in figures["config"]["groups"]]

    @staticmethod
    def families(figures: dict[str, Any]) -> Iterator[Metric]:
        counters, gauges = figures["counters"], figures["gauges"]
        yield counter("resolver_ls_requests", "Queries received, by transport.", ["proto"],
                      {(proto,): n for proto, n in zip(PROTOCOLS, counters["queries"])})
        yield counter("resolver_ls_responses", "Replies sent, by rcode.", ["rcode"],
                      {(rcode,): n for rcode, n in rcode_counts(counters["replies"]).items()})
        yield counter("resolver_ls_races", "Races ended, by outcome.", ["outcome"],
                      {(outcome,): n for outcome, n in counters["outcomes"].items()})
        yield counter("resolver_ls_dropped", "Queries dropped without a reply, by reason.", ["reason"],
                      {(reason,): n for reason, n in counters["dropped"].items()})
        yield counter("resolver_ls_refused", "Queries refused (allow-list, rate limit).", ["reason"],
                      {(reason,): n for reason, n in counters["refused"].items()})
        yield GaugeMetricFamily("resolver_ls_inflight", "Races waiting for backends now.", value=gauges["inflight"])
        yield counter("resolver_ls_routing", "Races started, by how they chose the backends asked first: the "
                      "learned owners of the name or its zone (learned, within a static route too), a static "
                      "route's backends (route), or every backend (fanout).",
                      ["how"], {(how,): n for how, n in counters["routing"].items()})
        yield counter("resolver_ls_hedges", "Races that asked the other backends after the learned owners: these "
                      "stayed silent past their retransmission timeout (silent) or said no (negative).",
                      ["why"], {(why,): n for why, n in counters["hedges"].items()})
        yield GaugeMetricFamily("resolver_ls_learned_entries", "Names and zones learned routing holds now "
                                "(0 when it is off).", value=gauges["learned"]["entries"])
        yield GaugeMetricFamily("resolver_ls_learned_capacity", "Names and zones learned routing holds at most, "
                                "the least recently used dropped first (0 when it is off).",
                                value=gauges["learned"]["capacity"])
        yield GaugeMetricFamily("resolver_ls_upstream_queries_per_query",
                                "Queries sent to backends, retransmissions left out (hedges and failovers "
                                "counted), per race started (a client query, or a CNAME target the LS follows), "
                                "since the LS started: 1 when each goes to one backend, the number of backends "
                                "for a full fan-out; 0 before the first race.",
                                value=LsMetrics.upstream_per_race(figures))
        yield from LsMetrics._cache_families(figures)
        yield from LsMetrics._backend_families(figures)
        yield from LsMetrics._group_families(figures)

    @staticmethod
    def _cache_families(figures: dict[str, Any]) -> Iterator[Metric]:
        cache = LsMetrics.cache(figures)
        for name, documentation in CACHE_COUNTERS.items():
            yield CounterMetricFamily(f"resolver_ls_cache_{name}", documentation, value=cache[name])
        yield GaugeMetricFamily("resolver_ls_cache_entries", "Answers the cache holds now, stale ones included, and "
                                "expired ones until a lookup, an eviction or a flush drops them (0 when it is off).",
                                value=cache["entries"])
        yield GaugeMetricFamily("resolver_ls_cache_bytes", "Octets the cached answers take, as the cache counts "
                                "them: each its message and a fixed share for its bookkeeping.", value=cache["bytes"])
        yield GaugeMetricFamily("resolver_ls_cache_capacity_entries", "Answers the cache holds at most, the least "
                                "recently used dropped first (0 when it is off).", value=cache["capacity"])
        if cache["max_bytes"] is not None:
            yield GaugeMetricFamily("resolver_ls_cache_capacity_bytes", "Octets the cached answers take at most, "
                                    "as the cache counts them (--cache-size NMiB).", value=cache["max_bytes"])

    @staticmethod
    def _group_families(figures: dict[str, Any]) -> Iterator[Metric]:
        members = GaugeMetricFamily("resolver_group_members", "Members of a replica group.", labels=["group"])
        up = GaugeMetricFamily("resolver_group_members_up", "Members of a replica group that are up.",
                               labels=["group"])
        for group in LsMetrics.groups(figures):
            members.add_metric([group["name"]], len(group["members"]))
            up.add_metric([group["name"]], len(group["up"]))
        yield members
        yield up

    @staticmethod
    def _backend_families(figures: dict[str, Any]) -> Iterator[Metric]:
        names = [b["name"] for b in figures["config"]["backends"]]
        stats = {name: figures["counters"]["backends"][name] for name in names}
        now = figures["gauges"]["backends"]
        label = ["backend"]

        def each(key: str) -> dict[tuple[str, ...], int]:
            return {(name,): stats[name][key] for name in names}
        yield counter("resolver_backend_requests", "Client queries sent to a backend, retransmissions included.", label,
                      each("sent"))
        yield counter("resolver_backend_responses", "Replies from a backend, by rcode.", label + ["rcode"],
                      {(name, rcode): n for name in names for rcode, n in rcode_counts(stats[name]["replies"]).items()})
        yield counter("resolver_backend_wins", "Races a backend's reply won.", label, each("wins"))
        yield counter("resolver_backend_timeouts", "Races that timed out waiting for a backend.", label,
                      each("timeouts"))
        yield counter("resolver_backend_late_responses", "Replies that came after their race ended.", label,
                      each("late"))
        yield counter("resolver_backend_forged_responses",
                      "Replies dropped: an ID no race sent, another question, sections that do not parse, or on "
                      "another UDP socket than their query left from.", label, each("forged"))
        yield counter("resolver_backend_source_port_rotations", "UDP sockets to a backend replaced by one on a new "
                      "random port (RFC 5452).", label, each("rotations"))
        yield counter("resolver_backend_retransmissions",
                      "Queries sent to a backend again: over UDP as it had not replied within its retransmission "
                      "timeout, over TCP as the connection they were written on ended.", label, each("retransmissions"))
        yield counter("resolver_backend_duplicate_responses", "Second replies to a query or health probe sent to a "
                      "backend again.", label, each("duplicates"))
        up = GaugeMetricFamily("resolver_backend_up", "1 when the backend is asked: it answers health probes, or is "
                               "starting and its port was not found unreachable (with --workers, in every worker).",
                               labels=label)
        for name in names:
            up.add_metric([name], 1 if LsMetrics.is_up(figures, name) else 0)
        yield up
        state = GaugeMetricFamily("resolver_backend_state", "1 for the backend's health now, 0 for the other "
                                  "states: starting until its first probes answer or find it down, then up or "
                                  "down (with --workers: down when a worker finds it down, else starting while "
                                  "a worker's first probes have not judged it).", labels=label + ["state"])
        for name in names:
            now_in = LsMetrics.state(figures, name)
            for each_state in BACKEND_STATES:
                state.add_metric([name, each_state], 1 if each_state == now_in else 0)
        yield state
        yield counter("resolver_backend_hedges", "Queries sent to a backend after the learned owners asked first "
                      "stayed silent past their retransmission timeout or said no.", label, each("hedges"))
        yield counter("resolver_backend_failovers", "Queries sent to a backend in place of a member of its "
                      "replica group that failed in the race.", label, each("failovers"))
        outstanding = GaugeMetricFamily("resolver_backend_outstanding", "Races awaiting the backend's reply now.",
                                        labels=label)
        for name in names:
            outstanding.add_metric([name], now[name]["outstanding"])
        yield outstanding
        latency = HistogramMetricFamily("resolver_backend_response_duration_seconds",
                                        "Time from a query to a backend's reply, within the race or after its "
                                        "NODATA grace.", labels=label)
        for name in names:
            latency.add_metric([name], cumulative(stats[name]["latency"]), stats[name]["latency_sum"])
        yield latency

    @staticmethod
    def summary(figures: dict[str, Any]) -> dict[str, Any]:
        counters, gauges, config = figures["counters"], figures["gauges"], figures["config"]
        groups = LsMetrics.groups(figures)
        group_of = {member: group["name"] for group in groups for member in group["members"]}
        backends = []
        for backend in config["backends"]:
            name = backend["name"]
            stats = counters["backends"][name]
            backends.append({**backend, "up": LsMetrics.is_up(figures, name), "state": LsMetrics.state(figures, name),
                             "group": group_of.get(name),
                             **{key: stats[key] for key in ("sent", "wins", "timeouts", "late", "forged",
                                                            "retransmissions", "duplicates", "hedges", "failovers")},
                             "outstanding": gauges["backends"][name]["outstanding"],
                             "replies": rcode_counts(stats["replies"]), "latency_count": sum(stats["latency"]),
                             "latency_sum": round(stats["latency_sum"], 6)})
        return {"queries": LsMetrics.queries(figures), "inflight": gauges["inflight"],
                "replies": rcode_counts(counters["replies"]),
                **{key: counters[key] for key in ("outcomes", "dropped", "refused", "routing", "hedges")},
                "learned": {"enabled": config["learning"], **gauges["learned"]},
                "cache": LsMetrics.cache(figures),
                "upstream_per_query": round(LsMetrics.upstream_per_race(figures), 3),
                "routes": config["routes"], "groups": groups, "backends": backends}

    async def flush(self, name: str | None) -> int:
        """Drop the cached answers for ``name`` (text) and the names below it, or every one (None),
        with :meth:`resolver.ls.cache.AnswerCache.flush`; returns how many. Raises ValueError for a
        name that is not a DNS name, :class:`NoCache` when the cache is off."""
        qname = None if name is None else dns_name(name).to_wire()
        cache = self.source.race.cache
        if cache is None:
            raise NoCache("the answer cache is off (ls --cache-size 0): nothing to flush")
        return cache.flush(qname)

    async def plan(self, name: str, rdtype: str = PLAN_TYPE) -> dict[str, Any] | None:
        """How the LS would choose the backends for a query for ``name`` (text) now, and what its
        cache holds for ``name`` and ``rdtype`` (a type's name or ``TYPEnnn``, RFC 3597)
        (:meth:`resolver.ls.race.Race.plan`), with ``name`` as read, ``learning`` (whether
        learned routing is on), ``groups`` (the replica groups it names, as
        :meth:`groups` gives them) and ``hedge_after_ms`` (the shortest retransmission timeout,
        in milliseconds, of the backends asked first, a group's members included: the silence
        after which the hedge is asked; None when none is asked). Raises ValueError for a name
        that is not a DNS name or a type that is not a record type."""
        qname = dns_name(name)
        try:
            qtype = dns.rdatatype.from_text(rdtype.upper())
        except (dns.rdatatype.UnknownRdatatype, ValueError):
            raise ValueError(f"not a record type: {rdtype!r}") from None
        race = self.source.race
        plan = race.plan(qname.to_wire(), qtype)
        named = {*plan["first"], *plan["hedge"], *plan["targets"]}
        groups = [group for group in self.groups(self.reading()) if group["name"] in named]
        up = {group["name"]: group["up"] for group in groups}
        first = {backend for unit in plan["first"] for backend in up.get(unit, [unit])}
        rtos = [race.retransmit.rtt[b.index].rto for b in self.source.backends if b.name in first]
        return {"name": qname.to_text(), "learning": race.learned is not None, **plan, "groups": groups,
                "hedge_after_ms": round(min(rtos) * 1000, 3) if rtos else None}


class TsMetrics(ServerMetrics):
    """The TS's counters, by zone."""

    role = "ts"

    def __init__(self, source: TsSource, transfers: Mapping[tuple[str, str, str], int] | None = None,
                 provided: Mapping[tuple[str, str], int] | None = None) -> None:
        """``transfers``: inbound zone transfers by (zone, kind, result), for a TS with secondary zones;
        ``provided``: transfers out by (zone, kind), for a TS that allows them."""
        self.source = source
        self.transfers = transfers
        self.provided = provided
        super().__init__()

    def reading(self) -> dict[str, Any]:
        """``counters``: each zone's :class:`ZoneTally` counts by zone name, and with secondary zones
        the inbound transfers by ``ZONE|KIND|RESULT``, and with transfers out allowed those by
        ``ZONE|KIND``; ``config``: whether the TS is silent on misses, and the names in each zone served."""
        base = super().reading()
        counters: dict[str, Any] = {"zones": {zone: list(tally.counts) for zone, tally in self.source.tallies.items()}}
        if self.transfers is not None:
            counters["transfers"] = {"|".join(labels): n for labels, n in self.transfers.items()}
        if self.provided is not None:
            counters["provided"] = {"|".join(labels): n for labels, n in self.provided.items()}
        return {**base, "counters": counters,
                "config": {"silent_miss": self.source.silent_miss, "sizes": self.source.zone_sizes()}}

    @staticmethod
    def queries(figures: dict[str, Any]) -> int:
        """Queries received, every zone and both transports."""
        return sum(zone_requests(counts, tcp) for counts in figures["counters"]["zones"].values() for tcp in (0, 1))

    @staticmethod
    def per_worker(reading: dict[str, Any]) -> dict[str, Any]:
        """What the status JSON shows of each worker: its queries."""
        return {"queries": TsMetrics.queries(reading)}

    @staticmethod
    def families(figures: dict[str, Any]) -> Iterator[Metric]:
        zones = figures["counters"]["zones"]
        yield counter("resolver_ts_requests", "Queries received, by zone and transport.", ["zone", "proto"],
                      {(zone, proto): zone_requests(counts, tcp) for zone, counts in zones.items()
                       for tcp, proto in enumerate(PROTOCOLS)})
        yield counter("resolver_ts_responses", "Replies sent, by zone and rcode.", ["zone", "rcode"],
                      {(zone, rcode): n for zone, counts in zones.items()
                       for rcode, n in rcode_counts(zone_replies(counts)).items()})
        names = GaugeMetricFamily("resolver_ts_zone_names", "Names in each zone served.", labels=["zone"])
        for zone, size in figures["config"]["sizes"].items():
            names.add_metric([zone], size)
        yield names
        if "transfers" in figures["counters"]:
            yield counter("resolver_ts_transfers", "Inbound zone transfers, by zone, kind (AXFR or IXFR, as the "
                          "primary answered) and result (ok, failed).", ["zone", "kind", "result"],
                          {tuple(labels.rsplit("|", 2)): n for labels, n in figures["counters"]["transfers"].items()})
        if "provided" in figures["counters"]:
            yield counter("resolver_ts_transfers_out", "Zone transfers out, by zone and kind (axfr, ixfr).",
                          ["zone", "kind"],
                          {tuple(labels.rsplit("|", 1)): n for labels, n in figures["counters"]["provided"].items()})

    @staticmethod
    def summary(figures: dict[str, Any]) -> dict[str, Any]:
        counted, sizes = figures["counters"]["zones"], figures["config"]["sizes"]
        zones = [{"zone": zone, "names": sizes.get(zone), "queries": zone_requests(counts, False) +
                  zone_requests(counts, True), "replies": rcode_counts(zone_replies(counts))}
                 for zone, counts in sorted(counted.items(), key=lambda item: item[0] == "none")]
        zones += [{"zone": zone, "names": size, "queries": 0, "replies": {}}
                  for zone, size in sizes.items() if zone not in counted]
        return {"queries": sum(z["queries"] for z in zones), "silent_miss": figures["config"]["silent_miss"],
                "zones": zones}


# The class that renders the figures of each role.
KINDS: dict[str, type[LsMetrics] | type[TsMetrics]] = {"ls": LsMetrics, "ts": TsMetrics}


def counter(name: str, documentation: str, labels: list[str], values: dict[tuple[str, ...], int]) -> Metric:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for label_values, value in values.items():
        family.add_metric(list(label_values), value)
    return family
