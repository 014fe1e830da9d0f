"""Wire-format scanning: the header, the question and the OPT record, nothing more.

Both servers touch every packet, so neither parses whole messages on the hot
path (a full dnslib parse costs tens of microseconds). :func:`scan_query` reads
only what answering or forwarding needs, and :func:`error_reply` builds the
servers' own short replies (FORMERR, NOTIMP, REFUSED, SERVFAIL, NXDOMAIN) from
the query's header and question bytes, which is all such a reply holds.
"""
from __future__ import annotations

import struct

HEADER = struct.Struct("!HHHHHH")
RR_FIXED = struct.Struct("!HHIH")  # type, class, ttl, rdlength

# Header flag bits (second and third bytes as one 16-bit word).
QR = 0x8000
AA = 0x0400
TC = 0x0200
RD = 0x0100
RA = 0x0080
OPCODE_MASK = 0x7800

# Response codes.
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, YXDOMAIN = 0, 1, 2, 3, 4, 5, 6
BADVERS = 16
RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED", 6: "YXDOMAIN",
               16: "BADVERS"}

TYPE_OPT = 41
OPTION_EDE = 15
OPTION_ECS = 8       # EDNS Client Subnet (RFC 7871)
# Extended DNS Errors (RFC 8914) that NSD 4.6 attaches to its refusals, and to a DNAME's YXDOMAIN.
EDE_OTHER = 0
EDE_PROHIBITED = 18
EDE_NOT_AUTHORITATIVE = 20
EDE_NOT_SUPPORTED = 21
EDE_NO_REACHABLE_AUTHORITY = 22     # the LS: every backend a query may go to is down
CLASS_IN = 1
TYPE_IXFR = 251
TYPE_AXFR = 252
TRANSFER_TYPES = (TYPE_AXFR, TYPE_IXFR)
DO_BIT = 0x8000

# What a server advertises and accepts over UDP (RFC 6891, DNS flag day 2020).
MIN_UDP = 512
MAX_UDP = 1232
MAX_NAME = 255


class WireError(ValueError):
    """The packet cannot be read as a DNS message."""


class Query:
    """What the servers need to know about an incoming query.

    ``error`` is 0 for a query that can be answered, otherwise the rcode the
    server must reply with (FORMERR, NOTIMP or BADVERS); ``bare`` says that
    reply is a bare header, as NSD answers every malformed query. ``question``
    is empty when the query had none (QDCOUNT 0) or it could not be read.
    """

    __slots__ = ("flags", "question", "qname", "qtype", "qclass", "edns_size", "edns_do", "error", "bare", "udp_limit",
                 "subnet")

    def __init__(self, flags: int) -> None:
        self.flags = flags
        self.question = b""     # the question section exactly as received
        self.qname = b""        # the question name in wire form, as received
        self.qtype = 0
        self.qclass = 0
        self.edns_size = -1     # -1: no OPT record in the query
        # The largest UDP reply this client accepts, in octets (RFC 6891 6.2.5, capped like NSD).
        self.udp_limit = MIN_UDP
        self.edns_do = False
        self.subnet = False     # it carries an EDNS Client Subnet option (RFC 7871): its answer may be the subnet's
        self.error = 0
        self.bare = False

    @property
    def opcode(self) -> int:
        return (self.flags & OPCODE_MASK) >> 11


def question_name_end(data: bytes, pos: int = 12) -> int:
    """Offset just past the uncompressed name at ``pos``.

    A question name is the first name of a message, so a compression pointer
    there can only point into the header: it is rejected like any other
    malformed name.
    """
    end = len(data)
    start = pos
    while True:
        if pos >= end:
            raise WireError("name runs past the end")
        length = data[pos]
        if length == 0:
            pos += 1
            if pos - start > MAX_NAME:
                raise WireError("name longer than 255 bytes")
            return pos
        if length > 63:
            raise WireError("compressed or bad label in question")
        pos += length + 1


