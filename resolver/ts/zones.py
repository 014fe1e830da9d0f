"""Zone loading: RFC 1035 master files and the assignment's ``hostname IP A`` tables.

Both become :class:`ZoneData`: a :class:`dns.zone.Zone` with absolute names,
and beside it the plain address records kept compact (see
:mod:`resolver.ts.address_lines`), which :mod:`resolver.ts.compiled` turns into ready
answers. A master file is read by :mod:`resolver.ts.master_file`, each record
checked by :mod:`resolver.ts.zone_checks` as it comes, and its rdata parsed by
dnspython (plain A and AAAA records skip dnspython). Every problem is raised
as :class:`ZoneError`, one line that names the file and line: dnspython's
errors too, whatever they are.
"""
from __future__ import annotations

import calendar
import itertools
import logging
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import dns.exception
import dns.name
import dns.node
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.reversename
import dns.tokenizer
import dns.zone

from ..hostnames import read_hostname, why_not
from . import digest_types, obsolete_types, rdata_errors
from .address_lines import ADDRESS_TYPES, AddressError, AddressRecords, name_to_wire, parse_address
from .load_progress import LoadProgress, Progress
from .master_file import Entry, MasterFileError, escape_bytes, read_entries, read_text
from .rdata_text import RdataReader, add_to_rdataset, address_rdata
from .zone_checks import BESIDE_CNAME, ZoneCheckError, ZoneChecks, name_text, suffixes
from .zone_names import name_from_wire, zone_name

TABLE_TTL = 300
# The SOA a table's root zone gets: short negative TTL, since tables change often.
TABLE_SOA = "localhost. hostmaster.localhost. 1 3600 900 604800 60"
ZONE_SUFFIXES = (".zone", ".db", ".txt")
LARGEST_TTL = 2**31 - 1     # RFC 2181 8; larger ones are served as 0, as BIND does
SIGNATURE_TYPES = (dns.rdatatype.RRSIG, dns.rdatatype.SIG)
SOA, CNAME, DNAME, PTR = dns.rdatatype.SOA, dns.rdatatype.CNAME, dns.rdatatype.DNAME, dns.rdatatype.PTR
PTR_CLASS = dns.rdata.get_rdata_class(dns.rdataclass.IN, PTR)
NSEC3 = dns.rdatatype.NSEC3
ONLY_NSEC3 = frozenset({NSEC3, dns.rdatatype.RRSIG})
IN = dns.rdataclass.IN

log = logging.getLogger("resolver.ts")
obsolete_types.register()
digest_types.register()


# For --table-ptr: (type, address in wire form) -> the lower-case wire name and "FILE:LINE" first written for it.
FirstNames = dict[tuple[int, bytes], tuple[bytes, str]]


class ZoneError(Exception):
    """A zone file or table that cannot be served; the text names file and line."""


@dataclass
class ZoneData:
    """A loaded zone: dnspython's zone, and the plain address records taken out of it."""

    zone: dns.zone.Zone
    addresses: AddressRecords = field(default_factory=dict)
    source: str = ""            # the file, for messages
    # For tables: where each name was first written ("FILE:LINE"), for messages.
    lines: dict[bytes, str] = field(default_factory=dict)
    # The owners of its DNAME records (lower-case wire), as read.
    dname_owners: frozenset[bytes] = frozenset()
    # The records read, and the progress of the load, which compiling goes on with (None: not logged).
    records: int = 0
    progress: LoadProgress | None = None

    @property
    def origin(self) -> dns.name.Name:
        return self.zone.origin


@dataclass(frozen=True)
class ZoneFile:
    """A master file to serve, and the zone's name when one is given (``--zone NAME=FILE``), as
    NSD's config names each zone; without one, :func:`load_zone_file` names it from the file."""

    path: Path
    name: dns.name.Name | None = None

    @classmethod
    def parse(cls, text: str) -> ZoneFile:
        """``FILE``, or ``NAME=FILE`` split at the first ``=`` (a relative NAME is taken as absolute);
        ``=FILE`` is FILE with no name, for a path that holds an ``=`` itself. Raises ValueError."""
        name, equals, path = text.partition("=")
        if not equals:
            return cls(Path(text))
        if not path:
            raise ValueError(f"no FILE after the zone's name in {text!r} (NAME=FILE)")
        if not name:
            return cls(Path(path))
        try:
            return cls(Path(path), dns.name.from_text(name))
        except dns.exception.DNSException as exc:
            raise ValueError(f"{name!r} in {text!r} is not a domain name ({exc}); NAME=FILE names the zone, "
                             "and =FILE gives a file whose path holds '='") from None


