"""Fake DNS backends that misbehave on purpose, built on dnslib's server classes.

This is the role dnslib has in the tests: the backends a split-DNS resolver
must survive, which no real authoritative server will play on demand. A
:class:`FakeBackend` is a dnslib ``DNSServer`` (a threaded ``socketserver``)
on 127.0.0.1, port 0, over UDP and, unless told otherwise, TCP on the same
port. It answers every query by a *rule*: a function from the query (a dnslib
``DNSRecord``) to a *script*, the messages to send back and when (seconds after
the query arrived). The rules:

- :func:`answer`: a positive answer: NOERROR, AA, one A record for the name asked.
- :func:`nxdomain`: name error (RFC 1035 4.1.1): NXDOMAIN, AA, and the zone's
  SOA in the authority section, as RFC 2308 section 3 asks of a negative answer.
- :func:`nodata`: "NODATA" in RFC 2308's words (section 2.2): the name exists
  but has no records of the type asked: NOERROR, AA, an empty answer section
  and the SOA in the authority section.
- :func:`negative`: any rcode, with or without AA and the SOA.
- :func:`cname_only`: NOERROR, AA, and an answer section holding only a CNAME
  to a target the fake does not answer for (the chain is left open).
- :func:`referral`: a referral (RFC 1034 4.3.2, RFC 2308 2.1): NOERROR, AA
  clear, an empty answer, NS records in the authority section and their
  addresses (glue) in the additional section.
- :func:`lowercased`: a positive answer whose question section is the question
  asked in lower case, not echoed exactly.
- :func:`other_question`: a positive-looking reply to the same name with another
  question type (not an answer to the query).
- :func:`header_only`: any rcode as a bare 12-byte header, with no question;
  :func:`header_only_formerr` is FORMERR so (as NSD answers some malformed queries).
- :func:`badvers`: BADVERS (RFC 6891 6.1.3): NOERROR in the header and 1 in the
  OPT record's extended rcode, with no question (as CoreDNS answers) or with it.
- :func:`garbage_sections`: a positive answer whose sections do not parse, in
  each of the ways a reply can be broken (:data:`BROKEN_SHAPES`): counts
  larger than the records present, rdlength past the end, a compression
  pointer out of the message or not backward, trailing bytes, a record cut short,
  an A record five bytes long.
- :func:`wrong_owner`: NOERROR, AA, and an A record (or a CNAME) for another name than the one asked.
- :func:`broken_negative`: an NXDOMAIN whose SOA is cut short, or a CNAME whose target points past the end.
- :func:`other_opcode`: a positive answer under another opcode than the query's.
- :func:`silent`: never replies.
- :func:`slow`: any rule, its messages sent ``seconds`` later. Every builder
  also takes ``delay``.

A rule is read on every query, so a test may change :attr:`FakeBackend.rule`
while the fake runs (a backend that comes back). Every query a fake receives
is kept in :attr:`FakeBackend.seen`, in arrival order, the LS's health probes
(SOA queries for ``.``) included unless the LS was started without probes. The fake is a context
manager: leaving it stops its server threads, drops replies still waiting for
their delay (they are then not sent) and closes its sockets.

Over TCP a fake may also end its connections as a server does that serves a
few queries per connection (NSD's ``tcp-query-count``), restarts, or times an
idle connection out: with ``stream_answers=k`` each connection answers its
first ``k`` queries, and the next query read ends it unanswered, as
``stream_end`` says: ``"close"`` (a close with the rest of the queries unread,
which the kernel turns into a reset), ``"reset"`` (an abortive close at once,
SO_LINGER 0), or ``"half-close"`` (a FIN, the fake still reading and never
answering until the other side closes). That query is kept in
:attr:`FakeBackend.seen` too.

UDP queries are answered in the server's own thread, and delayed replies are
sent by one timer thread: no thread per datagram, so a fake keeps up with
thousands of queries in flight even on a busy machine. TCP connections get a
thread each, as dnslib's server gives them.
"""
from __future__ import annotations

