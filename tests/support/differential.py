"""Differential testing: NSD as the reference, the same wire bytes to two servers, replies compared.

Used by ``test_differential.py``, with a real NSD (:mod:`support.nsd`) as the
reference. Three parts:

* :class:`Variant` and :class:`Case`: one query (name, type, class and how it is
  sent) and its exact wire bytes, so both servers get the same bytes, ID included.
* :func:`exchange`, :func:`exchange_batch`, :func:`tcp_pipeline`: send over UDP (one query,
  or many in flight) or TCP; ``None`` means no reply.
* :func:`fields` and :func:`compare`: what of a reply is compared, and how.

What is compared, and why:

* whether there is a reply at all;
* the ID, the opcode, the rcode with its extended bits from OPT, and every
  header flag bit (QR AA TC RD RA Z AD CD);
* the question section as raw bytes, so letter case counts;
* the OPT record: present or not, EDNS version, flags (DO and the rest),
  UDP payload size, and its options (code and data, in order);
* the answer, authority and additional sections (OPT excluded) as multisets of
  records ``owner TTL class type rdata``: order does not matter, duplicates,
  TTLs and letter case do. Owner names are compared case-sensitively: NSD
  compresses records against the question, so an owner that is the question
  name comes out in the query's letter case, and ours does the same; names
  elsewhere keep the zone file's case in both. A set of records with their
  TTLs is a set of RRsets with their TTLs.

An unparseable reply is compared by its raw bytes.
"""
from __future__ import annotations

import socket
import struct
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from support.servers import read_tcp_message

HOST = "127.0.0.1"
UDP_TIMEOUT = 0.5       # per attempt; loopback replies take well under a millisecond
UDP_ATTEMPTS = 3

FLAG_BITS = (("qr", 0x8000), ("aa", 0x0400), ("tc", 0x0200), ("rd", 0x0100), ("ra", 0x0080),
             ("z", 0x0040), ("ad", 0x0020), ("cd", 0x0010))


# --------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class Variant:
    """How a query is sent: EDNS, header bits, transport."""

    name: str
    edns: int | None = 0            # EDNS version, None for no OPT record
    payload: int = 1232
    do: bool = False
    options: tuple[tuple[int, bytes], ...] = ()
    rd: bool = True
    cd: bool = False
    ad: bool = False
    z: bool = False
    tc: bool = False
    opcode: int = 0
    mangle: Callable[[bytes], bytes] | None = None   # rewrites the wire bytes (malformed queries)
    tcp: bool = False


@dataclass(frozen=True)
class Case:
    name: str
    qtype: str
    variant: Variant
    qclass: str = "IN"

    @property
    def id(self) -> str:
        cls = "" if self.qclass == "IN" else f"{self.qclass}/"
        return f"{self.name}/{cls}{self.qtype}/{self.variant.name}"

    @property
    def qid(self) -> int:
        return zlib.crc32(self.id.encode()) & 0xFFFF

    def wire(self, qid: int | None = None) -> bytes:
        v = self.variant
        kw: dict = {}
        if v.edns is None:
            kw["use_edns"] = False
        else:
            kw.update(use_edns=v.edns, payload=v.payload, want_dnssec=v.do,
                      options=[dns.edns.GenericOption(code, data) for code, data in v.options])
        q = dns.message.make_query(dns.name.from_text(self.name), dns.rdatatype.from_text(self.qtype),
                                   dns.rdataclass.from_text(self.qclass), **kw)
        q.id = self.qid if qid is None else qid
        if not v.rd:
            q.flags &= ~dns.flags.RD
        if v.cd:
            q.flags |= dns.flags.CD
        if v.ad:
            q.flags |= dns.flags.AD
        wire = bytearray(q.to_wire())
        # Bits dnspython will not set for us go in as raw bytes.
        flags = struct.unpack_from("!H", wire, 2)[0]
        if v.z:
            flags |= 0x0040
        if v.tc:
            flags |= 0x0200
        flags |= (v.opcode & 0xF) << 11
        struct.pack_into("!H", wire, 2, flags)
        return v.mangle(bytes(wire)) if v.mangle else bytes(wire)


# --------------------------------------------------------------------------- transport


