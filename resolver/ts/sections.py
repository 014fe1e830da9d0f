"""Packing a reply's record sections once, for every spelling of the question.

An :class:`Answer` is the header counts, flags and packed record sections of
one reply; :class:`Sections` packs them the way NSD 4.6 encodes them, with
compression pointers aimed into the question at offset 12, so the same bytes
follow the question in any letter case. :mod:`resolver.ts.compiled` decides
what goes into each answer; this module only lays the records out.
"""
from __future__ import annotations

import functools
import io
import socket
import struct
from typing import Callable, Iterable

import dns.name
import dns.rdata
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.PTR
import dns.rdtypes.ANY.RRSIG
import dns.rdtypes.ANY.SOA
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA

from ..wire import AA, MIN_UDP, NOERROR, QR, RR_FIXED, TC
from .zone_names import suffixes

MAX_MESSAGE = 65535
MAX_OPT = 11 + 6        # an OPT record with one extended error
QUESTION_POINTER = b"\xc0\x0c"   # a compression pointer to the question name
RRSIG = dns.rdatatype.RRSIG

Section = list[tuple[dns.name.Name, dns.rdataset.Rdataset]]
Seeds = dict[dns.name.Name, int]


class QuestionName(dns.name.Name):
    """The name asked, standing for the owner of a wildcard's records in the answers
    synthesised from them (RFC 4592 3.3.1), made from the wildcard's name; or for the
    owner of the CNAME a DNAME synthesises for it (RFC 6672 3.1), made from the
    question in lower case.

    It is written as a pointer to the question (so in the question's letter case) and
    equals only itself. A name in record data spelt as the wildcard (``MX 10 *.b``) is
    therefore written as that name, not as the question: NSD expands a wildcard into
    a temporary domain of its own (query.c, answer_authoritative), which no record
    data names; the owner of a synthesised CNAME is a temporary domain numbered as
    the question (query_synthesize_cname).
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def __hash__(self) -> int:
        return id(self)

    def to_wire(self, file=None, compress=None, origin=None, canonicalize=False):  # type: ignore[override]
        """A pointer to the question into ``file``; without a file, the wildcard's own wire form."""
        if file is None:
            return super().to_wire(None, compress, origin, canonicalize)
        file.write(QUESTION_POINTER)
        return None


class TemporaryName(dns.name.Name):
    """A name of a CNAME a DNAME synthesises, written as NSD writes the temporary domains it makes
    for it (query_synthesize_cname): its first ``literal`` labels in full, never compressed, then
    the rest compressed as any name, or (``question``) a pointer to the question.

    The CNAME's owner, when it is not the question, has the labels below the DNAME's owner so
    written, and they are no compression target (nothing else names those temporary domains);
    where a name below them is the question, NSD numbers that one as the question, and the
    owner ends in a pointer to it. The CNAME's target has the labels below the longest suffix
    NSD's domain table holds (a name that exists, or that record data names) so written, and
    the records a wildcard gives that target may point at them.
    """

    __slots__ = ("literal", "question")

    def __init__(self, labels: Iterable[bytes], literal: int, question: bool = False) -> None:
        super().__init__(labels)
        object.__setattr__(self, "literal", literal)
        object.__setattr__(self, "question", question)


class SynthesisedCname(dns.rdtypes.ANY.CNAME.CNAME):
    """The data of a CNAME a DNAME synthesises (its target may be a :class:`TemporaryName`), hashed
    by its target: dnspython hashes record data by its canonical wire form, at a cost that grows
    with the square of a name's labels, and a cycle of DNAMEs that grows makes names of many labels."""

    __slots__ = ()

    def __hash__(self) -> int:
        return hash(self.target)


class Answer:
    """Record sections packed for a question name of known length."""

    __slots__ = ("flags", "ancount", "nscount", "arcount", "sections", "holds_name", "ede", "ede_text", "shrink",
                 "tally")

    def __init__(self, flags: int, ancount: int, nscount: int, arcount: int, sections: bytes,
                 ede: int | None = None, ede_text: bytes = b"") -> None:
        self.flags = flags
        self.ancount = ancount
        self.nscount = nscount
        self.arcount = arcount
        self.sections = sections        # answer + authority + additional, packed
        # The zone has the name: an answer, an authoritative NODATA (not a referral), or a CNAME
        # whose in-zone target does not exist (NXDOMAIN with the CNAME, RFC 6604); not a plain NXDOMAIN.
        self.holds_name = ancount > 0 or ((flags & 0xF) == NOERROR and bool(flags & AA))
        self.ede = ede                  # an extended DNS error for the OPT record (RFC 8914)
        self.ede_text = ede_text        # and its EXTRA-TEXT
        # For answers that may not fit a UDP client: pack again for a size limit.
        self.shrink: Callable[[int], Answer] | None = None
        # The counts of the zone it belongs to (a ZoneTally's), found on first use (resolver.ts.server).
        self.tally: list[int] | None = None


