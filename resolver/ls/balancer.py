"""The LS: a DNS server that races every query across all backends."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Iterable

from .acl import AccessList
from .backends import Backend
from .health import HealthMonitor
from ..obs.metrics import LsMetrics
from ..obs.querylog import QueryLog
from .race import Race
from .ratelimit import RateLimiter
from ..net.lifecycle import serve_until_stopped
from ..net.listening import ListenOptions, Sink
from ..obs.web import status_endpoint
from ..wire import EDE_PROHIBITED, NXDOMAIN, RCODE_NAMES, REFUSED, error_reply, scan_query, transfer_refusal

log = logging.getLogger("resolver.ls")
DRAIN_GRACE = 0.5    # seconds the races in flight get after SIGTERM


@dataclass(frozen=True)
class ProbeSettings:
    """The health probe: the name asked (type SOA), how often, and after how many misses a backend is down."""

    name: str = "."
    interval: float = 1.0
    down_after: int = 2


@dataclass(frozen=True)
class LsSettings:
    """Everything the LS is told, apart from where it listens."""

    backends: tuple[tuple[str, int] | tuple[str, int, str], ...]     # (host, port) or (host, port, name)
    timeout: float = 5.0
    timeout_rcode: int = NXDOMAIN
    max_inflight: int = 20000
    drop_overflow: bool = False         # past max_inflight: no reply instead of SERVFAIL (UDP)
    probe: ProbeSettings = ProbeSettings()
    acl: AccessList | None = None       # None: every client is served
    rate_limit: float | None = None     # queries per second per client address
    query_log: str | None = None        # "-" for stderr, or a file; None: no query log


class LoadBalancer:
    """Turns client queries into races; answers malformed queries, transfers and
    clients outside the allow-list (REFUSED) itself."""

    def __init__(self, backends: list[Backend], race: Race, acl: AccessList | None = None,
                 limiter: RateLimiter | None = None) -> None:
        self.backends = backends
        self.race = race
        self.acl = acl
        self.limiter = limiter
        self.draining = False

    @classmethod
    async def connect(cls, settings: LsSettings) -> "LoadBalancer":
        """Open a socket to every backend; probing starts with :meth:`start_probes`."""
        backends = [Backend(index, *backend) for index, backend in enumerate(settings.backends)]
        race = Race(backends, settings.timeout, settings.timeout_rcode, settings.max_inflight, settings.drop_overflow)
        probe = settings.probe
        health = race.health = HealthMonitor(backends, race.set_backend_up, probe.name, probe.interval,
                                             probe.down_after)
        for backend in backends:
            backend.on_unreachable = health.unreachable
            await backend.connect(race.on_reply, race.on_lost)
        limiter = RateLimiter(settings.rate_limit) if settings.rate_limit else None
        if settings.query_log is not None:
            race.query_log = QueryLog.open(settings.query_log)
        return cls(backends, race, settings.acl, limiter)

    def start_probes(self) -> None:
        """Start watching backend health; done once the LS listens, so that a failed
        start reports only its own error."""
        if self.race.health is not None:
            self.race.health.start()

    def handle(self, data: bytes, sink: Sink, addr: object) -> None:
        stats = self.race.stats
        stats.queries[sink.stream] += 1
        if self.draining:
            stats.dropped["draining"] += 1
            return
        q = scan_query(data)
        if q is None:
            stats.dropped["malformed"] += 1
            return
        if self.acl is not None and not self.acl.allows(addr[0]):     # type: ignore[index]
            stats.refused["acl"] += 1
            self.race.reply(sink, error_reply(data, q, REFUSED, ede=EDE_PROHIBITED), addr)
            return
        if self.limiter is not None and not self.limiter.allows(addr[0]):     # type: ignore[index]
            if sink.stream:         # a TCP client proved its address; it gets an answer
                stats.refused["rate-limit"] += 1
                self.race.reply(sink, error_reply(data, q, REFUSED, ede=EDE_PROHIBITED), addr)
            else:
                stats.dropped["rate-limit"] += 1
            return
        rcode, ede = (q.error, None) if q.error else transfer_refusal(q, sink.stream)
        if rcode or not q.question:     # nothing to ask the backends
            self.race.reply(sink, error_reply(data, q, rcode, ede=ede), addr)
            return
        self.race.submit(data, q, sink, addr)

    async def drain(self, grace: float = DRAIN_GRACE) -> None:
        """Stop taking queries, give the races in flight ``grace`` seconds, answer the rest.

        The spec wants every server gone within a second of SIGTERM, so the
        grace is short; queries still waiting then get the timeout answer
        rather than no answer at all.
        """
        self.draining = True
        deadline = asyncio.get_running_loop().time() + grace
        while self.race.pending and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        if self.race.pending:
            log.info("stopping: %d queries still waiting get the timeout answer", len(self.race.pending))
        self.race.answer_all()

    def close(self) -> None:
        if self.race.health is not None:
            self.race.health.close()
        self.race.close()
        if self.race.query_log is not None:
            self.race.query_log.close()
        for backend in self.backends:
            backend.close()


async def serve(addresses: Iterable[tuple[str, int]], settings: LsSettings, options: ListenOptions,
                metrics: tuple[str, int] | None = None) -> None:
    """Race queries across the backends until SIGINT or SIGTERM; ``metrics``: where to serve
    Prometheus metrics and the status page."""
    balancer = await LoadBalancer.connect(settings)

    def ready() -> None:
        balancer.start_probes()
        log.info("racing %s (timeout %g s, then %s)", ", ".join(str(b) for b in balancer.backends),
                 settings.timeout, RCODE_NAMES[settings.timeout_rcode])
    try:
        async with status_endpoint(metrics, lambda: LsMetrics(balancer)):
            await serve_until_stopped(addresses, balancer.handle, ready, options, drain=balancer.drain)
    finally:
        balancer.close()
    log.info("stopped")
