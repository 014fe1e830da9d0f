"""Backends: the authoritative servers behind the LS.

Each backend has one connected UDP socket, for queries from UDP clients. A
connected socket receives datagrams only from the backend's own address and
port (the kernel filters the rest), the first check against forged replies;
the race does the others (ID and question).

Replies go where they belong as they arrive: a UDP reply carrying the
backend's current health-probe ID goes to the health monitor first (it checks
the question too), and everything else to the race. The backend knows both
only through the two small protocols below, given to :meth:`Backend.connect`.

Queries from TCP clients go to the backends over TCP, on one pipelined
connection per backend (RFC 7766), opened on first use and again after the
backend closes it. A UDP reply may have been shortened for a UDP client's
size without TC (minimal responses), so only TCP gives a TCP client the
whole answer. The queries a backend leaves unanswered when it ends a
connection are asked again on a new one (:class:`BackendStream`).
"""
from __future__ import annotations

import asyncio
import logging
import socket
from time import monotonic
from typing import Callable, Protocol

from ..net.addresses import address_family, format_hostport
from ..net.listening import enlarge_buffers, send_failed
from ..obs.stats import BackendStats
from .settings import LsSettings

log = logging.getLogger("resolver.ls")


class Replies(Protocol):
    """Where a backend's replies to client queries go (the race)."""

    def on_reply(self, backend: "Backend", data: bytes) -> None:
        """A reply: a UDP datagram, or one message from the TCP connection."""

    def on_lost(self, backend: "Backend", queries: list[bytes]) -> None:
        """TCP queries that will get no reply: no connection could be opened for them, or the
        backend ended the connections they were written on (:class:`BackendStream`)."""


class Probes(Protocol):
    """Where a backend's health signals go (the health monitor)."""

    def probe_reply(self, backend: "Backend", data: bytes) -> bool:
        """Whether ``data`` answers the backend's current probe (and if so, take it)."""

    def unreachable(self, backend: "Backend") -> None:
        """The kernel reports the backend's port unreachable (ICMP)."""


