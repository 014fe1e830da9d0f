"""Reading the record data of the most common types straight from master-file tokens.

dnspython's ``dns.rdata.from_text`` reads any type, but slowly: a tokenizer
object per token, and for RRSIG a date parsed per record (about 100 µs for an
RRSIG, 20 µs for an MX). :class:`RdataReader` reads the plain spellings of A,
AAAA (those the compact address table does not take: a wildcard's, or a name's
with other records), NS, CNAME, PTR, DNAME, MX, TXT (RFC 1035 3.3), DS,
DNSKEY, RRSIG, NSEC (RFC 4034) and NSEC3 (RFC 5155) itself and builds the
same dnspython record: the first of a type with its class's constructor,
which checks the values as ``from_text`` does, the others, once that made the
same record, by setting their fields (:class:`_Maker`).

It reads only what it is sure of: every token unquoted (TXT strings aside),
ASCII and without escapes, numbers in decimal digits, names spelt as labels
between dots. Anything else (``\\#`` generic data, escapes, quoted numbers,
mnemonic algorithms, TTLs with units, a value out of range) gives None, and
the caller reads the record with dnspython, which accepts or refuses it with
its own message. So a record is read to the same value, or refused with the
same error, whichever way it goes.
"""
from __future__ import annotations

import base64
import binascii
import inspect
import re
import socket
from typing import Callable, Sequence

import dns.dnssectypes
import dns.ipv6
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.NSEC
import dns.rdtypes.ANY.NSEC3
import dns.rdtypes.rrsigbase
import dns.rdtypes.util

from .zone_names import ZoneName

IN = dns.rdataclass.IN
ONE_NAME = (dns.rdatatype.NS, dns.rdatatype.CNAME, dns.rdatatype.PTR, dns.rdatatype.DNAME)
# Types whose reader leaves values for the constructor to convert (an algorithm's mnemonic, a
# digest's length by type): their records are always made by the constructor.
CONSTRUCTED = frozenset({dns.rdatatype.DS, dns.rdatatype.DNSKEY})
MAX_8, MAX_16, MAX_32 = 0xFF, 0xFFFF, 0xFFFFFFFF
_BASE32HEX = re.compile("[0-9A-V]+")      # RFC 4648 7, upper case
Windows = tuple[tuple[int, bytes], ...]     # an NSEC or NSEC3 type bitmap, as the record holds it


