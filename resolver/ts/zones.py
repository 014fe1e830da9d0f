"""Zone loading: RFC 1035 master files and the assignment's ``hostname IP A`` tables.

Both become :class:`ZoneData`: a :class:`dns.zone.Zone` with absolute names,
and beside it the plain address records kept compact (see
:mod:`resolver.ts.address_lines`), which :mod:`resolver.ts.compiled` turns into ready
answers. Every problem is raised as :class:`ZoneError` with the file (and
line, where there is one) in its text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone

from .address_lines import ADDRESS_TYPES, AddressError, AddressRecords, name_to_wire, parse_address, split_master_file

TABLE_TTL = 300
# The SOA a table's root zone gets: short negative TTL, since tables change often.
TABLE_SOA = "localhost. hostmaster.localhost. 1 3600 900 604800 60"
ZONE_SUFFIXES = (".zone", ".db", ".txt")
_ORIGIN_LINE = re.compile(r"^\$ORIGIN\s", re.IGNORECASE)


class ZoneError(Exception):
    """A zone file or table that cannot be served; the text names file and line."""


@dataclass
class ZoneData:
    """A loaded zone: dnspython's zone, and the plain address records taken out of it."""

    zone: dns.zone.Zone
    addresses: AddressRecords = field(default_factory=dict)
    source: str = ""            # the file, for messages

    @property
    def origin(self) -> dns.name.Name:
        return self.zone.origin


def load_zone_file(path: str | Path) -> ZoneData:
    """Read a master file.

    The origin comes from a leading ``$ORIGIN``, else from the first record's owner when it
    is absolute, else from the file name (``example.com.zone`` is ``example.com.``),
    the way NSD takes it from its configuration.
    """
    path = Path(path)
    text = _read(path)
    origin = _leading_origin(text) or _origin_from_first_record(text) or _origin_from_filename(path)
    if origin is None:
        raise ZoneError(f"{path}: cannot tell the zone's name: start the file with $ORIGIN")
    try:
        rest, addresses = split_master_file(text, origin.to_text(), str(path))
        return ZoneData(dns.zone.from_text(rest, origin=origin, relativize=False, filename=str(path),
                                           check_origin=True), addresses, str(path))
    except AddressError as exc:
        raise ZoneError(str(exc)) from None
    except dns.exception.SyntaxError as exc:
        raise ZoneError(str(exc)) from None
    except dns.zone.NoSOA:
        raise ZoneError(f"{path}: no SOA record at the zone apex {origin or ''}".rstrip()) from None
    except dns.zone.NoNS:
        raise ZoneError(f"{path}: no NS records at the zone apex {origin or ''}".rstrip()) from None
    except dns.exception.DNSException as exc:
        raise ZoneError(f"{path}: {exc}") from None
    except KeyError as exc:     # dnspython's complaint about a CNAME beside other data
        raise ZoneError(f"{path}: {exc.args[0] if exc.args else exc}") from None


def load_table(path: str | Path) -> ZoneData:
    """Read a table of ``hostname IP A`` lines (``AAAA`` too) into a root zone.

    Hostnames are case-insensitive; a name on several lines gets every address.
    Blank lines and ``#`` comments are skipped.
    """
    path = Path(path)
    zone = dns.zone.Zone(dns.name.root, relativize=False)
    soa = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.SOA, TABLE_SOA)
    zone.find_rdataset(dns.name.root, dns.rdatatype.SOA, create=True).add(soa, TABLE_TTL)
    addresses: AddressRecords = {}
    for number, line in enumerate(_read(path).splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        where = f"{path}:{number}"
        if len(fields) != 3:
            raise ZoneError(f"{where}: expected 'hostname IP A', got {line.strip()!r}")
        hostname, address, rtype = fields
        owner = name_to_wire(hostname if hostname.endswith(".") else hostname + ".", None)
        if owner is None:
            raise ZoneError(f"{where}: bad hostname {hostname!r}")
        addresses.setdefault(owner.lower(), []).append(_table_address(where, address, rtype.upper()))
    return ZoneData(zone, addresses, str(path))


def _table_address(where: str, address: str, rtype: str) -> tuple[int, int, bytes]:
    family = "AAAA" if ":" in address else "A"
    if rtype not in ADDRESS_TYPES:
        raise ZoneError(f"{where}: record type {rtype!r} is not A or AAAA")
    if rtype != family:
        raise ZoneError(f"{where}: record type {rtype!r} does not fit {address} (expected {family})")
    try:
        rdtype, wire = parse_address(where, rtype, address)
    except AddressError as exc:
        raise ZoneError(str(exc)) from None
    return rdtype, TABLE_TTL, wire


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ZoneError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ZoneError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _records(text: str) -> list[str]:
    """Lines that hold records or directives, without comments or blank lines."""
    lines = (line.split(";", 1)[0].rstrip() for line in text.splitlines())
    return [line for line in lines if line.strip()]


def _leading_origin(text: str) -> dns.name.Name | None:
    """The name of a ``$ORIGIN`` that comes before every record."""
    for line in _records(text):
        if _ORIGIN_LINE.match(line):
            tokens = line.split()
            try:
                return dns.name.from_text(tokens[1]) if len(tokens) > 1 else None
            except dns.exception.DNSException:
                return None
        if not line.startswith("$"):
            return None
    return None


def _origin_from_first_record(text: str) -> dns.name.Name | None:
    for line in _records(text):
        if line.startswith("$"):
            continue
        owner = line.split()[0]
        if line[0].isspace() or not owner.endswith("."):
            return None
        try:
            return dns.name.from_text(owner)
        except dns.exception.DNSException:
            return None
    return None


def _origin_from_filename(path: Path) -> dns.name.Name | None:
    stem = path.name
    for suffix in ZONE_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    try:
        return dns.name.from_text(stem)
    except dns.exception.DNSException:
        return None