def load_zone_file(path: str | Path, name: dns.name.Name | None = None,
                   progress: Progress | None = None) -> ZoneData:
    """Read a master file; the zone is ``name`` when given, else the owner of its SOA.

    Before any ``$ORIGIN``, relative names are relative to ``name``, as NSD takes
    the zone's name from its config; without one, to the SOA's owner when the file
    starts with the SOA written absolute, else to the file's name
    (``example.com.zone`` is ``example.com.``). With ``name``, an SOA elsewhere is
    refused, as NSD refuses it. Raises :class:`ZoneError` with one line. ``progress`` makes the
    :class:`~resolver.ts.load_progress.LoadProgress` of the file, which logs a long load's progress.
    """
    path = Path(path)
    tracker = progress(str(path)) if progress is not None else None
    try:
        text = read_text(path)
        builder = _ZoneBuilder(str(path), name)
        records = 0
        for records, entry in enumerate(read_entries(path, text, name or _first_owner(text)
                                                     or _origin_from_filename(path)), 1):
            builder.add(entry)
            if tracker is not None:
                tracker.tick(records, "records read")
        data = builder.finish()
    except (MasterFileError, ZoneCheckError, AddressError) as exc:
        raise ZoneError(str(exc)) from None
    data.records, data.progress = records, tracker
    return data


class _ZoneBuilder:
    """The records of one master file, gathered and checked as they are read.

    Plain A and AAAA records go into ``addresses``; every other record, and the
    addresses of a name that has other records, into RRsets by name (``names``),
    so that each name is in one of the two.
    """

    def __init__(self, source: str, name: dns.name.Name | None = None) -> None:
        self.source = source
        self.checks = ZoneChecks(None if name is None else name.to_wire().lower())
        self.addresses: AddressRecords = {}
        self.names: dict[bytes, tuple[dns.name.Name, dict[tuple[int, int], dns.rdataset.Rdataset]]] = {}
        self.tokens = _TokenList()
        self.reader = RdataReader()

    def add(self, entry: Entry) -> None:
        """Check one record and keep it. Raises MasterFileError, ZoneCheckError or AddressError."""
        key = entry.owner.lower()
        checks = self.checks
        if checks.apex is None or not checks.inside(key):
            checks.owner(key, entry.where)
        ttl = entry.ttl
        if ttl > LARGEST_TTL:
            log.warning("%s: TTL %d is over 2^31 - 1, served as 0 (RFC 2181 8)", entry.where, ttl)
            ttl = 0
        rdtype = entry.rdtype
        # A `*` label anywhere (a wildcard, or a name below one, which makes the wildcard exist)
        # goes with the general records, where the answers look for wildcards.
        if rdtype in ADDRESS_CODES and len(entry.rdata) == 1 and key not in self.names and b"\x01*" not in key:
            if key in checks.cnames:
                checks.other(key, rdtype, entry.where)
            self.addresses.setdefault(key, []).append((rdtype, ttl, _address_wire(entry)))
            return
        rdata = self._rdata(entry)
        if rdtype == CNAME:
            checks.cname(key, rdata, self._other_data(key), entry.where)
        else:
            checks.other(key, rdtype, entry.where)      # an SOA too: a CNAME may come before it
            if rdtype == SOA:
                checks.soa(key, entry.where)
            elif rdtype == DNAME:
                checks.dname(key, rdata, entry.where)
        rdataset = self._rdataset(key, entry.owner, rdtype, rdata.covers())
        try:
            # Hashes its wire form: what dnspython reads but cannot write fails here.
            add_to_rdataset(rdataset, rdata, ttl)
        except Exception as exc:  # noqa: BLE001 - (a LOC altitude out of range, for one)
            raise _bad_record(entry, exc, len(entry.rdata)) from None

    def _other_data(self, key: bytes) -> bool:
        """Whether a name holds records that may not stand beside a CNAME."""
        if key in self.addresses:
            return True
        held = self.names.get(key)
        return held is not None and any(rdtype not in BESIDE_CNAME for rdtype, _ in held[1])

    def _rdataset(self, key: bytes, owner: bytes, rdtype: int, covers: int) -> dns.rdataset.Rdataset:
        held = self.names.get(key)
        if held is None:
            held = self.names[key] = (name_from_wire(owner), {})
            for address_type, ttl, wire in self.addresses.pop(key, ()):
                add_to_rdataset(self._rdataset(key, owner, address_type, 0), address_rdata(address_type, wire), ttl)
        rdataset = held[1].get((rdtype, covers))
        if rdataset is None:
            rdataset = held[1][(rdtype, covers)] = dns.rdataset.Rdataset(IN, rdtype, covers)
        return rdataset

    def _rdata(self, entry: Entry) -> dns.rdata.Rdata:
        """The rdata of a record, read by :mod:`resolver.ts.rdata_text` when it reads that
        spelling, else parsed by dnspython; any error dnspython raises becomes one line. (The
        reader takes ASCII only, and signature times before 2106 only: it needs neither step below.)"""
        rdata = self.reader.read(entry.rdtype, entry.rdata, entry.origin)
        if rdata is not None:
            return rdata
        tokens = [escape_bytes(token) for token in entry.rdata]
        if entry.rdtype in SIGNATURE_TYPES:
            tokens = _signature_times(tokens)
        try:
            return dns.rdata.from_text(IN, entry.rdtype, self.tokens.load(tokens), entry.origin, False)
        except Exception as exc:  # noqa: BLE001 - dnspython raises many kinds; each is a bad record
            raise _bad_record(entry, exc, self.tokens.read) from None

    def _names_not_only_nsec3(self) -> Iterator[bytes]:
        """The names (lower-case wire) with records other than NSEC3 and RRSIG, or without NSEC3
        (NSD's domain_has_only_NSEC3: an NSEC3 owner is not a name, RFC 5155 7.2.8)."""
        for key, (_, rdatasets) in self.names.items():
            types = {rdtype for rdtype, _ in rdatasets}
            if NSEC3 not in types or not types <= ONLY_NSEC3:
                yield key

    def finish(self) -> ZoneData:
        """The zone, once every record is read."""
        try:
            apex_key = self.checks.finish(self.source)
            if self.checks.dnames:
                self.checks.below_dnames(itertools.chain(self._names_not_only_nsec3(), self.addresses))
        except ZoneCheckError as exc:
            raise ZoneError(str(exc)) from None
        zone = _Zone(self.names[apex_key][0], relativize=False)
        for name, rdatasets in self.names.values():
            node = zone.node_factory()
            node.rdatasets.extend(rdatasets.values())
            zone.nodes[name] = node
        return ZoneData(zone, self.addresses, self.source, dname_owners=frozenset(self.checks.dnames))



