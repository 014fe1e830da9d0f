"""Running the LS: the one place that builds its parts and wires them together.

:func:`build` makes the backends, the health monitor, the race and the
:class:`~resolver.ls.balancer.LoadBalancer` from :class:`LsSettings`, each
given its collaborators when it is made. :func:`serve` runs it as the ``ls``
command does (every address, signals, draining, metrics and the status page);
:func:`started` runs it in an event loop of the caller's, on one loopback
address, for the demo and for tests.
"""
from __future__ import annotations

import contextlib
import logging
from typing import AsyncIterator, Iterable

from ..net.lifecycle import serve_until_stopped
from ..net.listening import Listener, ListenOptions, listen
from ..obs.metrics import LsMetrics
from ..obs.querylog import QueryLog
from ..obs.web import status_endpoint
from ..wire import RCODE_NAMES
from .backends import Backend
from .balancer import LoadBalancer
from .health import HealthMonitor
from .race import Race
from .ratelimit import RateLimiter
from .settings import LsSettings

log = logging.getLogger("resolver.ls")


async def build(settings: LsSettings) -> LoadBalancer:
    """The LS's parts, wired, with a socket open to every backend; probing starts with
    :meth:`LoadBalancer.start_probes`. Raises OSError when a backend's socket cannot be opened."""
    backends = [Backend(index, *backend, timeout=settings.timeout) for index, backend in enumerate(settings.backends)]
    health = HealthMonitor(backends, settings.probe)
    query_log = QueryLog.open(settings.query_log) if settings.query_log is not None else None
    race = Race(backends, settings, health, query_log)
    limiter = RateLimiter(settings.rate_limit) if settings.rate_limit else None
    balancer = LoadBalancer(backends, race, health, settings.acl, limiter, query_log, settings.drain_grace)
    try:
        for backend in backends:
            await backend.connect(race, health)
    except BaseException:
        balancer.close()
        raise
    return balancer


async def serve(addresses: Iterable[tuple[str, int]], settings: LsSettings, options: ListenOptions,
                metrics: tuple[str, int] | None = None) -> None:
    """Race queries across the backends until SIGINT or SIGTERM; ``metrics``: where to serve
    Prometheus metrics and the status page. Raises :class:`~resolver.net.listening.ListenError`."""
    balancer = await build(settings)

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


@contextlib.asynccontextmanager
async def started(settings: LsSettings, host: str = "127.0.0.1", port: int = 0, probes: bool = True
                  ) -> AsyncIterator[tuple[LoadBalancer, Listener]]:
    """An LS listening on ``host:port`` (0: a free port) for the block's length; everything is
    closed when the block ends, however it ends.

    With ``probes`` (as the ``ls`` command) it watches backend health once it
    listens; without, no probe is sent on a schedule and every backend counts
    as up, for a caller that wants the backends to see only the queries it
    asks (a race that times out still brings one probe forward).
    """
    balancer = await build(settings)
    try:
        listener = await listen(host, port, balancer.handle)
        try:
            if probes:
                balancer.start_probes()
            yield balancer, listener
        finally:
            listener.close()
    finally:
        balancer.close()
