"""Compiling a zone into ready-made answers, the way NSD 4 answers.

Every answer depends only on the question name and type, so its record
sections are packed once, when the zone loads, with compression pointers that
aim into the question at offset 12. A name has the same length in any letter
case, so the packed sections fit every spelling of it.

What goes into each answer follows NSD 4.6 (checked by the differential tests
in ``tests/conformance/test_differential.py``):

* positive answers carry the zone's NS RRset in the authority section (not for
  DS and DNSKEY), and the addresses of in-zone NS, MX and SRV targets in the
  additional section; no RRset appears twice in one reply;
* NODATA and NXDOMAIN carry the SOA, with the TTL min(SOA TTL, MINIMUM) (RFC 2308);
* CNAMEs are followed inside the zone; a chain that leaves the zone ends there;
* ANY gets one RRset (RFC 8482): the SOA at the apex, else the lowest type,
  with its target addresses but without the NS RRset;
* names at and below a zone cut get a referral (AA clear, the cut's NS RRset,
  glue), except DS at the cut, which the parent answers;
* wildcards (RFC 4592) are expanded from the closest encloser. Their answers
  depend on the length of the question name too, so they are packed on first
  use and kept per length, like NXDOMAIN answers.
"""
from __future__ import annotations

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.zone

from ..wire import AA, MIN_UDP, NOERROR, NXDOMAIN, QR, RR_FIXED
from .address_lines import AddressRecords
from .sections import MAX_OPT, Answer, Section, Sections, Seeds, suffix_offsets, wire_key
from .zones import ZoneData, ZoneError

MAX_CNAME_CHAIN = 8
ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)
NO_AUTHORITY_NS = (dns.rdatatype.DS, dns.rdatatype.DNSKEY)     # their RRsets are large (NSD)
ANY = dns.rdatatype.ANY
OWNER_IS_QUESTION = b"\xc0\x0c"   # a compression pointer to the question name
# Types whose data names a host with addresses: the rdata field, and whether glue
# (addresses below a zone cut) may go in the additional section for it (as NSD).
TARGETS = {dns.rdatatype.NS: ("target", True), dns.rdatatype.MX: ("exchange", False),
           dns.rdatatype.SRV: ("target", False)}