def exchange(wire: bytes, address: tuple[str, int], tcp: bool = False,
             timeout: float = UDP_TIMEOUT, attempts: int = UDP_ATTEMPTS) -> bytes | None:
    """One query, one reply; None when no reply comes (or TCP is closed).

    Over UDP the same bytes are sent up to ``attempts`` times, ``timeout`` apart:
    NSD 4.6.1 drops about one in a hundred of its bare-header replies (FORMERR,
    NOTIMP) to back-to-back queries; strace shows it reading the query and
    sending nothing. A server that never answers still gives None.
    """
    if tcp:
        try:
            with socket.create_connection(address, timeout=timeout) as s:
                s.sendall(struct.pack("!H", len(wire)) + wire)
                return read_tcp_message(s)
        except (socket.timeout, ConnectionError):
            return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect(address)
        for _ in range(attempts):
            s.send(wire)
            try:
                return s.recv(65535)
            except socket.timeout:
                continue
            except ConnectionRefusedError:
                return None
        return None


def exchange_batch(wires: Sequence[bytes], address: tuple[str, int], window: int = 100,
                   timeout: float = UDP_TIMEOUT, attempts: int = UDP_ATTEMPTS) -> list[bytes | None]:
    """Many queries over UDP, ``window`` in flight at a time; the replies in query order.

    The queries in one window must have distinct IDs. A reply is taken for the
    query with its ID and question (or with no question, as error replies may
    have); queries still unanswered after ``timeout`` are sent again, up to
    ``attempts`` times, and then get None.
    """
    replies: list[bytes | None] = [None] * len(wires)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.connect(address)
        for start in range(0, len(wires), window):
            pending = {wires[i][:2]: i for i in range(start, min(start + window, len(wires)))}
            assert len(pending) == min(window, len(wires) - start), "IDs repeat within a window"
            for _ in range(attempts):
                for i in pending.values():
                    s.send(wires[i])
                _collect(s, wires, pending, replies, timeout)
                if not pending:
                    break
    return replies


def _collect(s: socket.socket, wires: Sequence[bytes], pending: dict[bytes, int],
             replies: list[bytes | None], timeout: float) -> None:
    """Read replies for ``pending`` (query ID -> index) into ``replies`` until none is left or ``timeout``."""
    deadline = time.monotonic() + timeout
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        s.settimeout(left)
        try:
            data = s.recv(65535)
        except (socket.timeout, ConnectionRefusedError):
            return
        i = pending.get(data[:2])
        if i is None or len(data) < 12:
            continue
        question = question_bytes(data)
        if question and question != question_bytes(wires[i]):
            continue
        replies[i] = data
        del pending[data[:2]]


def tcp_pipeline(wires: list[bytes], address: tuple[str, int], timeout: float = 5.0,
                 one_write: bool = True) -> dict[int, bytes]:
    """Send all queries on one TCP connection (in one write by default); replies by ID.

    Stops at ``timeout`` or when the server closes; a duplicate ID is an error.
    """
    out: dict[int, bytes] = {}
    deadline = time.monotonic() + timeout
    with socket.create_connection(address, timeout=timeout) as s:
        framed = [struct.pack("!H", len(w)) + w for w in wires]
        if one_write:
            s.sendall(b"".join(framed))
        else:
            for f in framed:
                s.sendall(f)
        while len(out) < len(wires):
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                msg = read_tcp_message(s)
            except (socket.timeout, ConnectionError):
                break
            if msg is None:
                break
            qid = struct.unpack_from("!H", msg)[0]
            assert qid not in out, f"two replies with ID {qid}"
            out[qid] = msg
    return out


# --------------------------------------------------------------------------- comparison


def question_bytes(wire: bytes) -> bytes:
    """The question section exactly as on the wire (QDCOUNT entries after the header)."""
    qdcount = struct.unpack_from("!H", wire, 4)[0]
    pos = 12
    for _ in range(qdcount):
        while pos < len(wire) and wire[pos] != 0:
            if wire[pos] >= 0xC0:
                pos += 1
                break
            pos += wire[pos] + 1
        pos += 1 + 4
    return wire[12:pos]


def rr_line(owner: dns.name.Name, ttl: int, rdclass: int, rdtype: int, rdata) -> str:
    return (f"{owner.to_text()} {ttl} {dns.rdataclass.to_text(rdclass)} "
            f"{dns.rdatatype.to_text(rdtype)} {rdata.to_text()}")


def section_records(section) -> tuple[str, ...]:
    lines = []
    for rrset in section:
        for rdata in rrset:
            lines.append(rr_line(rrset.name, rrset.ttl, rrset.rdclass, rrset.rdtype, rdata))
    return tuple(sorted(lines))


def parse(wire: bytes) -> dns.message.Message:
    return dns.message.from_wire(wire, one_rr_per_rrset=True)