class Backend(asyncio.DatagramProtocol):
    """One upstream server, known by its name (its address unless given one).

    ``timeout``: seconds a race waits for its backends (``--timeout``); a TCP
    query older than that is not asked again (:class:`BackendStream`).
    """

    def __init__(self, index: int, host: str, port: int, name: str | None = None,
                 timeout: float = LsSettings.timeout) -> None:
        self.index = index
        self.host = host
        self.port = port
        self.address = format_hostport(host, port)
        self.name = name or self.address
        self.stats = BackendStats()
        self.transport: asyncio.DatagramTransport | None = None
        self._send: Callable[[bytes], int] | None = None     # the connected socket's own send
        self.replies: Replies | None = None
        self.probes: Probes | None = None
        self.timeout = timeout
        self.stream: BackendStream | None = None    # the TCP connection new queries go on
        self.closed = False
        self.up = True                          # per its health (resolver.ls.health)
        self.probe_id: int | None = None       # the health probe awaiting its reply
        self.probe_failures = 0
        self.probe_answered_at = float("-inf")    # perf_counter() when it last answered a probe

    def __str__(self) -> str:
        return self.name

    async def connect(self, replies: Replies, probes: Probes) -> None:
        """Open the UDP socket; replies go to ``replies``, probe replies and ICMP errors to ``probes``."""
        self.replies = replies
        self.probes = probes
        loop = asyncio.get_running_loop()
        sock = socket.socket(address_family(self.host), socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.connect((self.host, self.port))
            await loop.create_datagram_endpoint(lambda: self, sock=sock)
        except BaseException:
            sock.close()
            raise
        self._send = sock.send

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        enlarge_buffers(transport.get_extra_info("socket"))

    def datagram_received(self, data: bytes, addr: object) -> None:
        # Probe IDs are drawn apart from race IDs, so a probe's reply is told by its ID and
        # question before the race sees it: its ID may be a pending or finished race's too.
        probe_id = self.probe_id
        if probe_id is not None and len(data) >= 12 and (data[0] << 8 | data[1]) == probe_id \
                and data[2] & 0x80 and self.probes.probe_reply(self, data):
            return
        self.replies.on_reply(self, data)

    def error_received(self, exc: Exception) -> None:
        # An ICMP error on the connected socket: nothing listens on the backend's port.
        log.debug("backend %s: %s", self, exc)
        if isinstance(exc, ConnectionRefusedError):
            self.probes.unreachable(self)

    def send(self, data: bytes) -> None:
        """Send a client's query over UDP.

        Straight to the connected socket, through the transport only when the
        socket's buffer is full (:func:`resolver.net.listening.send_failed`).
        """
        self.stats.sent += 1
        if self._send is not None:
            try:
                self._send(data)
            except OSError as exc:
                send_failed(exc, self.transport, self, data)

    def send_probe(self, data: bytes) -> None:
        """Send a health probe, not counted as a query."""
        if self.transport is not None:
            self.transport.sendto(data)

    def send_stream(self, data: bytes) -> None:
        """Send a client's query over the backend's TCP connection, opening it if needed."""
        self.stats.sent += 1
        (self.stream or self.connection()).send(data, monotonic(), 0)

    def connection(self) -> "BackendStream":
        """The TCP connection new queries go on: a new one when there is none, or the last one ended."""
        if self.stream is None:
            self.stream = BackendStream(self)
        return self.stream

    def close(self) -> None:
        self.closed = True
        self._send = None
        if self.transport is not None:
            self.transport.close()
        if self.stream is not None:
            self.stream.close()


# A query given to a backend's TCP connection and not answered on it yet: the query as sent upstream
# (under the race's ID), when it was first sent (time.monotonic(), seconds), how many times it was asked again.
StreamQuery = tuple[bytes, float, int]


class BackendStream(asyncio.Protocol):
    """A pipelined TCP connection to one backend; replies may come in any order.

    It keeps the queries written on it until their reply comes, by upstream ID.
    When the backend ends the connection (a close, a reset, or a half-close: a
    backend that sent its FIN sends nothing more) with queries unanswered, they
    are asked again on a new connection, as RFC 7766 6.2.4 says a client should,
    leaving the rule to the client. The rule here:

    * every query lost with its connection is asked again once;
    * a query lost again is asked again as long as the connection it was lost
      with answered some query, so a backend that answers one query per
      connection (NSD with ``tcp-query-count: 1``) still answers every query of
      a pipelined burst, one connection each: each retry needs the backend to
      have made progress, so none goes on for ever;
    * a query for which no connection could be opened, or lost again with a
      connection that answered nothing, is given up: the race counts it as
      that backend's SERVFAIL (:meth:`Replies.on_lost`) at once, so a backend
      that closes every connection without answering costs one retry, not the
      race's timeout;
    * a query older than the race's timeout (:attr:`Backend.timeout`) is
      forgotten: its race is over. The oldest ones are dropped as new ones are
      sent, so a backend that never answers some queries (``--silent-miss``)
      keeps about one timeout's worth of them here.

    New queries go on a new connection from the moment the backend ends this
    one, its FIN included, never on a connection it has half-closed.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.unanswered: dict[int, StreamQuery] = {}    # by upstream ID; written once the connection is up
        self.answered = 0           # queries answered on this connection
        self.buffer = bytearray()
        self.task = self.loop.create_task(self._open())

    async def _open(self) -> None:
        try:
            await self.loop.create_connection(lambda: self, self.backend.host, self.backend.port)
        except OSError as exc:
            log.debug("backend %s: tcp: %s", self.backend, exc)
            self._lost(opened=False)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.unanswered:
            transport.writelines([framed(data) for data, _, _ in self.unanswered.values()])

    def send(self, data: bytes, sent: float, resends: int) -> None:
        """Write the query ``data`` on this connection (once it is up), and keep it until its reply
        comes; ``sent``: when it was first sent (:func:`time.monotonic`, seconds); ``resends``: how
        many times it was asked again."""
        unanswered = self.unanswered
        uid = (data[0] << 8) | data[1]
        if uid in unanswered:
            del unanswered[uid]         # an ID in use again: the race of the query before is over
        unanswered[uid] = (data, sent, resends)
        if self.transport is not None:
            self.transport.write(len(data).to_bytes(2, "big") + data)
        expired = sent - self.backend.timeout      # a resent query's time is older: fewer go
        while unanswered:
            oldest, oldest_sent, _ = next(iter(unanswered.values()))
            if oldest_sent > expired:
                break
            del unanswered[(oldest[0] << 8) | oldest[1]]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while len(buffer) >= 2:
            length = (buffer[0] << 8) | buffer[1]
            if len(buffer) < 2 + length:
                break
            message = bytes(buffer[2:2 + length])
            del buffer[:2 + length]
            if length >= 2 and self.unanswered.pop((message[0] << 8) | message[1], None) is not None:
                self.answered += 1
            self.backend.replies.on_reply(self.backend, message)

    def eof_received(self) -> None:
        """The backend half-closed the connection: it will answer nothing more on it, so new queries
        go on a new one; the transport closes this one, and :meth:`connection_lost` follows."""
        self._detach()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(opened=True)

    def _detach(self) -> None:
        if self.backend.stream is self:
            self.backend.stream = None

    def _lost(self, opened: bool) -> None:
        """Forget this connection; ask its unanswered queries again, or give them up (see the class)."""
        self._detach()
        queries, self.unanswered = self.unanswered, {}
        backend = self.backend
        if backend.closed or not queries:
            return
        expired = monotonic() - backend.timeout
        again: list[StreamQuery] = []
        failed: list[bytes] = []
        for data, sent, resends in queries.values():
            if sent <= expired:
                continue            # its race is over
            if opened and (not resends or self.answered):
                again.append((data, sent, resends + 1))
            else:
                failed.append(data)
        log.debug("backend %s: tcp connection ended with %d queries unanswered: %d asked again, %d given up",
                  backend, len(queries), len(again), len(failed))
        if failed:
            backend.replies.on_lost(backend, failed)
        if again:
            connection = backend.connection()
            stats = backend.stats
            for data, sent, resends in again:
                if (data[0] << 8) | data[1] not in connection.unanswered:     # else its ID went to a newer race
                    stats.sent += 1
                    stats.retransmissions += 1
                    connection.send(data, sent, resends)

    def close(self) -> None:
        self.task.cancel()
        if self.transport is not None:
            self.transport.close()


def framed(data: bytes) -> bytes:
    """A DNS message with its two-octet length in front, as TCP carries it (RFC 1035 4.2.2)."""
    return len(data).to_bytes(2, "big") + data