import heapq
import itertools
import socket
import socketserver
import struct
import threading
import time
from typing import Callable, Sequence

from dnslib import AAAA, CNAME, NS, QTYPE, RCODE, RR, SOA, A, DNSError, DNSLabel, DNSQuestion, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer, TCPServer, UDPServer

HOST = "127.0.0.1"
POLL = 0.02             # seconds: how soon the server threads notice a stop
BIND_ATTEMPTS = 20      # ports tried for UDP and TCP on one number
UDP_BUFFER = 4 << 20    # bytes asked for: a burst of thousands of queries is queued, not dropped

STREAM_ENDS = ("close", "reset", "half-close")     # how a connection past its stream_answers ends
Send = tuple[float, bytes]                      # (seconds after the query arrived, a whole DNS message)
Rule = Callable[[DNSRecord], Sequence[Send]]    # the query -> what to send back; () is silence

QUIET = DNSLogger("-request,-reply,-truncated,-error")


# --------------------------------------------------------------------------- rules


def _reply(request: DNSRecord, rcode: int = RCODE.NOERROR, aa: bool = True) -> DNSRecord:
    """A reply to ``request`` echoing its ID, opcode, RD and question; RA clear."""
    reply = request.reply(ra=0, aa=int(aa))
    reply.header.rcode = rcode
    return reply


def _soa(zone: str) -> RR:
    return RR(zone, QTYPE.SOA, ttl=60, rdata=SOA("a.", "b.", (1, 2, 3, 4, 5)))


def _at(delay: float, build: Callable[[DNSRecord], DNSRecord | bytes]) -> Rule:
    """A rule sending what ``build`` makes of the query, ``delay`` seconds after it arrived."""
    def rule(request: DNSRecord) -> Sequence[Send]:
        made = build(request)
        return [(delay, made if isinstance(made, bytes) else made.pack())]
    return rule


def answer(address: str = "192.0.2.7", delay: float = 0.0) -> Rule:
    """Positive: NOERROR, AA, one A record (``address``, or AAAA when it has a colon) for the name asked."""
    def build(request: DNSRecord) -> DNSRecord:
        reply = _reply(request)
        rdata = AAAA(address) if ":" in address else A(address)
        reply.add_answer(RR(request.q.qname, QTYPE.AAAA if ":" in address else QTYPE.A, ttl=60, rdata=rdata))
        return reply
    return _at(delay, build)


def negative(rcode: int, delay: float = 0.0, soa: bool = False, zone: str = ".") -> Rule:
    """The rcode alone; with ``soa``, also AA and ``zone``'s SOA in the authority section."""
    def build(request: DNSRecord) -> DNSRecord:
        reply = _reply(request, rcode, aa=soa)
        if soa:
            reply.add_auth(_soa(zone))
        return reply
    return _at(delay, build)


def nxdomain(delay: float = 0.0, zone: str = ".") -> Rule:
    """Authoritative name error (RFC 2308 section 3): NXDOMAIN, AA, ``zone``'s SOA in the authority section."""
    return negative(RCODE.NXDOMAIN, delay, soa=True, zone=zone)


def nodata(delay: float = 0.0, zone: str = ".") -> Rule:
    """NODATA (RFC 2308 section 2.2): NOERROR, AA, no answer records, ``zone``'s SOA in the authority section."""
    return negative(RCODE.NOERROR, delay, soa=True, zone=zone)


def cname_only(target: str = "elsewhere.invalid.", delay: float = 0.0) -> Rule:
    """NOERROR, AA, and only a CNAME from the name asked to ``target``, which the fake leaves unanswered
    (asked for ``target`` itself, it says REFUSED, as a server that does not hold it)."""
    def build(request: DNSRecord) -> DNSRecord:
        if str(request.q.qname).lower() == target.lower():
            return _reply(request, RCODE.REFUSED, aa=False)
        reply = _reply(request)
        reply.add_answer(RR(request.q.qname, QTYPE.CNAME, ttl=60, rdata=CNAME(target)))
        return reply
    return _at(delay, build)


