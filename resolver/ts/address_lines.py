"""Plain address records, kept compact, for zones of a million names.

dnspython builds several objects per record: about 50 µs and 1 KB a record, so
a 1,000,000-record zone would take a minute and more than a gigabyte before
compiling starts. Most records of such zones are plain addresses
(``owner [ttl] [IN] A|AAAA address``): :mod:`resolver.ts.zones` keeps those
as :data:`AddressRecords`, the owner and address in wire form, and leaves the
rest to dnspython. This module holds what both that and the tables need:
plain names to wire form, and addresses to wire form with a clear error.
"""
from __future__ import annotations

import socket

from ..wire import MAX_NAME

ADDRESS_TYPES = {"A": (1, socket.AF_INET), "AAAA": (28, socket.AF_INET6)}

# lower-case wire name -> [(type, ttl, address in wire form), ...]
AddressRecords = dict[bytes, list[tuple[int, int, bytes]]]


class AddressError(ValueError):
    """An address that is wrong; the text names file and line."""


def name_to_wire(text: str, origin: bytes | None) -> bytes | None:
    """Wire form of a plain name (ASCII, no escapes), relative ones after ``origin``;
    None when it is not plain (escapes, an empty or long label, too long a name), so
    that the caller reads it in general form."""
    if text == "@":
        return origin
    absolute = text.endswith(".")
    if not absolute and origin is None:
        return None
    if text == ".":
        return b"\x00"
    wire = bytearray()
    for label in (text[:-1] if absolute else text).split("."):
        if not label or len(label) > 63 or not label.isascii() or "\\" in label:
            return None
        wire.append(len(label))
        wire += label.encode("ascii")
    wire += b"\x00" if absolute else origin
    return bytes(wire) if len(wire) <= MAX_NAME else None


def parse_address(where: str, rtype: str, text: str) -> tuple[int, bytes]:
    """The type code and wire form of an A or AAAA address, or a clear error."""
    rdtype, family = ADDRESS_TYPES[rtype]
    try:
        return rdtype, socket.inet_pton(family, text)
    except OSError:
        raise AddressError(f"{where}: {text!r} is not an {'IPv4' if rdtype == 1 else 'IPv6'} address") from None
