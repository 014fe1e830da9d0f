"""Backends: the authoritative servers behind the LS.

Queries from UDP clients go to a backend over UDP from a pool of sockets
(``--source-ports``, :attr:`resolver.ls.settings.LsSettings.source_ports`),
each connected to the backend from a port of its own that the kernel picks at
random when it binds the socket (Linux draws it from ``ip_local_port_range``).
This is RFC 5452's defence against forged replies (section 9.2): a forger
must guess the source port as well as the 16-bit ID. Its parts:

* Each of the 256 values of an ID's second octet has one socket of the pool,
  dealt at random when the backend is made (from :func:`os.urandom`, each
  socket as many values as the others, give or take one); a query leaves on
  its ID's socket, and so does every copy of it sent again
  (:mod:`resolver.ls.retransmit`). The race's IDs are random
  (:class:`resolver.ls.race.IdSource`) and the deal is secret, so which socket
  a query leaves from is as unpredictable as a fresh draw for each query; the
  send path pays one lookup in a list for it.
* A reply counts only on the socket its query left from (RFC 5452 9.1: the
  destination port against the query's source port): one that arrives on
  another socket of the pool, its ID being another socket's, is dropped and
  counted as forged (:attr:`BackendStats.forged`). Were replies taken on any
  socket of the pool, a forger would only have to hit one of its ports, and a
  larger pool would make that easier, not harder.
* A connected socket receives datagrams only from the backend's own address
  and port (the kernel filters the rest); the race checks the rest of the
  reply (ID and question, :meth:`resolver.ls.race.Race.on_reply`).
* Every :data:`ROTATION_INTERVAL` seconds one socket of the pool is replaced by
  a fresh one on a new random port, the oldest first, so that a port a forger
  may have found stays in use for N intervals (N sockets in the pool: 32
  seconds by default). The socket replaced stays open for the race's timeout
  (:attr:`Backend.timeout`) so that late replies to its queries still count,
  and is closed then. One task per backend does it (:meth:`Backend._rotate`):
  the send path has no clock, timer or check of its own for it.

Replies go where they belong as they arrive: a UDP reply carrying the ID of
the backend's latest health probe goes to the health monitor first (it checks
the question too, and takes the replies to the probe's copies as well as the
first), and everything else to the race. A datagram too short to be a DNS
header (12 octets) is dropped and counted as forged on the socket it came on.
The backend knows the race and the monitor only through the two small
protocols below, given to :meth:`Backend.connect`. A probe leaves, as a query
does, on its ID's socket.

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
import os
import socket
from collections import deque
from time import monotonic
from typing import Callable, Protocol

from ..net.addresses import address_family, format_hostport, socket_address
from ..net.listening import enlarge_buffers, send_failed
from ..obs.stats import BackendStats
from .settings import LsSettings

log = logging.getLogger("resolver.ls")

ROTATION_INTERVAL = 1.0     # seconds between the replacements of one socket of a backend's pool
MAX_SOURCE_PORTS = 256      # sockets in a backend's pool at most: one for each value of an ID's second octet


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
        """Whether ``data`` (12 octets or more, with the ID :attr:`Backend.probe_id`) is a reply to
        the backend's latest probe or a copy of it, and so taken; if not, the race gets it."""

    def unreachable(self, backend: "Backend") -> None:
        """The kernel reports the backend's port unreachable (ICMP)."""


def deal(sockets: int) -> bytes:
    """For each value of a query ID's second octet, the number of the pool socket (0 to ``sockets``
    - 1) its queries leave from: the values in a random order (sorted by 64-bit keys from
    :func:`os.urandom`) dealt to the sockets in turn, so that each socket has as many as the others,
    give or take one."""
    keys = memoryview(os.urandom(8 * 256)).cast("Q")
    socket_of = bytearray(256)
    for turn, octet in enumerate(sorted(range(256), key=keys.__getitem__)):
        socket_of[octet] = turn % sockets
    return bytes(socket_of)


def _not_connected(data: bytes) -> None:
    """A pool socket's send before :meth:`Backend.connect` and after :meth:`Backend.close`: the query is dropped."""