class RdataReader:
    """Reads record data from tokens, for one zone file at a time (it remembers names and
    values seen, since a zone names the same targets, signers and times again and again)."""

    def __init__(self) -> None:
        self._absolute: dict[str, dns.name.Name] = {}
        self._relative: dict[str, dns.name.Name] = {}
        self._origin: dns.name.Name | None = None      # what _relative's names are relative to
        self._values: dict[tuple[Callable, str], object] = {}
        self._bitmaps: dict[tuple[str, ...], Windows] = {}
        readers: dict[int, Callable[[Sequence[str], dns.name.Name], tuple | None]] = {
            dns.rdatatype.A: _ipv4, dns.rdatatype.AAAA: _ipv6, **{rdtype: self._one_name for rdtype in ONE_NAME},
            dns.rdatatype.MX: self._mx, dns.rdatatype.TXT: self._txt, dns.rdatatype.DS: self._ds,
            dns.rdatatype.DNSKEY: self._dnskey, dns.rdatatype.RRSIG: self._rrsig,
            dns.rdatatype.NSEC: self._nsec, dns.rdatatype.NSEC3: self._nsec3,
        }
        self._readers = {rdtype: (reader, _Maker(rdtype, rdtype not in CONSTRUCTED))
                         for rdtype, reader in readers.items()}

    def read(self, rdtype: int, tokens: Sequence[str], origin: dns.name.Name) -> dns.rdata.Rdata | None:
        """The record of type ``rdtype`` whose data ``tokens`` spell (quoted strings keep their
        quotes; relative names are relative to ``origin``), as ``dns.rdata.from_text`` reads it
        with relativize off; None when it is not a spelling read here."""
        found = self._readers.get(rdtype)
        if found is None:
            return None
        written = "".join(tokens)
        if "\\" in written or not written.isascii():
            return None
        reader, maker = found
        try:
            values = reader(tokens, origin)
            return None if values is None else maker.make(values)
        except Exception:  # noqa: BLE001 - a value its class refuses: dnspython reads it again and says why
            return None

    # ------------------------------------------------------------------ one type each

    def _one_name(self, tokens: Sequence[str], origin: dns.name.Name) -> tuple | None:
        if len(tokens) != 1:
            return None
        target = self._name(tokens[0], origin)
        return None if target is None else (target,)

    def _mx(self, tokens: Sequence[str], origin: dns.name.Name) -> tuple | None:
        if len(tokens) != 2 or not tokens[0].isdigit():
            return None
        preference = int(tokens[0])
        exchange = self._name(tokens[1], origin)
        return None if exchange is None or preference > MAX_16 else (preference, exchange)

    @staticmethod
    def _txt(tokens: Sequence[str], origin: dns.name.Name) -> tuple | None:
        strings = []
        for token in tokens:
            text = token[1:-1] if token[0] == '"' else token
            if len(text) > 255:
                return None
            strings.append(text.encode())
        return (tuple(strings),) if strings else None

    def _ds(self, tokens: Sequence[str], origin: dns.name.Name) -> tuple | None:
        if len(tokens) < 4 or not _unquoted_numbers(tokens[:3]):
            return None
        digest = binascii.unhexlify("".join(tokens[3:]).encode())
        return int(tokens[0]), tokens[1], int(tokens[2]), digest

    def _dnskey(self, tokens: Sequence[str], origin: dns.name.Name) -> tuple | None:
        if len(tokens) < 4 or not _unquoted_numbers(tokens[:3]):
            return None
        key = base64.b64decode("".join(tokens[3:]).encode(), validate=True)
        return int(tokens[0]), int(tokens[1]), tokens[2], key

    def _rrsig(self, tokens: Sequence[str], origin: dns.name.Name) -> tuple | None:
        if len(tokens) < 9 or not _unquoted_numbers(tokens[1:7]) or tokens[0][0] == '"':
            return None
        signer = self._name(tokens[7], origin)
        if signer is None:
            return None
        value = self._value
        labels, original_ttl, key_tag = int(tokens[2]), int(tokens[3]), int(tokens[6])
        expiration = value(dns.rdtypes.rrsigbase.sigtime_to_posixtime, tokens[4])
        inception = value(dns.rdtypes.rrsigbase.sigtime_to_posixtime, tokens[5])
        if labels > MAX_8 or key_tag > MAX_16 or max(original_ttl, expiration, inception) > MAX_32:
            return None
        return (value(_rdatatype, tokens[0]), value(_algorithm, tokens[1]), labels, original_ttl, expiration,
                inception, key_tag, signer, base64.b64decode("".join(tokens[8:]).encode(), validate=True))

    def _nsec(self, tokens: Sequence[str], origin: dns.name.Name) -> tuple | None:
        if not tokens:
            return None
        following = self._name(tokens[0], origin)
        windows = self._windows(tokens[1:], dns.rdtypes.ANY.NSEC.Bitmap)
        return None if following is None or windows is None else (following, windows)

    def _nsec3(self, tokens: Sequence[str], origin: dns.name.Name) -> tuple | None:
        if len(tokens) < 5 or not _unquoted_numbers(tokens[:3]) or '"' in tokens[3][0] + tokens[4][0]:
            return None
        algorithm, flags, iterations = int(tokens[0]), int(tokens[1]), int(tokens[2])
        salt = b"" if tokens[3] == "-" else self._value(binascii.unhexlify, tokens[3])
        hashed = tokens[4].upper()
        # Padding: dnspython checks the bits it leaves unused.
        if len(hashed) % 8 or not _BASE32HEX.fullmatch(hashed) or max(algorithm, flags) > MAX_8 or iterations > MAX_16:
            return None
        following = _base32hex(hashed)
        windows = self._windows(tokens[5:], dns.rdtypes.ANY.NSEC3.Bitmap)
        if windows is None or len(salt) > MAX_8 or not 0 < len(following) <= MAX_8:   # type: ignore[arg-type]
            return None
        return algorithm, flags, iterations, salt, following, windows

    # ------------------------------------------------------------------ parts

    def _name(self, text: str, origin: dns.name.Name) -> dns.name.Name | None:
        """A name as ``dns.name.from_text`` reads it (no escapes here), relative to ``origin``;
        None for a quoted token or an empty label (dnspython says what is wrong)."""
        if text.endswith("."):
            names = self._absolute
        else:
            if origin is not self._origin:
                self._relative, self._origin = {}, origin
            names = self._relative
        name = names.get(text)
        if name is None:
            if text[0] == '"':
                return None
            name = names[text] = _name_from_labels(text, origin)
        return name

    def _value(self, parse: Callable[[str], object], text: str) -> object:
        """``parse(text)`` for a pure parser, remembered (signature times, algorithms, salts)."""
        key = (parse, text)
        value = self._values.get(key)
        if value is None:
            value = self._values[key] = parse(text)
        return value

    def _windows(self, tokens: Sequence[str], kind: type[dns.rdtypes.util.Bitmap]) -> Windows | None:
        """The type bitmap of NSEC or NSEC3 (RFC 4034 4.1.2) from type mnemonics, as the record
        keeps it after ``Bitmap.from_text``; None when a type is quoted or is type 0."""
        key = (kind.type_name, *tokens)
        windows = self._bitmaps.get(key)
        if windows is None:
            rdtypes = [dns.rdatatype.from_text(token) for token in tokens if token[0] != '"']
            if len(rdtypes) != len(tokens) or 0 in rdtypes:
                return None
            windows = self._bitmaps[key] = tuple(kind.from_rdtypes(rdtypes).windows)
        return windows


