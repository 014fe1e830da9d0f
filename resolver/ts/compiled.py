"""Compiling a zone into ready-made answers, the way NSD 4 answers.

Every answer depends only on the question name and type, so its record
sections are packed once, when the zone loads, with compression pointers that
aim into the question at offset 12. A name has the same length in any letter
case, so the packed sections fit every spelling of it.

What goes into each answer follows NSD 4.6 (its ``query.c``: answer_lookup_zone,
answer_authoritative, answer_domain, add_additional_rrsets), checked against a
running NSD by the differential tests in ``tests/conformance``:

* a name exists when it has records or a name below it has (an empty
  non-terminal, RFC 4592 2.2.2), and so does a wildcard: ``host.*.sub`` makes
  ``*.sub`` exist, and the names it covers get NODATA, not NXDOMAIN;
* a name whose only records are NSEC3 (and their RRSIGs) is not a name
  (RFC 5155 7.2.8): asked for, it is answered as if missing (the wildcard of
  its parent, else NXDOMAIN); a name below it is NXDOMAIN;
* positive answers carry the zone's NS RRset in the authority section (not for
  DS, DNSKEY and ANY), and in the additional section the addresses of in-zone
  NS (glue too), MX, SRV, KX, RT and MB targets (RT also their X25 and ISDN), a
  target's own or, when the target does not exist, those of the wildcard that
  covers it; no RRset appears twice in one reply;
* NODATA and NXDOMAIN carry the SOA, with the TTL min(SOA TTL, MINIMUM) (RFC 2308);
* CNAMEs are followed inside the zone, through wildcards and empty
  non-terminals, until a CNAME would come twice (a loop); a chain that enters
  a delegation ends in its referral, with AA set (DS at the cut is answered
  from the parent side); a chain that leaves the zone ends there. A type that
  the CNAME's owner also holds (RRSIG and NSEC in a signed zone) is answered
  there. NSEC3 queries get NODATA at every name, CNAME owners too;
* ANY gets one RRset (RFC 8482 4.1), picked as NSD does: the first of A, AAAA,
  SOA, MX and PTR in zone-file order, else the last other type, else the last
  of DNSKEY, RRSIG (every RRSIG of the name) and NSEC, never NSEC3; with its
  target addresses but without the NS RRset;
* names at and below a zone cut get a referral (AA clear, the cut's NS RRset,
  glue), except DS at the cut, which the parent answers (RFC 4035 3.1.4.1);
* wildcards (RFC 4592) are expanded from the closest encloser. Their answers
  depend on the length of the question name too, so they are packed on first
  use and kept per length, like NXDOMAIN answers;
* a name below a DNAME's owner (RFC 6672) is answered with the DNAME, a CNAME
  synthesised from it (owner the question, target the name with the DNAME's
  owner replaced by its target, in lower case, TTL the DNAME's: RFC 6672 3.1),
  and what the target leads to, followed as a CNAME's target is; a CNAME whose
  target lies below a DNAME goes on the same way. As NSD's answer_authoritative
  does it: CNAME asked below a DNAME gets the DNAME and the synthesised CNAME
  alone; a target longer than 255 octets gets YXDOMAIN with the chain so far and
  an extended error (RFC 6672 2.2); the chain stops (NOERROR) where a DNAME
  comes again whose target lies below its owner, or a synthesised CNAME would
  come twice. The DNAME's owner is answered as any name (RFC 6672 2.3), and a
  delegation at or above it refers. These answers depend on the whole name
  asked: where the target is outside the zone, missing or too long, they are
  those of the first name of the same length, with the name's labels copied
  in; others are packed on first use, and the last few thousand names kept;
* DNSSEC records are data: RRSIG, NSEC, NSEC3, NSEC3PARAM, DNSKEY and DS are
  answered when asked for by type, and nothing is added for the DO bit;
* names are written in lower case, as NSD stores them: owners, and the names
  in record data (NS, CNAME, SOA, MX, SRV, PTR, RP, NAPTR, KX, DNAME, ...), all
  but the signer of RRSIG and SIG and the next name of NSEC. Only where a name
  compresses against the question does it keep the question's spelling.
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, NamedTuple

import dns.name
import dns.node
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.zone

from ..wire import AA, EDE_OTHER, MIN_UDP, NOERROR, NXDOMAIN, QR, RR_FIXED, YXDOMAIN, at_or_below
from .address_lines import AddressRecords
from .load_progress import LoadProgress
from .rotation import RotatingAnswer
from .rdata_text import add_to_rdataset, address_rdata
from .sections import (MAX_OPT, QUESTION_POINTER, Answer, QuestionName, Section, Sections, Seeds, SynthesisedCname,
                       TemporaryName, rdata_wire, suffix_offsets, wire_key)
from .zone_checks import suffixes
from .zone_names import ZoneName, name_from_wire
from .zones import ZoneData, ZoneError

ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)
NO_AUTHORITY_NS = (dns.rdatatype.DS, dns.rdatatype.DNSKEY)     # their RRsets are large (NSD)
IN = dns.rdataclass.IN
ANY = dns.rdatatype.ANY
CNAME = dns.rdatatype.CNAME
DNAME = dns.rdatatype.DNAME
DS = dns.rdatatype.DS
NSEC3 = dns.rdatatype.NSEC3
RRSIG = dns.rdatatype.RRSIG
# NSD's choice for ANY: the first preferred RRset, else the last normal one, else the last of these.
ANY_PREFERRED = frozenset({dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.SOA, dns.rdatatype.MX,
                           dns.rdatatype.PTR})
ANY_LAST_RESORT = frozenset({dns.rdatatype.DNSKEY, RRSIG, dns.rdatatype.NSEC})
# Types whose records write no name that a later one compresses against (and take no additional
# records): the answers of a name holding only these are spliced from bytes (CompiledZone._compile_spliced).
SPLICED = frozenset({dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.TXT, RRSIG, dns.rdatatype.NSEC, DS,
                     dns.rdatatype.DNSKEY, dns.rdatatype.NSEC3PARAM, dns.rdatatype.CAA})
# Names in record data that NSD 4.6 keeps as written (its "literal" names); all others it lower-cases.
KEPT_CASE = {"RRSIG": ("signer",), "SIG": ("signer",), "NSEC": ("next",)}
BELOW_DNAME_KEPT = 4096         # names below a DNAME whose answers are kept at once
DNAME_TOO_LONG = b"DNAME expansion became too large"     # NSD's EXTRA-TEXT for its YXDOMAIN
# The fields holding names of the most common types, less those kept as written: none for most.
NAME_FIELDS = {dns.rdata.get_rdata_class(dns.rdataclass.IN, rdtype): fields for rdtype, fields in {
    dns.rdatatype.A: (), dns.rdatatype.AAAA: (), dns.rdatatype.TXT: (), RRSIG: (), dns.rdatatype.NSEC: (), NSEC3: (),
    DS: (), dns.rdatatype.DNSKEY: (), dns.rdatatype.NS: ("target",), CNAME: ("target",),
    dns.rdatatype.PTR: ("target",), dns.rdatatype.DNAME: ("target",), dns.rdatatype.MX: ("exchange",),
    dns.rdatatype.SOA: ("mname", "rname")}.items()}


@dataclass(frozen=True)
class Target:
    """A type whose data names a host: the rdata field, whether glue (addresses
    below a zone cut) may be added for it, and the types added (as NSD)."""

    field: str
    allow_glue: bool = False
    types: tuple[int, ...] = ADDRESS_TYPES


# MB's host too (RFC 1035 3.3.3; NSD's add_rrset), read as a name by resolver.ts.obsolete_types; not MG and MR.
TARGETS = {dns.rdatatype.NS: Target("target", allow_glue=True), dns.rdatatype.MX: Target("exchange"),
           dns.rdatatype.SRV: Target("target"), dns.rdatatype.KX: Target("exchange"),
           dns.rdatatype.RT: Target("exchange", types=(*ADDRESS_TYPES, dns.rdatatype.X25, dns.rdatatype.ISDN)),
           dns.rdatatype.MB: Target("target")}

# A name's RRsets by type, in zone-file order; RRSIG holds every RRSIG RRset of the name.
RRsets = dict[int, list[dns.rdataset.Rdataset]]
# Round robin: RRsets turned for one order of an answer (by id) -> the zone's RRset.
TurnedFrom = dict[int, dns.rdataset.Rdataset]
UNTURNED = frozenset({RRSIG, dns.rdatatype.NSEC, NSEC3})     # signatures and denials keep their order


class Dname(NamedTuple):
    """A DNAME of the zone: its owner, its RRset, its target's lower-case wire name, and whether
    the names it synthesises lead to the same answers but for their own labels when they are
    missing (``splice_missing``: no name of the SOA lies below the target, where the SOA of an
    NXDOMAIN would compress against those labels) or are all outside the zone (``outside``)."""

    owner: dns.name.Name
    rrset: dns.rdataset.Rdataset
    target: bytes
    outside: bool
    splice_missing: bool


@dataclass(frozen=True)
class Found:
    """Where a name reached through a CNAME leads (NSD's answer_lookup_zone).

    ``node`` holds the records that answer for ``owner``: its own, or those of
    the wildcard covering it (None for an empty non-terminal). ``cut`` is the
    delegation it lies at or below; ``at_cut`` says it is the cut itself.
    ``outside``: not in this zone; ``nxdomain``: it does not exist; ``dname``:
    it lies below this DNAME (its closest encloser's).
    """

    owner: dns.name.Name
    node: dns.node.Node | None = None
    cut: dns.name.Name | None = None
    at_cut: bool = False
    outside: bool = False
    nxdomain: bool = False
    dname: Dname | None = None


@dataclass
class Walk:
    """A chain being followed for a question ``qname_len`` octets long (CompiledZone._chain): its
    records so far, each type's answer found on the way, the question's suffixes that names
    compress against (``seeds``), the question itself when it lies below a DNAME (a name
    synthesised later may end in it), and the names CNAMEs were synthesised for (lower-case wire)."""

    qname_len: int
    seeds: Seeds
    question: dns.name.Name | None = None      # the question, when it lies below a DNAME
    chain: Section = field(default_factory=list)
    per_type: dict[int, Answer] = field(default_factory=dict)
    synthesised: set[bytes] = field(default_factory=set)

    def packed(self, rcode: int) -> Answer:
        """The chain so far as the whole answer, with ``rcode``."""
        return Sections.answering(self.chain).pack(self.qname_len, self.seeds, rcode)


class CompiledZone:
    """One zone's answers, written into the shared tables of an ``Authority``.

    ``exact`` maps lower-case name + type to an answer, ``by_name`` maps every
    existing name (empty non-terminals too) to the answer for its other types.
    Missing names are answered by :meth:`missing`. Compiling takes ``data`` over:
    its compact address records are let go as they are compiled (for a
    million names, a fifth of the peak memory), so it is compiled once.
    """

    def __init__(self, data: ZoneData, exact: dict[bytes, Answer], by_name: dict[bytes, Answer],
                 round_robin: bool = False) -> None:
        zone = self.zone = data.zone
        self.round_robin = round_robin      # answers packed here turn (resolver.ts.rotation; Authority: the rest)
        _lower_case_names(zone)
        self.source = data.source or zone.origin.to_text()
        self.apex: dns.name.Name = zone.origin
        self._apex_key = wire_key(self.apex)
        self.apex_len = len(self._apex_key)
        self.soa = zone.get_rdataset(self.apex, dns.rdatatype.SOA)
        self.ns = zone.get_rdataset(self.apex, dns.rdatatype.NS)
        # RFC 2308 3: the SOA of a negative answer lives no longer than its MINIMUM.
        self.negative_soa = self.soa.copy()
        self.negative_soa.update_ttl(min(self.soa.ttl, self.soa[0].minimum))
        self._soa_name_keys, self._soa_names = _names_between(self.apex, (self.soa[0].mname, self.soa[0].rname))
        self._by_name = by_name
        self._cache: dict[tuple, object] = {}
        self._ns_addresses: Section | None = None      # the additional records of the zone's NS RRset
        self.cuts = {name: ns for name, node in zone.nodes.items()
                     if (ns := _rdataset_of(node, dns.rdatatype.NS)) and name != self.apex}
        self.cut_keys = {wire_key(cut): cut for cut in self.cuts}
        self.dnames = self._dnames(data.dname_owners)
        # Lookups while compiling must know the fast path's names too; afterwards by_name does.
        self._fast_path_names = data.addresses
        self._existing_keys: set[bytes] | None = None
        # Fast-path answers are shared by every name of a length: not for names below the
        # names their SOA, NS and glue records write (these compress against the question).
        apex_ns = _names_between(self.apex, (rdata.target for rdata in self.ns or ()))[1]
        self._question_sensitive = tuple(wire_key(name) for name in self._soa_names | apex_ns)
        self._fast_targets: set[dns.name.Name] = set()
        addresses = self._take_dependent_addresses(data.addresses)
        existing = self._existing_names()
        self.nsec3_only = {name for name, node in zone.nodes.items() if _only_nsec3(node)}
        self.nsec3_only_keys = {wire_key(name) for name in self.nsec3_only}
        self.names = existing - self.nsec3_only
        self.wildcards = {wire_key(name.parent()): name for name in self.names if name.is_wild()}
        self._below_dnames: dict[bytes, tuple[dict[int, Answer], Answer]] = {}
        self._below_dname_shapes: dict[tuple, Spliced] = {}   # answers spliced per DNAME and name shape
        # Names in record data and those between them and the apex: where a name covered by a
        # wildcard or below a DNAME ends in one, the answer compresses against the question
        # (see _known_suffix).
        self._data_names = (_names_between(self.apex, _names_in_data(zone))[0] if self.wildcards or self.dnames
                            else {})
        progress = data.progress
        general = self.names - self._fast_targets
        what = f"of {len(general) + len(addresses):,} names compiled"
        compiled = 0
        for compiled, name in enumerate(general, 1):
            self._compile_name(name, exact, by_name)
            if progress is not None:
                progress.tick(compiled, what)
        self._compile_addresses(addresses, exact, by_name, (progress, what), compiled)
        self._fast_path_names = self._existing_keys = None
        # names with records or below them
        self.size = len(self.names) + len(addresses) - len(self._fast_targets & self.names)
        if progress is not None:
            progress.finish(data.records, self.size)

    def share_names(self, by_name: dict[bytes, Answer]) -> None:
        """Look this zone's names up in ``by_name`` from now on: the table of a new ``Authority``
        that holds the same entries for them (``Authority.replacing``)."""
        self._by_name = by_name

    # ------------------------------------------------------------------ the fast path

    def _take_dependent_addresses(self, addresses: AddressRecords) -> AddressRecords:
        """Move into the zone the address names that other records depend on.

        The fast path compiles a name from its own records only; a name that
        also has other records, or that lies at or below a zone cut, goes
        through the general path. A name that NS, MX, SRV, KX, RT, MB or CNAME
        records point at is given to the zone too, where the answers to those
        records look for it, but its own answers depend on its own records
        only: it stays on the fast path (in ``_fast_targets``, which the general
        path skips). So is a name below a DNAME's target, which a CNAME synthesised from
        the DNAME may point at. Returns the fast path's names, for :meth:`_compile_addresses`.
        """
        if not addresses:
            return addresses
        in_zone = {wire_key(name) for name in self.zone.nodes}
        targets = self._target_keys()
        redirects = {dname.target for dname in self.dnames.values()}
        moved = []
        for key, records in addresses.items():
            if key in in_zone or self._highest_cut(key):
                self._add_to_zone(key, records)
                moved.append(key)
            elif key in targets or (redirects and not redirects.isdisjoint(itertools.islice(suffixes(key), 1, None))):
                self._fast_targets.add(self._add_to_zone(key, records))
        for key in moved:       # taken out of the table itself: a copy of it would cost a zone's worth of memory
            del addresses[key]
        return addresses

    def _add_to_zone(self, key: bytes, records: list[tuple[int, int, bytes]]) -> dns.name.Name:
        """Give the zone a fast-path name's records; returns the name."""
        return add_address_records(self.zone, key, records, self.source)

    def _too_big_for_udp(self, key: bytes, records: list[tuple[int, int, bytes]]) -> bool:
        """Whether an answer might need shrinking, which only the general path can do."""
        return self._too_big(len(key), sum(12 + len(wire) for _, _, wire in records))

    def _too_big(self, qname_len: int, body: int) -> bool:
        """Whether ``body`` bytes of records after a question name of ``qname_len`` bytes, with the
        zone's NS RRset and its addresses after them, might not fit a UDP client."""
        return 12 + qname_len + 4 + body + len(self._address_tail(qname_len, body).sections) + MAX_OPT > MIN_UDP

    def _target_keys(self) -> set[bytes]:
        """Names that NS, MX, SRV, KX, RT, MB or CNAME records point at."""
        fields = {rdtype: target.field for rdtype, target in TARGETS.items()}
        fields[CNAME] = "target"
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
                           by_name: dict[bytes, Answer], progress: tuple[LoadProgress | None, str],
                           compiled: int) -> None:
        """The fast path: answers for plain address names, spliced from bytes; ``progress`` (if any,
        and what it says of names) is told of each name, counted on from the ``compiled`` names before them.

        The answer records point at the question for their owner (0xC00C) and
        hold only an address, so they need no compression state. What follows
        them (the zone's NS RRset and its addresses) depends only on the
        question's length and the answer's length, and is packed once per pair.
        ANY gets the type that comes first in the file (both are preferred by NSD).
        """
        tracker, what = progress
        for compiled, (key, records) in enumerate(addresses.items(), compiled + 1):
            if tracker is not None:
                tracker.tick(compiled, what)
            addresses[key] = ()     # compiled: the records go (the keys stay, for lookups while compiling)
            if key.endswith(self._question_sensitive) or self._too_big_for_udp(key, records):
                self._compile_name(self._add_to_zone(key, records), exact, by_name)
                continue
            qname_len = len(key)
            rrsets: dict[int, list[tuple[int, bytes]]] = {}
            for rdtype, ttl, wire in records:
                rrsets.setdefault(rdtype, []).append((ttl, wire))
            first = None
            for rdtype, members in rrsets.items():
                ttl = min(t for t, _ in members)
                wires = list(dict.fromkeys(w for _, w in members))    # an RRset is a set
                body = b"".join(QUESTION_POINTER + RR_FIXED.pack(rdtype, 1, ttl, len(w)) + w for w in wires)
                answer = self._spliced(qname_len, len(wires), body)
                exact[key + rdtype.to_bytes(2, "big")] = answer
                if first is None:
                    first = answer if self.ns is None else Answer(QR | AA, len(wires), 0, 0, body)
            exact[key + ANY.to_bytes(2, "big")] = first
            by_name[key] = self.negative(qname_len, NOERROR)
        self._add_empty_non_terminals(addresses, by_name)

    def _spliced(self, qname_len: int, count: int, body: bytes, authority: bool = True) -> Answer:
        """A positive answer of ``count`` records owned by the question (packed in ``body``), then,
        with ``authority``, the zone's NS RRset and its addresses."""
        if not authority or self.ns is None:
            return Answer(QR | AA, count, 0, 0, body)
        tail = self._address_tail(qname_len, len(body))
        return Answer(tail.flags, count, tail.nscount, tail.arcount, body + tail.sections)

    def _compile_spliced(self, key: bytes, node: dns.node.Node | None, exact: dict[bytes, Answer],
                         by_name: dict[bytes, Answer]) -> bool:
        """Compile a name of the general path as the fast path does, when its answers are spliced
        from bytes just as well: its types are all ``SPLICED`` (no CNAME, no NSEC3: nothing
        followed), the answers fit UDP, and the name does not end in a name that the NS and SOA
        records write (see ``_question_sensitive``). Returns whether it did.

        Each type's answer is its records, each owned by a pointer to the question, and the
        zone's NS RRset with its addresses (none for DS and DNSKEY, RFC 4035 3.1.4.1 as NSD);
        ANY gets NSD's choice without them; other types get NODATA.
        """
        if node is None or key.endswith(self._question_sensitive):
            return False
        rrsets = _rrsets_by_type(node)
        if not rrsets or not rrsets.keys() <= SPLICED or _rdataset_of(node, NSEC3):
            return False
        qname_len = len(key)
        bodies = {rdtype: _spliced_records(group) for rdtype, group in rrsets.items()}
        if self._too_big(qname_len, sum(len(body) for _, body in bodies.values())):
            return False
        for rdtype, (count, body) in bodies.items():
            exact[key + rdtype.to_bytes(2, "big")] = self._spliced(qname_len, count, body,
                                                                   rdtype not in NO_AUTHORITY_NS)
        count, body = bodies[_any_choice(rrsets)]   # type: ignore[index]
        exact[key + ANY.to_bytes(2, "big")] = self._spliced(qname_len, count, body, authority=False)
        by_name[key] = self.negative(qname_len, NOERROR)
        return True

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
                by_name[parent] = self.negative(len(parent), NOERROR,
                                                seeds=_question_seeds(parent, self._soa_name_keys))
                parent = parent[parent[0] + 1:]

    def _dnames(self, owners: Iterable[bytes]) -> dict[bytes, Dname]:
        """The zone's DNAMEs by their owner's lower-case wire name, but those at or below a
        zone cut (NSD refers there: the cut's NS RRset comes before a DNAME beside it)."""
        dnames = {}
        for key in owners:
            if self._highest_cut(key) is None:
                owner = name_from_wire(key)
                rrset = self.zone.get_rdataset(owner, DNAME)
                target = rrset[0].target
                below = any(name.is_subdomain(target) and name != target for name in self._soa_names)
                # Outside: neither in the zone nor above it (where a target could lead back into it).
                outside = not target.is_subdomain(self.apex) and not self.apex.is_subdomain(target)
                dnames[key] = Dname(owner, rrset, wire_key(target), outside, not below)
        return dnames

    # ------------------------------------------------------------------ which names exist

    def _existing_names(self) -> set[dns.name.Name]:
        """Every name with data, and the empty non-terminals between them and the apex."""
        names = {}
        for name in self.zone.nodes:
            key = wire_key(name)
            if at_or_below(key, self._apex_key):
                names.setdefault(key, name)
        return set(_with_parents(names, self._apex_key).values())

    def _exists(self, key: bytes) -> bool:
        """Whether a (lower-case wire) name of the zone exists, as NSD sees it: it has records
        (NSEC3 owners too) or names below it have, the fast path's names included."""
        if self._fast_path_names is None:        # compiled: by_name holds every name
            return key in self._by_name or key in self.nsec3_only_keys
        if self._existing_keys is None:
            keys = {wire_key(name) for name in self.names} | self.nsec3_only_keys
            for name in self._fast_path_names:
                while len(name) > self.apex_len and name not in keys:
                    keys.add(name)
                    name = name[name[0] + 1:]
            self._existing_keys = keys
        return key in self._existing_keys

    def _closest_encloser(self, key: bytes) -> bytes:
        """The longest existing suffix of a (lower-case wire) name in the zone (the apex at most)."""
        while len(key) > self.apex_len and not self._exists(key):
            key = key[key[0] + 1:]
        return key

    def _find(self, name: dns.name.Name) -> Found:
        """Where a CNAME's target leads, as NSD's answer_lookup_zone finds it."""
        if not name.is_subdomain(self.apex):
            return Found(name, outside=True)
        key = wire_key(name)
        cut = self._highest_cut(key)
        if cut is not None:
            return Found(name, cut=cut, at_cut=name == cut)
        if name in self.names:
            return Found(name, self.zone.get_node(name))
        encloser = self._encloser_if_missing(key)
        if encloser == key:                  # an empty non-terminal above fast-path names
            return Found(name)
        dname = self.dnames.get(encloser)    # NSD looks for a DNAME before a wildcard
        if dname is not None:
            return Found(name, dname=dname)
        wildcard = self.wildcards.get(encloser)
        if wildcard is None:
            return Found(name, nxdomain=True)
        return Found(name, self.zone.get_node(wildcard))

    def _encloser_if_missing(self, key: bytes) -> bytes:
        """The closest encloser of a (lower-case wire) name of the zone below its cuts; the name
        itself when it exists. An NSEC3 owner is not a name: its parent is (RFC 5155 7.2.8)."""
        return key[key[0] + 1:] if key in self.nsec3_only_keys else self._closest_encloser(key)

    def _missing(self, key: bytes) -> bool:
        """Whether a (lower-case wire) name of the zone is NXDOMAIN, as :meth:`_find` finds it:
        no cut above it, it does not exist, and no DNAME or wildcard at its closest encloser."""
        if self._highest_cut(key) is not None:
            return False
        encloser = self._encloser_if_missing(key)
        return encloser != key and encloser not in self.dnames and encloser not in self.wildcards

    def _address_source(self, target: dns.name.Name) -> dns.node.Node | None:
        """The records that give a target its addresses: its own, or, when it does not exist,
        those of the wildcard below its closest encloser (NSD's add_additional_rrsets)."""
        node = self.zone.get_node(target)
        if node is not None or not self.wildcards or target in self.names:
            return node
        key = wire_key(target)
        encloser = self._closest_encloser(key)
        wildcard = None if encloser == key else self.wildcards.get(encloser)
        return None if wildcard is None else self.zone.get_node(wildcard)

    # ------------------------------------------------------------------ the general path

    def _compile_name(self, name: dns.name.Name, exact: dict[bytes, Answer], by_name: dict[bytes, Answer]) -> None:
        key = wire_key(name)
        node = self.zone.get_node(name)
        cut = self._highest_cut(key)
        if cut is not None:
            seeds = suffix_offsets(name)
            by_name[key] = self.referral(cut, len(key), seeds=seeds)
            if cut == name:
                exact[key + DS.to_bytes(2, "big")] = self._parent_side_ds(cut, len(key), seeds)
            return
        if self._compile_spliced(key, node, exact, by_name):
            return
        per_type, other = self._answers(name, node, suffix_offsets(name), len(key))
        for rdtype, answer in per_type.items():
            exact[key + rdtype.to_bytes(2, "big")] = answer
        by_name[key] = other

    def _answers(self, owner: dns.name.Name, node: dns.node.Node | None, seeds: Seeds,
                 qname_len: int) -> tuple[dict[int, Answer], Answer]:
        """The answers for every type at ``owner`` (the name asked, or a wildcard standing
        for it, with ``node`` its records): a dict by type, and the answer for other types.
        """
        walk = Walk(qname_len, seeds)
        return walk.per_type, self._chain(Found(owner, node), walk)

    def _chain(self, found: Found, walk: Walk) -> Answer:
        """Follow a chain from ``found``, after the records of ``walk``; returns what the chain
        ends in, the answer for the types that no name of it holds.

        A CNAME is followed (NSD's answer_domain), and so is a DNAME above a name
        the chain reaches (:meth:`_through_dnames`): each type is answered in
        ``walk.per_type`` at the first name of the chain that holds it. NSEC3 is
        answered with NODATA at the first name reached, the CNAME not followed.
        """
        chain, per_type, qname_len, seeds = walk.chain, walk.per_type, walk.qname_len, walk.seeds
        while True:
            found = self._through_dnames(found, walk)
            if isinstance(found, Answer):
                return found
            end = self._chain_end(found, walk)
            if end is not None:
                return end
            owner, node = found.owner, found.node
            if node is not None and (node.get_rdataset(dns.rdataclass.IN, CNAME)
                                     or node.get_rdataset(dns.rdataclass.IN, NSEC3)):
                per_type.setdefault(NSEC3, self.negative(qname_len, NOERROR, chain, seeds))
            rrsets = _rrsets_by_type(node)
            for rdtype, group in rrsets.items():
                if rdtype not in per_type:
                    per_type[rdtype] = self._positive(qname_len, seeds, chain + [(owner, rds) for rds in group],
                                                      rdtype)
            if rrsets and ANY not in per_type:
                per_type[ANY] = self._any(qname_len, seeds, chain, owner, rrsets)
            cname = rrsets.get(CNAME)
            if cname is None:
                return self.negative(qname_len, NOERROR, chain, seeds)
            if any(rds is cname[0] and name == owner for name, rds in chain):
                return walk.packed(NOERROR)         # a loop: NSD stops when a CNAME would come twice
            chain.append((owner, cname[0]))
            found = self._find(cname[0][0].target)

    def _chain_end(self, found: Found, walk: Walk) -> Answer | None:
        """The answer a chain ends in at ``found`` when it leaves the zone, reaches no name, or
        enters a delegation (DS at the cut is answered from this side); None when it goes on."""
        if found.outside:
            return walk.packed(NOERROR)
        if found.nxdomain:
            return self.negative(walk.qname_len, NXDOMAIN, walk.chain, walk.seeds)
        if found.cut is not None:
            if found.at_cut:
                walk.per_type.setdefault(DS, self._parent_side_ds(found.cut, walk.qname_len, walk.seeds, walk.chain))
            return self.referral(found.cut, walk.qname_len, walk.chain, walk.seeds)
        return None

    def _through_dnames(self, found: Found, walk: Walk) -> Found | Answer:
        """Where a name below a DNAME leads: each DNAME on the way adds itself and the CNAME
        synthesised from it to the chain (:meth:`_synthesise`). Returns where the last
        target is, or the answer that ends the chain on the way."""
        while found.dname is not None:
            target = self._synthesise(found.owner, found.dname, walk)
            if isinstance(target, Answer):
                return target
            found = self._find(target)
        return found

    def _synthesise(self, name: dns.name.Name, dname: Dname, walk: Walk) -> dns.name.Name | Answer:
        """Add a DNAME and the CNAME it synthesises for ``name``, a name below its owner, to the
        chain (RFC 6672 3.1, as NSD's answer_authoritative and query_synthesize_cname do);
        returns the CNAME's target.

        The CNAME has the DNAME's TTL; its target is ``name`` with the owner replaced by the
        DNAME's target; its owner is ``name``. Both are written as NSD writes them: the owner
        as a pointer to the question, or as a :class:`TemporaryName`, and so the target.
        Where no CNAME can be added, returns the answer the chain ends in: YXDOMAIN with an
        extended error when the target would be longer than 255 octets (RFC 6672 2.2);
        NOERROR when the DNAME is in the chain already and its target lies below its owner,
        or when a CNAME was synthesised for ``name`` already (a loop: the same CNAME again).
        """
        owner, rds = dname.owner, dname.rrset
        redirect = rds[0].target
        if not any(held is rds for _, held in walk.chain):
            walk.chain.append((owner, rds))
        elif redirect.is_subdomain(owner):
            return walk.packed(NOERROR)
        try:
            target = dns.name.Name(name.labels[:len(name) - len(owner)] + redirect.labels)
        except dns.name.NameTooLong:
            return _with_ede(walk.packed(YXDOMAIN), EDE_OTHER, DNAME_TOO_LONG)
        key = wire_key(name)
        if key in walk.synthesised:
            return walk.packed(NOERROR)
        walk.synthesised.add(key)
        if not isinstance(name, QuestionName):
            name = _temporary_owner(name, owner, walk.question)
        written = TemporaryName(target.labels, self._temporary_labels(target))
        walk.chain.append((name, dns.rdataset.from_rdata(rds.ttl, SynthesisedCname(IN, CNAME, written))))
        return target

    def _temporary_labels(self, name: dns.name.Name) -> int:
        """How many labels of a synthesised name NSD writes as temporary domains: those below the
        longest suffix its domain table holds, a name of the zone that exists or that record data
        names (see :class:`TemporaryName`); none outside the zone, whose names it may hold from
        record data of other zones."""
        if not name.is_subdomain(self.apex):
            return 0
        labels = 0
        for suffix in suffixes(wire_key(name)):
            if self._exists(suffix) or suffix in self._data_names:
                break
            labels += 1
        return labels

    def _positive(self, qname_len: int, seeds: Seeds, answer: Section, qtype: int) -> Answer:
        def pack(records: Section, turned_from: TurnedFrom) -> Answer:
            sections = Sections.answering(records)
            if self.ns is not None and qtype not in NO_AUTHORITY_NS:
                sections.add(Sections.OPTIONAL, self.apex, self.ns)
            self._add_target_addresses(sections, _as_in_zone(sections.answer, turned_from)
                                       + sections.parts[Sections.OPTIONAL])
            return sections.pack(qname_len, seeds, NOERROR)
        return self._turning(answer, pack)

    def _any(self, qname_len: int, seeds: Seeds, chain: Section, owner: dns.name.Name, rrsets: RRsets) -> Answer:
        """RFC 8482 as NSD 4.6 does it: one RRset with its target addresses, no authority."""
        chosen = _any_choice(rrsets)
        if chosen is None:
            return self.negative(qname_len, NOERROR, chain, seeds)

        def pack(records: Section, turned_from: TurnedFrom) -> Answer:
            sections = Sections.answering(records)
            self._add_target_addresses(sections, _as_in_zone(sections.answer, turned_from))
            return sections.pack(qname_len, seeds, NOERROR)
        return self._turning(chain + [(owner, rds) for rds in rrsets[chosen]], pack)

    def _turning(self, answer: Section, pack: Callable[[Section, TurnedFrom], Answer]) -> Answer:
        """The answer ``pack`` packs for the records ``answer``; with round robin, when its last
        RRset has several records, a :class:`~resolver.ts.rotation.RotatingAnswer` of each order of
        that RRset (packed again for each, as NSD writes each: names compress where they now fall),
        the additional records in the zone's order as NSD adds them. Not signatures, and not an
        answer that may be packed again smaller (UDP)."""
        first = pack(answer, {})
        owner, last = answer[-1] if answer else (None, None)
        if (not self.round_robin or last is None or len(last) < 2 or last.rdtype in UNTURNED
                or first.shrink is not None):
            return first
        items = list(last)
        orders = [first.sections]
        for turn in range(1, len(items)):
            turned = dns.rdataset.Rdataset(last.rdclass, last.rdtype, last.covers, last.ttl)
            for rdata in items[turn:] + items[:turn]:
                turned.add(rdata)
            orders.append(pack([*answer[:-1], (owner, turned)], {id(turned): last}).sections)
        return RotatingAnswer(first, tuple(orders))

    def _add_target_addresses(self, sections: Sections, records: Section) -> None:
        """In-zone addresses of NS targets (glue too), and of MX, SRV, KX, RT and MB targets (no glue)."""
        for _, rds in records:
            if rds.rdtype in TARGETS:
                if rds is self.ns:      # in nearly every answer: worked out once
                    if self._ns_addresses is None:
                        self._ns_addresses = self._target_addresses(rds)
                    addresses = self._ns_addresses
                else:
                    addresses = self._target_addresses(rds)
                for target, address in addresses:
                    sections.add_additional(target, address)

    def _target_addresses(self, rds: dns.rdataset.Rdataset) -> Section:
        """The address RRsets that the targets of an NS, MX, SRV, KX or RT RRset take, in order."""
        target_type = TARGETS[rds.rdtype]
        addresses = []
        for target in (getattr(rdata, target_type.field) for rdata in rds):
            key = wire_key(target)
            if not at_or_below(key, self._apex_key) or not (target_type.allow_glue or self._highest_cut(key) is None):
                continue
            node = self._address_source(target)
            for rdtype in target_type.types:
                address = node and _rdataset_of(node, rdtype)
                if address:
                    addresses.append((target, address))
        return addresses

    def negative(self, qname_len: int, rcode: int, prefix: Section = (), seeds: Seeds | None = None) -> Answer:
        """NODATA or NXDOMAIN: the SOA in the authority section, after an optional CNAME chain.

        ``seeds`` are the question's suffixes (see :func:`_shared_seeds`); without a
        chain, only those the SOA's names end in matter, and the answer is shared.
        """
        if prefix:
            return self._pack_negative(qname_len, rcode, prefix, seeds or {})
        shared = _shared_seeds(seeds, self._soa_names)
        key = ("negative", qname_len, rcode, shared)
        if key not in self._cache:
            self._cache[key] = self._pack_negative(qname_len, rcode, prefix, dict(shared))
        return self._cache[key]  # type: ignore[return-value]

    def _pack_negative(self, qname_len: int, rcode: int, prefix: Section, seeds: Seeds) -> Answer:
        sections = Sections.answering(prefix)
        sections.add(Sections.AUTHORITY, self.apex, self.negative_soa)
        all_seeds = suffix_offsets(self.apex, 12 + qname_len - self.apex_len)
        all_seeds.update(seeds)
        return sections.pack(qname_len, all_seeds, rcode)

    def referral(self, cut: dns.name.Name, qname_len: int, prefix: Section = (), seeds: Seeds | None = None) -> Answer:
        """The delegation at ``cut``: its NS RRset and glue. For a name at or below the
        cut AA is clear; after a CNAME chain (``prefix``) AA is set, as NSD does.
        ``seeds`` are the question's suffixes, as for :meth:`negative`."""
        if prefix:
            return self._pack_referral(cut, qname_len, prefix, seeds or {})
        shared = _shared_seeds(seeds, self._glue_names(cut)[1])
        key = ("referral", cut, qname_len, shared)
        if key not in self._cache:
            # The name asked is at or below the cut: the cut's name lies in the question.
            all_seeds = suffix_offsets(cut, 12 + qname_len - len(wire_key(cut)))
            all_seeds.update(shared)
            self._cache[key] = self._pack_referral(cut, qname_len, prefix, all_seeds)
        return self._cache[key]  # type: ignore[return-value]

    def _glue_names(self, cut: dns.name.Name) -> tuple[dict[bytes, dns.name.Name], set[dns.name.Name]]:
        """The names below ``cut`` that its referral writes (NS targets, glue owners, and the
        names between them and the cut), by lower-case wire name, and as a set."""
        key = ("glue names", cut)
        if key not in self._cache:
            self._cache[key] = _names_between(cut, (rdata.target for rdata in self.cuts[cut]))
        return self._cache[key]  # type: ignore[return-value]

    def _pack_referral(self, cut: dns.name.Name, qname_len: int, prefix: Section, seeds: Seeds) -> Answer:
        sections = Sections(referral=True)
        for owner, rds in prefix:
            sections.add(Sections.ANSWER, owner, rds)
        sections.add(Sections.AUTHORITY, cut, self.cuts[cut])
        self._add_target_addresses(sections, sections.parts[Sections.AUTHORITY])
        return sections.pack(qname_len, seeds, NOERROR, authoritative=bool(prefix))

    def _parent_side_ds(self, cut: dns.name.Name, qname_len: int, seeds: Seeds, prefix: Section = ()) -> Answer:
        """DS at a cut belongs to the parent (RFC 4035 3.1.4.1): the DS RRset, or NODATA,
        after the CNAME chain that led there, if any."""
        node = self.zone.get_node(cut)
        ds = node and _rdataset_of(node, DS)
        if ds is None:
            return self.negative(qname_len, NOERROR, prefix, seeds)
        return self._positive(qname_len, seeds, [*prefix, (cut, ds)], DS)

    # ------------------------------------------------------------------ names without an entry

    def missing(self, qname: bytes, qtype: int) -> Answer:
        """A name with no entry of its own: below a cut, covered by a wildcard, or NXDOMAIN.

        An NSEC3 owner name asked for is looked for as missing; below one there
        is no wildcard (RFC 5155 7.2.8, as NSD). The SOA or NS records of the
        answer compress against the question where their names end in a part of it.
        """
        cut = self._highest_cut(qname)
        if cut is not None:
            return self.referral(cut, len(qname), seeds=_question_seeds(qname, self._glue_names(cut)[0]))
        pos = 0
        below_apex = len(qname) - self.apex_len
        while pos < below_apex and qname[pos:] not in self._by_name:
            if pos and qname[pos:] in self.nsec3_only_keys:
                break
            pos += qname[pos] + 1
        encloser = qname[pos:]      # the closest encloser (the apex if nothing closer exists)
        if self.dnames:
            dname = self.dnames.get(encloser)
            if dname is not None:
                return self._below_dname(qname, pos, dname, qtype)
        wildcard = self.wildcards.get(encloser)
        if wildcard is None:
            return self.negative(len(qname), NXDOMAIN, seeds=_question_seeds(qname, self._soa_name_keys))
        per_type, other = self._wildcard_answers(wildcard, encloser, len(qname), self._known_suffix(qname, pos))
        return per_type.get(qtype, other)

    def _known_suffix(self, qname: bytes, encloser_pos: int) -> dns.name.Name | None:
        """The longest suffix of a (lower-case wire) question name below its closest encloser
        (at ``encloser_pos``) that record data names, if any. NSD knows such a name (it is in
        its domain table) and compresses the data's names against the question's spelling of it."""
        pos = 0
        while pos < encloser_pos:
            name = self._data_names.get(qname[pos:])
            if name is not None:
                return name
            pos += qname[pos] + 1
        return None

    def _below_dname(self, qname: bytes, owner_pos: int, dname: Dname, qtype: int) -> Answer:
        """The answer for a (lower-case wire) name below a DNAME's owner, at ``owner_pos`` in it
        (RFC 6672 3.1), packed on first use (:meth:`_dname_answers`).

        A name whose synthesised target is outside the zone, missing, or too long is
        answered from the answers of the first name of its length below the same DNAME
        to be asked, with its own labels put into the CNAME's target (:class:`Spliced`):
        a few byte copies. The answers of other names are kept for the last
        BELOW_DNAME_KEPT names asked.
        """
        kept = self._below_dnames.get(qname)
        if kept is not None:
            return kept[0].get(qtype, kept[1])
        shape = self._splice_shape(qname, owner_pos, dname)
        spliced = self._below_dname_shapes.get(shape) if shape is not None else None
        if spliced is not None:
            return spliced.answer(qtype, qname[:owner_pos])
        answers = self._dname_answers(qname, owner_pos, dname)
        if shape is not None:
            # The labels follow the DNAME (owner pointer, fixed fields, target) and the CNAME's
            # owner pointer and fixed fields; a target too long has no CNAME.
            at = None if shape[-1] == "too long" else 2 * (2 + RR_FIXED.size) + len(dname.target)
            spliced = Spliced.of(answers, qname[:owner_pos], at)
        if spliced is not None:
            self._below_dname_shapes[shape] = spliced
        else:
            if len(self._below_dnames) >= BELOW_DNAME_KEPT:
                self._below_dnames.clear()
            self._below_dnames[qname] = answers
        return answers[0].get(qtype, answers[1])

    def _splice_shape(self, qname: bytes, owner_pos: int, dname: Dname) -> tuple | None:
        """What the answers for a (lower-case wire) name below ``dname`` have in common with those
        of other names of its length, when only its labels below the owner (``qname[:owner_pos]``)
        set them apart; None when more does.

        That is so when the synthesised target is too long (YXDOMAIN: no CNAME), outside
        the zone, or missing (NXDOMAIN, for a DNAME whose SOA names lie not below its
        target), and the labels are written out in the CNAME's target: no suffix of the
        target below the DNAME's target is a suffix of the question, no name in record
        data lies between the question and the owner (see :meth:`_known_suffix`).
        """
        shape: tuple = ("dname", dname.owner, len(qname))
        if owner_pos + len(dname.target) > 255:
            return (*shape, "too long")
        if self._known_suffix(qname, owner_pos) is not None:
            return None
        owner_suffixes = set(suffixes(qname[owner_pos:]))     # what the CNAME's target may compress against
        if any(qname[pos:owner_pos] + dname.target in owner_suffixes for pos in _label_starts(qname, owner_pos)):
            return None
        if dname.outside:
            return (*shape, "outside")
        if dname.splice_missing and self._missing(qname[:owner_pos] + dname.target):
            return (*shape, "missing")
        return None

    def _dname_answers(self, qname: bytes, owner_pos: int, dname: Dname) -> tuple[dict[int, Answer], Answer]:
        """The answers for a (lower-case wire) name below a DNAME's owner, at ``owner_pos`` in it:
        a dict by type, and the answer for other types.

        The DNAME and the CNAME synthesised for the name come first; CNAME asked gets
        those alone, as NSD answers it. The answers are the same for every spelling of
        the name: the CNAME's owner points at the question, its target is in lower case
        (as NSD writes them).
        """
        plain = name_from_wire(qname)
        question = QuestionName(plain.labels)
        walk = Walk(len(qname), _question_suffixes(dname.owner, len(qname), self._known_suffix(qname, owner_pos)),
                    plain)
        target = self._synthesise(question, dname, walk)
        if isinstance(target, Answer):
            return walk.per_type, target
        walk.per_type[CNAME] = walk.packed(NOERROR)
        return walk.per_type, self._chain(self._find(target), walk)

    def _wildcard_answers(self, wildcard: dns.name.Name, encloser: bytes, qname_len: int,
                          known: dns.name.Name | None) -> tuple[dict[int, Answer], Answer]:
        """Answers synthesised from ``*.encloser`` for names of one length (RFC 4592) whose
        longest suffix named in record data (see :meth:`_known_suffix`) is ``known``."""
        key = ("wildcard", wildcard, qname_len, known)
        if key not in self._cache:
            seeds = _question_suffixes(wildcard.parent(), qname_len, known)
            self._cache[key] = self._answers(QuestionName(wildcard.labels), self.zone.get_node(wildcard), seeds,
                                             qname_len)
        return self._cache[key]  # type: ignore[return-value]


class Spliced:
    """The answers for the names of one length below a DNAME whose synthesised targets lead to
    the same answers (see :meth:`CompiledZone._splice_shape`), packed for the first of them: the
    same bytes for each but for its labels below the owner, which the CNAME's target repeats
    right after the DNAME and the CNAME's fixed fields (``at``). Without ``at`` (a target too
    long, no CNAME) the answers are the same bytes for every such name."""

    __slots__ = ("per_type", "other", "at", "width")

    def __init__(self, per_type: dict[int, Answer], other: Answer, at: int | None, width: int) -> None:
        self.per_type = per_type
        self.other = other
        self.at = at
        self.width = width

    @classmethod
    def of(cls, answers: tuple[dict[int, Answer], Answer], labels: bytes, at: int | None) -> "Spliced | None":
        """The answers packed for a name whose labels below the owner are ``labels`` (wire), at
        ``at`` in each, as a model for the others; None when some answer may need packing again
        smaller (UDP), or does not hold the labels there."""
        per_type, other = answers
        every = [*per_type.values(), other]
        if any(answer.shrink is not None or isinstance(answer, RotatingAnswer) for answer in every):
            return None         # (a RotatingAnswer's sections are another order on each read)
        if at is not None and any(answer.sections[at:at + len(labels)] != labels for answer in every):
            return None
        return cls(per_type, other, at, len(labels))

    def answer(self, qtype: int, labels: bytes) -> Answer:
        """The answer for the name whose labels below the owner are ``labels`` (wire, as long as the model's)."""
        model = self.per_type.get(qtype, self.other)
        if self.at is None:
            return model
        sections = model.sections[:self.at] + labels + model.sections[self.at + self.width:]
        answer = Answer(model.flags, model.ancount, model.nscount, model.arcount, sections, model.ede, model.ede_text)
        answer.tally = model.tally      # the same zone's counts, found once (resolver.ts.server)
        return answer


def add_address_records(zone: dns.zone.Zone, key: bytes, records: list[tuple[int, int, bytes]],
                        source: str) -> dns.name.Name:
    """Put a name's plain address records, as :class:`ZoneData` keeps them apart (``key``: the
    lower-case wire name), into dnspython's ``zone``; returns the name. Raises :class:`ZoneError`
    naming ``source`` when the name has a CNAME (RFC 1034 3.6.2)."""
    name = name_from_wire(key)
    node = zone.nodes.get(name)
    if node is None:
        node = zone.nodes[name] = zone.node_factory()
    elif _rdataset_of(node, CNAME):
        raise ZoneError(f"{source}: {name.to_text()} has a CNAME and other data (RFC 1034 3.6.2)")
    for rdtype, ttl, wire in records:
        add_to_rdataset(node.find_rdataset(dns.rdataclass.IN, rdtype, create=True), address_rdata(rdtype, wire), ttl)
    return name


def _as_in_zone(records: Section, turned_from: TurnedFrom) -> Section:
    """``records`` with each RRset turned for round robin (``turned_from``: by ``id``) given back
    in the zone's order: its targets' addresses come in that order, as NSD adds them."""
    if not turned_from:
        return records
    return [(owner, turned_from.get(id(rds), rds)) for owner, rds in records]


def _question_suffixes(encloser: dns.name.Name, qname_len: int, known: dns.name.Name | None) -> Seeds:
    """The suffixes of a question name ``qname_len`` octets long from its closest encloser up,
    and from ``known`` up (the longest name below the encloser that record data names, see
    CompiledZone._known_suffix), with their offsets in the message."""
    seeds = suffix_offsets(encloser, 12 + qname_len - len(wire_key(encloser)))
    if known is not None:
        seeds.update(suffix_offsets(known, 12 + qname_len - len(wire_key(known))))
    return seeds


def _label_starts(key: bytes, end: int) -> Iterator[int]:
    """Where each label of a wire name begins, before ``end``."""
    pos = 0
    while pos < end:
        yield pos
        pos += key[pos] + 1


def _temporary_owner(name: dns.name.Name, owner: dns.name.Name, question: dns.name.Name | None) -> TemporaryName:
    """The owner of the CNAME a DNAME at ``owner`` synthesises for ``name``, a name other than the
    question, as NSD writes it: the labels below ``owner`` in full, but that it ends in a pointer
    to the question where a name below ``owner`` is the question (see :class:`TemporaryName`)."""
    if question is not None and name.is_subdomain(question):
        return TemporaryName(name.labels, len(name) - len(question), question=True)
    return TemporaryName(name.labels, len(name) - len(owner))


def _with_ede(answer: Answer, code: int, text: bytes) -> Answer:
    """The answer with an extended DNS error (RFC 8914) for its OPT record, kept when it is
    packed again smaller."""
    answer.ede, answer.ede_text = code, text
    shrink = answer.shrink
    if shrink is not None:
        answer.shrink = lambda limit: _with_ede(shrink(limit), code, text)
    return answer


def _lower_case_names(zone: dns.zone.Zone) -> None:
    """Write the zone's names in lower case, in place, as NSD 4.6 stores them (its domain
    table keeps every owner, and every name of record data, lower case).

    The names NSD keeps as written (``KEPT_CASE``: the signer of RRSIG and SIG,
    the next name of NSEC) are left alone; text such as TXT data is not a name.
    """
    zone.origin = _lower(zone.origin)
    zone.nodes = {_lower(name): _lower_node(node) for name, node in zone.nodes.items()}


def _lower_node(node: dns.node.Node) -> dns.node.Node:
    """The node with the names in its record data in lower case (the same node, changed)."""
    for i, rds in enumerate(node.rdatasets):
        if not _fields(dns.rdata.get_rdata_class(rds.rdclass, rds.rdtype)):
            continue            # no names in these records
        lowered = [_lower_rdata(rdata) for rdata in rds]
        if all(new is old for new, old in zip(lowered, rds)):
            continue
        node.rdatasets[i] = dns.rdataset.Rdataset(rds.rdclass, rds.rdtype, rds.covers, rds.ttl)
        for rdata in lowered:
            node.rdatasets[i].add(rdata)
    return node


def _names_in_data(zone: dns.zone.Zone) -> Iterator[dns.name.Name]:
    """Every name in the zone's record data that NSD keeps in its domain table (not ``KEPT_CASE``)."""
    for node in zone.nodes.values():
        for rds in node:
            fields = _fields(dns.rdata.get_rdata_class(rds.rdclass, rds.rdtype))
            for rdata in rds if fields else ():
                for field in fields:
                    value = getattr(rdata, field)
                    if isinstance(value, dns.name.Name):
                        yield value
                    elif isinstance(value, tuple):
                        yield from (v for v in value if isinstance(v, dns.name.Name))


def _lower_rdata(rdata: dns.rdata.Rdata) -> dns.rdata.Rdata:
    """The record data with its names in lower case; itself when they already are."""
    changes: dict[str, object] = {}
    for field in _fields(type(rdata)):
        value = getattr(rdata, field)
        if isinstance(value, dns.name.Name):
            lowered = _lower(value)
            if lowered is not value:
                changes[field] = lowered
        elif isinstance(value, tuple) and value and all(isinstance(v, dns.name.Name) for v in value):
            names = tuple(_lower(name) for name in value)       # HIP's rendezvous servers
            if any(new is not old for new, old in zip(names, value)):
                changes[field] = names
    return rdata.replace(**changes) if changes else rdata


@functools.cache
def _fields(cls: type[dns.rdata.Rdata]) -> tuple[str, ...]:
    """The fields of a record data class that may hold names NSD writes in lower case: for the
    common types, those that do (``NAME_FIELDS``), for the others every field (looked at per record)."""
    known = NAME_FIELDS.get(cls)
    if known is not None:
        return known
    kept = KEPT_CASE.get(cls.__name__, ())
    return tuple(slot for klass in cls.__mro__ for slot in getattr(klass, "__slots__", ()) if slot not in kept)


def _lower(name: dns.name.Name) -> dns.name.Name:
    """The name in lower case (ASCII letters only, as DNS compares names)."""
    written = b"".join(name.labels)
    if written.lower() == written:
        return name
    return ZoneName(tuple(label.lower() for label in name.labels))


def _rdataset_of(node: dns.node.Node, rdtype: int) -> dns.rdataset.Rdataset | None:
    """``node.get_rdataset(IN, rdtype)``, without the exception dnspython raises and catches
    for each type a node does not hold."""
    for rds in node.rdatasets:
        if rds.rdtype == rdtype and rds.covers == dns.rdatatype.NONE and rds.rdclass == dns.rdataclass.IN:
            return rds
    return None


def _only_nsec3(node: dns.node.Node | None) -> bool:
    """Whether a node holds NSEC3 records and nothing else but RRSIGs (NSD's domain_has_only_NSEC3)."""
    types = {rds.rdtype for rds in node} if node is not None else set()
    return NSEC3 in types and types <= {NSEC3, RRSIG}


def _rrsets_by_type(node: Iterable[dns.rdataset.Rdataset] | None) -> RRsets:
    """A node's RRsets by type in zone-file order, every RRSIG RRset under RRSIG (one RRset in
    NSD, placed where its first record is), NSEC3 left out (NSD answers it with NODATA)."""
    rrsets: RRsets = {}
    for rds in node or ():
        if rds.rdtype != NSEC3:
            rrsets.setdefault(rds.rdtype, []).append(rds)
    return rrsets


def _spliced_records(group: list[dns.rdataset.Rdataset]) -> tuple[int, bytes]:
    """The records of RRsets of ``SPLICED`` types owned by the question name (each owner a
    pointer to it), packed: how many, and their bytes."""
    records = [QUESTION_POINTER + RR_FIXED.pack(rds.rdtype, rds.rdclass, rds.ttl, len(wire)) + wire
               for rds in group for wire in (rdata_wire(rdata) for rdata in rds)]
    return len(records), b"".join(records)


def _any_choice(rrsets: RRsets) -> int | None:
    """The type NSD 4.6 answers ANY with: the first preferred, else the last normal, else the
    last of DNSKEY, RRSIG and NSEC (answer_domain); None when the name has no RRset."""
    normal = last_resort = None
    for rdtype in rrsets:
        if rdtype in ANY_PREFERRED:
            return rdtype
        if rdtype in ANY_LAST_RESORT:
            last_resort = rdtype
        else:
            normal = rdtype
    return normal if normal is not None else last_resort


def _names_between(base: dns.name.Name,
                   names: Iterable[dns.name.Name]) -> tuple[dict[bytes, dns.name.Name], set[dns.name.Name]]:
    """Every name strictly below ``base`` that ends one of ``names`` (the names themselves
    too), by lower-case wire name and as a set."""
    base_key = wire_key(base)
    below: dict[bytes, dns.name.Name] = {}
    for name in names:
        key = wire_key(name)
        if key != base_key and at_or_below(key, base_key):
            below.setdefault(key, name)
    found = _with_parents(below, base_key)
    found.pop(base_key, None)
    return found, set(found.values())


def _with_parents(names: dict[bytes, dns.name.Name], base: bytes) -> dict[bytes, dns.name.Name]:
    """``names`` (at or below ``base``, by lower-case wire name) and every name between each and
    ``base``, ``base`` too; a name keeps the spelling of the first that ends in it."""
    found: dict[bytes, dns.name.Name] = {}
    for key, name in names.items():
        depth = 0
        while key not in found:
            found[key] = name if not depth else ZoneName.from_checked(name.labels[depth:], key)
            if len(key) == len(base):
                break
            key = key[key[0] + 1:]
            depth += 1
    return found


def _shared_seeds(seeds: Seeds | None, written: set[dns.name.Name]) -> tuple[tuple[dns.name.Name, int], ...]:
    """The question's suffixes (``seeds``) that an answer's records also write, with their offsets.

    NSD compresses every name it writes against the question where the two end
    alike, so such a name comes out in the question's letter case.
    """
    return tuple(sorted((name, offset) for name, offset in (seeds or {}).items() if name in written))


def _question_seeds(qname: bytes, written: dict[bytes, dns.name.Name]) -> Seeds | None:
    """The suffixes of a (lower-case wire) question name at and above the longest one that
    is in ``written``, with their offsets in the message; None when none is."""
    pos = 0
    while written and qname[pos]:
        name = written.get(qname[pos:])
        if name is not None:
            return suffix_offsets(name, 12 + pos)
        pos += qname[pos] + 1
    return None