def referral(ns: str = "ns1.child.invalid.", glue: str = "192.0.2.53", delay: float = 0.0) -> Rule:
    """A referral: NOERROR, AA clear, no answer; NS ``ns`` for the name asked in the
    authority section and its address ``glue`` in the additional section."""
    def build(request: DNSRecord) -> DNSRecord:
        reply = _reply(request, aa=False)
        reply.add_auth(RR(request.q.qname, QTYPE.NS, ttl=60, rdata=NS(ns)))
        reply.add_ar(RR(ns, QTYPE.A, ttl=60, rdata=A(glue)))
        return reply
    return _at(delay, build)


def lowercased(address: str = "192.0.2.7", delay: float = 0.0) -> Rule:
    """A positive answer (NOERROR, AA, A ``address``) whose question is the one asked, lower-cased."""
    def build(request: DNSRecord) -> DNSRecord:
        reply = _reply(request)
        lower = DNSLabel(str(request.q.qname).lower())
        reply.questions = [DNSQuestion(lower, request.q.qtype, request.q.qclass)]
        reply.add_answer(RR(lower, QTYPE.A, ttl=60, rdata=A(address)))
        return reply
    return _at(delay, build)


def other_question(qtype: str = "AAAA", address: str = "203.0.113.9", delay: float = 0.0) -> Rule:
    """A positive-looking reply (NOERROR, AA, an A record) whose question has the name asked but
    type ``qtype``: a reply to another question, so not an answer to this one."""
    def build(request: DNSRecord) -> DNSRecord:
        reply = _reply(request)
        reply.questions = [DNSQuestion(request.q.qname, getattr(QTYPE, qtype), request.q.qclass)]
        reply.add_answer(RR(request.q.qname, QTYPE.A, ttl=60, rdata=A(address)))
        return reply
    return _at(delay, build)


def header_only(rcode: int, delay: float = 0.0) -> Rule:
    """``rcode`` as a bare 12-byte header: the query's ID and opcode, QR set, every count 0."""
    def build(request: DNSRecord) -> bytes:
        flags = 0x8000 | (request.header.opcode << 11) | rcode
        return struct.pack("!6H", request.header.id, flags, 0, 0, 0, 0)
    return _at(delay, build)


def header_only_formerr(delay: float = 0.0) -> Rule:
    """FORMERR as a bare 12-byte header (:func:`header_only`), as NSD answers some malformed queries."""
    return header_only(RCODE.FORMERR, delay)


def wrong_owner(owner: str = "evil.example.", rtype: str = "A", delay: float = 0.0) -> Rule:
    """NOERROR, AA, and an A record (or a CNAME, ``rtype``) whose owner is ``owner``, not the name
    asked (RFC 2181 5.4.1: it answers nothing)."""
    def build(request: DNSRecord) -> DNSRecord:
        reply = _reply(request)
        rdata = A("198.51.100.66") if rtype == "A" else CNAME("www.ibm.com.")
        reply.add_answer(RR(owner, getattr(QTYPE, rtype), ttl=60, rdata=rdata))
        return reply
    return _at(delay, build)


def broken_negative(shape: str, delay: float = 0.0) -> Rule:
    """A reply that is no answer and does not parse: ``nxdomain-cut``, an authoritative NXDOMAIN whose
    SOA is cut short; ``cname-pointer``, a CNAME for the name asked whose target is a compression
    pointer past the end of the message."""
    def build(request: DNSRecord) -> bytes:
        if shape == "nxdomain-cut":
            reply = _reply(request, RCODE.NXDOMAIN)
            reply.add_auth(_soa("."))
            return bytes(reply.pack())[:-7]
        reply = _reply(request)
        reply.add_answer(RR(request.q.qname, QTYPE.CNAME, ttl=60, rdata=CNAME("x.invalid.")))
        wire = bytes(reply.pack())
        rdata = len(wire) - len(b"\x01x\x07invalid\x00")
        return wire[:rdata - 2] + struct.pack("!H", 2) + b"\xc3\xff"
    return _at(delay, build)