class Sections:
    """The record sections of one reply, packed the way NSD 4.6 encodes them.

    RRsets go into six parts, encoded in this order: answer, authority,
    optional authority (the zone's NS RRset of a positive answer), additional
    A, additional AAAA, other additional records (X25 and ISDN of RT targets).
    Each RRset (owner, type, and for RRSIG the type covered) goes in at most
    once. The RRSIG RRsets of one owner that follow each other fit or are left
    out together: NSD keeps every RRSIG of a name as one RRset. When a size limit is given (UDP), an answer or authority RRset that
    does not fit sets TC and ends the reply; an optional RRset that does not
    fit is left out, and so is every later part (minimal responses). A
    referral that loses all its glue A records is truncated.
    """

    ANSWER, AUTHORITY, OPTIONAL, ADDITIONAL_A, ADDITIONAL_AAAA, ADDITIONAL_OTHER = range(6)
    _ADDITIONAL_PART = {dns.rdatatype.A: ADDITIONAL_A, dns.rdatatype.AAAA: ADDITIONAL_AAAA}

    def __init__(self, referral: bool = False) -> None:
        self.parts: list[Section] = [[] for _ in range(6)]
        self.referral = referral
        self._seen: set[tuple[dns.name.Name, int, int]] = set()

    @classmethod
    def answering(cls, records: Section) -> "Sections":
        """Sections whose answer part holds ``records``."""
        sections = cls()
        for owner, rds in records:
            sections.add(cls.ANSWER, owner, rds)
        return sections

    def add(self, part: int, owner: dns.name.Name, rds: dns.rdataset.Rdataset) -> None:
        key = (owner, rds.rdtype, rds.covers)
        if key not in self._seen:
            self._seen.add(key)
            self.parts[part].append((owner, rds))

    def add_additional(self, owner: dns.name.Name, rds: dns.rdataset.Rdataset) -> None:
        """A target's A, AAAA (each in a part of its own) or other RRset in the additional section."""
        self.add(self._ADDITIONAL_PART.get(rds.rdtype, self.ADDITIONAL_OTHER), owner, rds)

    @property
    def answer(self) -> Section:
        return self.parts[self.ANSWER]

    def pack(self, qname_len: int, seeds: Seeds, rcode: int, authoritative: bool = True,
             limit: int = MAX_MESSAGE, after: int = 0) -> Answer:
        """Pack the sections to follow a question whose name is ``qname_len`` bytes.

        ``seeds`` maps the names known to sit inside the question name to their
        offsets, so records compress against the question whatever its letter
        case. ``limit`` is the largest message size (the OPT record excluded).
        ``after`` is the length of records packed elsewhere that come first.
        """
        out = io.BytesIO()
        out.write(bytes(12 + qname_len + 4 + after))
        compress = {wire_key(name): offset for name, offset in seeds.items()}
        start = out.tell()
        counts = [0] * len(self.parts)
        truncated = False
        for part, rrsets in enumerate(self.parts):
            minimized = False
            unit_mark, unit_added, previous = start, 0, None
            for owner, rds in rrsets:
                mark = out.tell()
                if not (rds.rdtype == RRSIG and previous == (owner, RRSIG)):
                    unit_mark, unit_added = mark, 0
                previous = (owner, rds.rdtype)
                added = _encode_rrset(out, compress, owner, rds, limit)
                if added == len(rds):
                    counts[part] += added
                    unit_added += added
                    continue
                _rewind(out, compress, unit_mark)
                counts[part] -= unit_added
                if part <= self.AUTHORITY:
                    truncated = True
                    break
                minimized = True
            if truncated:
                break
            if minimized:
                truncated = self.referral and part == self.ADDITIONAL_A and counts[part] == 0
                break
        flags = QR | (AA if authoritative else 0) | (TC if truncated else 0) | rcode
        answer = Answer(flags, counts[0], counts[1] + counts[2], sum(counts[3:]), out.getvalue()[start:])
        if limit == MAX_MESSAGE and not after and 12 + qname_len + 4 + len(answer.sections) + MAX_OPT > MIN_UDP:
            # Too big for some UDP clients: keep what is needed to pack it again smaller.
            answer.shrink = functools.partial(self.pack, qname_len, seeds, rcode, authoritative)
        return answer


