"""Running the TS: loading its zones, and the one place that wires the server.

:func:`load` reads and compiles the zones that :class:`TsSettings` names (before
any fork, so that ``--workers`` share them); :func:`serve` runs the server as
the ``ts`` command does (every address, signals, SIGHUP reload, metrics and the
status page); :func:`started` runs it in an event loop of the caller's, on one
loopback address, for the demo and for tests.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
from typing import AsyncIterator, Callable, Iterable, Iterator

import dns.name

from ..net.lifecycle import serve_until_stopped
from ..net.listening import Listener, ListenOptions, listen
from ..obs.metrics import TsMetrics
from ..obs.querylog import QueryLog
from ..obs.web import status_endpoint
from .authority import Authority, UnservedZone
from .provide import Provider
from .secondary import Secondaries, saved_copies
from .server import AuthoritativeServer
from .load_progress import LoadProgress
from .settings import LOAD_PROGRESS_INTERVAL, LOAD_PROGRESS_RECORDS, TsSettings
from .zones import ZoneData, ZoneError, load_sources

log = logging.getLogger("resolver.ts")
# How a long load of a zone file or of the tables logs its progress.
LOAD_PROGRESS = functools.partial(LoadProgress, interval=LOAD_PROGRESS_INTERVAL, every=LOAD_PROGRESS_RECORDS)


def load(settings: TsSettings, transferred: ZoneData | None = None,
         publish: Callable[[ZoneData], None] | None = None) -> Authority:
    """Every zone file and table of ``settings`` (the tables merged) and the saved copy of each
    secondary zone in ``settings.zone_dir`` (:func:`~resolver.ts.secondary.saved_copies`;
    a zone without one answers SERVFAIL), compiled. ``transferred``: a secondary zone's new
    copy, served in place of its saved one. ``publish`` is given each zone before it is compiled
    (:meth:`Provider.publish`, which keeps its records for transfers out). Raises
    :class:`ZoneError` with one line.

    Python's cyclic garbage collector is paused meanwhile: a zone is millions of
    new objects without cycles, and the collector's passes over them as they pile
    up cost a third of the load of a zone of a million records of mixed types.
    Loaded, they are frozen (``gc.freeze``): they live as long as the server, and
    the collector's first pass over them would hold up the first answer (a quarter
    of a second for 100,000 records of mixed types) and every full pass after it
    (freed when dropped, on reload, as ever: by their reference counts).
    """
    with collector_paused():
        secondaries = [zone for zone in settings.secondaries
                       if transferred is None or zone.name != transferred.origin]
        copies, unserved = saved_copies(settings.zone_dir, secondaries)
        files = load_sources(settings.zones, settings.tables, LOAD_PROGRESS, settings.table_ptr)
        twice = {zone.origin for zone in files} & {zone.name for zone in settings.secondaries}
        if twice:
            raise ZoneError(f"{min(twice).to_text()} is both a zone file and a --secondary zone")
        zones = [*files, *copies, *([transferred] if transferred else [])]
        for zone in zones if publish is not None else ():
            publish(zone)
        authority = Authority(zones, unserved, settings.round_robin)
        gc.freeze()
        return authority


def frozen(build: Callable[[Authority], Authority], authority: Authority) -> Authority:
    """``build(authority)`` compiled as :func:`load` compiles: the collector paused, the result frozen."""
    with collector_paused():
        fresh = build(authority)
        gc.freeze()
        return fresh


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off inside the block, and back on after it if it was on
    (reference counting still frees what is dropped)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def provider_for(settings: TsSettings, workers: int = 1) -> Provider | None:
    """The :class:`Provider` that transfers zones out and sends NOTIFY, when ``settings`` asks for
    either (``--allow-transfer``, ``--notify``); None otherwise, so a TS without them keeps no
    copy of its records. ``workers``: the processes that will share it (one sends NOTIFY)."""
    if not settings.allow_transfer and not settings.notify:
        return None
    return Provider(settings, shared=workers > 1)


async def serve(addresses: Iterable[tuple[str, int]], settings: TsSettings, authority: Authority,
                options: ListenOptions, metrics: tuple[str, int] | None = None,
                provider: Provider | None = None) -> None:
    """Answer from ``authority`` on every address until SIGINT or SIGTERM; SIGHUP loads the
    zones of ``settings`` again. ``metrics``: where to serve Prometheus metrics and the status page.
    ``provider``: zone transfers out and NOTIFY (:func:`provider_for`), given every zone loaded anew."""
    query_log = QueryLog.open(settings.query_log) if settings.query_log else None
    server = AuthoritativeServer(authority, settings.silent_miss, query_log, transfers=provider)
    if provider is not None:
        provider.answer_with(server.reply)
    swapping = asyncio.Lock()       # one new Authority at a time: SIGHUP's, or a secondary zone's
    secondaries = secondaries_for(server, settings, swapping, provider)
    reloading = secondaries.settings if secondaries is not None else settings
    publish = provider.publish if provider is not None else None

    def ready() -> None:
        for zone in server.authority.zones.values():
            if isinstance(zone, UnservedZone):
                log.info("zone %s: no copy yet, SERVFAIL until a primary transfers it", zone.apex.to_text())
                continue
            log.info("serving zone %s (%d names)%s", zone.apex.to_text(), zone.size,
                     ", silent on misses" if settings.silent_miss else "")
        if secondaries is not None:
            secondaries.start(server.authority)
        if provider is not None:
            provider.start()

    def reopen_log() -> None:
        """SIGHUP: the query log opened anew, so a file logrotate moved away is followed by a new
        one (as the LS does); one that cannot be opened leaves the old one written, with one line."""
        try:
            fresh = QueryLog.open(settings.query_log)     # type: ignore[arg-type]
        except OSError as exc:
            log.error("query log not reopened, still writing to the old one: %s", exc.strerror)
            return
        old, server.query_log = server.query_log, fresh
        old.close()     # type: ignore[union-attr]

    async def hangup() -> None:
        """SIGHUP: the query log reopened; the zones loaded and compiled again while the old ones
        serve, then swapped in."""
        if settings.query_log:
            reopen_log()
        async with swapping:
            try:
                fresh = await asyncio.get_running_loop().run_in_executor(None, load, reloading, None, publish)
            except ZoneError as exc:
                log.error("reload failed, still serving the old zones: %s", exc)
                return
            server.authority = fresh
            if provider is not None:
                provider.announce()
        log.info("reloaded: %s", ", ".join(f"{z.apex.to_text()} ({z.size} names)" for z in fresh.zones.values()))
    try:
        async with status_endpoint(metrics, lambda: TsMetrics(server, secondaries.transfers if secondaries else None,
                                                              provider.counts if provider else None)):
            await serve_until_stopped(addresses, server.handle, ready, options, hangup)
    finally:
        if secondaries is not None:
            await secondaries.close()
        if provider is not None:
            await provider.close()
        if server.query_log is not None:
            server.query_log.close()
    log.info("stopped")


def secondaries_for(server: AuthoritativeServer, settings: TsSettings, swapping: asyncio.Lock,
                    provider: Provider | None = None) -> Secondaries | None:
    """The secondary zones of ``settings`` (None without any), answering the server's NOTIFY
    messages; each new copy, and each expiry, swaps in a new ``server.authority`` (under
    ``swapping``), compiled off the event loop: only that zone is compiled, unless it nests
    with another zone served here, when every zone is loaded again. ``provider`` is given each
    new copy before it is compiled, and told of each expiry (transfers out of secondary zones)."""
    publish = provider.publish if provider is not None else None

    async def swap(apex: dns.name.Name, rebuild: Callable[[], Authority],
                   swapped: Callable[[Authority], Authority]) -> None:
        async with swapping:
            current = server.authority
            build = rebuild if current.nests(apex) else functools.partial(frozen, swapped, current)
            server.authority = await asyncio.get_running_loop().run_in_executor(None, build)
            if provider is not None:
                provider.announce()

    def replacing(current: Authority, data: ZoneData) -> Authority:
        if publish is not None:
            publish(data)
        return current.replacing(data)

    async def install(data: ZoneData) -> None:
        await swap(data.origin, functools.partial(load, secondaries.settings, data, publish),
                   functools.partial(replacing, data=data))

    async def withdraw(apex: dns.name.Name) -> None:
        if provider is not None:
            provider.withdraw(apex)
        await swap(apex, functools.partial(load, secondaries.settings, None, publish),
                   functools.partial(Authority.without, apex=apex))

    if not settings.secondaries:
        return None
    secondaries = Secondaries(settings, install, withdraw)
    server.notifies = secondaries
    return secondaries


@contextlib.asynccontextmanager
async def started(settings: TsSettings, host: str = "127.0.0.1", port: int = 0
                  ) -> AsyncIterator[tuple[AuthoritativeServer, Listener]]:
    """A TS serving the zones of ``settings`` on ``host:port`` (0: a free port) for the block's
    length; its socket and query log are closed when the block ends, however it ends."""
    query_log = QueryLog.open(settings.query_log) if settings.query_log else None
    server = AuthoritativeServer(load(settings), settings.silent_miss, query_log)
    try:
        listener = await listen(host, port, server.handle)
        try:
            yield server, listener
        finally:
            listener.close()
    finally:
        if query_log is not None:
            query_log.close()