def other_opcode(opcode: int = 4, delay: float = 0.0) -> Rule:
    """A positive answer (:func:`answer`) with another opcode than the query's (NOTIFY, by default)."""
    def build(request: DNSRecord) -> bytes:
        reply = _reply(request)
        reply.add_answer(RR(request.q.qname, QTYPE.A, ttl=60, rdata=A("198.51.100.67")))
        wire = bytearray(reply.pack())
        wire[2] = (wire[2] & 0x87) | (opcode << 3)
        return bytes(wire)
    return _at(delay, build)


def badvers(question: bool = False, delay: float = 0.0) -> Rule:
    """BADVERS: a NOERROR header and an OPT record whose extended rcode is 1, the question echoed or not."""
    def build(request: DNSRecord) -> bytes:
        flags = 0x8000 | (request.header.opcode << 11)
        echoed = DNSRecord(q=request.q).pack()[12:] if question else b""
        opt = b"\x00" + struct.pack("!HHIH", QTYPE.OPT, 1232, 1 << 24, 0)
        return struct.pack("!6H", request.header.id, flags, int(question), 0, 0, 1) + echoed + opt
    return _at(delay, build)


def _broken(shape: str, answer: bytes) -> bytes:
    """A positive answer (one A record, its owner a pointer to the question) broken as ``shape`` says."""
    pointer = answer.index(b"\xc0\x0c", 12)
    if shape == "counts":               # one answer record more than the body holds
        return answer[:6] + struct.pack("!H", struct.unpack_from("!H", answer, 6)[0] + 1) + answer[8:]
    if shape == "rdlength":             # the record's data runs past the end
        return answer[:-6] + struct.pack("!H", 255) + answer[-4:]
    if shape == "pointer":              # a compression pointer past the end of the message
        return answer[:pointer] + b"\xc0\xff" + answer[pointer + 2:]
    if shape == "forward-pointer":      # a compression pointer to itself, not back
        return answer[:pointer] + struct.pack("!H", 0xC000 | pointer) + answer[pointer + 2:]
    if shape == "trailing":             # bytes after the last record
        return answer + b"\x00\x00"
    if shape == "cut":                  # the message ends inside the record's fixed part
        return answer[:pointer + 6]
    if shape == "address-length":       # an A record of five bytes (dnspython and dig reject it)
        return answer[:-6] + struct.pack("!H", 5) + answer[-4:] + b"\x00"
    raise ValueError(f"no such shape: {shape}")


BROKEN_SHAPES = ("counts", "rdlength", "pointer", "forward-pointer", "trailing", "cut", "address-length")


def garbage_sections(shape: str = "pointer", delay: float = 0.0) -> Rule:
    """A positive answer to the question (NOERROR, AA, one A record) whose sections do not parse,
    broken one way of :data:`BROKEN_SHAPES`: counts larger than the records present, rdlength past
    the end, a compression pointer past the end or not backward, trailing bytes, a record cut short,
    an address record of the wrong length."""
    def build(request: DNSRecord) -> bytes:
        reply = _reply(request)
        reply.add_answer(RR(request.q.qname, QTYPE.A, ttl=60, rdata=A("192.0.2.66")))
        return _broken(shape, bytes(reply.pack()))
    return _at(delay, build)


def by_name(rules: dict[str, Rule], otherwise: Rule = answer()) -> Rule:
    """The rule of the name asked (lower case, no final dot), else ``otherwise``."""
    def rule(request: DNSRecord) -> Sequence[Send]:
        return rules.get(str(request.q.qname).rstrip(".").lower(), otherwise)(request)
    return rule


def silent(request: DNSRecord) -> Sequence[Send]:
    """Never replies."""
    return ()


