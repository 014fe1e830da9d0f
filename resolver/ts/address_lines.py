"""Plain address records, read fast and kept compact, for zones of a million names.

dnspython's zone reader builds several objects per record and parses every
line in general form: about 50 µs and 1 KB a record, so a 1,000,000-record
zone would take a minute and more than a gigabyte before compiling starts.
Most lines of such zones are plain address records
(``owner [ttl] [IN] A|AAAA address``). :func:`split_master_file` takes those
out (a few µs each) and leaves every other line to dnspython, in place: the
lines taken out become blank lines, so dnspython's error messages keep their
line numbers. On the way it checks every line's owner is inside the zone and
its TTL at most 2^31 - 1, which dnspython lets pass. Lines that are not plain (parentheses, quotes, escapes,
wildcards, TTLs with units) always go to dnspython. So does a whole file with
``$INCLUDE`` or ``$GENERATE``, or without ``$TTL`` (where dnspython's rule for
a missing TTL depends on the records before it).
"""
from __future__ import annotations

import re
import socket

from ..wire import MAX_NAME

ADDRESS_TYPES = {"A": (1, socket.AF_INET), "AAAA": (28, socket.AF_INET6)}
MAX_TTL = 2**31 - 1
_NOT_PLAIN = re.compile(r'[()"\\*]')
_WHOLE_FILE_ONLY = re.compile(r"^\$(INCLUDE|GENERATE)\b", re.IGNORECASE | re.MULTILINE)
_HAS_TTL = re.compile(r"^\$TTL\b", re.IGNORECASE | re.MULTILINE)

# lower-case wire name -> [(type, ttl, address in wire form), ...]
AddressRecords = dict[bytes, list[tuple[int, int, bytes]]]


class AddressError(ValueError):
    """A plain address line that is wrong; the text names file and line."""


def name_to_wire(text: str, origin: bytes | None) -> bytes | None:
    """Wire form of a plain owner name (no escapes), or None when it is not plain."""
    if text == "@":
        return origin
    absolute = text.endswith(".")
    if not absolute and origin is None:
        return None
    if text == ".":
        return b"\x00"
    wire = bytearray()
    for label in (text[:-1] if absolute else text).split("."):
        if not label or len(label) > 63 or not label.isascii():
            return None
        wire.append(len(label))
        wire += label.encode("ascii")
    wire += b"\x00" if absolute else origin
    return bytes(wire) if len(wire) <= MAX_NAME else None


def wire_to_text(wire: bytes) -> str:
    """Absolute presentation form of a plain wire name."""
    labels = []
    pos = 0
    while wire[pos]:
        labels.append(wire[pos + 1:pos + 1 + wire[pos]].decode("ascii"))
        pos += wire[pos] + 1
    return ".".join(labels) + "."


def _check_ttl(where: str, tokens: list[str]) -> None:
    """A TTL over 2^31 - 1 is an error (RFC 2181 8), not something to wrap or clamp."""
    for token in tokens[:2]:            # [ttl] [class] or [class] [ttl] come first
        if token.isdigit() and int(token) > MAX_TTL:
            raise AddressError(f"{where}: TTL {token} is over the largest allowed, {MAX_TTL} (RFC 2181)")


def parse_address(where: str, rtype: str, text: str) -> tuple[int, bytes]:
    """The type code and wire form of an A or AAAA address, or a clear error."""
    rdtype, family = ADDRESS_TYPES[rtype]
    try:
        return rdtype, socket.inet_pton(family, text)
    except OSError:
        raise AddressError(f"{where}: {text!r} is not an {'IPv4' if rdtype == 1 else 'IPv6'} address") from None


def split_master_file(text: str, origin_text: str | None, filename: str) -> tuple[str, AddressRecords]:
    """Take the plain address records out of a master file.

    Returns the text left for dnspython (same number of lines) and the records
    taken out, keyed by lower-case owner name in wire form.
    """
    records: AddressRecords = {}
    if _WHOLE_FILE_ONLY.search(text) or not _HAS_TTL.search(text):
        return text, records
    reader = _Reader(origin_text, filename, records)
    lines = text.split("\n")
    for number, line in enumerate(lines):
        lines[number] = reader.line(number + 1, line)
    return "\n".join(lines), records


