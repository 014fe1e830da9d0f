"""Counters the servers keep as they answer, read by :mod:`resolver.obs.metrics`.

They are plain integers in ``__slots__`` objects and lists indexed by rcode,
incremented on the hot path at the cost of an attribute access; turning them
into Prometheus metrics and the status page's JSON happens only when someone
asks (a scrape), never per query.
"""
from __future__ import annotations

from bisect import bisect_left

RCODES = 16                     # the 4-bit header rcode
NO_REPLY = RCODES               # a ZoneTally slot: queries that got no reply

# Reply latency buckets in seconds, 100 µs to about 6.5 s by doubling (as CoreDNS's forward plugin).
LATENCY_BOUNDS = tuple(0.0001 * 2 ** i for i in range(17))


def upper_bound(counts: list[int], fraction: float) -> float | None:
    """Seconds within which at least ``fraction`` (0 to 1) of the observations in ``counts`` (per
    bucket of :data:`LATENCY_BOUNDS`, then +Inf) fell, as the upper bound of their bucket (inf past
    the last); None with no observations."""
    needed = fraction * sum(counts)
    if not needed:
        return None
    seen = 0
    for bound, count in zip(LATENCY_BOUNDS, counts):
        seen += count
        if seen >= needed:
            return bound
    return float("inf")


class LatencyHistogram:
    """A Prometheus-style histogram: counts per upper bound (non-cumulative here), and the sum."""

    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BOUNDS) + 1)      # the last slot is +Inf
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(LATENCY_BOUNDS, seconds)] += 1
        self.sum += seconds


def cumulative(counts: list[int]) -> list[tuple[str, int]]:
    """A :class:`LatencyHistogram`'s ``counts`` as the ``(le, count)`` pairs of the Prometheus text format."""
    total, out = 0, []
    for bound, count in zip((*(f"{b:g}" for b in LATENCY_BOUNDS), "+Inf"), counts):
        total += count
        out.append((bound, total))
    return out


class BackendStats:
    """What one backend of the LS was asked and what it did."""

    __slots__ = ("sent", "replies", "wins", "timeouts", "forged", "late", "latency", "retransmissions",
                 "duplicates", "hedges", "failovers", "outstanding", "rotations")

    def __init__(self) -> None:
        self.sent = 0                   # client queries sent to it, retransmissions included (health probes not)
        self.replies = [0] * (RCODES + 1)     # its replies by rcode, late ones included; 16 is BADVERS
        self.wins = 0                   # races its reply won (the first that answers)
        self.timeouts = 0               # races that timed out still waiting for it
        self.forged = 0                 # replies dropped: unknown ID, other question, sections that do not parse,
                                        # on another UDP socket than their query left from (resolver.ls.backends)
        self.late = 0                   # replies to races already over (the losers')
        self.retransmissions = 0        # queries sent to it again: over UDP silent past its RTO (resolver.ls.retransmit),
                                        # over TCP after the connection they were on ended (resolver.ls.backends)
        self.duplicates = 0             # second replies to a query or health probe sent to it again
        self.hedges = 0                 # queries sent to it after the learned owner asked first stayed silent past
                                        # its RTO or said no (resolver.ls.learning)
        self.failovers = 0              # queries sent to it in place of a member of its group that failed
                                        # (resolver.ls.groups)
        self.outstanding = 0            # races awaiting its reply now (least-outstanding counts these)
        self.rotations = 0              # UDP sockets of its pool replaced by one on a new port (resolver.ls.backends)
        self.latency = LatencyHistogram()   # replies within their race, and late ones to a race with a grace


class LsStats:
    """The LS's own counters: what clients sent and what they got."""

    __slots__ = ("queries", "replies", "dropped", "refused", "outcomes", "routing", "hedges")

    def __init__(self) -> None:
        self.queries = [0, 0]           # by transport: [UDP, TCP]
        self.replies = [0] * RCODES
        self.dropped = {"malformed": 0, "draining": 0, "rate-limit": 0, "overflow": 0}
        self.refused = {"acl": 0, "rate-limit": 0}
        # How races ended, as in the query log.
        self.outcomes = {"won": 0, "negative": 0, "timeout": 0, "failed": 0, "all-down": 0, "overflow": 0,
                         "jostled": 0, "followed": 0, "link": 0, "cache": 0, "stale": 0, "joined": 0, "prefetch": 0}
        # jostled: ended early to make room for a new query (resolver.ls.admission); followed: an
        # open CNAME chain the LS follows itself (resolver.ls.chase); link: the race for one of its targets;
        # cache: answered from the answer cache; stale: a stale answer went back (RFC 8767); joined: the
        # query waited on an identical query's race; prefetch: a race that refreshed a cached answer.
        # How each race chose the backends it asked first: a static route (--route), a learned
        # owner of the name or its zone (resolver.ls.learning), or every backend (fan-out).
        self.routing = {"route": 0, "learned": 0, "fanout": 0}
        # Races that asked more backends after the learned owners: they stayed silent past their
        # RTO ("silent"), or said no ("negative").
        self.hedges = {"silent": 0, "negative": 0}


class ZoneTally:
    """A TS's counters for one zone: queries by transport and what each got.

    ``counts[(rcode or NO_REPLY) + SLOTS * transport]``, transport 0 for UDP
    and 1 for TCP: one increment per query says both how it came and how it
    was answered.
    """

    SLOTS = RCODES + 1
    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts = [0] * (2 * self.SLOTS)


def zone_requests(counts: list[int], tcp: bool) -> int:
    """Queries over one transport, from a :class:`ZoneTally`'s ``counts``."""
    start = ZoneTally.SLOTS * tcp
    return sum(counts[start:start + ZoneTally.SLOTS])


def zone_replies(counts: list[int]) -> list[int]:
    """Replies by rcode, both transports, from a :class:`ZoneTally`'s ``counts``."""
    return [counts[rcode] + counts[ZoneTally.SLOTS + rcode] for rcode in range(RCODES)]
