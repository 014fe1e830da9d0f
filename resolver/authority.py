"""Answering: zones compiled into ready-made replies when they load.

A reply of an authoritative server is a header, the question echoed, and record
sections that depend only on the question name and type. The sections are
packed once, at load time, with compression pointers that aim into the question
(at offset 12, the same length in any letter case), so answering a query is a
dict lookup and a splice: ``ID + header + question as asked + sections``. A
lookup costs the same for ten records or a million.

Three tables hold the answers:

* ``exact``: (lower-case name, type) -> the answer for that type, CNAME chains
  already followed;
* ``by_name``: lower-case name -> the answer for every other type at an existing
  name (NODATA, or the CNAME chain with what ends it);
* per zone apex, NXDOMAIN answers, which depend only on the length of the
  question name and so are shared.

Names outside every zone are REFUSED.
"""
from __future__ import annotations

import io
from typing import Iterable

import dns.name
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.zone

from .wire import (AA, HEADER, NOERROR, NXDOMAIN, QR, RD, REFUSED, Query, opt_record,
                   truncated_reply)

MAX_CNAME_CHAIN = 8
ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)
OPT_PLAIN = opt_record(False)
OPT_DO = opt_record(True)

Section = list[tuple[dns.name.Name, dns.rdataset.Rdataset]]


class Answer:
    """Record sections packed for a question name of known length."""

    __slots__ = ("flags", "ancount", "nscount", "arcount", "sections", "core_len", "positive")

    def __init__(self, flags: int, ancount: int, nscount: int, arcount: int, sections: bytes, core_len: int):
        self.flags = flags
        self.ancount = ancount
        self.nscount = nscount
        self.arcount = arcount
        self.sections = sections        # answer + authority + additional
        self.core_len = core_len        # length of answer + authority
        self.positive = (flags & 0xF) == NOERROR and ancount > 0


REFUSED_ANSWER = Answer(QR | REFUSED, 0, 0, 0, b"", 0)


def pack_answer(qname_len: int, seeds: dict[dns.name.Name, int], rcode: int,
                answer: Section, authority: Section = (), additional: Section = ()) -> Answer:
    """Pack record sections as they follow a question whose name is ``qname_len`` bytes.

    ``seeds`` maps the names known to sit inside the question name to their
    offsets, so records compress against the question whatever its letter case.
    """
    out = io.BytesIO()
    out.write(bytes(12 + qname_len + 4))
    compress = dict(seeds)
    start = out.tell()
    counts = []
    core_end = start
    for index, section in enumerate((answer, authority, additional)):
        counts.append(sum(rds.to_wire(owner, out, compress, want_shuffle=False) for owner, rds in section))
        if index == 1:
            core_end = out.tell()
    sections = out.getvalue()[start:]
    return Answer(QR | AA | rcode, counts[0], counts[1], counts[2], sections, core_end - start)


def suffix_offsets(name: dns.name.Name, start: int = 12) -> dict[dns.name.Name, int]:
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


