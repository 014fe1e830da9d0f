"""A delaying, lossy relay in front of a real DNS server: a slow or bad network on demand.

:class:`Relay` listens on ``host`` (127.0.0.1), UDP and TCP on one port, and
passes everything on to ``target`` (ADDR, PORT):

* UDP: each datagram from a client goes to the target from a back socket of
  that client's own (bound to ``source`` when given), so replies find their
  way back to the client that asked; a reply goes back at once, from the
  relay's front socket.
* TCP: each accepted connection gets a connection to the target of its own
  (from ``source`` when given); bytes are passed on in order both ways, and a
  client's end of stream is passed on after its last bytes.

What is slowed is the way *to* the target: every datagram, and every chunk of
a TCP stream, a client sends is held ``delay`` seconds before it goes on
(replies are not held), so each reply reaches the client ``delay`` seconds
later than it would without the relay. A ``loss`` share (0 to 1) of the
client's UDP datagrams is dropped instead, and a ``reply_loss`` share of the
target's UDP replies, each way picked by a :class:`random.Random` of its own
seeded from ``seed``, so a run that sends the same datagrams in the same order
drops the same ones every time; TCP loses nothing. ``delay``, ``loss`` and
``reply_loss`` are plain attributes a test may change while the relay runs; a
chunk of a TCP stream never overtakes the one before it, even when ``delay`` is
lowered.

The sockets are bound in the constructor and one selector thread serves them
from then on, so a relay is ready once constructed. :meth:`stop` (or leaving
the ``with`` block) ends the thread, drops what is still held, and closes every
socket.
"""
from __future__ import annotations

import functools
import heapq
import itertools
import random
import selectors
import socket
import threading
import time
from typing import Callable

HOST = "127.0.0.1"
BIND_ATTEMPTS = 20          # ports tried for UDP and TCP on one number
CONNECT_TIMEOUT = 1.0       # seconds a TCP connection to the target may take; then the client's is closed
SEND_TIMEOUT = 1.0          # seconds a blocked TCP send may wait
MAX_DATAGRAM = 65535