class _Reader:
    """The state a master file carries from line to line: origin, $TTL, last owner."""

    def __init__(self, origin_text: str | None, filename: str, records: AddressRecords) -> None:
        self.origin: bytes | None = None
        self.set_origin(origin_text)
        self.apex = self.origin.lower() if self.origin else None     # owners outside it go to dnspython
        self.filename = filename
        self.records = records
        self.default_ttl: int | None = None
        self.owner: bytes | None = None     # the last owner, for lines that leave it out
        self.depth = 0                      # open parentheses

    def set_origin(self, text: str | None) -> None:
        self.origin = None if text is None else name_to_wire(text if text.endswith(".") else text + ".", None)

    def _in_zone(self, owner: bytes) -> bool:
        if self.apex is None:
            return False
        owner = owner.lower()
        if not owner.endswith(self.apex):
            return False
        cut = len(owner) - len(self.apex)
        pos = 0
        while pos < cut:            # the apex must start at a label boundary
            pos += owner[pos] + 1
        return pos == cut

    def line(self, number: int, line: str) -> str:
        """The line as dnspython should see it: unchanged, blank (taken), or with its owner spelled out."""
        content = line if '"' in line else line.split(";", 1)[0]
        if self.depth:
            self.depth += content.count("(") - content.count(")")
            return line
        if not content.strip():
            return line
        if content.startswith("$"):
            self._directive(content.split(), f"{self.filename}:{number}")
            return line
        inherits_owner = content[0] in " \t"
        tokens = content.split()
        owner = self.owner if inherits_owner else name_to_wire(tokens[0], self.origin)
        if not inherits_owner:
            self.owner = owner
            del tokens[0]
        where = f"{self.filename}:{number}"
        _check_ttl(where, tokens)
        if owner is not None and self.apex is not None and not self._in_zone(owner):
            raise AddressError(f"{where}: {wire_to_text(owner)} is outside the zone {wire_to_text(self.apex)}")
        if owner is None or _NOT_PLAIN.search(content):
            self.depth += content.count("(") - content.count(")")
            return self._spelled_out(line) if inherits_owner else line
        record = self._plain_address(tokens)
        if record is None:
            return self._spelled_out(line) if inherits_owner else line
        rtype, ttl, address = record
        rdtype, wire = parse_address(where, rtype, address)
        self.records.setdefault(owner.lower(), []).append((rdtype, ttl, wire))
        return ""

    def _directive(self, tokens: list[str], where: str) -> None:
        keyword = tokens[0].upper()
        if keyword == "$TTL" and len(tokens) > 1:
            _check_ttl(where, tokens[1:2])
            self.default_ttl = int(tokens[1]) if tokens[1].isdigit() else None
        elif keyword == "$ORIGIN" and len(tokens) > 1:
            origin = tokens[1]
            self.origin = name_to_wire(origin, self.origin) if not origin.endswith(".") else name_to_wire(origin, None)
            if self.apex is None and self.origin is not None:
                self.apex = self.origin.lower()     # the first $ORIGIN names the zone

    def _plain_address(self, tokens: list[str]) -> tuple[str, int, str] | None:
        """``[ttl] [IN] TYPE address`` (TTL and class in either order) for A and AAAA."""
        ttl = None
        while len(tokens) > 2:
            if tokens[0].isdigit() and ttl is None:
                ttl = int(tokens.pop(0))
            elif tokens[0].upper() == "IN":
                tokens.pop(0)
            else:
                return None
        if len(tokens) != 2 or tokens[0].upper() not in ADDRESS_TYPES:
            return None
        ttl = self.default_ttl if ttl is None else ttl
        if ttl is None:
            return None
        return tokens[0].upper(), ttl, tokens[1]

    def _spelled_out(self, line: str) -> str:
        """A line that leaves out its owner, with the owner written in: the line that
        set it may have been taken out."""
        return wire_to_text(self.owner) + " " + line.lstrip() if self.owner else line
