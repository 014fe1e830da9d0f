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
from typing import Callable

import dns.name
import dns.rdataset
import dns.rdatatype

from ..wire import AA, MIN_UDP, NOERROR, QR, RR_FIXED, TC

MAX_MESSAGE = 65535
MAX_OPT = 11 + 6        # an OPT record with one extended error
QUESTION_POINTER = b"\xc0\x0c"   # a compression pointer to the question name

Section = list[tuple[dns.name.Name, dns.rdataset.Rdataset]]
Seeds = dict[dns.name.Name, int]


class QuestionName(dns.name.Name):
    """The name asked, standing for the owner of a wildcard's records in the answers
    synthesised from them (RFC 4592 3.3.1); made from the wildcard's name.

    It is written as a pointer to the question (so in the question's letter case) and
    equals only itself. A name in record data spelt as the wildcard (``MX 10 *.b``) is
    therefore written as that name, not as the question: NSD expands a wildcard into
    a temporary domain of its own (query.c, answer_authoritative), which no record
    data names.
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


class Answer:
    """Record sections packed for a question name of known length."""

    __slots__ = ("flags", "ancount", "nscount", "arcount", "sections", "holds_name", "ede", "shrink", "tally")

    def __init__(self, flags: int, ancount: int, nscount: int, arcount: int, sections: bytes,
                 ede: int | None = None) -> None:
        self.flags = flags
        self.ancount = ancount
        self.nscount = nscount
        self.arcount = arcount
        self.sections = sections        # answer + authority + additional, packed
        # The zone has the name: an answer, an authoritative NODATA (not a referral), or a CNAME
        # whose in-zone target does not exist (NXDOMAIN with the CNAME, RFC 6604); not a plain NXDOMAIN.
        self.holds_name = ancount > 0 or ((flags & 0xF) == NOERROR and bool(flags & AA))
        self.ede = ede                  # an extended DNS error for the OPT record (RFC 8914)
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
    once. When a size limit is given (UDP), an answer or authority RRset that
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
        compress = dict(seeds)
        start = out.tell()
        counts = [0] * len(self.parts)
        truncated = False
        for part, rrsets in enumerate(self.parts):
            minimized = False
            for owner, rds in rrsets:
                mark = out.tell()
                added = _encode_rrset(out, compress, owner, rds, limit)
                if added == len(rds):
                    counts[part] += added
                    continue
                _rewind(out, compress, mark)
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


def _encode_rrset(out: io.BytesIO, compress: Seeds, owner: dns.name.Name, rds: dns.rdataset.Rdataset,
                  limit: int) -> int:
    """Write an RRset record by record; returns how many records fit within ``limit``."""
    for count, rdata in enumerate(rds):
        mark = out.tell()
        owner.to_wire(out, compress)
        out.write(RR_FIXED.pack(rds.rdtype, rds.rdclass, rds.ttl, 0))
        rdata_start = out.tell()
        rdata.to_wire(out, compress, None, False)
        end = out.tell()
        if end > limit:
            _rewind(out, compress, mark)
            return count
        out.seek(rdata_start - 2)
        out.write((end - rdata_start).to_bytes(2, "big"))
        out.seek(end)
    return len(rds)


def _rewind(out: io.BytesIO, compress: Seeds, mark: int) -> None:
    """Undo everything written from ``mark`` on, compression targets included."""
    out.seek(mark)
    out.truncate()
    for name in [name for name, offset in compress.items() if offset >= mark]:
        del compress[name]


def suffix_offsets(name: dns.name.Name, start: int = 12) -> Seeds:
    """Where each non-root suffix of ``name`` begins when the name is written at ``start``."""
    offsets = {}
    pos = start
    labels = name.labels
    for i in range(len(labels) - 1):
        offsets[dns.name.Name(labels[i:])] = pos
        pos += len(labels[i]) + 1
    return offsets


def wire_key(name: dns.name.Name) -> bytes:
    """A name's lower-case wire form: the lookup key for questions in any letter case."""
    return name.to_digestable()
