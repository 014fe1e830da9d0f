"""Zone loading: RFC 1035 master files and the assignment's ``hostname IP A`` tables.

Both become :class:`dns.zone.Zone` objects with absolute names, which
:mod:`resolver.authority` compiles into ready answers. Every problem is raised
as :class:`ZoneError` with the file (and line, where there is one) in its text.
"""
from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone

TABLE_TTL = 300
# The SOA a table's root zone gets: short negative TTL, since tables change often.
TABLE_SOA = "localhost. hostmaster.localhost. 1 3600 900 604800 60"
ZONE_SUFFIXES = (".zone", ".db", ".txt")
_ORIGIN_LINE = re.compile(r"^\$ORIGIN\s", re.IGNORECASE)


class ZoneError(Exception):
    """A zone file or table that cannot be served; the text names file and line."""


def load_zone_file(path: str | Path) -> dns.zone.Zone:
    """Read a master file.

    The origin comes from ``$ORIGIN``, else from the first record's owner when it
    is absolute, else from the file name (``example.com.zone`` is ``example.com.``),
    the way NSD takes it from its configuration.
    """
    path = Path(path)
    text = _read(path)
    origin = None if _has_leading_origin(text) else _origin_from_first_record(text) or _origin_from_filename(path)
    try:
        return dns.zone.from_text(text, origin=origin, relativize=False, filename=str(path), check_origin=True)
    except dns.exception.SyntaxError as exc:
        raise ZoneError(str(exc)) from None
    except dns.zone.NoSOA:
        raise ZoneError(f"{path}: no SOA record at the zone apex {origin or ''}".rstrip()) from None
    except dns.zone.NoNS:
        raise ZoneError(f"{path}: no NS records at the zone apex {origin or ''}".rstrip()) from None
    except dns.exception.DNSException as exc:
        raise ZoneError(f"{path}: {exc}") from None


def load_table(path: str | Path) -> dns.zone.Zone:
    """Read a table of ``hostname IP A`` lines (``AAAA`` too) into a root zone.

    Hostnames are case-insensitive; a name on several lines gets every address.
    Blank lines and ``#`` comments are skipped.
    """
    path = Path(path)
    zone = dns.zone.Zone(dns.name.root, relativize=False)
    soa = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.SOA, TABLE_SOA)
    zone.find_rdataset(dns.name.root, dns.rdatatype.SOA, create=True).add(soa, TABLE_TTL)
    for number, line in enumerate(_read(path).splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        where = f"{path}:{number}"
        if len(fields) != 3:
            raise ZoneError(f"{where}: expected 'hostname IP A', got {line.strip()!r}")
        hostname, address, rtype = fields
        rdtype = _table_type(where, address, rtype.upper())
        try:
            name = dns.name.from_text(hostname)
        except dns.exception.DNSException as exc:
            raise ZoneError(f"{where}: bad hostname {hostname!r}: {exc}") from None
        rdata = dns.rdata.from_text(dns.rdataclass.IN, rdtype, address)
        zone.find_rdataset(name, rdtype, create=True).add(rdata, TABLE_TTL)
    return zone


def _table_type(where: str, address: str, rtype: str) -> dns.rdatatype.RdataType:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ZoneError(f"{where}: {address!r} is not an IP address") from None
    expected = "A" if ip.version == 4 else "AAAA"
    if rtype != expected:
        raise ZoneError(f"{where}: record type {rtype!r} does not fit {address} (expected {expected})")
    return dns.rdatatype.from_text(rtype)


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


def _has_leading_origin(text: str) -> bool:
    for line in _records(text):
        if _ORIGIN_LINE.match(line):
            return True
        if not line.startswith("$"):
            return False
    return False


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
