"""Listening: UDP and TCP (RFC 1035 4.2, RFC 7766) on one address.

A server is a handler ``handle(data, sink, addr)``: it answers by calling
``sink.send(reply, addr)`` at once (the TS) or later (the LS, when the race
ends). Sinks know whether they are a stream, which sets the reply size limit.
``addr[0]`` and ``addr[1]`` are the client's host and port, an IPv4 client of
a dual-stack ``[::]`` socket's as IPv4; what follows is the sink's own.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import socket
from dataclasses import dataclass
from typing import Callable, Protocol

from .addresses import address_family, client_address, format_hostport, is_wildcard, socket_address

log = logging.getLogger("resolver")

TCP_IDLE_TIMEOUT = 10.0      # seconds without a complete query before a TCP client is closed
TCP_MAX_CONNECTIONS = 1024
TCP_MAX_IN_FLIGHT = 100      # unanswered queries of one TCP connection
PORT_ZERO_ATTEMPTS = 50
UDP_BUFFER_BYTES = 4 << 20   # absorbs bursts of thousands of datagrams (the kernel caps it at rmem_max)
UDP_QUEUE_BYTES = 1 << 20    # octets a UDP socket queues in the process once the kernel's buffer is full
UDP_MAX_MESSAGE = 65535      # octets: the largest UDP payload
UDP_READ_BATCH = 64          # datagrams a wildcard socket reads per readiness event before other work runs
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)   # Linux's number; the socket module names it from Python 3.12
_NO_INTERFACE = bytes(4)     # a pktinfo interface index of 0: the routing table picks the interface


@dataclass(frozen=True)
class ListenOptions:
    """How a server's sockets behave: the TCP idle timeout, and SO_REUSEPORT for workers."""

    tcp_idle: float = TCP_IDLE_TIMEOUT
    reuse_port: bool = False


class ListenError(Exception):
    """An address that cannot be listened on; the text says which and why."""


class Sink(Protocol):
    stream: bool

    def send(self, data: bytes, addr: object) -> None: ...


Handler = Callable[[bytes, Sink, object], None]


def send_failed(exc: OSError, transport: asyncio.DatagramTransport | None,
                protocol: asyncio.DatagramProtocol, data: bytes, *addr: object) -> None:
    """What a server does when its socket's own ``send`` (or ``sendto``, given ``addr``) raised ``exc``.

    Both servers send each datagram straight to the socket, in a ``try``
    of their own on the hot path (asyncio's ``sendto`` adds checks that cost
    about a microsecond a datagram), and come here only when it fails: when
    the socket buffer is full the datagram goes through ``transport``, which
    queues it, up to :data:`UDP_QUEUE_BYTES`; past that the datagram is
    dropped, as a full buffer on the way would drop it, so a peer that reads
    slower than the server sends (a backend under a flood) costs the server
    no more memory than that. Any other error (an ICMP error reported on send,
    a closed socket) goes to ``protocol.error_received``, as asyncio would
    report it.
    """
    if isinstance(exc, (BlockingIOError, InterruptedError)):
        if transport is not None and not transport.is_closing() \
                and transport.get_write_buffer_size() < UDP_QUEUE_BYTES:
            transport.sendto(data, *addr)
    else:
        protocol.error_received(exc)


