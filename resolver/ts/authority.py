"""Answering: a lookup in the compiled zones, and a splice into the reply.

A reply of an authoritative server is a header, the question echoed, and record
sections that depend only on the question name and type. :mod:`resolver.ts.compiled`
packs those sections when the zones load; answering a query is then a dict
lookup and a splice: ``ID + flags + question as asked + sections (+ OPT)``.
A lookup costs the same for ten records or a million.

Names outside every zone are REFUSED; names in a secondary zone without a copy
to serve (never transferred, or expired) are SERVFAIL, as NSD answers them.
A secondary zone's new copy is swapped in by :meth:`Authority.replacing`
without compiling the other zones again.
"""
from __future__ import annotations

import itertools
from typing import Iterable, Union

import dns.name
import dns.rdatatype
import dns.rdtypes.ANY.SOA

from ..wire import EDE_NOT_AUTHORITATIVE, HEADER, QR, RD, REFUSED, SERVFAIL, Query, at_or_below, opt_record
from .compiled import CompiledZone
from .rotation import rotating
from .sections import Answer, wire_key
from .zone_checks import suffixes
from .zones import ZoneData

OPT_PLAIN = opt_record(False)
OPT_DO = opt_record(True)
DS_TYPE = dns.rdatatype.DS.to_bytes(2, "big")
REFUSED_ANSWER = Answer(QR | REFUSED, 0, 0, 0, b"", EDE_NOT_AUTHORITATIVE)
EDE_NOT_READY = 14      # RFC 8914 4.15


class UnservedZone:
    """A secondary zone with no copy to serve (never transferred, or past its SOA expire time).

    Every name in it is SERVFAIL with the extended error "Not Ready", as NSD 4.6
    answers for a zone it has configured but not loaded.
    """

    size = 0

    def __init__(self, apex: dns.name.Name) -> None:
        self.apex = apex
        # One per zone: an answer remembers the tally of the zone it is counted in.
        self.answer = Answer(QR | SERVFAIL, 0, 0, 0, b"", EDE_NOT_READY, b"Zone is configured but not loaded")

    def missing(self, qname: bytes, qtype: int) -> Answer:
        return self.answer


Zone = Union[CompiledZone, UnservedZone]