def skip_name(data: bytes, pos: int) -> int:
    """Offset just past a possibly compressed name (the pointer is not followed, but must point
    back into the message, RFC 1035 4.1.4). Raises :class:`WireError` for a name that runs past
    the end, a bad label type, or a pointer that does not point back."""
    end = len(data)
    while True:
        if pos >= end:
            raise WireError("name runs past the end")
        length = data[pos]
        if length == 0:
            return pos + 1
        if length >= 0xC0:
            if pos + 2 > end:
                raise WireError("pointer runs past the end")
            if ((length & 0x3F) << 8 | data[pos + 1]) >= pos:
                raise WireError("compression pointer not backward")
            return pos + 2
        if length > 63:
            raise WireError("bad label type")
        pos += length + 1


def scan_query(data: bytes) -> Query | None:
    """Read a query's header, question and OPT record.

    Returns None for packets that get no reply at all: shorter than a header,
    or responses (QR set), which a server must never answer.
    """
    if len(data) < 12:
        return None
    _, flags, qdcount, ancount, nscount, arcount = HEADER.unpack_from(data)
    if flags & QR:
        return None
    other_opcode = flags & OPCODE_MASK
    if qdcount > 1:
        # One question per query. NSD clears every flag of this FORMERR, but answers another
        # opcode NOTIMP with its opcode and RD, as below.
        q = Query(flags if other_opcode else 0)
        q.error = NOTIMP if other_opcode else FORMERR
        return q
    q = Query(flags)
    try:
        end = 12
        if qdcount:
            name_end = question_name_end(data)
            end = name_end + 4
            if end > len(data):
                raise WireError("question runs past the end")
            q.qname = data[12:name_end]
            q.question = data[12:end]
            q.qtype = (data[name_end] << 8) | data[name_end + 1]
            q.qclass = (data[name_end + 2] << 8) | data[name_end + 3]
        # A query carries no answers, and authority records only for IXFR (as NSD checks).
        if ancount or (nscount and q.qtype != TYPE_IXFR):
            raise WireError("records in the answer or authority section of a query")
        if arcount:
            _scan_edns(data, end, nscount, arcount, q)
        if not qdcount and q.edns_size < 0:
            # No question: with an OPT record a probe (RFC 7873 5.4), answered NOERROR
            # with its OPT as NSD does; without one, nothing to answer.
            raise WireError("no question")
    except WireError:
        q.error = FORMERR
        q.bare = True       # NSD's FORMERR is a bare header: no question, no OPT
    if other_opcode:
        # NOTIMP whatever the sections hold, as NSD answers: it checks the opcode before the
        # counts. The question was still read when it could be, for a reply that echoes it.
        q.error = NOTIMP
    return q


def _scan_edns(data: bytes, pos: int, skip: int, arcount: int, q: Query) -> None:
    """Find the OPT record among the additional records (RFC 6891 6.1.1)."""
    for index in range(skip + arcount):
        owner = pos
        pos = skip_name(data, pos)
        if pos + 10 > len(data):
            raise WireError("record runs past the end")
        rtype, rclass, ttl, rdlength = RR_FIXED.unpack_from(data, pos)
        pos += 10 + rdlength
        if pos > len(data):
            raise WireError("rdata runs past the end")
        if index < skip:
            continue        # the SOA of an IXFR query
        if rtype != TYPE_OPT or q.edns_size >= 0 or data[owner] != 0:
            raise WireError("additional record other than one OPT at the root")
        q.edns_size = rclass
        q.udp_limit = max(MIN_UDP, min(rclass, MAX_UDP))
        q.edns_do = bool(ttl & DO_BIT)
        if (ttl >> 16) & 0xFF:
            q.error = BADVERS
        fit = _options_fit(data, pos - rdlength, pos)
        if fit is None:
            raise WireError("an EDNS option runs past the OPT record")
        q.subnet = fit