class Relay:
    """A relay on ``host``, port 0 (see :attr:`address`), to ``target``; the way there is slowed.

    ``target``: (ADDR, PORT) of the server behind it. ``delay``: seconds each
    datagram or TCP chunk from a client is held before it goes to the target.
    ``loss``: the share (0 to 1) of client datagrams dropped; ``reply_loss``:
    the share of the target's datagrams dropped. ``source``: the local address
    the back side binds to (None: the kernel picks). ``seed``: for the random
    picking the datagrams lost. :attr:`datagrams` counts the client datagrams
    received, lost ones included.
    """

    def __init__(self, target: tuple[str, int], delay: float = 0.0, loss: float = 0.0,
                 source: str | None = None, seed: int = 0, host: str = HOST, reply_loss: float = 0.0) -> None:
        self.target = target
        self.delay = delay
        self.loss = loss
        self.reply_loss = reply_loss
        self.source = source
        self.random = random.Random(seed)
        self.reply_random = random.Random(f"{seed} replies")     # its own, so either way's picks stay the same
        self.datagrams = 0
        self._selector = selectors.DefaultSelector()
        self._held: list[tuple[float, int, Callable[[], object]]] = []     # a heap by due time
        self._order = itertools.count()
        self._udp_backs: dict[tuple[str, int], socket.socket] = {}       # client address -> its back socket
        self._streams: dict[socket.socket, tuple[socket.socket, list[float]]] = {}   # either end -> other end, last due
        self._stopping = False
        self.front, self.listener = udp_and_tcp(host)
        self._address: tuple[str, int] = self.front.getsockname()
        self._wake, self._waker = socket.socketpair()
        self._watch(self.front, self._from_client)
        self._watch(self.listener, self._accept)
        self._watch(self._wake, lambda sock: sock.recv(64))
        self._thread = threading.Thread(target=self._run, name=f"relay-{self.address[1]}", daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) the relay listens on, UDP and TCP."""
        return self._address

    @property
    def hostport(self) -> str:
        """``HOST:PORT`` the relay listens on, as ``--backend`` takes it."""
        host, port = self.address
        return f"{host}:{port}"

    # ------------------------------------------------------------------ the thread

    def _watch(self, sock: socket.socket, on_readable: Callable[[socket.socket], None]) -> None:
        self._selector.register(sock, selectors.EVENT_READ, on_readable)

    def _hold(self, due: float, send: Callable[[], object]) -> None:
        heapq.heappush(self._held, (due, next(self._order), send))

    def _run(self) -> None:
        while not self._stopping:
            wait = max(0.0, self._held[0][0] - time.monotonic()) if self._held else None
            for key, _ in self._selector.select(wait):
                if self._stopping:
                    return
                key.data(key.fileobj)
            while self._held and self._held[0][0] <= time.monotonic():
                try:
                    heapq.heappop(self._held)[2]()
                except OSError:
                    pass        # the way is down, or the connection closed: lost, as on a real network

    def _from_client(self, front: socket.socket) -> None:
        try:
            data, client = front.recvfrom(MAX_DATAGRAM)
        except OSError:
            return
        self.datagrams += 1
        back = self._udp_backs.get(client)
        if back is None:
            back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                if self.source is not None:
                    back.bind((self.source, 0))
            except OSError:
                back.close()
                return      # no way to the target from ``source``: lost
            self._udp_backs[client] = back
            self._watch(back, functools.partial(self._to_client, client))
        if self.random.random() >= self.loss:
            self._hold(time.monotonic() + self.delay, functools.partial(back.sendto, data, self.target))

    def _to_client(self, client: tuple[str, int], back: socket.socket) -> None:
        try:
            data = back.recv(MAX_DATAGRAM)
        except OSError:
            return      # an ICMP error from the target's side
        if self.reply_random.random() >= self.reply_loss:
            self.front.sendto(data, client)

    def _accept(self, listener: socket.socket) -> None:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        back = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if self.source is not None:
                back.bind((self.source, 0))
            back.settimeout(CONNECT_TIMEOUT)
            back.connect(self.target)
        except OSError:
            back.close()
            client.close()
            return
        for sock in (client, back):
            sock.settimeout(SEND_TIMEOUT)
        last_due = [0.0]
        self._streams[client] = (back, last_due)
        self._streams[back] = (client, last_due)
        self._watch(client, self._stream_from_client)
        self._watch(back, self._stream_to_client)

    def _stream_from_client(self, client: socket.socket) -> None:
        """A chunk from a TCP client, held ``delay`` s but never before the one ahead of it; at its
        end of stream, the target's side is shut for writing once everything held has gone."""
        if client not in self._streams:
            return      # closed by its other end while this event waited
        back, last_due = self._streams[client]
        data = self._recv(client)
        last_due[0] = max(last_due[0], time.monotonic() + self.delay)
        if data:
            self._hold(last_due[0], functools.partial(back.sendall, data))
        else:
            self._selector.unregister(client)
            self._hold(last_due[0], functools.partial(back.shutdown, socket.SHUT_WR))

    def _stream_to_client(self, back: socket.socket) -> None:
        if back not in self._streams:
            return      # closed by its other end while this event waited
        client, _ = self._streams[back]
        data = self._recv(back)
        if data:
            try:
                client.sendall(data)
                return
            except OSError:
                pass
        self._close_stream(back)

    @staticmethod
    def _recv(sock: socket.socket) -> bytes:
        """What is there to read; b"" at the end of the stream or when it broke."""
        try:
            return sock.recv(MAX_DATAGRAM)
        except OSError:
            return b""

    def _close_stream(self, sock: socket.socket) -> None:
        other, _ = self._streams.pop(sock)
        del self._streams[other]
        for end in (sock, other):
            if end in self._selector.get_map():
                self._selector.unregister(end)
            end.close()

    # ------------------------------------------------------------------ outside

    def stop(self) -> None:
        """End the thread (what is still held is dropped) and close every socket."""
        self._stopping = True
        self._waker.send(b"x")
        self._thread.join(5)
        for sock in [self.front, self.listener, self._wake, self._waker, *self._udp_backs.values(),
                     *self._streams]:
            sock.close()
        self._selector.close()

    def __enter__(self) -> "Relay":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def udp_and_tcp(host: str) -> tuple[socket.socket, socket.socket]:
    """A UDP socket on a free port of ``host`` and a listening TCP socket on the same number
    (another port when TCP's is taken, :data:`BIND_ATTEMPTS` at most); raises RuntimeError."""
    for _ in range(BIND_ATTEMPTS):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((host, 0))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.bind((host, udp.getsockname()[1]))
        except OSError:
            udp.close()
            tcp.close()
            continue
        tcp.listen(64)
        return udp, tcp
    raise RuntimeError(f"no port free for UDP and TCP on {host} in {BIND_ATTEMPTS} attempts")