class Authority:
    """All zones of one TS, ready to answer.

    ``zones`` are compiled; ``unserved`` names zones (secondary zones without a
    copy) whose names are answered SERVFAIL. With ``round_robin`` the records of
    each answer's RRsets turn on successive queries (:mod:`resolver.ts.rotation`).
    """

    def __init__(self, zones: Iterable[ZoneData], unserved: Iterable[dns.name.Name] = (),
                 round_robin: bool = False) -> None:
        self.exact: dict[bytes, Answer] = {}
        self.by_name: dict[bytes, Answer] = {}
        self.zones: dict[bytes, Zone] = {}
        self.round_robin = round_robin
        # Parents first, so that a child zone's answers replace its parent's.
        for zone in sorted([*zones, *unserved], key=lambda z: len(_apex(z))):
            apex = wire_key(_apex(zone))
            if self.zones and any(parent in self.zones for parent in suffixes(apex)):
                self._forget_below(apex)
            self.zones[apex] = (CompiledZone(zone, self.exact, self.by_name, round_robin)
                                if isinstance(zone, ZoneData) else UnservedZone(zone))
        if round_robin:
            rotating(self.exact)

    def nests(self, apex: dns.name.Name) -> bool:
        """Whether another zone served here lies above or below ``apex``."""
        key = wire_key(apex)
        return any(other != key and (at_or_below(other, key) or at_or_below(key, other)) for other in self.zones)

    def soa(self, apex: dns.name.Name) -> dns.rdtypes.ANY.SOA.SOA | None:
        """The SOA record of zone ``apex`` as served; None when it is not served (or unserved)."""
        zone = self.zones.get(wire_key(apex))
        return zone.soa[0] if isinstance(zone, CompiledZone) else None

    def replacing(self, data: ZoneData) -> Authority:
        """A new Authority that serves ``data`` in place of the zone of its name (or beside the
        others, when new), every other zone's compiled answers kept: only ``data`` is compiled.

        For a zone no other zone here nests with (:meth:`nests`); raises ValueError otherwise,
        and :class:`~resolver.ts.zones.ZoneError` for data that cannot be compiled (this
        Authority is left as it was). The answer tables are copied (without the zone's old
        answers): the time of a pass over them, not of compiling every zone.
        """
        return self._swapped(data.origin, data)

    def without(self, apex: dns.name.Name) -> Authority:
        """A new Authority whose zone ``apex`` answers SERVFAIL (:class:`UnservedZone`), the other
        zones' answers kept; for a zone no other nests with, as :meth:`replacing`."""
        return self._swapped(apex, None)

    def _swapped(self, apex: dns.name.Name, data: ZoneData | None) -> Authority:
        if self.nests(apex):
            raise ValueError(f"{apex.to_text()} nests with another zone served here: build the Authority again")
        key = wire_key(apex)
        fresh = Authority((), round_robin=self.round_robin)
        fresh.exact = {k: answer for k, answer in self.exact.items() if not at_or_below(k[:-2], key)}
        fresh.by_name = {k: answer for k, answer in self.by_name.items() if not at_or_below(k, key)}
        kept = len(fresh.exact)
        fresh.zones[key] = (CompiledZone(data, fresh.exact, fresh.by_name, self.round_robin) if data is not None
                            else UnservedZone(apex))
        if self.round_robin:        # the zone's answers, added after the others' (which turn already)
            rotating(fresh.exact, itertools.islice(fresh.exact, kept, None))
        for other, zone in self.zones.items():
            if other != key:
                if isinstance(zone, CompiledZone):
                    zone.share_names(fresh.by_name)     # the same entries for its names: let the old table go
                fresh.zones[other] = zone
        return fresh

    def _forget_below(self, apex: bytes) -> None:
        """Drop the answers a parent zone packed for names at and below ``apex``, a child zone
        this server serves too: its glue and the empty non-terminals above it are the child's
        to answer, as NSD answers them from the child zone, never a referral to itself. DS at the
        apex stays the parent's (RFC 4035 3.1.4.1)."""
        parent_side = apex + DS_TYPE
        for key in [key for key in self.exact if key != parent_side and at_or_below(key[:-2], apex)]:
            del self.exact[key]
        for key in [key for key in self.by_name if at_or_below(key, apex)]:
            del self.by_name[key]

    def lookup(self, qname_lower: bytes, qtype_wire: bytes) -> Answer:
        """The answer for a question name (already lower-cased) and its two type bytes."""
        answer = self.exact.get(qname_lower + qtype_wire)
        if answer is None:
            answer = self.by_name.get(qname_lower) or self._missing(qname_lower, qtype_wire)
        return answer

    def _missing(self, qname_lower: bytes, qtype_wire: bytes) -> Answer:
        """A name without an entry: asked of the closest enclosing zone, REFUSED outside all."""
        zone = self.zone_for(qname_lower)
        return REFUSED_ANSWER if zone is None else zone.missing(qname_lower, int.from_bytes(qtype_wire, "big"))

    def zone_for(self, qname_lower: bytes) -> Zone | None:
        """The closest zone enclosing a (lower-case wire) name, if any."""
        pos = 0
        while True:
            zone = self.zones.get(qname_lower[pos:])
            if zone is not None:
                return zone
            length = qname_lower[pos]
            if length == 0:
                return None
            pos += length + 1


def render(data: bytes, q: Query, answer: Answer, limit: int) -> bytes:
    """The reply to query ``data``: its ID and question, the answer's sections, OPT if asked.

    A reply larger than ``limit`` is packed again within it, as NSD does:
    optional records left out, TC set when the answer itself does not fit. The answer's
    sections are read once (a :class:`~resolver.ts.rotation.RotatingAnswer` turns on each read).
    """
    sections = answer.sections
    opt = b""
    if q.edns_size >= 0:
        opt = ((OPT_DO if q.edns_do else OPT_PLAIN) if answer.ede is None
               else opt_record(q.edns_do, 0, answer.ede, answer.ede_text))
    if 12 + len(q.question) + len(sections) + len(opt) > limit and answer.shrink is not None:
        answer = answer.shrink(limit - len(opt))
        sections = answer.sections
    flags = answer.flags | (q.flags & RD)
    header = HEADER.pack(0, flags, 1, answer.ancount, answer.nscount, answer.arcount + (1 if opt else 0))
    return data[:2] + header[2:] + q.question + sections + opt


def _apex(zone: ZoneData | dns.name.Name) -> dns.name.Name:
    return zone.origin if isinstance(zone, ZoneData) else zone
