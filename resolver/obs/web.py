"""The ``--metrics`` HTTP endpoint: Prometheus on ``/metrics``, a status page on ``/``.

It runs in the server's own event loop, so it reads the counters between
queries, with no thread and no lock; with ``--workers`` it runs in the
parent's, which asks every worker for its figures and sums them
(:mod:`resolver.obs.hub`), and each worker answers its parent instead of
serving HTTP (:func:`status_endpoint`). It speaks just enough HTTP/1.1 for
Prometheus, curl and browsers: ``GET`` and ``HEAD`` of four paths and
``POST`` of one, one request per connection, headers bounded in size and time.

* ``/metrics``: the Prometheus text format (:mod:`resolver.obs.metrics`);
* ``/status.json``: totals as JSON, which the page polls every second;
* ``/``: a self-contained HTML page (``status.html``: no external scripts,
  styles or fonts) showing each backend's health, queries per second, win
  share and latency, hedges and failovers, the routes, groups, learned
  routing and the answer cache on the LS, and each zone's queries on the TS;
* ``/plan?name=NAME[&type=TYPE]`` (LS only): how the LS would choose the
  backends for NAME now, and what its cache holds for NAME and TYPE (A if
  not given), as JSON (:meth:`resolver.obs.metrics.LsMetrics.plan`), which
  ``client --explain --status`` shows. Each of its ``cached`` entries names
  the queries it serves: their ``flags`` (``edns``, ``do``, ``cd``) and
  ``size``, the octets a reply may take (a UDP client's EDNS size as the LS
  caps it, 512 to 1232; 512 without EDNS; 65535 over TCP). Reading it sends
  no query, learns nothing and leaves the cache as it was.
* ``POST /cache/flush`` (LS only) drops every cached answer, ``POST
  /cache/flush?name=NAME`` those for NAME and the names below it
  (:meth:`resolver.obs.metrics.LsMetrics.flush`); the reply is one line of
  JSON, ``{"flushed": N}``. It is for the operator, who reaches this address
  (loopback unless told otherwise): a request that carries an ``Origin``
  header, as every browser's ``POST`` does, is refused (403), so a web page
  the operator visits cannot flush the cache by a cross-site request or DNS
  rebinding. ``GET`` of it is 405; a bad NAME, two names, or any parameter
  but ``name`` (``?nmae=``, ``?Name=``) 400, flushing nothing; and 404 where
  no cache runs (a TS, or ``ls --cache-size 0``).

A request the figures cannot be had for now (no worker has answered yet, or
one did not answer a flush) gets 503 saying why
(:class:`~resolver.obs.metrics.Unavailable`).
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
from ..net.listening import describe_bind_error
from . import channel
from .metrics import NoCache, ServerMetrics, Unavailable

log = logging.getLogger("resolver.web")

MAX_HEADER = 8192           # octets: a request line and headers longer than this get 400
READ_TIMEOUT = 5.0          # seconds a connection has to send its request's headers, else 400
MAX_CONNECTIONS = 64        # connections served at once; one more is answered 503 at once
STATUS_PAGE = resources.files(__package__).joinpath("status.html").read_bytes()
FLUSH = b"/cache/flush"
NOT_UTF8 = b"not a DNS name: the query string is not UTF-8\n"
REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           503: "Service Unavailable"}


def has_header(head: bytes, name: bytes) -> bool:
    """Whether the request ``head`` (its request line and headers) has a header ``name`` (lower case)."""
    return any(line.split(b":", 1)[0].strip().lower() == name for line in head.split(b"\r\n")[1:] if b":" in line)


def query_fields(query: bytes) -> dict[str, list[str]] | None:
    """The fields of a query string, read as UTF-8, raw or percent-encoded (RFC 3986 2.5), blank
    values kept; None when it is not UTF-8."""
    try:
        return parse_qs(query.decode(), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        return None


class StatusServer:
    """Serves one server's metrics and status page over HTTP."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self.metrics = metrics
        self.server: asyncio.AbstractServer | None = None
        self.connections = 0
        self.open: set[asyncio.StreamWriter] = set()      # the connections being served

    async def start(self, host: str, port: int) -> str:
        """Listen; returns the base URL (with the port chosen when ``port`` is 0). Raises OSError
        when the address cannot be bound, its text one line naming ``--metrics`` and the address."""
        try:
            self.server = await asyncio.start_server(self._serve, host, port, limit=MAX_HEADER)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot serve --metrics on {format_hostport(host, port)}: "
                                     f"{describe_bind_error(exc)}") from None
        bound = self.server.sockets[0].getsockname()
        return f"http://{format_hostport(bound[0], bound[1])}/"

    def close(self) -> None:
        """Stop listening; the connections being served end as their replies go."""
        if self.server is not None:
            self.server.close()

    def fds(self) -> list[int]:
        """The file descriptors of the listening sockets and of the connections being served (for a
        process forked from this one to let go of, :meth:`resolver.obs.hub.Hub.in_child`)."""
        sockets = [*(self.server.sockets if self.server is not None else ()),
                   *(writer.get_extra_info("socket") for writer in self.open)]
        return [fd for fd in (sock.fileno() for sock in sockets if sock is not None) if fd >= 0]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open.add(writer)
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
            self.open.discard(writer)
            writer.close()

    async def _respond(self, writer: asyncio.StreamWriter, head: bytes) -> None:
        parts = head.split(b"\r\n", 1)[0].split()
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            await self._send(writer, 400, "text/plain", b"bad request\n")
            return
        method, (target, _, query) = parts[0], parts[1].partition(b"?")
        if target == FLUSH:
            await self._flush(writer, method, query, has_header(head, b"origin"))
            return
        if method not in (b"GET", b"HEAD"):
            await self._send(writer, 405, "text/plain", b"only GET and HEAD\n", allow="GET, HEAD")
            return
        if target in (b"/metrics", b"/status.json"):
            try:
                await self.metrics.refresh()
            except Unavailable as exc:
                await self._send(writer, 503, "text/plain", f"{exc}\n".encode(), head_only=method == b"HEAD")
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
        """``/plan?name=NAME[&type=TYPE]``: the LS's plan for NAME (its cached answers of TYPE, A
        if not given) as JSON; 400 without a name, or for one that is not a DNS name or a type that
        is not a record type, 404 on a server that routes nothing (the TS). The query string is
        UTF-8, raw or percent-encoded (RFC 3986 2.5), so an internationalized name reads as its letters."""
        fields = query_fields(query)
        if fields is None:
            await self._send(writer, 400, "text/plain", NOT_UTF8)
            return
        names = fields.get("name", [])
        if not names or not names[0]:
            await self._send(writer, 400, "text/plain", b"give a name: /plan?name=NAME\n")
            return
        try:
            plan = await self.metrics.plan(names[0], *fields.get("type", [])[:1])
        except ValueError as exc:
            await self._send(writer, 400, "text/plain", f"{exc}\n".encode())
            return
        except Unavailable as exc:
            await self._send(writer, 503, "text/plain", f"{exc}\n".encode())
            return
        if plan is None:
            await self._send(writer, 404, "text/plain", b"no plan: only the LS routes queries\n")
            return
        await self._send(writer, 200, "application/json", json.dumps(plan).encode(), head_only=head_only)

    async def _flush(self, writer: asyncio.StreamWriter, method: bytes, query: bytes, from_page: bool) -> None:
        """``POST /cache/flush[?name=NAME]``: drop the cached answers (for NAME and below), and say how
        many in one line of JSON. 405 for another method, 403 for a request from a web page (it
        carries ``Origin``), 400 for a NAME that is blank or not a DNS name, for ``name`` given more
        than once and for any other parameter (a misspelt ``name`` must not flush every answer), 404
        where no cache runs, 503 when a worker did not answer (the others have flushed)."""
        if method != b"POST":
            await self._send(writer, 405, "text/plain", b"only POST: curl -X POST 'http://ADDR:PORT/cache/flush"
                             b"[?name=NAME]'\n", head_only=method == b"HEAD", allow="POST")
            return
        if from_page:
            await self._send(writer, 403, "text/plain", b"refused: a request from a web page (it has an Origin "
                             b"header); flush from a shell, with curl -X POST\n")
            return
        fields = query_fields(query)
        if fields is None:
            await self._send(writer, 400, "text/plain", NOT_UTF8)
            return
        unknown = next((field for field in fields if field != "name"), None)
        if unknown is not None:
            await self._send(writer, 400, "text/plain",
                             f"unknown parameter {unknown!r}: give name=NAME or nothing\n".encode())
            return
        names = fields.get("name", [])
        if len(names) > 1:
            await self._send(writer, 400, "text/plain", f"give one name, not {len(names)}\n".encode())
            return
        if names and not names[0].strip():
            await self._send(writer, 400, "text/plain", b"an empty name: leave name= out to flush every answer\n")
            return
        name = names[0] if names else None
        try:
            flushed = await self.metrics.flush(name)
        except ValueError as exc:
            await self._send(writer, 400, "text/plain", f"{exc}\n".encode())
            return
        except NoCache as exc:
            await self._send(writer, 404, "text/plain", f"{exc}\n".encode())
            return
        except Unavailable as exc:
            await self._send(writer, 503, "text/plain", f"{exc}\n".encode())
            return
        log.info("cache flushed: %d answer%s%s", flushed, "" if flushed == 1 else "s",
                 "" if name is None else f" at or below {name}")
        await self._send(writer, 200, "application/json", json.dumps({"flushed": flushed}).encode() + b"\n")

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, status: int, kind: str, body: bytes,
                    head_only: bool = False, allow: str | None = None) -> None:
        """One reply and its headers; ``allow``: the methods an ``Allow`` header names (with a 405)."""
        headers = (f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Type: {kind}\r\n"
                   f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n"
                   + (f"Allow: {allow}\r\n" if allow else "") + "\r\n")
        writer.write(headers.encode() + (b"" if head_only else body))
        await writer.drain()