class _Maker:
    """Makes the records of one type from the values its reader checked.

    The first record is made by the class's constructor, which converts and
    checks every value. When the class's fields are the constructor's arguments
    and the same values set directly make an equal record (same values of the
    same types), every later record is made directly: for an RRSIG that is a
    sixth of the constructor's time. Otherwise the constructor makes them all.
    """

    def __init__(self, rdtype: int, direct: bool) -> None:
        self.cls = dns.rdata.get_rdata_class(IN, rdtype)
        self.rdtype = dns.rdatatype.RdataType.make(rdtype)
        self.fields = _constructor_fields(self.cls) if direct else None     # None: the constructor only
        self.trusted = False

    def make(self, values: tuple) -> dns.rdata.Rdata:
        """The record of these values (in the constructor's order); raises what the constructor raises."""
        if self.trusted:
            return self._direct(values)
        rdata = self.cls(IN, self.rdtype, *values)
        if self.fields is not None:
            self.trusted = _same_fields(rdata, self._direct(values))
            if not self.trusted:
                self.fields = None
        return rdata

    def _direct(self, values: tuple) -> dns.rdata.Rdata:
        rdata = object.__new__(self.cls)
        set_field = object.__setattr__
        set_field(rdata, "rdclass", IN)
        set_field(rdata, "rdtype", self.rdtype)
        set_field(rdata, "rdcomment", None)
        for field, value in zip(self.fields, values):   # type: ignore[arg-type]
            set_field(rdata, field, value)
        return rdata


def _constructor_fields(cls: type[dns.rdata.Rdata]) -> tuple[str, ...] | None:
    """The constructor's arguments after class and type, when they and the record's own three
    (class, type, comment) are every field the class has; else None."""
    arguments = tuple(inspect.signature(cls.__init__).parameters)[3:]
    slots = {slot for klass in cls.__mro__ for slot in getattr(klass, "__slots__", ())}
    return arguments if slots == {"rdclass", "rdtype", "rdcomment", *arguments} else None


def _same_fields(made: dns.rdata.Rdata, direct: dns.rdata.Rdata) -> bool:
    """Whether two records hold equal values of the same types in every field."""
    for klass in type(made).__mro__:
        for slot in getattr(klass, "__slots__", ()):
            one, other = getattr(made, slot), getattr(direct, slot)
            if type(one) is not type(other) or one != other:
                return False
    return True


def _rdatatype(text: str) -> int:
    """A type mnemonic as the record keeps it (RRSIG's type covered)."""
    return dns.rdatatype.RdataType.make(dns.rdatatype.from_text(text))