class Backend:
    """One upstream server, known by its name (its address unless given one).

    ``timeout``: seconds a race waits for its backends (``--timeout``); a TCP
    query older than that is not asked again (:class:`BackendStream`), and a
    UDP socket replaced in the pool stays open that long for late replies.
    ``source_ports``: UDP sockets in the pool, 1 to :data:`MAX_SOURCE_PORTS`
    (ValueError otherwise); ``rotation_interval``: seconds between the
    replacements of one of them (see the module's text).
    """

    def __init__(self, index: int, host: str, port: int, name: str | None = None,
                 timeout: float = LsSettings.timeout, source_ports: int = LsSettings.source_ports,
                 rotation_interval: float = ROTATION_INTERVAL) -> None:
        if not 1 <= source_ports <= MAX_SOURCE_PORTS:
            raise ValueError(f"source_ports must be from 1 to {MAX_SOURCE_PORTS}, not {source_ports}")
        self.index = index
        self.host = host
        self.port = port
        self.address = format_hostport(host, port)
        self.name = name or self.address
        self.stats = BackendStats()
        self.source_ports = source_ports
        self.socket_of = deal(source_ports)     # by an ID's second octet: the pool socket its queries leave from
        self.transports: list[asyncio.DatagramTransport] = []     # the pool, by socket number
        self._send_of: list[Callable[[bytes], object]] = [_not_connected] * 256     # by second octet: its socket's send
        self._retired: deque[tuple[float, asyncio.DatagramTransport]] = deque()   # replaced: (when to close, it)
        self._rotating: asyncio.Task | None = None
        self.rotation_interval = rotation_interval
        self.replies: Replies | None = None
        self.probes: Probes | None = None
        self.timeout = timeout
        self.stream: BackendStream | None = None    # the TCP connection new queries go on
        self.closed = False
        self.up = True                          # per its health (resolver.ls.health): asked and waited for
        self.starting = False                   # not judged yet: neither answered nor reported down (ditto)
        self.probe_id: int | None = None       # the latest health probe's ID (kept once answered: its copies')
        self.probe_failures = 0
        self.probe_answered_at = float("-inf")    # perf_counter() when it last answered a probe

    def __str__(self) -> str:
        return self.name

    async def connect(self, replies: Replies, probes: Probes) -> None:
        """Open the pool of UDP sockets and start replacing them (see the module's text); replies
        go to ``replies``, probe replies and ICMP errors to ``probes``. Raises OSError when a socket
        cannot be opened (those opened are closed)."""
        self.replies = replies
        self.probes = probes
        sends = []
        try:
            for number in range(self.source_ports):
                transport, send = await self._open(number)
                self.transports.append(transport)
                sends.append(send)
        except BaseException:
            self.close()
            raise
        self._send_of = [sends[number] for number in self.socket_of]
        self._rotating = asyncio.get_running_loop().create_task(self._rotate())

    async def _open(self, number: int) -> tuple[asyncio.DatagramTransport, Callable[[bytes], object]]:
        """A new socket for place ``number`` of the pool, connected to the backend (which binds it
        to a random port): its transport, and its own send. Raises OSError."""
        sock = socket.socket(address_family(self.host), socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.connect(socket_address(self.host, self.port))
            enlarge_buffers(sock)
            transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: SourcePort(self, number), sock=sock)
        except BaseException:
            sock.close()
            raise
        return transport, sock.send

    async def _rotate(self) -> None:
        """Every :attr:`rotation_interval` seconds, close the replaced sockets whose queries' races
        are over, and replace the next socket of the pool (in turn, the oldest first) by a new one
        on a new port; a socket that cannot be opened (too many open files) leaves the old one in
        place until the next turn."""
        loop = asyncio.get_running_loop()
        number, failing = 0, False
        while True:
            await asyncio.sleep(self.rotation_interval)
            retired = self._retired
            while retired and retired[0][0] <= loop.time():
                retired.popleft()[1].close()
            try:
                transport, send = await self._open(number)
            except OSError as exc:
                if not failing:
                    log.warning("backend %s: cannot open a socket to replace one of its source ports "
                                "(%s); the old one stays", self, exc.strerror or exc)
                failing = True
                continue
            failing = False
            retired.append((loop.time() + self.timeout, self.transports[number]))
            self.transports[number] = transport
            for octet, its_socket in enumerate(self.socket_of):
                if its_socket == number:
                    self._send_of[octet] = send
            self.stats.rotations += 1
            number = (number + 1) % self.source_ports

    def datagram_received(self, data: bytes, addr: object) -> None:
        """A UDP reply of 12 octets or more that came on the socket its query left from
        (:class:`SourcePort`): to the health monitor if it is a reply to the latest probe or a
        copy of it, else to the race."""
        # Probe IDs are drawn apart from race IDs, so a probe's reply is told by its ID and
        # question before the race sees it: its ID may be a pending or finished race's too.
        # One comparison of integers here for every reply; the rest is the monitor's.
        if (data[0] << 8 | data[1]) == self.probe_id and self.probes.probe_reply(self, data):
            return
        self.replies.on_reply(self, data)

    def error_received(self, exc: Exception) -> None:
        # An ICMP error on a socket of the pool: nothing listens on the backend's port.
        log.debug("backend %s: %s", self, exc)
        if isinstance(exc, ConnectionRefusedError):
            self.probes.unreachable(self)

    def send(self, data: bytes) -> None:
        """Send a client's query over UDP, on the pool socket of its ID (:attr:`socket_of`).

        Straight to that socket, through its transport only when the socket's
        buffer is full (:func:`resolver.net.listening.send_failed`).
        """
        self.stats.sent += 1
        try:
            self._send_of[data[1]](data)
        except OSError as exc:
            send_failed(exc, self.transports[self.socket_of[data[1]]], self, data)

    def send_probe(self, data: bytes) -> None:
        """Send a health probe, not counted as a query, on the pool socket of its ID."""
        if self.transports:
            self.transports[self.socket_of[data[1]]].sendto(data)

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
        """Close every UDP socket, those replaced and still open included, and the TCP connection."""
        self.closed = True
        if self._rotating is not None:
            self._rotating.cancel()
        self._send_of = [_not_connected] * 256
        for transport in (*self.transports, *(transport for _, transport in self._retired)):
            transport.close()
        self.transports = []
        self._retired.clear()
        if self.stream is not None:
            self.stream.close()


