"""The ``--metrics`` HTTP endpoint: Prometheus on ``/metrics``, a status page on ``/``.

It runs in the server's own event loop, so it reads the counters between
queries, with no thread and no lock. It speaks just enough HTTP/1.1 for
Prometheus, curl and browsers: ``GET`` and ``HEAD`` of four paths, one
request per connection, headers bounded in size and time.

* ``/metrics``: the Prometheus text format (:mod:`resolver.obs.metrics`);
* ``/status.json``: totals as JSON, which the page polls every second;
* ``/``: a self-contained HTML page (``status.html``: no external scripts,
  styles or fonts) showing each backend's health, queries per second, win
  share and latency, hedges and failovers, the routes, groups and learned
  routing on the LS, and each zone's queries on the TS;
* ``/plan?name=NAME`` (LS only): how the LS would choose the backends for
  NAME now, as JSON (:meth:`resolver.obs.metrics.LsMetrics.plan`), which
  ``client --explain --status`` shows. Reading it sends no query and learns nothing.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from importlib import resources
from typing import AsyncIterator, Callable
from urllib.parse import parse_qs

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..net.addresses import format_hostport
from .metrics import ServerMetrics

log = logging.getLogger("resolver.web")

MAX_HEADER = 8192
READ_TIMEOUT = 5.0
MAX_CONNECTIONS = 64
STATUS_PAGE = resources.files(__package__).joinpath("status.html").read_bytes()


class StatusServer:
    """Serves one server's metrics and status page over HTTP."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self.metrics = metrics
        self.server: asyncio.AbstractServer | None = None
        self.connections = 0

    async def start(self, host: str, port: int) -> str:
        """Listen; returns the base URL (with the port chosen when ``port`` is 0)."""
        self.server = await asyncio.start_server(self._serve, host, port, limit=MAX_HEADER)
        bound = self.server.sockets[0].getsockname()
        return f"http://{format_hostport(bound[0], bound[1])}/"

    def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            if self.connections > MAX_CONNECTIONS:
                await self._send(writer, 503, "text/plain", b"busy\n")
                return
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                await self._send(writer, 400, "text/plain", b"bad request\n")
                return
            await self._respond(writer, head)
        except ConnectionError:
            pass
        finally:
            self.connections -= 1
            writer.close()

    async def _respond(self, writer: asyncio.StreamWriter, head: bytes) -> None:
        parts = head.split(b"\r\n", 1)[0].split()
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            await self._send(writer, 400, "text/plain", b"bad request\n")
            return
        method, (target, _, query) = parts[0], parts[1].partition(b"?")
        if method not in (b"GET", b"HEAD"):
            await self._send(writer, 405, "text/plain", b"only GET and HEAD\n", allow=True)
            return
        if target == b"/metrics":
            body, kind = generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST
        elif target == b"/status.json":
            body, kind = json.dumps(self.metrics.status()).encode(), "application/json"
        elif target in (b"/", b"/index.html"):
            body, kind = STATUS_PAGE, "text/html; charset=utf-8"
        elif target == b"/plan":
            await self._plan(writer, query, method == b"HEAD")
            return
        else:
            await self._send(writer, 404, "text/plain", b"not found: try /, /metrics or /status.json\n")
            return
        await self._send(writer, 200, kind, body, head_only=method == b"HEAD")

    async def _plan(self, writer: asyncio.StreamWriter, query: bytes, head_only: bool) -> None:
        """``/plan?name=NAME``: the LS's plan for NAME as JSON; 400 without a name or for one that is
        not a DNS name, 404 on a server that routes nothing (the TS). The query string is UTF-8,
        raw or percent-encoded (RFC 3986 2.5), so an internationalized name reads as its letters."""
        try:
            names = parse_qs(query.decode(), errors="strict").get("name")
        except UnicodeDecodeError:
            await self._send(writer, 400, "text/plain", b"not a DNS name: the query string is not UTF-8\n")
            return
        if not names:
            await self._send(writer, 400, "text/plain", b"give a name: /plan?name=NAME\n")
            return
        try:
            plan = self.metrics.plan(names[0])
        except ValueError as exc:
            await self._send(writer, 400, "text/plain", f"{exc}\n".encode())
            return
        if plan is None:
            await self._send(writer, 404, "text/plain", b"no plan: only the LS routes queries\n")
            return
        await self._send(writer, 200, "application/json", json.dumps(plan).encode(), head_only=head_only)

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, status: int, kind: str, body: bytes,
                    head_only: bool = False, allow: bool = False) -> None:
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                  503: "Service Unavailable"}[status]
        headers = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
                   f"Cache-Control: no-store\r\nConnection: close\r\n"
                   + ("Allow: GET, HEAD\r\n" if allow else "") + "\r\n")
        writer.write(headers.encode() + (b"" if head_only else body))
        await writer.drain()


@contextlib.asynccontextmanager
async def status_endpoint(address: tuple[str, int] | None,
                          metrics: Callable[[], ServerMetrics]) -> AsyncIterator[None]:
    """Serve ``/metrics`` and the status page at ``address`` (if any) for the block's length."""
    if address is None:
        yield
        return
    server = StatusServer(metrics())
    url = await server.start(*address)
    log.info("metrics on %smetrics, status page on %s", url, url)
    try:
        yield
    finally:
        server.close()