class CompiledZone:
    """One zone's answers, written into the shared tables of an ``Authority``.

    ``exact`` maps lower-case name + type to an answer, ``by_name`` maps every
    existing name (empty non-terminals too) to the answer for its other types.
    Missing names are answered by :meth:`missing`.
    """

    def __init__(self, data: ZoneData, exact: dict[bytes, Answer], by_name: dict[bytes, Answer]) -> None:
        zone = self.zone = data.zone
        self.source = data.source or zone.origin.to_text()
        self.apex: dns.name.Name = zone.origin
        self.apex_len = len(wire_key(self.apex))
        self.soa = zone.get_rdataset(self.apex, dns.rdatatype.SOA)
        self.ns = zone.get_rdataset(self.apex, dns.rdatatype.NS)
        # RFC 2308 3: the SOA of a negative answer lives no longer than its MINIMUM.
        self.negative_soa = self.soa.copy()
        self.negative_soa.update_ttl(min(self.soa.ttl, self.soa[0].minimum))
        self._by_name = by_name
        self._cache: dict[tuple, object] = {}
        self.cuts = {name: node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NS)
                     for name, node in zone.nodes.items()
                     if name != self.apex and node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NS)}
        self.cut_keys = {wire_key(cut): cut for cut in self.cuts}
        addresses = self._take_dependent_addresses(data.addresses)
        self.names = self._existing_names()
        self.wildcards = {wire_key(name.parent()): name for name in zone.nodes if name.is_wild()}
        for name in self.names:
            self._compile_name(name, exact, by_name)
        self._compile_addresses(addresses, exact, by_name)
        self.size = len(self.names) + len(addresses)       # names with records or below them

    def _take_dependent_addresses(self, addresses: AddressRecords) -> AddressRecords:
        """Move into the zone the address names that other records depend on.

        The fast path compiles a name from its own records only; a name that
        also has other records, that NS, MX, SRV or CNAME records point at, or
        that lies at or below a zone cut, goes through the general path.
        Returns the rest, for :meth:`_compile_addresses`.
        """
        if not addresses:
            return addresses
        dependent = {wire_key(name) for name in self.zone.nodes} | self._target_keys()
        rest: AddressRecords = {}
        for key, records in addresses.items():
            if key in dependent or self._highest_cut(key) or self._too_big_for_udp(key, records):
                self._add_to_zone(key, records)
            else:
                rest[key] = records
        return rest

    def _add_to_zone(self, key: bytes, records: list[tuple[int, int, bytes]]) -> None:
        name = dns.name.from_wire(key, 0)[0]
        node = self.zone.get_node(name)
        if node is not None and node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME):
            raise ZoneError(f"{self.source}: {name.to_text()} has a CNAME and other data (RFC 1034 3.6.2)")
        for rdtype, ttl, wire in records:
            rdata = dns.rdata.from_wire(dns.rdataclass.IN, rdtype, wire, 0, len(wire))
            self.zone.find_rdataset(name, rdtype, create=True).add(rdata, ttl)

    def _too_big_for_udp(self, key: bytes, records: list[tuple[int, int, bytes]]) -> bool:
        """Whether an answer might need shrinking, which only the general path can do."""
        body = sum(12 + len(wire) for _, _, wire in records)
        return 12 + len(key) + 4 + body + len(self._address_tail(len(key), body).sections) + MAX_OPT > MIN_UDP

    def _target_keys(self) -> set[bytes]:
        """Names that NS, MX, SRV or CNAME records point at."""
        fields = {rdtype: field for rdtype, (field, _) in TARGETS.items()}
        fields[dns.rdatatype.CNAME] = "target"
        return {wire_key(getattr(rdata, fields[rds.rdtype]))
                for node in self.zone.nodes.values() for rds in node if rds.rdtype in fields for rdata in rds}

    def _highest_cut(self, key: bytes) -> dns.name.Name | None:
        """The zone cut at or above a (lower-case wire) name closest to the apex, if any."""
        cut = None
        if self.cut_keys:
            pos = 0
            while pos < len(key) - self.apex_len:
                cut = self.cut_keys.get(key[pos:], cut)
                pos += key[pos] + 1
        return cut

    def _compile_addresses(self, addresses: AddressRecords, exact: dict[bytes, Answer],
                           by_name: dict[bytes, Answer]) -> None:
        """The fast path: answers for plain address names, spliced from bytes.

        The answer records point at the question for their owner (0xC00C) and
        hold only an address, so they need no compression state. What follows
        them (the zone's NS RRset and its addresses) depends only on the
        question's length and the answer's length, and is packed once per pair.
        """
        for key, records in addresses.items():
            qname_len = len(key)
            rrsets: dict[int, list[tuple[int, bytes]]] = {}
            for rdtype, ttl, wire in records:
                rrsets.setdefault(rdtype, []).append((ttl, wire))
            first = None
            for rdtype in sorted(rrsets):
                ttl = min(t for t, _ in rrsets[rdtype])
                wires = list(dict.fromkeys(w for _, w in rrsets[rdtype]))    # an RRset is a set
                body = b"".join(OWNER_IS_QUESTION + RR_FIXED.pack(rdtype, 1, ttl, len(w)) + w for w in wires)
                tail = self._address_tail(qname_len, len(body))
                answer = Answer(tail.flags, len(wires), tail.nscount, tail.arcount, body + tail.sections)
                exact[key + rdtype.to_bytes(2, "big")] = answer
                if first is None:
                    first = answer if self.ns is None else Answer(QR | AA, len(wires), 0, 0, body)
            exact[key + ANY.to_bytes(2, "big")] = first
            by_name[key] = self.negative(qname_len, NOERROR)
        self._add_empty_non_terminals(addresses, by_name)

    def _address_tail(self, qname_len: int, after: int) -> Answer:
        key = ("tail", qname_len, after)
        if key not in self._cache:
            sections = Sections()
            if self.ns is not None:
                sections.add(Sections.OPTIONAL, self.apex, self.ns)
                self._add_target_addresses(sections, sections.parts[Sections.OPTIONAL])
            seeds = suffix_offsets(self.apex, 12 + qname_len - self.apex_len)
            self._cache[key] = sections.pack(qname_len, seeds, NOERROR, after=after)
        return self._cache[key]  # type: ignore[return-value]

    def _add_empty_non_terminals(self, addresses: AddressRecords, by_name: dict[bytes, Answer]) -> None:
        for key in addresses:
            parent = key[key[0] + 1:]
            while len(parent) > self.apex_len and parent not in by_name:
                by_name[parent] = self.negative(len(parent), NOERROR)
                parent = parent[parent[0] + 1:]

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

    def _compile_name(self, name: dns.name.Name, exact: dict[bytes, Answer], by_name: dict[bytes, Answer]) -> None:
        key = wire_key(name)
        node = self.zone.get_node(name)
        cut = self._highest_cut(key)
        if cut is not None:
            by_name[key] = self.referral(cut, len(key))
            if cut == name:
                exact[key + dns.rdatatype.DS.to_bytes(2, "big")] = self._parent_side_ds(name, node, key)
            return
        per_type, other = self._answers(name, node, suffix_offsets(name), len(key))
        for rdtype, answer in per_type.items():
            exact[key + rdtype.to_bytes(2, "big")] = answer
        by_name[key] = other

    def _answers(self, owner: dns.name.Name, node, seeds: Seeds, qname_len: int) -> tuple[dict[int, Answer], Answer]:
        """The answers for every type at ``owner`` (the name asked, or a wildcard standing for it)."""
        if node is None or not node.rdatasets:
            return {}, self.negative(qname_len, NOERROR)
        cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
        if cname is not None:
            return self._cname_answers(owner, cname, seeds, qname_len)
        per_type = {rds.rdtype: self._positive(qname_len, seeds, [(owner, rds)], rds.rdtype) for rds in node}
        per_type[ANY] = self._any(owner, node, seeds, qname_len, per_type)
        return per_type, self.negative(qname_len, NOERROR)

    def _positive(self, qname_len: int, seeds: Seeds, answer: Section, qtype: int) -> Answer:
        sections = Sections.answering(answer)
        if self.ns is not None and qtype not in NO_AUTHORITY_NS:
            sections.add(Sections.OPTIONAL, self.apex, self.ns)
        self._add_target_addresses(sections, sections.answer + sections.parts[Sections.OPTIONAL])
        return sections.pack(qname_len, seeds, NOERROR)

    def _any(self, owner: dns.name.Name, node, seeds: Seeds, qname_len: int, per_type: dict[int, Answer]) -> Answer:
        """RFC 8482 as NSD 4.6 does it: one RRset with its target addresses, no authority."""
        soa = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.SOA)
        chosen = soa or min(node.rdatasets, key=lambda rds: rds.rdtype)
        if self.ns is None:
            return per_type[chosen.rdtype]     # no NS RRset to leave out: the same sections
        sections = Sections.answering([(owner, chosen)])
        self._add_target_addresses(sections, sections.answer)
        return sections.pack(qname_len, seeds, NOERROR)

    def _cname_answers(self, owner: dns.name.Name, cname: dns.rdataset.Rdataset, seeds: Seeds,
                       qname_len: int) -> tuple[dict[int, Answer], Answer]:
        """Follow the chain inside the zone; compile an answer for every type it ends in."""
        chain: Section = [(owner, cname)]
        target = cname[0].target
        node = None
        while self._in_authority(target):
            node = self.zone.get_node(target)
            nxt = node and node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if not nxt or len(chain) >= MAX_CNAME_CHAIN:
                break
            chain.append((target, nxt))
            target = nxt[0].target
            node = None
        per_type = {dns.rdatatype.CNAME: self._positive(qname_len, seeds, chain[:1], dns.rdatatype.CNAME)}
        per_type[ANY] = Sections.answering(chain[:1]).pack(qname_len, seeds, NOERROR)
        if not self._in_authority(target) or (node is not None and node.get_rdataset(
                dns.rdataclass.IN, dns.rdatatype.CNAME)):
            return per_type, Sections.answering(chain).pack(qname_len, seeds, NOERROR)
        if node is not None:
            for rds in node:
                per_type.setdefault(rds.rdtype, self._positive(qname_len, seeds, chain + [(target, rds)], rds.rdtype))
        rcode = NOERROR if target in self.names else NXDOMAIN
        return per_type, self.negative(qname_len, rcode, chain, seeds)

    def _in_authority(self, name: dns.name.Name) -> bool:
        """In this zone and not below one of its cuts."""
        return name.is_subdomain(self.apex) and self._highest_cut(wire_key(name)) is None

    def _add_target_addresses(self, sections: Sections, records: Section) -> None:
        """In-zone A and AAAA of NS targets (glue too), and of MX and SRV targets (no glue)."""
        for _, rds in records:
            if rds.rdtype not in TARGETS:
                continue
            field, allow_glue = TARGETS[rds.rdtype]
            for target in (getattr(rdata, field) for rdata in rds):
                if not target.is_subdomain(self.apex) or not (allow_glue or self._in_authority(target)):
                    continue
                node = self.zone.get_node(target)
                for rdtype in ADDRESS_TYPES:
                    address = node and node.get_rdataset(dns.rdataclass.IN, rdtype)
                    if address:
                        sections.add_address(target, address)

    def negative(self, qname_len: int, rcode: int, prefix: Section = (), seeds: Seeds | None = None) -> Answer:
        """NODATA or NXDOMAIN: the SOA in the authority section, after an optional CNAME chain."""
        key = ("negative", qname_len, rcode)
        if not prefix and key in self._cache:
            return self._cache[key]  # type: ignore[return-value]
        sections = Sections.answering(prefix)
        sections.add(Sections.AUTHORITY, self.apex, self.negative_soa)
        all_seeds = suffix_offsets(self.apex, 12 + qname_len - self.apex_len)
        all_seeds.update(seeds or {})
        answer = sections.pack(qname_len, all_seeds, rcode)
        if not prefix:
            self._cache[key] = answer
        return answer

    def referral(self, cut: dns.name.Name, qname_len: int) -> Answer:
        """The delegation at ``cut``, for any name at or below it: AA clear, NS and glue."""
        key = ("referral", cut, qname_len)
        if key not in self._cache:
            sections = Sections(referral=True)
            sections.add(Sections.AUTHORITY, cut, self.cuts[cut])
            self._add_target_addresses(sections, sections.parts[Sections.AUTHORITY])
            seeds = suffix_offsets(cut, 12 + qname_len - len(wire_key(cut)))
            self._cache[key] = sections.pack(qname_len, seeds, NOERROR, authoritative=False)
        return self._cache[key]  # type: ignore[return-value]

    def _parent_side_ds(self, cut: dns.name.Name, node, key: bytes) -> Answer:
        """DS at a cut belongs to the parent (RFC 4035 3.1.4.1): the DS RRset, or NODATA."""
        ds = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.DS)
        if ds is None:
            return self.negative(len(key), NOERROR)
        return self._positive(len(key), suffix_offsets(cut), [(cut, ds)], dns.rdatatype.DS)

    def missing(self, qname: bytes, qtype: int) -> Answer:
        """A name with no entry of its own: below a cut, covered by a wildcard, or NXDOMAIN."""
        cut = self._highest_cut(qname)
        if cut is not None:
            return self.referral(cut, len(qname))
        pos = 0
        below_apex = len(qname) - self.apex_len
        while pos < below_apex and qname[pos:] not in self._by_name:
            pos += qname[pos] + 1
        encloser = qname[pos:]      # the closest encloser (the apex if nothing closer exists)
        wildcard = self.wildcards.get(encloser)
        if wildcard is None:
            return self.negative(len(qname), NXDOMAIN)
        per_type, other = self._wildcard_answers(wildcard, encloser, len(qname))
        return per_type.get(qtype, other)

    def _wildcard_answers(self, wildcard: dns.name.Name, encloser: bytes,
                          qname_len: int) -> tuple[dict[int, Answer], Answer]:
        """Answers synthesised from ``*.encloser`` for names of one length (RFC 4592)."""
        key = ("wildcard", wildcard, qname_len)
        if key not in self._cache:
            seeds = suffix_offsets(wildcard.parent(), 12 + qname_len - len(encloser))
            seeds[wildcard] = 12    # the wildcard owner becomes the question name
            self._cache[key] = self._answers(wildcard, self.zone.get_node(wildcard), seeds, qname_len)
        return self._cache[key]  # type: ignore[return-value]
