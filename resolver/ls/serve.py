"""Running the LS: the one place that builds its parts and wires them together.

:func:`build` makes the backends, the health monitor, the race and the
:class:`~resolver.ls.balancer.LoadBalancer` from :class:`LsSettings`, each
given its collaborators when it is made. :func:`serve` runs it as the ``ls``
command does (every address, signals, SIGHUP reload, draining, metrics and the
status page); :func:`started` runs it in an event loop of the caller's, on one
loopback address, for the demo and for tests.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import AsyncIterator, Callable, Iterable, Sequence

from ..net.lifecycle import serve_until_stopped
from ..net.listening import Listener, ListenOptions, Sink, listen
from ..obs.metrics import LsMetrics
from ..obs.querylog import QueryLog
from ..obs.stats import LsStats
from ..obs.web import status_endpoint
from ..wire import RCODE_NAMES
from .backends import Backend
from .balancer import LoadBalancer
from .health import HealthMonitor
from .race import Race
from .ratelimit import RateLimiter
from .settings import LsSettings

log = logging.getLogger("resolver.ls")


class ReloadError(Exception):
    """A config that cannot be read or fails its checks on SIGHUP; the message is one line."""


# On SIGHUP: the settings the command line and config file give now, and the flags among them that
# changed and that a reload does not apply (such as --listen). Raises ReloadError.
Reread = Callable[[], tuple[LsSettings, Sequence[str]]]


async def build(settings: LsSettings, previous: LoadBalancer | None = None) -> LoadBalancer:
    """The LS's parts, wired, with a socket open to every backend; probing starts with
    :meth:`LoadBalancer.start_probes`. Raises OSError when a backend's socket (or the query
    log) cannot be opened, ValueError for settings the race refuses.

    With ``previous``, the balancer a reload replaces, the counters go on where
    it left them, so ``/metrics`` stays monotonic: the LS's own, and each
    backend's by its name (a backend no longer named drops its counters, a new
    one starts at zero). Both balancers count into them while the old one's
    races run out. A backend of the same name and address keeps its health too
    (:meth:`HealthMonitor.inherit`). Sockets, reply times, retransmission
    timeouts, learned owners (:mod:`resolver.ls.learning`) and the answer cache
    start afresh, as at start (the cache's counters go on): new backends or
    routes may answer differently, as ``unbound-control reload`` drops its cache.
    """
    earlier = {backend.name: backend for backend in previous.backends} if previous is not None else {}
    backends = [Backend(index, *backend, timeout=settings.timeout, source_ports=settings.source_ports)
                for index, backend in enumerate(settings.backends)]
    for backend in backends:
        if backend.name in earlier:
            backend.stats = earlier[backend.name].stats
    query_log = QueryLog.open(settings.query_log) if settings.query_log is not None else None
    try:
        health = HealthMonitor(backends, settings.probe)
        race = Race(backends, settings, health, query_log, previous.stats if previous is not None else None)
        if previous is not None and previous.race.cache is not None and race.cache is not None:
            race.cache.stats = previous.race.cache.stats
    except BaseException:
        if query_log is not None:
            query_log.close()
        raise
    limiter = RateLimiter(settings.rate_limit) if settings.rate_limit else None
    balancer = LoadBalancer(backends, race, health, settings.acl, limiter, query_log, settings.drain_grace)
    try:
        for backend in backends:
            await backend.connect(race, health)
    except BaseException:
        balancer.close()
        raise
    for backend in backends:
        same = earlier.get(backend.name)
        if same is not None and same.address == backend.address:
            health.inherit(backend, same)
    return balancer


class Reloading:
    """The LS across reloads: the balancer of the moment, and those a reload replaced whose
    races still run.

    The listeners call :meth:`handle`, which hands each query to the current
    balancer, so a reload is one assignment: a query that arrived before it
    is raced, retransmitted and answered under the old config (a CNAME chain
    it follows too), every later one under the new. The old balancer is
    retired (:meth:`LoadBalancer.retire`): closed once its races are over, at
    most its timeout later. The metrics read this object (:class:`~resolver.obs.metrics.LsSource`),
    so they follow the swap. Where the LS listens is not reloaded, as NSD does
    not rebind on reload: the sockets stay and only what answers on them changes.
    """

    def __init__(self, balancer: LoadBalancer) -> None:
        self.balancer = balancer
        self.retiring: dict[LoadBalancer, asyncio.Task] = {}

    @property
    def stats(self) -> LsStats:
        """The LS's counters, carried from one balancer to the next (:func:`build`)."""
        return self.balancer.stats

    @property
    def inflight(self) -> int:
        """Races waiting for backends now, under the current config and the ones replaced."""
        return self.balancer.inflight + sum(old.inflight for old in self.retiring)

    @property
    def backends(self) -> list[Backend]:
        """The current config's backends."""
        return self.balancer.backends

    @property
    def race(self) -> Race:
        """The current config's race: its routes, groups, learned owners and plans (/plan)."""
        return self.balancer.race

    def handle(self, data: bytes, sink: Sink, addr: object) -> None:
        """One client query, for the current balancer (:meth:`LoadBalancer.handle`)."""
        self.balancer.handle(data, sink, addr)

    async def reload(self, settings: LsSettings) -> int:
        """Build a balancer for ``settings`` with the counters carried over, swap it in, start its
        probes and retire the old one; returns the races the old one still runs. Raises what
        :func:`build` raises, and then nothing changed."""
        fresh = await build(settings, self.balancer)
        old, self.balancer = self.balancer, fresh
        fresh.start_probes()
        self.retiring[old] = asyncio.get_running_loop().create_task(self._retire(old))
        return old.inflight

    async def _retire(self, old: LoadBalancer) -> None:
        await old.retire()
        del self.retiring[old]      # left in place when cancelled: close() closes it

    async def drain(self) -> None:
        """Stopping: every balancer's races get the drain grace (:meth:`LoadBalancer.drain`)."""
        for task in self.retiring.values():
            task.cancel()
        left = sum(await asyncio.gather(*(balancer.drain() for balancer in (self.balancer, *self.retiring))))
        if left:
            log.info("stopping: %d queries still waiting get the timeout answer", left)

    def close(self) -> None:
        for old, task in self.retiring.items():
            task.cancel()
            old.close()
        self.retiring.clear()
        self.balancer.close()


def described(settings: LsSettings, balancer: LoadBalancer) -> str:
    """What the LS races, for its start and reload lines: ``ts1, ts2 (timeout 5 s, then NXDOMAIN)``,
    with the routes and groups when it has any."""
    extra = "".join(f", {count} {what}{'s' if count != 1 else ''}"
                    for count, what in ((len(settings.routes), "route"), (len(settings.groups), "group")) if count)
    return (f"{', '.join(str(b) for b in balancer.backends)} (timeout {settings.timeout:g} s, "
            f"then {RCODE_NAMES[settings.timeout_rcode]}{extra})")


def reason(exc: Exception) -> str:
    """An error as one line: an OSError by its file (when it has one) and its text, not its errno."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc)


async def serve(addresses: Iterable[tuple[str, int]], settings: LsSettings, options: ListenOptions,
                metrics: tuple[str, int] | None = None, reread: Reread | None = None) -> None:
    """Race queries across the backends until SIGINT or SIGTERM; ``metrics``: where to serve
    Prometheus metrics and the status page. Raises :class:`~resolver.net.listening.ListenError`.

    SIGHUP takes the settings ``reread`` gives (the command line and its
    config file read again, :class:`Reloading`), with one info line; a
    config that cannot be read, fails its checks or cannot be built (a
    backend's socket) leaves the old one serving, with one error line.
    Without ``reread``, SIGHUP is logged and ignored.
    """
    ls = Reloading(await build(settings))

    def ready() -> None:
        ls.balancer.start_probes()
        log.info("racing %s", described(settings, ls.balancer))

    async def hangup() -> None:
        assert reread is not None
        try:
            fresh, fixed = reread()
            running = await ls.reload(fresh)
        except (ReloadError, OSError, ValueError) as exc:
            log.error("reload failed, still serving the old config: %s", reason(exc))
            return
        log.info("reloaded: racing %s%s%s", described(fresh, ls.balancer),
                 f"; races in flight finishing under the old config: {running}" if running else "",
                 f"; {', '.join(fixed)} changed but not reloaded (restart to apply)" if fixed else "")
    try:
        async with status_endpoint(metrics, lambda: LsMetrics(ls)):
            await serve_until_stopped(addresses, ls.handle, ready, options, hangup if reread else None,
                                      drain=ls.drain)
    finally:
        ls.close()
    log.info("stopped")


@contextlib.asynccontextmanager
async def started(settings: LsSettings, host: str = "127.0.0.1", port: int = 0, probes: bool = True
                  ) -> AsyncIterator[tuple[LoadBalancer, Listener]]:
    """An LS listening on ``host:port`` (0: a free port) for the block's length; everything is
    closed when the block ends, however it ends.

    With ``probes`` (as the ``ls`` command) it watches backend health once it
    listens; without, no probe is sent on a schedule and every backend counts
    as up (asked, though its state, which no probe round judges, stays
    starting), for a caller that wants the backends to see only the queries it
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