class UdpServer(asyncio.DatagramProtocol):
    """One UDP socket; every datagram goes to the handler as it arrives."""

    stream = False

    def __init__(self, handler: Handler, sock: socket.socket) -> None:
        self.handler = handler
        self.transport: asyncio.DatagramTransport | None = None
        self._sendto = sock.sendto

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        enlarge_buffers(transport.get_extra_info("socket"))

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.handler(data, self, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("udp error: %s", exc)

    def send(self, data: bytes, addr: object) -> None:
        try:
            self._sendto(data, addr)
        except OSError as exc:
            send_failed(exc, self.transport, self, data, addr)


def _ipv4_source(info: bytes) -> bytes:
    """The ``in_pktinfo`` (interface index, local address, destination, 4 octets each) that sends
    a reply from the destination address of the query whose ``in_pktinfo`` is ``info``."""
    return _NO_INTERFACE + info[8:12] + _NO_INTERFACE


def _ipv6_source(info: bytes) -> bytes:
    """The ``in6_pktinfo`` (address, 16 octets, then interface index) that sends a reply from the
    destination address of the query whose ``in6_pktinfo`` is ``info``."""
    return info[:16] + _NO_INTERFACE


class WildcardUdpServer:
    """One UDP socket bound to a wildcard address (``0.0.0.0``, ``::``) that replies from the address asked.

    Such a socket's ``sendto`` leaves the reply's source address to the
    route back, which need not be the address the query was sent to: a
    query to 127.0.0.2 would be answered from 127.0.0.1, which a client's
    connected socket (glibc's stub resolver, dig) never receives. So this
    socket asks for each datagram's destination address (IP_PKTINFO, or
    IPV6_RECVPKTINFO, RFC 3542 6.1) and sends the reply with that address as
    its source and interface index 0, so the routing table still picks the
    interface, as Knot DNS does (Unbound with ``interface-automatic``). An
    IPv4 query to a dual-stack ``[::]`` socket comes with IPv4-mapped
    addresses, and Linux sends its reply from the mapped one.

    asyncio's datagram transports drop ancillary data, so the socket is read
    with ``loop.add_reader``: every datagram waiting, at most
    ``UDP_READ_BATCH`` per readiness event. The handler's ``addr`` is
    ``(host, port, peer, ancillary)``: the client's address, then the
    socket's peer address and the ancillary data :meth:`send` replies with.
    A reply that finds the socket buffer full is dropped, like a datagram
    lost on the way. A socket bound to one address replies from it anyway,
    and :class:`UdpServer` serves it without any of this.
    """

    stream = False

    def __init__(self, handler: Handler, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        self.handler = handler
        self.sock = sock
        self.loop = loop
        if sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            self._source, size = _ipv6_source, 20
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            self._source, size = _ipv4_source, 12
        self._ancillary_size = socket.CMSG_SPACE(size)
        self._sendmsg = sock.sendmsg
        sock.setblocking(False)
        enlarge_buffers(sock)
        loop.add_reader(sock.fileno(), self._read_ready)

    def _read_ready(self) -> None:
        recvmsg, source, size, handler = self.sock.recvmsg, self._source, self._ancillary_size, self.handler
        for _ in range(UDP_READ_BATCH):
            try:
                data, ancillary, _, peer = recvmsg(UDP_MAX_MESSAGE, size)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.error_received(exc)
                return
            reply = [(level, kind, source(info)) for level, kind, info in ancillary]
            handler(data, self, (*client_address(peer)[:2], peer, reply))

    def error_received(self, exc: Exception) -> None:
        log.debug("udp error: %s", exc)

    def send(self, data: bytes, addr: object) -> None:
        try:
            self._sendmsg((data,), addr[3], 0, addr[2])     # type: ignore[index]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            self.error_received(exc)

    def close(self) -> None:
        if self.sock.fileno() >= 0:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()


class TcpConnection(asyncio.Protocol):
    """One TCP client: length-prefixed messages, pipelined, replies in any order.

    A connection with no complete query and no reply for ``idle_timeout``
    seconds is closed, which also ends half-open connections and clients that
    send a length prefix and nothing more; one timer per connection checks
    that, not one per query. At most ``TCP_MAX_IN_FLIGHT`` queries of one
    connection wait for their replies at once: past that the server stops
    reading from it until replies go out, so one client cannot fill the LS's
    table.
    """

    stream = True

    def __init__(self, handler: Handler, registry: set["TcpConnection"], idle_timeout: float) -> None:
        self.handler = handler
        self.registry = registry
        self.idle_timeout = idle_timeout
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer: object = None
        self.in_flight = 0
        self.paused = False
        self.last_activity = 0.0
        self.idle_timer: asyncio.TimerHandle | None = None
        self.writable: asyncio.Future | None = None     # set while asyncio's flow control pauses writing

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        # No peer name: the client reset the connection before it was accepted; nobody to answer.
        if peer is None or len(self.registry) >= TCP_MAX_CONNECTIONS:
            transport.close()
            return
        self.peer = client_address(peer)
        self.registry.add(self)
        loop = asyncio.get_running_loop()
        self.last_activity = loop.time()
        self.idle_timer = loop.call_later(self.idle_timeout, self._check_idle)

    def data_received(self, data: bytes) -> None:
        if self.peer is None:
            return          # closed in connection_made: what it sent has nobody to go back to
        self.buffer += data
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand every complete message to the handler, up to the in-flight limit."""
        buffer = self.buffer
        while len(buffer) >= 2:
            if self.in_flight >= TCP_MAX_IN_FLIGHT:
                if not self.paused and self.transport is not None:
                    self.transport.pause_reading()
                    self.paused = True
                return
            length = (buffer[0] << 8) | buffer[1]
            if length < 12:
                self.close()  # no DNS message is that short; nothing to answer
                return
            if len(buffer) < 2 + length:
                break
            message = bytes(buffer[2:2 + length])
            del buffer[:2 + length]
            self.last_activity = asyncio.get_running_loop().time()
            self.in_flight += 1
            self.handler(message, self, self.peer)

    def send(self, data: bytes, addr: object) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(len(data).to_bytes(2, "big") + data)
        self.last_activity = asyncio.get_running_loop().time()
        if self.paused and self.in_flight < TCP_MAX_IN_FLIGHT // 2:
            self.paused = False
            self.transport.resume_reading()
            self._dispatch()

    def send_more(self, data: bytes) -> None:
        """One message of a reply that takes several (a zone transfer, RFC 5936 2.2), written as
        :meth:`send` writes it; its query stays in flight until the last goes through :meth:`send`."""
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(len(data).to_bytes(2, "big") + data)
        self.last_activity = asyncio.get_running_loop().time()

    async def drain(self) -> bool:
        """Wait while the transport's write buffer is over its high-water mark (asyncio's flow
        control, :meth:`pause_writing`); whether the connection is still open."""
        if self.writable is not None:
            await self.writable
        return self.transport is not None and not self.transport.is_closing()

    def pause_writing(self) -> None:
        self.writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.writable is not None:
            self.writable.set_result(None)
            self.writable = None

    def _check_idle(self) -> None:
        loop = asyncio.get_running_loop()
        due = self.last_activity + self.idle_timeout
        if loop.time() >= due:
            self.close()
        else:
            self.idle_timer = loop.call_at(due, self._check_idle)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.registry.discard(self)
        self.resume_writing()
        if self.idle_timer is not None:
            self.idle_timer.cancel()


class Listener:
    """UDP and TCP bound to the same address and port."""

    def __init__(self, udp: asyncio.BaseTransport | WildcardUdpServer, tcp: asyncio.AbstractServer,
                 connections: set[TcpConnection], host: str, port: int) -> None:
        self.udp = udp
        self.tcp = tcp
        self.connections = connections
        self.host = host
        self.port = port

    def __str__(self) -> str:
        return format_hostport(self.host, self.port)

    def close(self) -> None:
        self.udp.close()
        self.tcp.close()
        for connection in list(self.connections):
            connection.close()


async def listen(host: str, port: int, handler: Handler, options: ListenOptions = ListenOptions(),
                 v6only: bool = False) -> Listener:
    """Serve UDP and TCP on ``host:port``; port 0 picks one free port for both.

    A wildcard address's UDP socket is a :class:`WildcardUdpServer`, so each
    reply leaves from the address its query was sent to; ``v6only`` is
    :func:`bind_pair`'s. Raises :class:`ListenError`.
    """
    loop = asyncio.get_running_loop()
    udp_sock, tcp_sock = bind_pair(host, port, options.reuse_port, v6only)
    connections: set[TcpConnection] = set()
    udp: asyncio.BaseTransport | WildcardUdpServer
    try:
        tcp = await loop.create_server(lambda: TcpConnection(handler, connections, options.tcp_idle), sock=tcp_sock)
        if is_wildcard(host):
            udp = WildcardUdpServer(handler, udp_sock, loop)
        else:
            udp, _ = await loop.create_datagram_endpoint(lambda: UdpServer(handler, udp_sock), sock=udp_sock)
    except OSError as exc:
        udp_sock.close()
        tcp_sock.close()
        raise ListenError(f"cannot listen on {format_hostport(host, port)}: {describe_bind_error(exc)}") from None
    return Listener(udp, tcp, connections, host, udp_sock.getsockname()[1])


def bind_pair(host: str, port: int, reuse_port: bool = False,
              v6only: bool = False) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket bound to the same address and port; port 0 picks one free for both.

    IPv6 sockets get IPV6_V6ONLY set to ``v6only``, both alike: without it
    (the Linux default) ``[::]`` serves IPv4 too, on UDP and TCP, with
    IPv4-mapped client addresses (RFC 3493 5.3); with it, ``[::]:P`` can be
    bound beside ``0.0.0.0:P``, as NSD and BIND bind their IPv6 sockets.
    Bound here rather than by the event loop, which would lose the errno of a
    failure. Raises :class:`ListenError` with the address and the reason.
    """
    family = address_family(host)
    attempts = PORT_ZERO_ATTEMPTS if port == 0 else 1
    for attempt in range(attempts):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            for sock in (udp, tcp):
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
                if reuse_port:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            udp.bind(socket_address(host, port))
            tcp.bind(socket_address(host, udp.getsockname()[1]))
            return udp, tcp
        except OSError as exc:
            udp.close()
            tcp.close()
            if port == 0 and exc.errno == errno.EADDRINUSE and attempt < attempts - 1:
                continue    # the UDP port was free but its TCP twin was not: pick another
            raise ListenError(f"cannot listen on {format_hostport(host, port)}: {describe_bind_error(exc)}") from None
    raise AssertionError("unreachable")


def describe_bind_error(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "address already in use"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need root)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "no such local address"
    return exc.strerror or str(exc)


def enlarge_buffers(sock: socket.socket | None) -> None:
    """Ask for large UDP buffers, so a burst is queued rather than dropped by the kernel."""
    if sock is None:
        return
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, UDP_BUFFER_BYTES)
        except OSError as exc:
            log.debug("cannot set UDP buffer size: %s", exc)