def slow(rule: Rule, seconds: float) -> Rule:
    """``rule``, with everything it sends ``seconds`` later."""
    def delayed(request: DNSRecord) -> Sequence[Send]:
        return [(at + seconds, data) for at, data in rule(request)]
    return delayed


# --------------------------------------------------------------------------- servers


class _ScriptHandler(DNSHandler):
    """dnslib's handler, sending a rule's script instead of one reply: several messages,
    each at its time, or none. Over TCP it serves every query on the connection."""

    def handle(self) -> None:
        fake: FakeBackend = self.server.resolver
        if self.server.socket_type == socket.SOCK_STREAM:
            self.protocol = "tcp"
            self.request.settimeout(POLL)
            answered = 0
            while (data := self._read_framed(fake.stopping)) is not None:
                if answered == fake.stream_answers:
                    self._end_stream(fake, data)
                    return
                self._play(fake, data, lambda reply: self.request.sendall(struct.pack("!H", len(reply)) + reply))
                answered += 1
        else:
            self.protocol = "udp"
            data, sock = self.request
            self._play(fake, data, lambda reply: sock.sendto(reply, self.client_address), udp=True)

    def _end_stream(self, fake: "FakeBackend", data: bytes) -> None:
        """Keep the query ``data`` in :attr:`FakeBackend.seen` and end the connection without answering
        it, by :attr:`FakeBackend.stream_end` (socketserver then closes what is left of it)."""
        try:
            fake.seen.append(DNSRecord.parse(data))
        except DNSError:
            pass
        if fake.stream_end == "reset":
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.request.close()
        elif fake.stream_end == "half-close":
            self.request.shutdown(socket.SHUT_WR)
            while self._read_framed(fake.stopping) is not None:
                pass

    def _read_framed(self, stopping: threading.Event) -> bytes | None:
        """One length-prefixed message from the connection; None at its end or at a stop."""
        prefix = self._read_exactly(2, stopping)
        if prefix is None:
            return None
        return self._read_exactly(struct.unpack("!H", prefix)[0], stopping)

    def _read_exactly(self, size: int, stopping: threading.Event) -> bytes | None:
        data = b""
        while len(data) < size and not stopping.is_set():
            try:
                chunk = self.request.recv(size - len(data))
            except socket.timeout:
                continue
            except OSError:
                return None
            if not chunk:
                return None
            data += chunk
        return data if len(data) == size else None

    def _play(self, fake: "FakeBackend", data: bytes, send: Callable[[bytes], object], udp: bool = False) -> None:
        """Parse the query (a fake ignores what it cannot parse), record it, and send its script.

        Over UDP (recorded already, as it arrived) what is due later goes to the
        fake's timer thread; over TCP this connection's thread waits for it.
        """
        arrived = time.monotonic()
        try:
            request = DNSRecord.parse(data)
        except DNSError:
            return
        if not udp:
            fake.seen.append(request)
        for at, reply in sorted(fake.resolve(request, self), key=lambda send_at: send_at[0]):
            if udp and at > 0:
                fake.timer.at(arrived + at, lambda reply=reply: send(reply))
                continue
            if fake.stopping.wait(max(0.0, arrived + at - time.monotonic())):
                return
            try:
                send(reply)
            except OSError:
                return


class _Timer:
    """One thread that sends delayed UDP replies at their time, until the fake stops
    (what is still waiting then is not sent)."""

    def __init__(self, stopping: threading.Event) -> None:
        self._stopping = stopping
        self._due: list[tuple[float, int, Callable[[], object]]] = []
        self._order = itertools.count()         # equal times keep their order
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="fake-dns-timer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def at(self, when: float, send: Callable[[], object]) -> None:
        """Call ``send()`` at ``when`` (``time.monotonic()`` seconds)."""
        with self._changed:
            heapq.heappush(self._due, (when, next(self._order), send))
            self._changed.notify()

    def _run(self) -> None:
        with self._changed:
            while not self._stopping.is_set():
                wait = min(self._due[0][0] - time.monotonic(), POLL) if self._due else POLL
                if wait > 0:
                    self._changed.wait(wait)
                    continue
                _, _, send = heapq.heappop(self._due)
                try:
                    send()
                except OSError:
                    pass            # the socket is closing: the fake is stopping

    def join(self, timeout: float) -> None:
        with self._changed:
            self._changed.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)