def _encode_rrset(out: io.BytesIO, compress: Compression, owner: dns.name.Name, rds: dns.rdataset.Rdataset,
                  limit: int) -> int:
    """Write an RRset record by record; returns how many records fit within ``limit``.

    A :class:`QuestionName` owner is written as a pointer to the question and
    leaves no compression target: no other name ends in it (RFC 4592 3.3.1). A
    :class:`TemporaryName` begins with labels written in full that leave none.
    """
    head, owner_parts = _split_name(owner)
    fixed = RR_FIXED.pack(rds.rdtype, rds.rdclass, rds.ttl, 0)
    for count, rdata in enumerate(rds):
        mark = out.tell()
        out.write(head)
        if owner_parts is not None:
            _write_name(out, compress, owner_parts)
        out.write(fixed)
        rdata_start = out.tell()
        _write_rdata(out, compress, rdata)
        end = out.tell()
        if end > limit:
            _rewind(out, compress, mark)
            return count
        out.seek(rdata_start - 2)
        out.write((end - rdata_start).to_bytes(2, "big"))
        out.seek(end)
    return len(rds)


# A name's labels in wire form, each with the lower-case wire form of the name from it on.
NameParts = tuple[tuple[bytes, bytes], ...]
# Compression targets: lower-case wire name -> offset in the message.
Compression = dict[bytes, int]

_PARTS: dict[int, tuple[dns.name.Name, NameParts]] = {}
_PARTS_KEPT = 50000     # names whose parts are remembered at once (the zone's names come again and again)


def _name_parts(name: dns.name.Name) -> NameParts:
    """The labels of an absolute name, each as ``(lower-case wire form from it on, label in wire form)``.

    Remembered by the name's ``id``: the entry holds the name too, so the id is
    not reused while it is there. Raises ``dns.name.NeedAbsoluteNameOrOrigin``
    for a relative name (a zone read with relativize off has none).
    """
    held = _PARTS.get(id(name))
    if held is not None:
        return held[1]
    if not name.is_absolute():
        raise dns.name.NeedAbsoluteNameOrOrigin
    key = b"\x00"
    parts: list[tuple[bytes, bytes]] = []
    for label in reversed(name.labels[:-1]):
        chunk = bytes((len(label),)) + label
        key = chunk.lower() + key       # the length byte (< 64) is no letter: lower() leaves it
        parts.append((key, chunk))
    parts.reverse()
    if len(_PARTS) >= _PARTS_KEPT:
        _PARTS.clear()
    _PARTS[id(name)] = (name, tuple(parts))
    return _PARTS[id(name)][1]


def _split_name(name: dns.name.Name) -> tuple[bytes, NameParts | None]:
    """How a name is written: the bytes that come first as they are, then the labels written as
    compressed names are (None: the first bytes end the name, a pointer to the question)."""
    if isinstance(name, QuestionName):
        return QUESTION_POINTER, None
    parts = _name_parts(name)
    if isinstance(name, TemporaryName):
        head = b"".join(chunk for _, chunk in parts[:name.literal])
        return (head + QUESTION_POINTER, None) if name.question else (head, parts[name.literal:])
    return b"", parts


def _write_temporary(out: io.BytesIO, compress: Compression, name: dns.name.Name) -> None:
    """Write a synthesised CNAME's target: a :class:`TemporaryName`'s literal labels in full, each
    suffix from them a compression target, then the rest as :func:`_write_name` writes it."""
    parts = _name_parts(name)
    literal = name.literal if isinstance(name, TemporaryName) else 0
    for key, chunk in parts[:literal]:
        if out.tell() <= 0x3FFF:
            compress[key] = out.tell()
        out.write(chunk)
    _write_name(out, compress, parts[literal:])


