"""A primary that misbehaves on purpose in zone transfers, for the TS as a secondary.

No real server sends a garbled, cut or endless AXFR, or an IXFR whose
deletions do not apply: :class:`ScriptedPrimary` does, on demand. On
127.0.0.1, port 0, it answers over UDP the SOA queries for its zone with the
SOA of :attr:`ScriptedPrimary.records` (a zone as absolute record lines), and
over TCP it writes, for each transfer request (AXFR or IXFR), the octets that
its *script* (a function of the request, a :class:`dns.message.Message`)
returns: whole messages framed by :func:`framed`, or any bytes (a frame cut
short, a length past the end), then closes the connection; :data:`HOLD` keeps it
open and silent until the primary stops. The default script, :func:`whole_zone`, sends every
record in one message, the SOA first and last (an AXFR, or an IXFR answered
with the whole zone, RFC 1995 4). Every request is kept in
:attr:`ScriptedPrimary.seen` (its type and, for an IXFR, the serial it gives).

A context manager: leaving it closes its sockets and ends every connection.
"""
from __future__ import annotations

import socket
import struct
import threading
from typing import Callable, Sequence

import dns.exception
import dns.flags
import dns.message
import dns.rdatatype
import dns.rrset
import dns.tsig

from support.relay import udp_and_tcp
from support.servers import read_tcp_message

HOST = "127.0.0.1"
HOLD = b""          # a script's chunk that keeps the connection open and silent until the primary stops
Script = Callable[["ScriptedPrimary", dns.message.Message], Sequence[bytes]]


def rrsets(lines: Sequence[str]) -> list[dns.rrset.RRset]:
    """Absolute record lines (``owner TTL CLASS TYPE RDATA``) as one RRset each, in order."""
    return [dns.rrset.from_text(name, int(ttl), rdclass, rdtype, rdata)
            for name, ttl, rdclass, rdtype, rdata in (line.split(None, 4) for line in lines)]


def framed(*messages: dns.message.Message | bytes) -> bytes:
    """Messages as a TCP stream carries them (RFC 1035 4.2.2): each after its 16-bit length."""
    wires = [m if isinstance(m, bytes) else m.to_wire() for m in messages]
    return b"".join(struct.pack("!H", len(wire)) + wire for wire in wires)


def reply_to(request: dns.message.Message, answer: Sequence[dns.rrset.RRset]) -> dns.message.Message:
    """A reply to ``request`` with AA and ``answer``; signed with the request's key when it was
    signed (the first message of a transfer: dnspython chains no later one to it)."""
    reply = dns.message.make_response(request)
    reply.flags |= dns.flags.AA
    reply.answer = list(answer)
    return reply


def signed_every(request: dns.message.Message, messages: Sequence[dns.message.Message], every: int,
                 last_signed: bool = True) -> bytes:
    """A transfer's ``messages`` (replies to the signed ``request``), framed and signed as RFC 8945
    5.3.1 allows: the first, every ``every``-th and the last (unless ``last_signed`` is false),
    each TSIG covering the unsigned messages before it, as older NSD and BIND sign (every 96th
    or 100th). ``every`` 1 signs each, as NSD 4 and Knot do."""
    wires: list[bytes] = []
    context = None
    for index, message in enumerate(messages):
        last = index == len(messages) - 1
        if index == 0 or index % every == 0 or (last and last_signed):
            wires.append(message.to_wire(multi=True, tsig_ctx=context))
            context = message.tsig_ctx
        else:
            message.tsig = None
            wires.append(message.to_wire())
            context.update(wires[-1])   # type: ignore[union-attr]
    return framed(*wires)


def whole_zone(primary: "ScriptedPrimary", request: dns.message.Message) -> Sequence[bytes]:
    """Every record of the zone in one message, the SOA first and last."""
    zone = rrsets(primary.records)
    return [framed(reply_to(request, [*zone, zone[0]]))]


class ScriptedPrimary:
    """A primary for the zone of ``records`` whose transfers ``script`` writes (see the module's text).

    ``keyring``: TSIG keys to verify requests with (a signed request's replies are then
    signed by dnspython, each message chained to the one before, RFC 8945 5.3.1).
    """

    def __init__(self, records: Sequence[str], script: Script = whole_zone,
                 keyring: dict | None = None) -> None:
        self.records = list(records)
        self.script = script
        self.keyring = keyring
        self.seen: list[tuple[str, int | None]] = []      # (type, IXFR serial) of each request, in order
        self._stopping = threading.Event()
        self._udp, self._tcp = udp_and_tcp(HOST)
        self._threads = [threading.Thread(target=self._serve_udp, daemon=True),
                         threading.Thread(target=self._accept, daemon=True)]
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def address(self) -> tuple[str, int]:
        return HOST, self._udp.getsockname()[1]

    @property
    def hostport(self) -> str:
        return f"{HOST}:{self.address[1]}"

    def count(self, rdtype: str) -> int:
        """How many requests of type ``rdtype`` (``"SOA"``, ``"AXFR"``, ``"IXFR"``) arrived so far."""
        with self._lock:
            return sum(1 for kind, _ in self.seen if kind == rdtype)

    def __enter__(self) -> "ScriptedPrimary":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        for sock in (self._udp, self._tcp):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        with self._lock:
            for conn in self._connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for thread in self._threads:
            thread.join(5)

    def _parse(self, wire: bytes) -> dns.message.Message | None:
        try:
            request = dns.message.from_wire(wire, keyring=self.keyring)
        except (dns.exception.DNSException, dns.tsig.PeerError):
            return None
        rdtype = dns.rdatatype.to_text(request.question[0].rdtype) if request.question else "?"
        serial = request.authority[0][0].serial if rdtype == "IXFR" and request.authority else None
        with self._lock:
            self.seen.append((rdtype, serial))
        return request

    def _serve_udp(self) -> None:
        while not self._stopping.is_set():
            try:
                wire, client = self._udp.recvfrom(65535)
            except OSError:
                return
            request = self._parse(wire)
            if request is not None and request.question and request.question[0].rdtype == dns.rdatatype.SOA:
                self._udp.sendto(reply_to(request, rrsets(self.records[:1])).to_wire(), client)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._tcp.accept()
            except OSError:
                return
            with self._lock:
                self._connections.append(conn)
            threading.Thread(target=self._serve_tcp, args=(conn,), daemon=True).start()

    def _serve_tcp(self, conn: socket.socket) -> None:
        """SOA queries answered as over UDP, until a transfer request: its script is played,
        and the connection closed after it."""
        with conn:
            while not self._stopping.is_set():
                try:
                    wire = read_tcp_message(conn)
                except OSError:
                    return
                request = self._parse(wire) if wire else None
                if request is None:
                    return
                if request.question and request.question[0].rdtype == dns.rdatatype.SOA:
                    conn.sendall(framed(reply_to(request, rrsets(self.records[:1]))))
                    continue
                for chunk in self.script(self, request):
                    if chunk == HOLD:
                        self._stopping.wait()
                        return
                    try:
                        conn.sendall(chunk)
                    except OSError:
                        return
                return