def fields(wire: bytes | None) -> dict[str, object]:
    """Everything about a reply that the differential tests compare, by field name."""
    if wire is None:
        return {"reply": "none"}
    if len(wire) < 12:
        return {"reply": "short", "raw": wire.hex()}
    try:
        msg = parse(wire)
    except (dns.exception.DNSException, ValueError) as exc:
        return {"reply": f"unparseable ({type(exc).__name__})", "raw": wire.hex()}
    flags = struct.unpack_from("!H", wire, 2)[0]
    out: dict[str, object] = {
        "reply": "reply",
        "id": msg.id,
        "opcode": (flags >> 11) & 0xF,
        "rcode": dns.rcode.to_text(msg.rcode()),
        "flags": " ".join(n for n, bit in FLAG_BITS if flags & bit),
        "question": question_bytes(wire),
        "opt": msg.opt is not None,
    }
    if msg.opt is not None:
        out["opt.version"] = msg.edns
        out["opt.flags"] = hex(msg.ednsflags & 0xFFFF)
        out["opt.payload"] = msg.payload
        out["opt.options"] = tuple((int(o.otype), o.to_wire().hex()) for o in msg.options)
    out["answer"] = section_records(msg.answer)
    out["authority"] = section_records(msg.authority)
    out["additional"] = section_records(msg.additional)
    return out


@dataclass(frozen=True)
class Diff:
    field: str
    left: object
    right: object

    def __str__(self) -> str:
        return f"{self.field}: {fmt(self.left)} vs {fmt(self.right)}"


def fmt(value: object) -> str:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
        return "[" + "; ".join(value) + "]"
    return repr(value)


MISSING = "<absent>"
SECTIONS = ("answer", "authority", "additional")


def compare(left: bytes | None, right: bytes | None) -> list[Diff]:
    a, b = fields(left), fields(right)
    diffs = []
    for key in dict.fromkeys([*a, *b]):
        va, vb = a.get(key, MISSING), b.get(key, MISSING)
        if va != vb:
            diffs.append(Diff(key, va, vb))
    return diffs


def describe(wire: bytes | None) -> str:
    """A reply as text for an assertion message (dnspython's presentation form)."""
    if wire is None:
        return "(no reply)"
    try:
        return parse(wire).to_text()
    except Exception as exc:  # noqa: BLE001 - anything unreadable is shown raw
        return f"(unparseable: {exc}) {wire.hex()}"


# --------------------------------------------------------------------------- allow-list


@dataclass(frozen=True)
class Accepted:
    """A difference we accept: for cases matching ``when``, these fields may differ."""

    reason: str
    when: Callable[[Case], bool]
    fields: frozenset[str] = field(default_factory=frozenset)
    # When set, only this exact pair of values (reference, ours) is accepted per field.
    values: dict | None = None
    # When set, a further condition on a difference, given every difference of the same reply.
    check: Callable[[Diff, Sequence[Diff]], bool] | None = None

    def covers(self, case: Case, diff: Diff, others: Sequence[Diff] = ()) -> bool:
        """Whether this entry accepts ``diff``, one of the differences ``others`` of a reply to ``case``."""
        if diff.field not in self.fields or not self.when(case):
            return False
        if self.check is not None and not self.check(diff, others):
            return False
        if self.values is not None and diff.field in self.values:
            return self.values[diff.field] == (diff.left, diff.right)
        return True


def unexplained(case: Case, diffs: list[Diff], allowed: Iterable[Accepted]) -> list[Diff]:
    allowed = list(allowed)
    return [d for d in diffs if not any(a.covers(case, d, diffs) for a in allowed)]


def mismatch_report(case: Case, diffs: list[Diff], left_name: str, left: bytes | None,
                    right_name: str, right: bytes | None) -> str:
    lines = [f"{case.id}: {left_name} and {right_name} differ ({len(diffs)} field(s), "
             f"query {case.wire().hex()})"]
    for d in diffs:
        if d.field in SECTIONS and isinstance(d.left, tuple) and isinstance(d.right, tuple):
            only_left = sorted(set(d.left) - set(d.right))
            only_right = sorted(set(d.right) - set(d.left))
            lines.append(f"  {d.field}: {len(d.left)} vs {len(d.right)} records; only {left_name}: "
                         f"{fmt(tuple(only_left))}; only {right_name}: {fmt(tuple(only_right))}")
        else:
            lines.append(f"  {d.field}: {left_name}={fmt(d.left)}  {right_name}={fmt(d.right)}")
    lines += [f"--- {left_name}", describe(left), f"--- {right_name}", describe(right)]
    return "\n".join(lines)