def _write_name(out: io.BytesIO, compress: Compression, parts: NameParts) -> None:
    """Write a name, compressed as dnspython's ``Name.to_wire`` compresses (RFC 1035 4.1.4): the
    longest suffix already written becomes a pointer; each suffix written is remembered when its
    offset fits in a pointer (below 0x4000). Suffixes match in any letter case."""
    for key, chunk in parts:
        pos = compress.get(key)
        if pos is not None:
            out.write((0xC000 + pos).to_bytes(2, "big"))
            return
        pos = out.tell()
        if pos <= 0x3FFF:
            compress[key] = pos
        out.write(chunk)
    out.write(b"\x00")


_SOA_TIMES = struct.Struct("!IIIII")
_ADDRESS_FAMILIES = {dns.rdtypes.IN.A.A: socket.AF_INET, dns.rdtypes.IN.AAAA.AAAA: socket.AF_INET6}
_ONE_NAME = frozenset({dns.rdtypes.ANY.NS.NS, dns.rdtypes.ANY.CNAME.CNAME, dns.rdtypes.ANY.PTR.PTR})


def _write_rdata(out: io.BytesIO, compress: Compression, rdata: dns.rdata.Rdata) -> None:
    """Write one record's data as dnspython writes it, its names compressed where dnspython
    compresses them: A, AAAA, NS, CNAME (a synthesised one's target as a :class:`TemporaryName`),
    PTR, MX and SOA here, every other type by dnspython with the same table."""
    kind = type(rdata)
    family = _ADDRESS_FAMILIES.get(kind)
    if family is not None:
        out.write(socket.inet_pton(family, rdata.address))
    elif kind in _ONE_NAME:
        _write_name(out, compress, _name_parts(rdata.target))
    elif kind is SynthesisedCname:
        _write_temporary(out, compress, rdata.target)
    elif kind is dns.rdtypes.ANY.MX.MX:
        out.write(rdata.preference.to_bytes(2, "big"))
        _write_name(out, compress, _name_parts(rdata.exchange))
    elif kind is dns.rdtypes.ANY.SOA.SOA:
        _write_name(out, compress, _name_parts(rdata.mname))
        _write_name(out, compress, _name_parts(rdata.rname))
        out.write(_SOA_TIMES.pack(rdata.serial, rdata.refresh, rdata.retry, rdata.expire, rdata.minimum))
    else:
        rdata.to_wire(out, _NameKeyed(compress), None, False)


_RRSIG_FIXED = struct.Struct("!HBBIIIH")


def rdata_wire(rdata: dns.rdata.Rdata) -> bytes:
    """One record's data in wire form, uncompressed, as dnspython's ``to_wire()`` writes it (names
    in their letter case): A, AAAA and RRSIG here (a signed zone has one RRSIG for each RRset),
    every other type by dnspython."""
    kind = type(rdata)
    family = _ADDRESS_FAMILIES.get(kind)
    if family is not None:
        return socket.inet_pton(family, rdata.address)
    if kind is dns.rdtypes.ANY.RRSIG.RRSIG:
        head = _RRSIG_FIXED.pack(rdata.type_covered, rdata.algorithm, rdata.labels, rdata.original_ttl,
                                 rdata.expiration, rdata.inception, rdata.key_tag)
        return b"".join((head, *(chunk for _, chunk in _name_parts(rdata.signer)), b"\x00", rdata.signature))
    return rdata.to_wire()


class _NameKeyed:
    """A :data:`Compression` table seen as dnspython's (keyed by ``Name``), for the types whose data
    dnspython writes itself (``Name.to_wire`` calls only ``get`` and item assignment)."""

    __slots__ = ("table",)

    def __init__(self, table: Compression) -> None:
        self.table = table

    def get(self, name: dns.name.Name) -> int | None:
        return self.table.get(name.to_digestable())

    def __setitem__(self, name: dns.name.Name, pos: int) -> None:
        self.table[name.to_digestable()] = pos


def _rewind(out: io.BytesIO, compress: Compression, mark: int) -> None:
    """Undo everything written from ``mark`` on, compression targets included."""
    out.seek(mark)
    out.truncate()
    for name in [name for name, offset in compress.items() if offset >= mark]:
        del compress[name]


def suffix_offsets(name: dns.name.Name, start: int = 12) -> Seeds:
    """Where each non-root suffix of ``name`` begins when the name is written at ``start``."""
    offsets: Seeds = {}
    pos = start
    for suffix in suffixes(name):
        offsets[suffix] = pos
        pos += len(suffix.labels[0]) + 1
    return offsets


def wire_key(name: dns.name.Name) -> bytes:
    """A name's lower-case wire form: the lookup key for questions in any letter case."""
    return name.to_digestable()
