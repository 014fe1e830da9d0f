"""A zone's records as a primary transfers them, and the differences between its versions.

:func:`capture` takes a zone's records from its :class:`ZoneData` before it is
compiled, in a compact form: each record's wire form (uncompressed, names as
written, RFC 1035 4.1.3), back to back in one ``bytes``, with the offset where
each ends (:class:`Records`); about 60 octets a record, against a kilobyte as
dnspython objects. A transfer's messages are slices of it (:mod:`resolver.ts.provide`).

:class:`Served` is what a primary keeps of a zone: the version it serves and
the differences that lead to it from older serials, for IXFR (RFC 1995),
bounded as NSD bounds its ``ixfr-number``: :data:`~resolver.ts.settings.IXFR_VERSIONS`
differences at most, and no more octets in all than the zone itself (an
incremental transfer longer than the full one is no gain, RFC 1995 2).
Serials are compared with RFC 1982 arithmetic (:mod:`dns.serial`).
"""
from __future__ import annotations

import bisect
import struct
from array import array
from dataclasses import dataclass
from typing import Iterable, Iterator

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.serial

from .settings import IXFR_VERSIONS
from .zones import ZoneData

SOA = dns.rdatatype.SOA
IN = dns.rdataclass.IN
RR_FIXED = struct.Struct("!HHIH")   # type, class, TTL, rdata length
SERIAL_AT = 20                      # the serial's offset from the end of an SOA record's wire form


@dataclass(frozen=True)
class Records:
    """Resource records in wire form, back to back in ``wire``; ``ends[i]`` is where record ``i`` ends."""

    wire: bytes
    ends: array

    @classmethod
    def of(cls, records: Iterable[bytes]) -> Records:
        """Records from each record's wire form, in order."""
        wire, ends, end = bytearray(), array("L"), 0
        for record in records:
            wire += record
            end += len(record)
            ends.append(end)
        return cls(bytes(wire), ends)

    def __len__(self) -> int:
        return len(self.ends)

    def __iter__(self) -> Iterator[bytes]:
        start = 0
        for end in self.ends:
            yield self.wire[start:end]
            start = end

    def start(self, index: int) -> int:
        """Where record ``index`` begins."""
        return self.ends[index - 1] if index else 0

    def take(self, index: int, room: int) -> int:
        """The index past the last record that fits, from record ``index`` on, in ``room`` octets."""
        return bisect.bisect_right(self.ends, self.start(index) + room, index)


@dataclass(frozen=True)
class ZoneVersion:
    """One version of a zone: its SOA record and serial, and every other record."""

    apex: dns.name.Name
    soa: Records        # the SOA record alone
    records: Records

    @property
    def serial(self) -> int:
        """The SOA's serial (RFC 1035 3.3.13), compared by RFC 1982 arithmetic (:func:`newer`)."""
        return serial_of(self.soa.wire)

    @property
    def octets(self) -> int:
        """The version's records in wire form, in octets: what an AXFR of it carries, headers aside."""
        return len(self.records.wire) + len(self.soa.wire)


@dataclass(frozen=True)
class Difference:
    """What changed from one version to the next (RFC 1995 4): records deleted, then added."""

    old_soa: Records
    deleted: Records
    new_soa: Records
    added: Records

    @property
    def octets(self) -> int:
        """The difference's records (both SOAs too) in wire form, in octets: what an IXFR of it carries."""
        return sum(len(part.wire) for part in (self.old_soa, self.deleted, self.new_soa, self.added))


@dataclass(frozen=True)
class Served:
    """A zone as a primary serves it: the current version, and the differences that lead to it, oldest first."""

    version: ZoneVersion
    journal: tuple[Difference, ...] = ()

    def since(self, serial: int) -> tuple[Difference, ...] | None:
        """The differences from ``serial`` to the current version, or None when the journal has no
        version with that serial (the client then gets the whole zone, RFC 1995 2)."""
        for index, difference in enumerate(self.journal):
            if serial_of(difference.old_soa.wire) == serial:
                return self.journal[index:]
        return None


def serial_of(soa: bytes) -> int:
    """The serial of an SOA record in wire form (its rdata ends with five 32-bit numbers, serial first)."""
    return int.from_bytes(soa[-SERIAL_AT:-SERIAL_AT + 4], "big")


def newer(serial: int, than: int) -> bool:
    """Whether ``serial`` is greater than ``than`` in RFC 1982 serial number arithmetic."""
    return dns.serial.Serial(serial) > dns.serial.Serial(than)


def capture(data: ZoneData) -> ZoneVersion:
    """Every record of a zone in wire form, the SOA apart: the general records, then the plain
    addresses (:mod:`resolver.ts.zones` keeps their owners lower-cased), each once. Call it before
    the zone is compiled, which consumes ``data.addresses``."""
    apex = data.zone.origin
    soa: list[bytes] = []
    records: list[bytes] = []
    for name, node in data.zone.nodes.items():
        owner = name.derelativize(apex).to_wire()
        for rdataset in node.rdatasets:
            head = owner + RR_FIXED.pack(rdataset.rdtype, rdataset.rdclass, rdataset.ttl, 0)[:-2]
            into = soa if rdataset.rdtype == SOA and name.derelativize(apex) == apex else records
            for rdata in rdataset:
                wire = rdata.to_wire(origin=apex)
                into.append(head + len(wire).to_bytes(2, "big") + wire)
    for owner, addresses in data.addresses.items():
        for rdtype, ttl, address in dict.fromkeys(addresses):
            records.append(owner + RR_FIXED.pack(rdtype, IN, ttl, len(address)) + address)
    if len(soa) != 1:
        raise ValueError(f"zone {apex} has {len(soa)} SOA records at its apex, not one")
    return ZoneVersion(apex, Records.of(soa), Records.of(dict.fromkeys(records)))


def difference(old: ZoneVersion, new: ZoneVersion) -> Difference:
    """The records of ``old`` that ``new`` lacks and those it adds (each in its order), between their SOAs."""
    before, after = set(old.records), set(new.records)
    return Difference(old.soa, Records.of(r for r in old.records if r not in after),
                      new.soa, Records.of(r for r in new.records if r not in before))


def same_data(old: ZoneVersion, new: ZoneVersion) -> bool:
    """Whether two versions hold the same records (in any order) and the same SOA."""
    if old.soa.wire != new.soa.wire:
        return False
    return old.records.wire == new.records.wire or set(old.records) == set(new.records)


def advance(served: Served, new: ZoneVersion) -> Served:
    """``served`` moved on to ``new``, whose serial is newer: its difference joins the journal,
    which then drops its oldest differences past :data:`IXFR_VERSIONS` or past the zone's octets."""
    journal = (*served.journal, difference(served.version, new))
    budget = new.octets
    kept: list[Difference] = []
    for step in reversed(journal[-IXFR_VERSIONS:]):
        budget -= step.octets
        if budget < 0:
            break
        kept.append(step)
    return Served(new, tuple(reversed(kept)))
