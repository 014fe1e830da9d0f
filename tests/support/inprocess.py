"""The LS and the TS inside the test's own process: the one place tests build, start and stop them.

Every use of the resolver's in-process API (``Authority``,
``AuthoritativeServer``, ``Race``, ``resolver.ls.serve.started``,
``resolver.ts.serve.started``) is here, so that a change of that API touches this module only:

- :func:`make_ts`: a TS that is not listening, for ``reply(wire)`` calls;
- :func:`balancer_over`: an LS core over stand-in upstreams, for ``handle`` calls;
- :func:`running_ts` and :func:`running_ls`: async context managers that listen on
  127.0.0.1 port 0 and close everything in ``finally``; :func:`running_ls_over_fakes`
  starts fake backends (``support.fakes``) for the LS as well;
- :func:`ask`: one query to a running server; :func:`run`: a test's coroutine, bounded in time.
"""
from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Sequence, TypeVar

import dns.asyncquery
import dns.message

from resolver.ls.balancer import LoadBalancer
from resolver.ls.health import HealthMonitor
from resolver.ls.race import Race
from resolver.ls.serve import started
from resolver.ls.settings import (CacheSettings, GroupSettings, LearnSettings, LsSettings, ProbeSettings,
                                   RetransmitSettings)
from resolver.ts.authority import Authority
from resolver.ts.serve import started as ts_started
from resolver.ts.server import AuthoritativeServer
from resolver.ts.settings import TsSettings
from resolver.ts.zones import ZoneData, load_table, load_zone_file

from support.fakes import FakeBackend, Rule

HOST = "127.0.0.1"
T = TypeVar("T")
# The race's tests ask the backends every time: an LS made here has no answer cache unless a test gives one.
NO_CACHE = CacheSettings(entries=0)


def make_ts(*zones: Path | ZoneData, silent_miss: bool = False) -> AuthoritativeServer:
    """A TS serving ``zones``: master files (``*.zone``), tables (any other file) or loaded ZoneData.

    Raises the resolver's ZoneError for a zone it rejects.
    """
    loaded = [zone if isinstance(zone, ZoneData)
              else load_zone_file(zone) if zone.suffix == ".zone" else load_table(zone)
              for zone in zones]
    return AuthoritativeServer(Authority(loaded), silent_miss=silent_miss)


def balancer_over(upstreams: Sequence[object], timeout: float = LsSettings.timeout,
                  nodata_grace: float = LsSettings.nodata_grace, cache: CacheSettings = NO_CACHE) -> LoadBalancer:
    """An LS (its race at ``balancer.race``) over stand-in upstreams: objects with ``index``, ``name``, ``probe_answered_at``,
    ``stats``, ``send(data)`` and ``send_stream(data)``; no sockets, no probes; ``cache``: its answer cache."""
    backends = list(upstreams)
    health = HealthMonitor(backends)      # never started: every upstream stays up
    settings = LsSettings((), timeout=timeout, nodata_grace=nodata_grace, cache=cache)
    return LoadBalancer(backends, Race(backends, settings, health), health)


@dataclass
class Running:
    """A server listening on loopback: where to ask it, and the object serving."""

    host: str
    port: int
    server: Any             # the LoadBalancer or the AuthoritativeServer

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port


@asynccontextmanager
async def running_ts(*zones: Path, silent_miss: bool = False) -> AsyncIterator[Running]:
    """A TS serving ``zones`` (master files ``*.zone``, tables any other file) on UDP and TCP at
    127.0.0.1, port 0, until the block ends (:func:`resolver.ts.serve.started`)."""
    settings = TsSettings(zones=tuple(z for z in zones if z.suffix == ".zone"),
                          tables=tuple(z for z in zones if z.suffix != ".zone"), silent_miss=silent_miss)
    async with ts_started(settings, HOST, 0) as (ts, listener):
        yield Running(listener.host, listener.port, ts)


@asynccontextmanager
async def running_ls(backends: Sequence[tuple[str, int]], timeout: float = LsSettings.timeout,
                     rcode: int = LsSettings.timeout_rcode, max_inflight: int = LsSettings.max_inflight,
                     probe: ProbeSettings = ProbeSettings(), probes: bool = True,
                     nodata_grace: float = LsSettings.nodata_grace,
                     max_inflight_per_client: int | None = LsSettings.max_inflight_per_client,
                     jostle_timeout: float = LsSettings.jostle_timeout,
                     retransmit: RetransmitSettings = RetransmitSettings(),
                     routes: tuple[tuple[str, tuple[str, ...]], ...] = (), groups: tuple[GroupSettings, ...] = (),
                     learn: LearnSettings = LearnSettings(), cache: CacheSettings = NO_CACHE) -> AsyncIterator[Running]:
    """An LS racing ``backends`` ((host, port) each), listening at 127.0.0.1, port 0, until the block ends.

    ``backends`` may carry a name third. ``timeout``, ``rcode`` (the answer at the timeout),
    ``max_inflight``, ``probe``, ``nodata_grace``, ``max_inflight_per_client``, ``jostle_timeout``,
    ``retransmit``, ``routes``, ``groups``, ``learn`` and ``cache`` (none by default) are the LS's settings; with ``probes`` it starts watching backend health once it
    listens, as the real LS does (:func:`resolver.ls.serve.started`). ``running.server``
    is the LoadBalancer (its race at ``.race``, its upstreams at ``.backends``,
    its health monitor at ``.health``).
    """
    settings = LsSettings(tuple(backends), timeout=timeout, timeout_rcode=rcode, max_inflight=max_inflight,
                          probe=probe, nodata_grace=nodata_grace, max_inflight_per_client=max_inflight_per_client,
                          jostle_timeout=jostle_timeout, retransmit=retransmit, routes=routes, groups=groups,
                          learn=learn, cache=cache)
    async with started(settings, HOST, 0, probes=probes) as (balancer, listener):
        yield Running(listener.host, listener.port, balancer)


@asynccontextmanager
async def running_ls_over_fakes(rules: Sequence[Rule], tcp: bool = True, names: Sequence[str] = (),
                                **settings: Any) -> AsyncIterator[tuple[Running, list[FakeBackend]]]:
    """A fake backend a rule (over UDP, and TCP with ``tcp``) and an LS racing them
    (``settings`` as for :func:`running_ls`), the backends named by ``names`` when given;
    the LS closes first, then the fakes stop."""
    with ExitStack() as stack:
        backends = [stack.enter_context(FakeBackend(rule, tcp=tcp)) for rule in rules]
        addresses = [(*backend.address, name) for backend, name in zip(backends, names)] if names \
            else [backend.address for backend in backends]
        async with running_ls(addresses, **settings) as ls:
            yield ls, backends


async def ask(server: Running, name: str = "host.example", rdtype: str = "A", tcp: bool = False,
              timeout: float = 8.0, source: str | None = None, **make_kw) -> tuple[dns.message.Message, float]:
    """One query (``make_kw`` go to ``make_query``) to a running server, sent from the address
    ``source`` (None: the system's choice, 127.0.0.1 on loopback); the reply and the seconds it took.

    Asserts that the reply carries the query's ID and question.
    """
    query = dns.message.make_query(name, rdtype, **make_kw)
    send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
    started = time.monotonic()
    reply = await send(query, server.host, timeout=timeout, port=server.port, source=source)
    assert reply.id == query.id and reply.question == query.question
    return reply, time.monotonic() - started


def run(coro: Awaitable[T], limit: float = 30.0) -> T:
    """Run a test's coroutine in a fresh event loop, failing it after ``limit`` seconds."""
    return asyncio.run(asyncio.wait_for(coro, limit))