class CompiledZone:
    """One zone's answers, added to the shared tables of an :class:`Authority`."""

    def __init__(self, zone: dns.zone.Zone, exact: dict[bytes, Answer], by_name: dict[bytes, Answer]) -> None:
        self.zone = zone
        self.apex: dns.name.Name = zone.origin
        self.apex_len = len(wire_key(self.apex))
        self.soa = zone.get_rdataset(self.apex, dns.rdatatype.SOA)
        # RFC 2308 3: the SOA of a negative answer lives no longer than its MINIMUM.
        self.negative_soa = self.soa.copy()
        self.negative_soa.update_ttl(min(self.soa.ttl, self.soa[0].minimum))
        self._negative: dict[tuple[int, int], Answer] = {}
        self._exact = exact
        self._by_name = by_name
        self.names = self._existing_names()
        for name, node in zone.nodes.items():
            self._compile_node(name, node)
        for name in self.names.difference(zone.nodes):
            by_name[wire_key(name)] = self.negative(len(wire_key(name)), NOERROR)

    def _existing_names(self) -> set[dns.name.Name]:
        """Every name with data, and the empty non-terminals between them and the apex."""
        names = set()
        for name in self.zone.nodes:
            while name not in names and name.is_subdomain(self.apex):
                names.add(name)
                if name == self.apex:
                    break
                name = name.parent()
        return names

    def negative(self, qname_len: int, rcode: int, prefix: Section = ()) -> Answer:
        """NODATA or NXDOMAIN: the SOA in the authority section, after an optional CNAME chain."""
        if prefix:
            return self._pack_negative(qname_len, rcode, prefix)
        key = (qname_len, rcode)
        answer = self._negative.get(key)
        if answer is None:
            answer = self._negative[key] = self._pack_negative(qname_len, rcode, ())
        return answer

    def _pack_negative(self, qname_len: int, rcode: int, prefix: Section) -> Answer:
        seeds = suffix_offsets(self.apex, 12 + qname_len - self.apex_len)
        if prefix:
            seeds.update(suffix_offsets(prefix[0][0]))
        return pack_answer(qname_len, seeds, rcode, prefix, [(self.apex, self.negative_soa)])

    def _compile_node(self, name: dns.name.Name, node) -> None:
        key = wire_key(name)
        seeds = suffix_offsets(name)
        cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
        if cname is not None:
            self._compile_cname(name, key, seeds, cname)
            return
        for rds in node.rdatasets:
            self._exact[key + rds.rdtype.to_bytes(2, "big")] = pack_answer(
                len(key), seeds, NOERROR, [(name, rds)], (), self._additional(rds))
        self._by_name[key] = self.negative(len(key), NOERROR)

    def _compile_cname(self, name: dns.name.Name, key: bytes, seeds: dict, cname: dns.rdataset.Rdataset) -> None:
        """Follow the chain inside the zone and compile an answer for every type it ends in."""
        chain: Section = [(name, cname)]
        target = cname[0].target
        node = None
        while target.is_subdomain(self.apex) and len(chain) < MAX_CNAME_CHAIN:
            node = self.zone.get_node(target)
            nxt = node and node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if not nxt:
                break
            chain.append((target, nxt))
            target = nxt[0].target
            node = None
        self._exact[key + dns.rdatatype.CNAME.to_bytes(2, "big")] = pack_answer(
            len(key), seeds, NOERROR, chain[:1])
        if node is not None:
            for rds in node.rdatasets:
                self._exact[key + rds.rdtype.to_bytes(2, "big")] = pack_answer(
                    len(key), seeds, NOERROR, chain + [(target, rds)], (), self._additional(rds))
        if not target.is_subdomain(self.apex) or len(chain) >= MAX_CNAME_CHAIN:
            self._by_name[key] = pack_answer(len(key), seeds, NOERROR, chain)
        else:
            rcode = NOERROR if target in self.names else NXDOMAIN
            self._by_name[key] = self.negative(len(key), rcode, chain)

    def _additional(self, rds: dns.rdataset.Rdataset) -> Section:
        """In-zone addresses of NS, MX and SRV targets (RFC 1035 3.3.9, RFC 2782)."""
        if rds.rdtype == dns.rdatatype.NS or rds.rdtype == dns.rdatatype.SRV:
            targets = [rdata.target for rdata in rds]
        elif rds.rdtype == dns.rdatatype.MX:
            targets = [rdata.exchange for rdata in rds]
        else:
            return []
        section: Section = []
        for target in dict.fromkeys(targets):
            node = self.zone.get_node(target) if target.is_subdomain(self.apex) else None
            for rdtype in ADDRESS_TYPES:
                rds_addr = node and node.get_rdataset(dns.rdataclass.IN, rdtype)
                if rds_addr:
                    section.append((target, rds_addr))
        return section


class Authority:
    """All zones of one TS, ready to answer."""

    def __init__(self, zones: Iterable[dns.zone.Zone]) -> None:
        self.exact: dict[bytes, Answer] = {}
        self.by_name: dict[bytes, Answer] = {}
        self.zones: dict[bytes, CompiledZone] = {}
        # Parents first, so that a child zone's answers replace its parent's.
        for zone in sorted(zones, key=lambda z: len(z.origin)):
            compiled = CompiledZone(zone, self.exact, self.by_name)
            self.zones[wire_key(compiled.apex)] = compiled

    def lookup(self, qname_lower: bytes, qtype_wire: bytes) -> Answer:
        """The answer for a question name (already lower-cased) and its two type bytes."""
        answer = self.exact.get(qname_lower + qtype_wire)
        if answer is None:
            answer = self.by_name.get(qname_lower) or self._missing(qname_lower)
        return answer

    def _missing(self, qname_lower: bytes) -> Answer:
        """NXDOMAIN from the closest enclosing zone, or REFUSED outside all of them."""
        pos = 0
        while True:
            zone = self.zones.get(qname_lower[pos:])
            if zone is not None:
                return zone.negative(len(qname_lower), NXDOMAIN)
            length = qname_lower[pos]
            if length == 0:
                return REFUSED_ANSWER
            pos += length + 1


def render(data: bytes, q: Query, answer: Answer, limit: int) -> bytes:
    """The reply to query ``data``: its ID and question, the answer's sections, OPT if asked.

    When the reply does not fit ``limit``, the additional section goes first;
    if it still does not fit, an empty reply with TC tells the client to use TCP.
    """
    flags = answer.flags | (q.flags & RD)
    sections = answer.sections
    arcount = answer.arcount
    opt = b""
    if q.edns_size >= 0:
        opt = OPT_DO if q.edns_do else OPT_PLAIN
    fixed = 12 + len(q.question) + len(opt)
    if fixed + len(sections) > limit:
        sections = sections[:answer.core_len]
        arcount = 0
        if fixed + len(sections) > limit:
            return truncated_reply(data, q, flags)
    header = HEADER.pack(0, flags, 1, answer.ancount, answer.nscount, arcount + (1 if opt else 0))
    return data[:2] + header[2:] + q.question + sections + opt