class _Zone(dns.zone.Zone):
    """dnspython's zone, whose lookups of a name it holds skip the check that the name is in it
    (a subdomain comparison per lookup): every name it holds passed that check when read."""

    def find_node(self, name: dns.name.Name | str, create: bool = False) -> dns.node.Node:
        node = self.nodes.get(name) if isinstance(name, dns.name.Name) else None
        return node if node is not None else super().find_node(name, create)


def load_sources(zone_files: Iterable[str | Path | ZoneFile], tables: Iterable[str | Path],
                 progress: Progress | None = None, table_ptr: bool = False) -> list[ZoneData]:
    """Every zone file (a path, or a :class:`ZoneFile` that may name its zone), and the tables
    merged into one root zone, ready for one TS; ``progress`` makes the
    :class:`~resolver.ts.load_progress.LoadProgress` of each (None: no lines); ``table_ptr``:
    the tables' addresses get PTR records too (:func:`load_tables`).

    A zone may come from one source only: a second file for the same zone, or
    a table name at or below a zone that a zone file serves, is refused (which
    of the two should answer is the operator's call, not ours). Raises
    :class:`ZoneError` with one line.
    """
    files = [item if isinstance(item, ZoneFile) else ZoneFile(Path(item)) for item in zone_files]
    zones = [load_zone_file(file.path, file.name, progress) for file in files]
    tables = list(tables)
    if tables:
        zones.append(load_tables(tables, progress, table_ptr))
    _one_source_each(zones)
    return zones


