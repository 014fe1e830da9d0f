"""What the LS is told: every default of the LS lives here, once.

The command line (:mod:`resolver.cli`) and ``--config`` files build an
:class:`LsSettings`; the flags' help strings print these defaults, and each part
of the LS takes the settings it needs from it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..wire import NXDOMAIN
from .acl import DEFAULT_ALLOW, AccessList, parse_networks

CLIENT_SHARE = 0.25     # the share of --max-inflight one client address may hold, unless told otherwise

Address = tuple[str, int]
BackendAddress = tuple[str, int] | tuple[str, int, str]    # (host, port) or (host, port, name)


@dataclass(frozen=True)
class ProbeSettings:
    """The health probe (:mod:`resolver.ls.health`).

    ``name``: the name asked, type SOA; ``interval``: seconds between probes;
    ``down_after``: probes in a row left unanswered that mark a backend down;
    ``names``: the name asked of one backend instead, by the backend's name (its
    address when it has none), for backends that serve different zones and answer
    only for their own names (``--silent-miss``).
    """

    name: str = "."
    interval: float = 1.0
    down_after: int = 2
    names: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RetransmitSettings:
    """Retransmission of UDP queries to a backend that has not replied (:mod:`resolver.ls.retransmit`).

    ``retries``: copies of one query sent again to one backend at most (0: none,
    each backend asked once); ``floor`` and ``ceiling``: the bounds of a
    backend's retransmission timeout (RTO), in seconds, which is learned from its
    reply times (:class:`resolver.ls.rtt.RttEstimator`, RFC 6298).
    """

    retries: int = 6
    floor: float = 0.01
    ceiling: float = 2.0


POLICIES = ("round-robin", "random", "least-outstanding", "first-available")


@dataclass(frozen=True)
class GroupSettings:
    """A replica group (:mod:`resolver.ls.groups`): backends that hold the same data.

    ``name``: what routes, logs and metrics call it; ``members``: its backends, by
    name (their ADDR:PORT when they have none), in order (``first-available``
    asks them in this order); ``policy``: one of :data:`POLICIES`, how the one
    member a race asks is picked, as dnsdist's load-balancing policies pick a
    server; ``weights``: ``(member, weight)`` pairs for ``random`` (a member not
    named weighs 1).
    """

    name: str
    members: tuple[str, ...]
    policy: str = "round-robin"
    weights: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class LearnSettings:
    """Learned routing (:mod:`resolver.ls.learning`): who answers what, asked first.

    ``enabled``: off gives the plain fan-out (every query to every backend
    its route allows); ``size``: entries kept at most (names and zones
    together, least recently used dropped first); ``max_ttl``: seconds an
    entry is kept at most, whatever the TTL of the answer it was learned
    from (Unbound's ``cache-max-ttl`` is a day).
    """

    enabled: bool = True
    size: int = 100_000
    max_ttl: int = 86_400


@dataclass(frozen=True)
class CacheSettings:
    """The answer cache (:mod:`resolver.ls.cache`): the race's results, kept by TTL.

    ``entries``: answers kept at most (0: no cache); ``max_bytes``: the octets
    they may take at most, as counted by :func:`resolver.ls.cache.entry_size`
    (None: no bound but ``entries``); least recently used go first. ``min_ttl``
    and ``max_ttl``: the bounds every record's TTL is clamped to when stored, in
    seconds (Unbound's ``cache-min-ttl`` 0 and ``cache-max-ttl`` a day);
    ``negative_ttl_max``: seconds an NXDOMAIN or NODATA is kept at most, whatever
    its SOA says (RFC 2308 5; Unbound's ``cache-max-negative-ttl``, an hour);
    ``servfail_ttl``: seconds a SERVFAIL from every backend is kept (RFC 2308 7.1
    allows five minutes; BIND's ``servfail-ttl`` is 1 s and at most 30);
    ``serve_stale``: seconds past expiry an answer may still go back when every
    backend fails (RFC 8767; 0: never); ``stale_answer_timeout``: seconds a client
    whose answer has gone stale waits for the race before it gets the stale
    answer (RFC 8767 5's client-response timer, 1.8 s there); ``prefetch``:
    refresh an answer asked for in the last tenth of its TTL (Unbound's ``prefetch``).
    """

    entries: int = 100_000
    max_bytes: int | None = None
    min_ttl: int = 0
    max_ttl: int = 86_400
    negative_ttl_max: int = 3_600
    servfail_ttl: int = 1
    serve_stale: int = 0
    stale_answer_timeout: float = 1.8
    prefetch: bool = True


@dataclass(frozen=True)
class LsSettings:
    """Everything the LS is told, apart from where it listens.

    ``timeout``: seconds a race waits for a positive answer; ``timeout_rcode``:
    what the client gets then (NXDOMAIN, or SERVFAIL); ``max_inflight``: races
    waiting at once (capped by :data:`resolver.ls.race.MAX_INFLIGHT_LIMIT`);
    ``drop_overflow``: past it, UDP queries get no reply instead of SERVFAIL;
    ``max_inflight_per_client``: races one client address may hold at once
    (``None``: :data:`CLIENT_SHARE` of ``max_inflight``, :attr:`inflight_per_client`);
    ``jostle_timeout``: seconds a race must have waited before a query that finds
    no room ends it early to take its place, as Unbound's ``jostle-timeout``
    (:mod:`resolver.ls.admission`, which explains the 0.2 s);
    ``retransmit``: how UDP queries are sent again to a backend silent past its
    retransmission timeout (:class:`RetransmitSettings`);
    ``nodata_grace``: how long a "no" that says the name exists (NODATA,
    an open CNAME chain) waits for backends still silent whose reply times
    are not known yet, in seconds; once they are, the race waits twice their
    99th percentile (:meth:`resolver.ls.race.Race.grace`);
    ``routes``: ``(domain, targets)`` pairs, the domain absolute in text form
    (``.`` for the default route), the targets backend or group names
    (:mod:`resolver.ls.routes`); ``groups``: replica groups
    (:class:`GroupSettings`); ``learn``: learned routing (:class:`LearnSettings`);
    ``cache``: the answer cache (:class:`CacheSettings`);
    ``source_ports``: UDP sockets per backend, each connected from a random
    port; a query leaves on the one its ID is dealt to, and its reply counts
    only there (RFC 5452 9.1 and 9.2; :mod:`resolver.ls.backends`, which
    replaces one of them every second). A forger who does not know the ports
    must guess one of the kernel's ephemeral ports (some 28,000 on Linux) as
    well as the ID, whatever their number; against one who has found the
    open ports, N sockets add log2(N) bits to the ID's 16: 32 add 5, for 32
    file descriptors per backend, and one more per second of ``timeout`` for
    those replaced and still open (a 1,024-file limit leaves room for some 25
    backends). Unbound gives each query a socket of its own (``outgoing-range``
    of them open at once); dnsdist opens ``sockets`` per backend, 1 unless
    told. 1: a single socket;
    ``acl``: the clients served (by default loopback and the private ranges,
    :data:`resolver.ls.acl.DEFAULT_ALLOW`; ``None``: all); ``rate_limit``: queries per
    second per client address (``None``: no limit); ``query_log``: ``-`` for
    stderr or a file (``None``: off).
    """

    backends: tuple[BackendAddress, ...]
    timeout: float = 5.0
    timeout_rcode: int = NXDOMAIN
    max_inflight: int = 20000
    drop_overflow: bool = False
    max_inflight_per_client: int | None = None
    jostle_timeout: float = 0.2
    nodata_grace: float = 0.2
    probe: ProbeSettings = ProbeSettings()
    retransmit: RetransmitSettings = RetransmitSettings()
    routes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    groups: tuple[GroupSettings, ...] = ()
    learn: LearnSettings = LearnSettings()
    cache: CacheSettings = CacheSettings()
    source_ports: int = 32
    acl: AccessList | None = field(default_factory=lambda: AccessList(parse_networks(DEFAULT_ALLOW)))
    rate_limit: float | None = None
    query_log: str | None = None
    drain_grace: float = 0.5        # seconds the races in flight get after SIGTERM

    @property
    def inflight_per_client(self) -> int:
        """Races one client address may hold at once: ``max_inflight_per_client``, or by default
        :data:`CLIENT_SHARE` of ``max_inflight``, at least 1."""
        if self.max_inflight_per_client is not None:
            return self.max_inflight_per_client
        return max(1, int(self.max_inflight * CLIENT_SHARE))