class SourcePort(asyncio.DatagramProtocol):
    """One socket of a backend's pool, number ``number``: it hands the replies to the queries that
    left from it to :meth:`Backend.datagram_received`, and drops those whose ID is another
    socket's (RFC 5452 9.1: not the port their query left from) and datagrams shorter than a DNS
    header (12 octets: no reply to anything), both counted as forged."""

    def __init__(self, backend: Backend, number: int) -> None:
        self.backend = backend
        self.number = number
        self.socket_of = backend.socket_of
        self.deliver = backend.datagram_received

    def datagram_received(self, data: bytes, addr: object) -> None:
        if len(data) < 12 or self.socket_of[data[1]] != self.number:
            self.backend.stats.forged += 1
            return
        self.deliver(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.backend.error_received(exc)


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
            await self.loop.create_connection(lambda: self, sock=await self._connected())
        except OSError as exc:
            log.debug("backend %s: tcp: %s", self.backend, exc)
            self._lost(opened=False)

    async def _connected(self) -> socket.socket:
        """A TCP socket connected to the backend. Made here rather than by asyncio from the host
        and port, since glibc's getaddrinfo refuses a scoped IPv6 literal such as ``::1%lo``
        (:func:`resolver.net.addresses.socket_address` gives its interface index). Raises
        OSError when the connection cannot be made."""
        backend = self.backend
        sock = socket.socket(address_family(backend.host), socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await self.loop.sock_connect(sock, socket_address(backend.host, backend.port))
        except BaseException:
            sock.close()
            raise
        return sock

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