def load_tables(paths: Iterable[str | Path], progress: Progress | None = None, ptr: bool = False) -> ZoneData:
    """Tables of ``hostname IP A`` lines (``AAAA`` too), merged into one root zone; ``progress``
    as for :func:`load_zone_file`.

    Hostnames are case-insensitive, and IDNA-encoded as the client encodes them;
    a name on several lines, or in several tables, gets every address. Blank
    lines and ``#`` comments are skipped. With ``ptr``, each address gets a PTR
    record (in-addr.arpa, ip6.arpa: RFC 1035 3.5, RFC 3596 2.5) to the first
    name written for it, as dnsmasq answers from its hosts files.
    """
    zone = dns.zone.Zone(dns.name.root, relativize=False)
    soa = dns.rdata.from_text(IN, SOA, TABLE_SOA)
    zone.find_rdataset(dns.name.root, SOA, create=True).add(soa, TABLE_TTL)
    data = ZoneData(zone, {}, ", ".join(str(path) for path in paths))
    data.progress = progress(data.source) if progress is not None else None
    first_names: FirstNames | None = {} if ptr else None
    for path in paths:
        _read_table(Path(path), data, first_names)
    for (rdtype, wire), (key, where) in (first_names or {}).items():
        owner = dns.reversename.from_address(socket.inet_ntop(ADDRESS_CODES[rdtype][1], wire))
        zone.find_rdataset(owner, PTR, create=True).add(PTR_CLASS(IN, PTR, name_from_wire(key)), TABLE_TTL)
        data.lines.setdefault(owner.to_digestable(), where)
    return data


def load_table(path: str | Path) -> ZoneData:
    """One table as a root zone (see :func:`load_tables`)."""
    return load_tables([path])


def _read_table(path: Path, data: ZoneData, first_names: FirstNames | None) -> None:
    """Read one table into ``data``; each address not in ``first_names`` yet goes there with its
    line's name (when given)."""
    try:
        text = read_text(path)
    except MasterFileError as exc:
        raise ZoneError(str(exc)) from None
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        where = f"{path}:{number}"
        if len(fields) != 3:
            raise ZoneError(f"{where}: expected 'hostname IP A', got {line.strip()!r}")
        hostname, address, rtype = fields
        key = _hostname_key(where, hostname)
        record = _table_address(where, address, rtype.upper())
        data.addresses.setdefault(key, []).append(record)
        data.lines.setdefault(key, where)
        if first_names is not None:
            first_names.setdefault((record[0], record[2]), (key, where))
        data.records += 1
        if data.progress is not None:
            data.progress.tick(data.records, "records read")


def _hostname_key(where: str, text: str) -> bytes:
    """The lower-case wire form of a table's hostname, absolute whether or not it ends in a dot;
    escapes as in master files, labels outside ASCII IDNA-encoded as the client encodes them
    (:func:`resolver.hostnames.read_hostname`)."""
    owner = name_to_wire(text if text.endswith(".") else text + ".", None)
    if owner is None:
        try:
            owner = read_hostname(text).to_wire()
        except dns.exception.DNSException as exc:
            raise ZoneError(f"{where}: bad hostname {text!r}: {why_not(exc)}") from None
    return owner.lower()


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


def _one_source_each(zones: list[ZoneData]) -> None:
    """No zone twice, and no table name inside a zone a file serves."""
    by_apex: dict[bytes, ZoneData] = {}
    for zone in zones:
        apex = zone.origin.to_digestable()
        if apex in by_apex:
            raise ZoneError(f"{zone.source}: zone {zone.origin} is already served from {by_apex[apex].source}")
        by_apex[apex] = zone
    for table in (zone for zone in zones if zone.lines):
        for key, where in table.lines.items():
            for above in suffixes(key):
                inside = by_apex.get(above)
                if inside is not None and inside is not table:
                    raise ZoneError(f"{where}: {name_text(key)} is inside the zone {inside.origin} that "
                                    f"{inside.source} serves: serve a name from one source")

def _bad_record(entry: Entry, exc: Exception, read: int) -> MasterFileError:
    """Any error dnspython raised on a record's rdata, after it took ``read`` of its tokens, as one
    line naming the record and saying in plain words what is wrong (:mod:`resolver.ts.rdata_errors`)."""
    detail = rdata_errors.explain(exc, entry.rdata, read, entry.rdtype)
    return MasterFileError(f"{entry.where}: bad {dns.rdatatype.to_text(entry.rdtype)} record: {detail}")


ADDRESS_CODES = {code: (text, family) for text, (code, family) in ADDRESS_TYPES.items()}


