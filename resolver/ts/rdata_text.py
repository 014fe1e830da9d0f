"""Reading the record data of the most common types straight from master-file tokens.

dnspython's ``dns.rdata.from_text`` reads any type, but slowly: a tokenizer
object per token, and for RRSIG a date parsed per record (about 100 µs for an
RRSIG, 20 µs for an MX). :class:`RdataReader` reads the plain spellings of NS,
CNAME, PTR, DNAME, MX, TXT (RFC 1035 3.3), DS, DNSKEY, RRSIG, NSEC (RFC 4034)
and NSEC3 (RFC 5155) itself and builds the same dnspython record with its
class's constructor, which checks the values as ``from_text`` does.

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
from typing import Callable, Sequence

import dns.dnssectypes
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


class RdataReader:
    """Reads record data from tokens, for one zone file at a time (it remembers names and
    values seen, since a zone names the same targets, signers and times again and again)."""

    def __init__(self) -> None:
        self._absolute: dict[str, dns.name.Name] = {}
        self._relative: dict[str, dns.name.Name] = {}
        self._origin: dns.name.Name | None = None      # what _relative's names are relative to
        self._values: dict[tuple[Callable, str], object] = {}
        self._bitmaps: dict[tuple[str, ...], dns.rdtypes.util.Bitmap] = {}
        self._readers: dict[int, Callable[[Sequence[str], dns.name.Name], tuple | None]] = {
            **{rdtype: self._one_name for rdtype in ONE_NAME},
            dns.rdatatype.MX: self._mx, dns.rdatatype.TXT: self._txt, dns.rdatatype.DS: self._ds,
            dns.rdatatype.DNSKEY: self._dnskey, dns.rdatatype.RRSIG: self._rrsig,
            dns.rdatatype.NSEC: self._nsec, dns.rdatatype.NSEC3: self._nsec3,
        }

    def read(self, rdtype: int, tokens: Sequence[str], origin: dns.name.Name) -> dns.rdata.Rdata | None:
        """The record of type ``rdtype`` whose data ``tokens`` spell (quoted strings keep their
        quotes; relative names are relative to ``origin``), as ``dns.rdata.from_text`` reads it
        with relativize off; None when it is not a spelling read here."""
        reader = self._readers.get(rdtype)
        if reader is None:
            return None
        for token in tokens:
            if "\\" in token or not token.isascii():
                return None
        try:
            values = reader(tokens, origin)
            if values is None:
                return None
            return dns.rdata.get_rdata_class(IN, rdtype)(IN, rdtype, *values)
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
        exchange = self._name(tokens[1], origin)
        return None if exchange is None else (int(tokens[0]), exchange)

    @staticmethod
    def _txt(tokens: Sequence[str], origin: dns.name.Name) -> tuple | None:
        strings = []
        for token in tokens:
            text = token[1:-1] if token[0] == '"' else token
            if len(text) > 255:
                return None
            strings.append(text.encode())
        return (strings,) if strings else None

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
        return (value(dns.rdatatype.from_text, tokens[0]), value(dns.dnssectypes.Algorithm.from_text, tokens[1]),
                int(tokens[2]), int(tokens[3]), value(dns.rdtypes.rrsigbase.sigtime_to_posixtime, tokens[4]),
                value(dns.rdtypes.rrsigbase.sigtime_to_posixtime, tokens[5]), int(tokens[6]), signer,
                base64.b64decode("".join(tokens[8:]).encode(), validate=True))

    def _nsec(self, tokens: Sequence[str], origin: dns.name.Name) -> tuple | None:
        if not tokens:
            return None
        following = self._name(tokens[0], origin)
        bitmap = self._bitmap(tokens[1:], dns.rdtypes.ANY.NSEC.Bitmap)
        return None if following is None or bitmap is None else (following, bitmap)

    def _nsec3(self, tokens: Sequence[str], origin: dns.name.Name) -> tuple | None:
        if len(tokens) < 5 or not _unquoted_numbers(tokens[:3]) or '"' in tokens[3][0] + tokens[4][0]:
            return None
        salt = b"" if tokens[3] == "-" else self._value(binascii.unhexlify, tokens[3])
        hashed = tokens[4].upper()
        if len(hashed) % 8 or "=" in hashed:    # padding: dnspython checks the bits it leaves unused
            return None
        bitmap = self._bitmap(tokens[5:], dns.rdtypes.ANY.NSEC3.Bitmap)
        if bitmap is None:
            return None
        return int(tokens[0]), int(tokens[1]), int(tokens[2]), salt, base64.b32hexdecode(hashed), bitmap

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

    def _bitmap(self, tokens: Sequence[str],
                kind: type[dns.rdtypes.util.Bitmap]) -> dns.rdtypes.util.Bitmap | None:
        """The type bitmap of NSEC or NSEC3 (RFC 4034 4.1.2) from type mnemonics, as
        ``Bitmap.from_text`` makes it; None when a type is quoted or is type 0."""
        key = (kind.type_name, *tokens)
        bitmap = self._bitmaps.get(key)
        if bitmap is None:
            rdtypes = [dns.rdatatype.from_text(token) for token in tokens if token[0] != '"']
            if len(rdtypes) != len(tokens) or 0 in rdtypes:
                return None
            bitmap = self._bitmaps[key] = kind.from_rdtypes(rdtypes)
        return bitmap


def _unquoted_numbers(tokens: Sequence[str]) -> bool:
    """Whether every token is decimal digits (as dnspython's integers must be), the
    algorithm of DS, DNSKEY and RRSIG too (a mnemonic is left to dnspython)."""
    return all(token.isdigit() for token in tokens)


def _name_from_labels(text: str, origin: dns.name.Name) -> dns.name.Name:
    """``dns.name.from_text(text, origin)`` for text without escapes; raises for an empty label."""
    if text == "@":
        return origin
    if text == ".":
        return dns.name.root
    absolute = text.endswith(".")
    labels = (text[:-1] if absolute else text).split(".")
    if "" in labels:
        raise dns.name.EmptyLabel
    tail = (b"",) if absolute else origin.labels
    return ZoneName([label.encode() for label in labels] + list(tail))


def add_to_rdataset(rdataset: dns.rdataset.Rdataset, rdata: dns.rdata.Rdata, ttl: int) -> None:
    """``rdataset.add(rdata, ttl)`` with the record hashed once, where dnspython hashes it twice
    (a membership test, then the insert): the hash is its whole wire form. ``rdataset`` holds
    records of ``rdata``'s type (and for RRSIG of the type it covers), as the zone builder keys them;
    the singleton types (CNAME, SOA, ...: the last one stays) go through dnspython's ``add``."""
    if dns.rdatatype.is_singleton(rdataset.rdtype) or rdataset.rdtype != rdata.rdtype or (
            rdataset.covers != rdata.covers()):
        rdataset.add(rdata, ttl)
        return
    rdataset.update_ttl(ttl)
    rdataset.items.setdefault(rdata)