def _options_fit(data: bytes, pos: int, end: int) -> bool | None:
    """None unless the OPT record's data is whole options (code, length, value), ending at ``end``
    (RFC 6891 6.1.2); else whether one of them is an EDNS Client Subnet option (RFC 7871)."""
    subnet = False
    while pos < end:
        if pos + 4 > end:
            return None
        subnet = subnet or (data[pos] << 8 | data[pos + 1]) == OPTION_ECS
        pos += 4 + ((data[pos + 2] << 8) | data[pos + 3])
    return subnet if pos == end else None


def transfer_refusal(q: Query, stream: bool) -> tuple[int, int | None]:
    """The rcode and extended error for a zone transfer request, which neither server offers.

    As NSD answers clients outside its provide-xfr list: AXFR over UDP is
    NOTIMP, AXFR over TCP and IXFR are REFUSED ("prohibited"). Other queries
    get (0, None).
    """
    if q.qtype == TYPE_AXFR and not stream:
        return NOTIMP, None
    if q.qtype in TRANSFER_TYPES:
        return REFUSED, EDE_PROHIBITED
    return 0, None


def opt_record(do: bool, extended_rcode: int = 0, ede: int | None = None, ede_text: bytes = b"") -> bytes:
    """The OPT record of a reply: our UDP size, the DO bit echoed, an extended error (with its
    EXTRA-TEXT, RFC 8914 2) if any."""
    ttl = ((extended_rcode >> 4) << 24) | (DO_BIT if do else 0)
    options = b"" if ede is None else struct.pack("!HHH", OPTION_EDE, 2 + len(ede_text), ede) + ede_text
    return b"\x00" + RR_FIXED.pack(TYPE_OPT, MAX_UDP, ttl, len(options)) + options


def error_reply(data: bytes, q: Query, rcode: int, extra_flags: int = 0, ede: int | None = None,
                echo: bool = True) -> bytes:
    """A reply with no records: the query's ID, opcode and RD, its question and OPT echoed.

    With ``echo`` false the reply is the bare header NSD sends for FORMERR and NOTIMP.
    """
    flags = QR | (q.flags & (OPCODE_MASK | RD)) | extra_flags | (rcode & 0xF)
    if not echo:
        return data[:2] + HEADER.pack(0, flags, 0, 0, 0, 0)[2:]
    qdcount = 1 if q.question else 0
    opt = b""
    if q.edns_size >= 0 or rcode == BADVERS:
        opt = opt_record(q.edns_do, rcode, ede)
    return data[:2] + HEADER.pack(0, flags, qdcount, 0, 0, 1 if opt else 0)[2:] + q.question + opt


def truncated_reply(data: bytes, q: Query, reply_flags: int) -> bytes:
    """An empty reply with TC set, telling the client to ask again over TCP."""
    return error_reply(data, q, reply_flags & 0xF, (reply_flags & (AA | RA)) | TC)


def fit(out: bytes, data: bytes, q: Query, stream: bool) -> bytes:
    """``out``, the reply to the query ``data`` (scanned as ``q``), or for a UDP client whose size
    it exceeds an empty reply with TC set (RFC 1035 4.2.1, RFC 6891 7)."""
    if stream or len(out) <= q.udp_limit:
        return out
    return truncated_reply(data, q, (out[2] << 8) | out[3])


def as_asked_by(out: bytes, data: bytes, q: Query) -> bytes:
    """A reply ``out`` to a query for the same name (any letter case, RFC 4343), type and class, as
    the reply to ``data`` (scanned as ``q``): its ID, RD bit and spelling of the question."""
    end = 12 + len(q.qname)
    rd = RD >> 8        # the RD bit, in the header's third octet
    return data[:2] + bytes(((out[2] & ~rd) | (data[2] & rd),)) + out[3:12] + q.qname + out[end:]


def at_or_below(name: bytes, zone: bytes) -> bool:
    """Whether the wire-form ``name`` is ``zone`` or below it, on a label boundary (both lower-cased)."""
    if not name.endswith(zone):
        return False
    pos, cut = 0, len(name) - len(zone)
    while pos < cut:
        pos += name[pos] + 1
    return pos == cut
