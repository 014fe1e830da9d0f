"""Answering: a lookup in the compiled zones, and a splice into the reply.

A reply of an authoritative server is a header, the question echoed, and record
sections that depend only on the question name and type. :mod:`resolver.ts.compiled`
packs those sections when the zones load; answering a query is then a dict
lookup and a splice: ``ID + flags + question as asked + sections (+ OPT)``.
A lookup costs the same for ten records or a million.

Names outside every zone are REFUSED.
"""
from __future__ import annotations

from typing import Iterable

import dns.rdatatype

from ..wire import EDE_NOT_AUTHORITATIVE, HEADER, QR, RD, REFUSED, Query, at_or_below, opt_record
from .compiled import CompiledZone
from .sections import Answer, wire_key
from .zone_checks import suffixes
from .zones import ZoneData

OPT_PLAIN = opt_record(False)
OPT_DO = opt_record(True)
DS_TYPE = dns.rdatatype.DS.to_bytes(2, "big")
REFUSED_ANSWER = Answer(QR | REFUSED, 0, 0, 0, b"", EDE_NOT_AUTHORITATIVE)


class Authority:
    """All zones of one TS, ready to answer."""

    def __init__(self, zones: Iterable[ZoneData]) -> None:
        self.exact: dict[bytes, Answer] = {}
        self.by_name: dict[bytes, Answer] = {}
        self.zones: dict[bytes, CompiledZone] = {}
        # Parents first, so that a child zone's answers replace its parent's.
        for zone in sorted(zones, key=lambda z: len(z.origin)):
            apex = wire_key(zone.origin)
            if self.zones and any(parent in self.zones for parent in suffixes(apex)):
                self._forget_below(apex)
            compiled = CompiledZone(zone, self.exact, self.by_name)
            self.zones[apex] = compiled

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

    def zone_for(self, qname_lower: bytes) -> CompiledZone | None:
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
    optional records left out, TC set when the answer itself does not fit.
    """
    opt = b""
    if q.edns_size >= 0:
        opt = ((OPT_DO if q.edns_do else OPT_PLAIN) if answer.ede is None
               else opt_record(q.edns_do, 0, answer.ede, answer.ede_text))
    if 12 + len(q.question) + len(answer.sections) + len(opt) > limit and answer.shrink is not None:
        answer = answer.shrink(limit - len(opt))
    flags = answer.flags | (q.flags & RD)
    header = HEADER.pack(0, flags, 1, answer.ancount, answer.nscount, answer.arcount + (1 if opt else 0))
    return data[:2] + header[2:] + q.question + answer.sections + opt