def _algorithm(text: str) -> int:
    """A DNSSEC algorithm number as the record keeps it."""
    return dns.dnssectypes.Algorithm.make(dns.dnssectypes.Algorithm.from_text(text))


def _ipv4(tokens: Sequence[str], origin: dns.name.Name) -> tuple | None:
    """An IPv4 address (RFC 1035 3.4.1) written as its record keeps it: dotted decimal, no leading zeros."""
    if len(tokens) != 1:
        return None
    try:
        canonical = socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, tokens[0]))
    except OSError:
        return None
    return (canonical,) if canonical == tokens[0] else None


def _ipv6(tokens: Sequence[str], origin: dns.name.Name) -> tuple | None:
    """An IPv6 address (RFC 3596) written as its record keeps it (RFC 5952, as dnspython writes it)."""
    if len(tokens) != 1:
        return None
    try:
        canonical = dns.ipv6.inet_ntoa(socket.inet_pton(socket.AF_INET6, tokens[0]))
    except OSError:
        return None
    return (canonical,) if canonical == tokens[0] else None


def _unquoted_numbers(tokens: Sequence[str]) -> bool:
    """Whether every token is decimal digits (as dnspython's integers must be), the
    algorithm of DS, DNSKEY and RRSIG too (a mnemonic is left to dnspython)."""
    return "".join(tokens).isdigit()


def _base32hex(text: str) -> bytes:
    """``base64.b32hexdecode(text)`` (RFC 4648 7) for upper-case text of whole 8-character
    groups, no padding: its digits are Python's base-32 digits, read in C, not a group at a time."""
    return int(text, 32).to_bytes(len(text) * 5 // 8, "big")


def _name_from_labels(text: str, origin: dns.name.Name) -> dns.name.Name:
    """``dns.name.from_text(text, origin)`` for text without escapes; raises what dnspython raises
    for an empty label, a label over 63 bytes or a name over 255."""
    if text == "@":
        return origin
    if text == ".":
        return dns.name.root
    absolute = text.endswith(".")
    labels = (text[:-1] if absolute else text).split(".")
    if "" in labels:
        raise dns.name.EmptyLabel
    if max(map(len, labels)) > 63:
        raise dns.name.LabelTooLong
    tail = (b"",) if absolute else origin.labels
    if len(text) + 1 + sum(len(label) + 1 for label in tail) > 255 + (1 if absolute else 0):
        raise dns.name.NameTooLong
    return ZoneName.from_checked((*(label.encode() for label in labels), *tail))


_ADDRESS_MAKERS = {dns.rdatatype.A: _Maker(dns.rdatatype.A, True), dns.rdatatype.AAAA: _Maker(dns.rdatatype.AAAA, True)}


def address_rdata(rdtype: int, wire: bytes) -> dns.rdata.Rdata:
    """dnspython's A or AAAA record for an address kept in wire form (RFC 1035 3.4.1, RFC 3596):
    what ``dns.rdata.from_wire`` makes of it, without a wire parser, made as the reader makes records."""
    text = socket.inet_ntop(socket.AF_INET, wire) if rdtype == dns.rdatatype.A else dns.ipv6.inet_ntoa(wire)
    return _ADDRESS_MAKERS[rdtype].make((text,))


def add_to_rdataset(rdataset: dns.rdataset.Rdataset, rdata: dns.rdata.Rdata, ttl: int) -> None:
    """``rdataset.add(rdata, ttl)`` (an RRset is a set, with the lowest TTL: RFC 2181 5) with the
    record hashed once, where dnspython hashes it twice (a membership test, then the insert): the
    hash is its whole wire form. A record of another type (or, for RRSIG, covering another), and a
    second record of a singleton type (CNAME, SOA, ...: the last one stays), go through
    dnspython's ``add``."""
    if rdataset.rdtype != rdata.rdtype or rdataset.covers != rdata.covers() or (
            len(rdataset) and dns.rdatatype.is_singleton(rdataset.rdtype)):
        rdataset.add(rdata, ttl)
        return
    rdataset.update_ttl(ttl)
    rdataset.items.setdefault(rdata)
