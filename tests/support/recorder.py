"""A UDP DNS backend that records the source port of every query: RFC 5452's source ports, seen from the backend.

:class:`PortRecorder` binds one UDP socket on 127.0.0.1, port 0, in its
constructor, and one thread reads it from then on, so it is ready once made.
Every datagram that parses as a DNS message is kept in :attr:`PortRecorder.queries`
as ``(source port, query)``, in arrival order, before anything is sent back.

What goes back is up to ``respond``, a function of the query (a dnslib
``DNSRecord``), its source address and the recorder's socket, called in the
reading thread; it sends what it likes, from that socket or another, so a test
can script forged replies around the real one. By default (:func:`answer`)
each query gets a positive answer at once: NOERROR, AA, and one A record,
:func:`address_for` the name asked, an address of its own for each name so
that an answer given for the wrong query shows. :func:`silent` sends nothing.

:meth:`PortRecorder.stop` (or leaving the ``with`` block) ends the thread and
closes the socket.
"""
from __future__ import annotations

import socket
import threading
import zlib
from typing import Callable

from dnslib import QTYPE, RR, A, DNSError, DNSRecord

HOST = "127.0.0.1"
POLL = 0.02             # seconds: how soon the reading thread notices a stop
MAX_DATAGRAM = 65535

Respond = Callable[[DNSRecord, tuple[str, int], socket.socket], None]


def address_for(name: str) -> str:
    """The IPv4 address :func:`answer` gives ``name`` (letter case aside): 198.18.0.0/15, from its CRC-32."""
    crc = zlib.crc32(name.lower().rstrip(".").encode())
    return f"198.{18 + (crc >> 16 & 1)}.{crc >> 8 & 0xFF}.{crc & 0xFF}"


def positive(query: DNSRecord) -> bytes:
    """The answer :func:`answer` sends to ``query``, as wire bytes."""
    reply = query.reply(ra=0, aa=1)
    name = str(query.q.qname)
    reply.add_answer(RR(name, QTYPE.A, ttl=60, rdata=A(address_for(name))))
    return reply.pack()


def answer(query: DNSRecord, source: tuple[str, int], sock: socket.socket) -> None:
    """Send :func:`positive` back to ``source`` at once."""
    sock.sendto(positive(query), source)


def silent(query: DNSRecord, source: tuple[str, int], sock: socket.socket) -> None:
    """Send nothing."""


class PortRecorder:
    """A UDP DNS server on 127.0.0.1, port 0 (:attr:`address`), recording each query's source port.

    ``respond``: what the recorder does with each query (see the module's text).
    """

    def __init__(self, respond: Respond = answer) -> None:
        self.respond = respond
        self.queries: list[tuple[int, DNSRecord]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)      # a burst waits, not lost
        self.sock.bind((HOST, 0))
        self.sock.settimeout(POLL)
        self.address: tuple[str, int] = self.sock.getsockname()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"port-recorder-{self.address[1]}", daemon=True)
        self._thread.start()

    @property
    def hostport(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    def ports(self, qtype: str = "A") -> list[int]:
        """The source port of each query of type ``qtype`` so far (the LS's health probes are SOA)."""
        return [port for port, query in list(self.queries) if QTYPE[query.q.qtype] == qtype]

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                data, source = self.sock.recvfrom(MAX_DATAGRAM)
            except socket.timeout:
                continue
            except OSError:
                return          # the socket closed: stopping
            try:
                query = DNSRecord.parse(data)
            except DNSError:
                continue
            self.queries.append((source[1], query))
            try:
                self.respond(query, source, self.sock)
            except OSError:
                pass            # the LS's socket went away: nothing to answer

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        self.sock.close()

    def __enter__(self) -> "PortRecorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
