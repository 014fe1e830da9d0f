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
whole answer.
"""
from __future__ import annotations

import asyncio
import logging
import socket
from typing import Callable, Protocol

from ..net.addresses import address_family, format_hostport
from ..net.listening import enlarge_buffers, send_failed
from ..obs.stats import BackendStats

log = logging.getLogger("resolver.ls")


class Replies(Protocol):
    """Where a backend's replies to client queries go (the race)."""

    def on_reply(self, backend: "Backend", data: bytes) -> None:
        """A reply: a UDP datagram, or one message from the TCP connection."""

    def on_lost(self, backend: "Backend", queries: list[bytes]) -> None:
        """TCP queries that will get no reply: the connection failed before they went out."""


class Probes(Protocol):
    """Where a backend's health signals go (the health monitor)."""

    def probe_reply(self, backend: "Backend", data: bytes) -> bool:
        """Whether ``data`` answers the backend's current probe (and if so, take it)."""

    def unreachable(self, backend: "Backend") -> None:
        """The kernel reports the backend's port unreachable (ICMP)."""


class Backend(asyncio.DatagramProtocol):
    """One upstream server, known by its name (its address unless given one)."""

    def __init__(self, index: int, host: str, port: int, name: str | None = None) -> None:
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
        self.stream: BackendStream | None = None
        self.up = True                          # per its health (resolver.ls.health)
        self.probe_id: int | None = None       # the health probe awaiting its reply
        self.probe_failures = 0

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
        if self.stream is None:
            self.stream = BackendStream(self)
        self.stream.send(data)

    def close(self) -> None:
        self._send = None
        if self.transport is not None:
            self.transport.close()
        if self.stream is not None:
            self.stream.close()


class BackendStream(asyncio.Protocol):
    """A pipelined TCP connection to one backend; replies may come in any order."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.transport: asyncio.Transport | None = None
        self.waiting: list[bytes] = []      # queries sent before the connection was up
        self.in_flight = 0
        self.buffer = bytearray()
        self.task = asyncio.get_running_loop().create_task(self._open())

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: self, self.backend.host, self.backend.port)
        except OSError as exc:
            log.debug("backend %s: tcp: %s", self.backend, exc)
            self._lost()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        for data in self.waiting:
            self._write(data)
        self.waiting = []

    def send(self, data: bytes) -> None:
        if self.transport is None:
            self.waiting.append(data)
        else:
            self._write(data)

    def _write(self, data: bytes) -> None:
        self.transport.write(len(data).to_bytes(2, "big") + data)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while len(buffer) >= 2:
            length = (buffer[0] << 8) | buffer[1]
            if len(buffer) < 2 + length:
                break
            message = bytes(buffer[2:2 + length])
            del buffer[:2 + length]
            self.backend.replies.on_reply(self.backend, message)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost()

    def _lost(self) -> None:
        """Forget this connection; queries still queued on it will get no reply."""
        if self.backend.stream is self:
            self.backend.stream = None
        waiting, self.waiting = self.waiting, []
        if waiting:
            self.backend.replies.on_lost(self.backend, waiting)

    def close(self) -> None:
        self.task.cancel()
        if self.transport is not None:
            self.transport.close()
