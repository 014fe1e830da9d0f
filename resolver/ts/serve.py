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
import gc
import logging
from typing import AsyncIterator, Iterable, Iterator

from ..net.lifecycle import serve_until_stopped
from ..net.listening import Listener, ListenOptions, listen
from ..obs.metrics import TsMetrics
from ..obs.querylog import QueryLog
from ..obs.web import status_endpoint
from .authority import Authority
from .server import AuthoritativeServer
from .settings import TsSettings
from .zones import ZoneError, load_sources

log = logging.getLogger("resolver.ts")


def load(settings: TsSettings) -> Authority:
    """Every zone file and table of ``settings`` (the tables merged), compiled. Raises
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
        authority = Authority(load_sources(settings.zones, settings.tables))
        gc.freeze()
        return authority


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


async def serve(addresses: Iterable[tuple[str, int]], settings: TsSettings, authority: Authority,
                options: ListenOptions, metrics: tuple[str, int] | None = None) -> None:
    """Answer from ``authority`` on every address until SIGINT or SIGTERM; SIGHUP loads the
    zones of ``settings`` again. ``metrics``: where to serve Prometheus metrics and the status page."""
    query_log = QueryLog.open(settings.query_log) if settings.query_log else None
    server = AuthoritativeServer(authority, settings.silent_miss, query_log)

    def ready() -> None:
        for zone in server.authority.zones.values():
            log.info("serving zone %s (%d names)%s", zone.apex.to_text(), zone.size,
                     ", silent on misses" if settings.silent_miss else "")

    async def hangup() -> None:
        """SIGHUP: load and compile the zones again while the old ones serve, then swap."""
        try:
            fresh = await asyncio.get_running_loop().run_in_executor(None, load, settings)
        except ZoneError as exc:
            log.error("reload failed, still serving the old zones: %s", exc)
            return
        server.authority = fresh
        log.info("reloaded: %s", ", ".join(f"{z.apex.to_text()} ({z.size} names)" for z in fresh.zones.values()))
    try:
        async with status_endpoint(metrics, lambda: TsMetrics(server)):
            await serve_until_stopped(addresses, server.handle, ready, options, hangup)
    finally:
        if query_log is not None:
            query_log.close()
    log.info("stopped")


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