class _RecordingUDPServer(UDPServer):
    """dnslib's UDP server, answering in its serving thread rather than a thread per datagram,
    and recording each query as it arrives, so that :attr:`FakeBackend.seen` is in arrival
    order and complete before any reply is sent; with large socket buffers, as the LS has,
    so that a burst is not lost to the kernel."""

    def process_request(self, request, client_address) -> None:
        socketserver.BaseServer.process_request(self, request, client_address)    # no thread of its own

    def server_bind(self) -> None:
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            try:
                self.socket.setsockopt(socket.SOL_SOCKET, option, UDP_BUFFER)
            except OSError:
                pass            # the kernel's limit stands
        super().server_bind()

    def verify_request(self, request, client_address) -> bool:
        try:
            self.resolver.seen.append(DNSRecord.parse(request[0]))
        except DNSError:
            pass
        return True


class FakeBackend(BaseResolver):
    """A misbehaving DNS server on ``host``, port 0: UDP, and TCP on the same port when ``tcp``.

    ``rule`` decides every reply (see the module's list); :meth:`resolve` turns
    a query into that rule's script. Use as ``with FakeBackend(nodata()) as fake:``
    and point the resolver at :attr:`address`. ``stream_answers`` and ``stream_end``
    end its TCP connections after that many answers (see the module's text);
    ValueError for a ``stream_end`` not in :data:`STREAM_ENDS`.
    """

    def __init__(self, rule: Rule, tcp: bool = True, host: str = HOST, stream_answers: int | None = None,
                 stream_end: str = "close") -> None:
        if stream_end not in STREAM_ENDS:
            raise ValueError(f"stream_end is one of {STREAM_ENDS}, not {stream_end!r}")
        self.rule = rule
        self.tcp = tcp
        self.stream_answers = stream_answers      # queries answered per TCP connection (None: every one)
        self.stream_end = stream_end
        self.host = host
        self.seen: list[DNSRecord] = []
        self.stopping = threading.Event()
        self.timer = _Timer(self.stopping)
        self._servers: list[DNSServer] = []
        self._threads: list[threading.Thread] = []

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> Sequence[Send]:
        """What to send for ``request``: the current rule's script."""
        return self.rule(request)

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) of the fake, as the LS's backend list takes it."""
        return self.host, self._servers[0].server.server_address[1]

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.address[1]}"

    def start(self) -> "FakeBackend":
        """Bind (UDP on a free port, then TCP on the same number; another port if that is taken) and serve."""
        for _ in range(BIND_ATTEMPTS):
            udp = DNSServer(self, self.host, 0, logger=QUIET, handler=_ScriptHandler, server=_RecordingUDPServer)
            if not self.tcp:
                self._servers = [udp]
                break
            try:
                tcp = DNSServer(self, self.host, udp.server.server_address[1], tcp=True, logger=QUIET,
                                handler=_ScriptHandler, server=TCPServer)
            except OSError:
                udp.server.server_close()
                continue
            self._servers = [udp, tcp]
            break
        else:
            raise RuntimeError(f"no port free for UDP and TCP on {self.host} in {BIND_ATTEMPTS} attempts")
        self.timer.start()
        for server in self._servers:
            thread = threading.Thread(target=server.server.serve_forever, kwargs={"poll_interval": POLL},
                                      name=f"fake-dns-{self.address[1]}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving, wake every reply still waiting for its time (it is not sent), close the sockets."""
        self.stopping.set()
        for server in self._servers:
            server.server.shutdown()
        for server in self._servers:
            server.server.server_close()        # joins the handler threads (socketserver's block_on_close)
        for thread in self._threads:
            thread.join(5)
        self.timer.join(5)

    def __enter__(self) -> "FakeBackend":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