async def open_status(metrics: ServerMetrics, address: tuple[str, int]) -> StatusServer:
    """A :class:`StatusServer` for ``metrics`` listening at ``address``, its URL logged in one line
    (which scripts and tests read). Raises OSError when the address cannot be bound."""
    server = StatusServer(metrics)
    url = await server.start(*address)
    log.info("metrics on %smetrics, status page on %s", url, url)
    return server


@contextlib.asynccontextmanager
async def status_endpoint(address: tuple[str, int] | None,
                          metrics: Callable[[], ServerMetrics]) -> AsyncIterator[None]:
    """Serve ``/metrics`` and the status page at ``address`` (if any) for the block's length.

    In a worker forked with a line to its parent (``--workers``, :mod:`resolver.obs.hub`) the
    parent serves ``address`` for every worker: this one answers the parent's requests on its
    line instead (:func:`resolver.obs.channel.answer`), in this event loop, between queries.
    """
    if address is None:
        yield
        return
    line = channel.worker_end()
    if line is not None:
        answering = asyncio.get_running_loop().create_task(channel.answer(line, metrics()))
        try:
            yield
        finally:
            answering.cancel()
            await asyncio.wait([answering])
        return
    server = await open_status(metrics(), address)
    try:
        yield
    finally:
        server.close()