def _address_wire(entry: Entry) -> bytes:
    """The wire form of a plain A or AAAA record's address."""
    text, family = ADDRESS_CODES[entry.rdtype]
    try:
        return socket.inet_pton(family, entry.rdata[0])
    except OSError:
        return parse_address(entry.where, text, entry.rdata[0])[1]     # raises with the message


class _TokenList(dns.tokenizer.Tokenizer):
    """dnspython's tokenizer over tokens already split (by :mod:`resolver.ts.master_file`), so
    that an rdata's text is not scanned a character at a time a second time. Quoted tokens
    keep their quotes; escapes stay in place for dnspython to read, as its own tokenizer leaves them."""

    def __init__(self) -> None:     # noqa: D107 - no file: tokens come from load()
        self.tokens: list[str] = []
        self.pos = 0
        self.ungotten_token = None
        self.idna_codec = dns.name.IDNA_DEFAULT
        self.filename = "<rdata>"
        self.line_number = 1
        self.absolute_names: dict[str, dns.name.Name] = {}
        self.relative_names: dict[str, dns.name.Name] = {}
        self.origin: dns.name.Name | None = None     # what relative_names are relative to

    def load(self, tokens: list[str]) -> _TokenList:
        """Start over on ``tokens``; returns itself."""
        self.tokens, self.pos, self.ungotten_token = tokens, 0, None
        return self

    @property
    def read(self) -> int:
        """How many of the tokens have been taken (one given back with ``unget`` is not)."""
        given_back = self.ungotten_token is not None and not self.ungotten_token.is_eof()
        return self.pos - given_back

    def get(self, want_leading: bool = False, want_comment: bool = False) -> dns.tokenizer.Token:
        if self.ungotten_token is not None:
            token, self.ungotten_token = self.ungotten_token, None
            return token
        if self.pos == len(self.tokens):
            return dns.tokenizer.Token(dns.tokenizer.EOF)
        text = self.tokens[self.pos]
        self.pos += 1
        if text[0] == '"':
            return dns.tokenizer.Token(dns.tokenizer.QUOTED_STRING, text[1:-1], "\\" in text)
        return dns.tokenizer.Token(dns.tokenizer.IDENTIFIER, text, "\\" in text)

    def as_name(self, token: dns.tokenizer.Token, origin: dns.name.Name | None = None, relativize: bool = False,
                relativize_to: dns.name.Name | None = None) -> dns.name.Name:
        """dnspython's reading of a name, remembered: a zone names the same targets and signers
        again and again. Only absolute names are made (the zone is read with relativize off)."""
        if token.value.endswith(".") and token.is_identifier():
            names = self.absolute_names
        else:
            if origin is not self.origin:
                self.relative_names, self.origin = {}, origin
            names = self.relative_names
        name = names.get(token.value)
        if name is None:
            name = names[token.value] = zone_name(super().as_name(token, origin, relativize, relativize_to))
        return name


def _signature_times(tokens: list[str]) -> list[str]:
    """RRSIG and SIG times written as YYYYMMDDHHmmSS before 1970 or after 2106 as the 32-bit numbers
    they stand for: serial number arithmetic wraps them (RFC 4034 3.1.5), as NSD and BIND read them;
    and a 60th second (a leap second) as the next minute's first, as NSD and BIND take it."""
    tokens = list(tokens)
    for index in (4, 5):
        if index < len(tokens) and _date_to_wrap(tokens[index]):
            try:
                seconds = calendar.timegm(time.strptime(tokens[index], "%Y%m%d%H%M%S"))
            except ValueError:
                continue            # not a date: dnspython refuses it, and the message names it
            tokens[index] = str(seconds % 2**32)
    return tokens


def _date_to_wrap(text: str) -> bool:
    """Whether a signature time is a YYYYMMDDHHmmSS form that dnspython would not read as it stands."""
    return len(text) == 14 and text.isdigit() and (text < "1970" or text >= "2106" or text[12:] == "60")


def _first_owner(text: str) -> dns.name.Name | None:
    """The owner of the file's first record when that record is an SOA written absolute,
    with nothing but ``$TTL`` before it."""
    for line in text.split("\n"):
        content = line.split(";", 1)[0]
        tokens = content.replace("\t", " ").replace("\r", " ").split(" ")    # spaces and tabs part fields
        tokens = [token for token in tokens if token]
        if not tokens or tokens[0].upper() == "$TTL":
            continue
        owner = tokens[0]
        if content[0] in " \t$" or not owner.endswith(".") or "SOA" not in (t.upper() for t in tokens[1:4]):
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
