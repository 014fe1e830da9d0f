"""The checks every zone passes while it is read, whatever path its records take.

NSD 4.6 refuses a zone file with records outside the zone, a second SOA
(identical or not, at the apex or below it), two different CNAMEs at one name,
a CNAME beside other data, two different DNAMEs at one name, or names below
a DNAME other than NSEC3 owners (RFC 6672 2.4); DNSSEC records (RRSIG, NSEC,
NSEC3) may stand beside a CNAME (RFC 4035 2.5). :class:`ZoneChecks` refuses
the same, each with one line naming the record that breaks the rule:
``FILE:LINE: what is wrong``.

The zone's apex is the owner of its SOA, which must be the zone's name when one
is given (``--zone NAME=FILE``, as NSD's config names a zone). Records before the
SOA are checked when it comes, so a file need not start at the apex.
"""
from __future__ import annotations

import itertools
from typing import Iterable, Iterator

import dns.name
import dns.rdata
import dns.rdatatype

from ..wire import at_or_below

BESIDE_CNAME = frozenset({dns.rdatatype.CNAME, dns.rdatatype.RRSIG, dns.rdatatype.NSEC, dns.rdatatype.NSEC3})


def suffixes(key: bytes) -> Iterator[bytes]:
    """A wire name and every name above it, nearest first, the root left out."""
    pos = 0
    while key[pos]:
        yield key[pos:]
        pos += key[pos] + 1


class ZoneCheckError(ValueError):
    """A record that breaks a rule of zones; the text is ``FILE:LINE: what is wrong``."""


def name_text(wire: bytes) -> str:
    """A wire name in presentation form, escapes included (for messages)."""
    return dns.name.from_wire(wire, 0)[0].to_text()


class ZoneChecks:
    """The rules, fed one record at a time by :mod:`resolver.ts.zones`."""

    def __init__(self, named: bytes | None = None) -> None:
        self.named = named                      # the zone's name when it is given (lower-case wire)
        self.apex: bytes | None = None          # lower-case wire form, from the SOA
        self.soa_where = ""
        self.cnames: dict[bytes, dns.rdata.Rdata] = {}
        # DNAME owners (lower-case wire): the DNAME, and where it was read
        self.dnames: dict[bytes, tuple[dns.rdata.Rdata, str]] = {}
        self._before_soa: list[tuple[bytes, str]] = []

    def owner(self, key: bytes, where: str) -> None:
        """A record's owner (lower-case wire) must be at or below the apex."""
        if self.apex is None:
            self._before_soa.append((key, where))
        elif not self.inside(key):
            self._outside(key, where)

    def inside(self, key: bytes) -> bool:
        """Whether a lower-case wire name is at or below the apex (on a label boundary)."""
        assert self.apex is not None
        return at_or_below(key, self.apex)

    def _outside(self, key: bytes, where: str) -> None:
        raise ZoneCheckError(f"{where}: {name_text(key)} is outside the zone {name_text(self.apex or b'')}")

    def soa(self, key: bytes, where: str) -> None:
        """The first SOA sets the apex (and checks the records before it); any other is refused, and
        so is one away from the zone's name when that is given (as NSD refuses it)."""
        if self.named is not None and key != self.named:
            raise ZoneCheckError(f"{where}: the SOA is at {name_text(key)}, but the zone is named "
                                 f"{name_text(self.named)}: a zone's SOA is at its apex")
        if self.apex is not None:
            place = "another SOA at the apex" if key == self.apex else f"an SOA at {name_text(key)}, below the apex"
            raise ZoneCheckError(f"{where}: {place} {name_text(self.apex)}, whose SOA is at {self.soa_where} "
                                 "(a zone has one SOA)")
        self.apex, self.soa_where = key, where
        for earlier, earlier_where in self._before_soa:
            if not self.inside(earlier):
                self._outside(earlier, earlier_where)
        self._before_soa.clear()

    def cname(self, key: bytes, rdata: dns.rdata.Rdata, other_data: bool, where: str) -> None:
        """A CNAME: none different before it at the name, and no other data there (RFC 1034 3.6.2)."""
        _one_at_a_name("CNAME", "RFC 2181 10.1", self.cnames.get(key), key, rdata, where)
        if other_data:
            self._beside(key, where)
        self.cnames[key] = rdata

    def dname(self, key: bytes, rdata: dns.rdata.Rdata, where: str) -> None:
        """A DNAME: none different before it at the name (RFC 6672 2.4), as NSD refuses it."""
        known = self.dnames.get(key)
        _one_at_a_name("DNAME", "RFC 6672 2.4", known and known[0], key, rdata, where)
        self.dnames.setdefault(key, (rdata, where))

    def other(self, key: bytes, rdtype: int, where: str) -> None:
        """Data of another type: not at a name with a CNAME (DNSSEC records aside)."""
        if rdtype not in BESIDE_CNAME and key in self.cnames:
            self._beside(key, where)

    @staticmethod
    def _beside(key: bytes, where: str) -> None:
        raise ZoneCheckError(f"{where}: {name_text(key)} has a CNAME and other data (RFC 1034 3.6.2)")

    def below_dnames(self, keys: Iterable[bytes]) -> None:
        """No name may be below a DNAME's owner (RFC 6672 2.4), as NSD refuses it: ``keys`` are every
        name the zone holds (lower-case wire) but those with only NSEC3 records and their RRSIGs,
        which NSD lets stand below an apex DNAME. Checked once the zone is read, when it has a DNAME."""
        for key in keys:
            for above in itertools.islice(suffixes(key), 1, None):
                known = self.dnames.get(above)
                if known is not None:
                    raise ZoneCheckError(f"{known[1]}: DNAME at {name_text(above)} has data below it "
                                         f"({name_text(key)}), which RFC 6672 2.4 forbids")

    def finish(self, source: str) -> bytes:
        """The apex, once every record is read; a zone without an SOA is refused."""
        if self.apex is None:
            raise ZoneCheckError(f"{source}: no SOA record: a zone starts at its SOA (RFC 1035 5.2)")
        return self.apex


def _one_at_a_name(rdtype: str, rule: str, known: dns.rdata.Rdata | None, key: bytes, rdata: dns.rdata.Rdata,
                   where: str) -> None:
    """Refuse a second, different record of a type a name holds one of (CNAME, DNAME)."""
    if known is not None and known != rdata:
        raise ZoneCheckError(f"{where}: a second {rdtype} at {name_text(key)} (one name, one {rdtype}: {rule})")
