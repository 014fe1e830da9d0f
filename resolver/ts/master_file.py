"""Reading the text of RFC 1035 master files (section 5.1) as NSD, BIND and Knot read it.

:func:`read_entries` turns a file, and the files it ``$INCLUDE``\\ s, into one
:class:`Entry` per resource record: its owner in wire form (letter case kept),
TTL, type and rdata tokens, and where it was written. What the records mean,
and whether the zone they make is sound, is :mod:`resolver.ts.zones`' part.

What is read:

* ``$ORIGIN name``: an absolute name, ``@`` (the current origin) or a name
  relative to the current origin, as BIND and Knot take it (NSD 4.6 takes only
  absolute ones);
* ``$TTL ttl``, TTLs with units (``1h30m``, as BIND) on records and ``$TTL``;
  a record without a TTL and no ``$TTL`` before it gets 3600, NSD's default;
* ``$INCLUDE file [origin]``: the path relative to the including file, the
  origin absolute or relative; the origin comes back afterwards (RFC 1035 5.1),
  and a line starting blank after it takes the last owner the included file
  named, as NSD takes it (BIND takes the one from before the ``$INCLUDE``);
* ``$GENERATE start-stop[/step] lhs [ttl] [class] type rhs`` with ``$``, ``$$`` and
  ``${offset[,width[,base]]}`` as BIND 9.18 reads them (a ``${`` that is not such a
  modifier is an error; NSD 4.6 has no ``$GENERATE``);
* a directive it does not know, alone on its line, skipped with a warning
  (NSD); with anything after it, an error (BIND and Knot refuse them all);
* owners left out (a line starting with a blank inherits the last owner),
  ``@``, relative and escaped names (``\\.``, ``\\DDD``, ``\\X``), TTL and class in
  either order, comments, quoted strings and parentheses over several lines.

Errors are :class:`MasterFileError`, whose text is ``FILE:LINE: what is wrong``
for the line where the record starts.
"""
from __future__ import annotations

import logging
import re
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.ttl

from .address_lines import name_to_wire

log = logging.getLogger("resolver.ts")

DEFAULT_TTL = 3600          # NSD's TTL for a record without one and no $TTL before it
MAX_TTL = dns.ttl.MAX_TTL   # TTLs are 32 bits; RFC 2181 8 keeps 2^31 and up for resolvers to treat as 0
MAX_INCLUDE_DEPTH = 10      # $INCLUDE inside $INCLUDE, as deep as NSD goes
MAX_GENERATED = 1_000_000   # records one $GENERATE may make: a zone of a million names, not a typo's billion
DIGITS = "0123456789"        # the digits of every number in a master file; str.isdigit() takes '²' and '٣' too
CLASSES = frozenset({"IN", "CH", "CS", "HS", "NONE", "ANY"})
# Fields are parted by spaces and tabs only, as NSD's lexer parts them (and the \r of a CRLF file): a line
# holding another character str.split() parts at (\v, \f, \x1c, U+00A0...) is read by _tokens, which keeps it.
_SPECIAL = re.compile('["();\\\\\x0b\x0c\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]')
_TOKEN = re.compile(r'[ \t\r]*(?:(;.*)|("(?:[^"\\]|\\.)*")|([()])|((?:[^ \t\r"();\\]|\\.)+)|([^ \t\r]))', re.DOTALL)
_GENERATE_RANGE = re.compile(r"^([0-9]+)-([0-9]+)(?:/([0-9]+))?$")
# An escaped character, $$, a ${offset[,width[,base]]} modifier (signs as BIND's sscanf takes them), a ${ that is
# not one, or a lone $.
_GENERATE_DOLLAR = re.compile(r"\\.|\$\$|\$\{([+-]?\d+)(?:,\+?(\d+)(?:,([doxXnN]))?)?\}|\$\{[-+,\w]*\}?|\$", re.ASCII)
MAX_GENERATE_WIDTH = 255    # a name has at most 255 octets, and so has a string


class MasterFileError(ValueError):
    """A master file that cannot be read; the text is ``FILE:LINE: what is wrong``."""


@dataclass(slots=True)
class Entry:
    """One resource record as written: rdata still as tokens (quoted ones keep their quotes)."""

    owner: bytes                # wire form, letter case as written
    ttl: int
    rdtype: int
    rdata: list[str]
    origin: dns.name.Name       # for relative names in the rdata
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class _State:
    """What a file carries from line to line: origin, $TTL, last owner, last TTL written."""

    origin: dns.name.Name | None
    origin_wire: bytes | None
    default_ttl: int | None = None
    owner: bytes | None = None

    def set_origin(self, origin: dns.name.Name) -> None:
        self.origin, self.origin_wire = origin, origin.to_wire()


def read_entries(path: Path, text: str, origin: dns.name.Name | None) -> Iterator[Entry]:
    """Every record of the master file at ``path`` (whose ``text`` is given), in file order,
    included files in place.

    ``origin`` is the origin before any ``$ORIGIN`` (NSD's zone name from its
    configuration); None when unknown, so that a relative name before the first
    ``$ORIGIN`` is an error. Raises :class:`MasterFileError`.
    """
    state = _State(None, None)
    if origin is not None:
        state.set_origin(origin)
    yield from _read_lines(text.split("\n"), path, state, 0)


def read_text(path: Path, where: str | None = None) -> str:
    """The text of a file, or :class:`MasterFileError` naming it (and ``where`` it was included).

    A master file is bytes (RFC 1035 5.1), and old ones hold Latin-1: bytes that are not UTF-8
    are kept as lone surrogates (``surrogateescape``), harmless in a comment, and in a name or a
    string read back as the same bytes (:func:`escape_bytes`)."""
    prefix = f"{where}: " if where else ""
    try:
        return path.read_bytes().decode("utf-8", "surrogateescape")
    except OSError as exc:
        raise MasterFileError(f"{prefix}{path}: cannot read: {exc.strerror or exc}") from None


def _read_lines(lines: list[str], path: Path, state: _State, depth: int) -> Iterator[Entry]:
    name = str(path)
    index = 0
    while index < len(lines):
        start = index
        line = lines[index]
        index += 1
        if _SPECIAL.search(line) is None:
            tokens = line.split()
        else:
            tokens, index = _tokens(lines, start, name)
        if not tokens:
            continue
        where = f"{name}:{start + 1}"
        if tokens[0].startswith("$"):
            yield from _directive(tokens, state, path, where, depth)
            continue
        inherits = line[0] in " \t"
        yield _entry(tokens if inherits else tokens[1:], None if inherits else tokens[0], state, name, start + 1)


def _tokens(lines: list[str], start: int, name: str) -> tuple[list[str], int]:
    """The tokens of the record starting at line ``start`` (comments dropped, parentheses
    joining lines), and the index of the line after it.

    Parentheses group one record's lines (RFC 1035 5.1) and do not nest, as NSD and Knot
    read them. A ``(`` still open at the end of the file is an error, as in BIND and Knot:
    NSD closes it there, which makes every line after a forgotten ``)`` data of that record."""
    tokens: list[str] = []
    group_open = False
    index = start
    while True:
        if index == len(lines):
            raise MasterFileError(f"{name}:{start + 1}: '(' is never closed: the file ends inside it")
        for match in _TOKEN.finditer(lines[index]):
            comment, quoted, paren, word, stray = match.groups()
            if quoted is not None or word is not None:
                tokens.append(quoted if quoted is not None else word)
            elif paren is not None:
                if group_open == (paren == "("):
                    problem = "'(' inside '(': parentheses do not nest" if group_open else "')' without '('"
                    raise MasterFileError(f"{name}:{index + 1}: {problem}")
                group_open = not group_open
            elif stray is not None:
                raise MasterFileError(f"{name}:{index + 1}: {_STRAY.get(stray, f'a stray {stray}')}")
        index += 1
        if not group_open:
            return tokens, index


_STRAY = {'"': "a quoted string is not closed", "\\": "a backslash ends the line, with nothing to escape"}


def _entry(tokens: list[str], owner_text: str | None, state: _State, name: str, line: int) -> Entry:
    """One record line: ``[owner] [ttl] [class] type rdata`` (TTL and class in either order)."""
    where = f"{name}:{line}"
    if owner_text is None:
        if state.owner is None:
            raise MasterFileError(f"{where}: the line starts blank but no owner came before it")
        owner = state.owner
    else:
        if owner_text[0] == '"':
            owner_text = quoted_name(owner_text)
        owner = state.owner = owner_wire(owner_text, state, where)
    ttl = None
    rdclass = None
    pos = 0
    while pos < len(tokens) - 1 and pos < 2:
        token = tokens[pos]
        if token[0] in DIGITS and ttl is None:
            ttl = parse_ttl(token, where)
        elif rdclass is None and (token.upper() in CLASSES or token.upper().startswith("CLASS")):
            rdclass = token.upper()
            if rdclass != "IN" and _class_code(token) != dns.rdataclass.IN:     # CLASS1 is IN (RFC 3597 5)
                raise MasterFileError(f"{where}: class {token} is not served; only class IN is")
        else:
            break
        pos += 1
    if pos >= len(tokens):
        raise MasterFileError(f"{where}: no record type")
    if ttl is None:
        ttl = DEFAULT_TTL if state.default_ttl is None else state.default_ttl
    assert state.origin is not None     # owner_wire found one
    return Entry(owner, ttl, record_type(tokens[pos], where), tokens[pos + 1:], state.origin, name, line)


_TYPES: dict[str, int] = {}


def record_type(token: str, where: str) -> int:
    """The type code of a type mnemonic (or ``TYPEnnn``); meta types (RFC 6895 3.1) are refused."""
    rdtype = _TYPES.get(token)
    if rdtype is None:
        try:
            rdtype = dns.rdatatype.from_text(token)
        except (dns.exception.DNSException, ValueError):     # ValueError: TYPEnnn past 65535
            raise MasterFileError(f"{where}: unknown record type {shown(token)}") from None
        if dns.rdatatype.is_metatype(rdtype) or rdtype == 0:
            raise MasterFileError(f"{where}: {token} is not a type of data a zone holds")
        _TYPES[token] = rdtype
    return rdtype


def is_number(text: str) -> bool:
    """Whether ``text`` is ASCII digits, the only digits a master file's numbers are written in."""
    return text.isascii() and text.isdigit()


def parse_ttl(token: str, where: str) -> int:
    """A TTL in seconds, ASCII digits or with units (``1w2d``); above 2^32 - 1 is an error (as BIND and Knot)."""
    try:
        if not token.isascii():     # '²' and '٣' are digits to Python (NSD: "invalid TTL value")
            raise dns.ttl.BadTTL
        ttl = int(token) if token.isdigit() else dns.ttl.from_text(token)
    except dns.exception.DNSException:
        raise MasterFileError(f"{where}: bad TTL {shown(token)}") from None
    if ttl > MAX_TTL:
        raise MasterFileError(f"{where}: TTL {token} does not fit in 32 bits")
    return ttl


def owner_wire(text: str, state: _State, where: str) -> bytes:
    """The wire form of an owner (or ``$ORIGIN``) name, relative to the current origin."""
    if "\\" not in text:
        if text == "@" and state.origin_wire is not None:
            return state.origin_wire
        wire = name_to_wire(text, state.origin_wire)
        if wire is not None:
            return wire
    return parse_name(text, state, where).to_wire()


def quoted_name(text: str) -> str:
    """A quoted owner (``"b 13"``) as the name NSD reads it: the quoted text is one label, its dots
    data (``"c.d"`` is ``c\\.d``) and ``"@"`` the label ``@``, not the origin."""
    inner = text[1:-1]
    if inner == "@":
        return "\\@"
    return _DOT.sub(_dot_escaped, inner) if "." in inner else inner


_DOT = re.compile(r"\\.|\.", re.DOTALL)


def _dot_escaped(match: re.Match) -> str:
    return "\\." if match[0] == "." else match[0]


def escape_bytes(text: str) -> str:
    """``text`` with every character that is not ASCII (escaped or not) written as ``\\DDD`` escapes of the bytes
    the file held for it (UTF-8, or a byte that is not UTF-8 kept by :func:`read_text`): a master
    file is bytes, and NSD takes a name's or a string's bytes as they are, where dnspython would
    IDNA-encode a name."""
    if text.isascii():
        return text
    return _NOT_ASCII.sub(_escaped, text)


# A character after a backslash (that backslash escapes it: ``\é`` is ``é``, as NSD and BIND read
# ``\X``), or a character that is not ASCII.
_NOT_ASCII = re.compile(r"\\(.)|[^\x00-\x7f]", re.DOTALL)


def _escaped(match: re.Match) -> str:
    char = match[1] if match[1] is not None else match[0]
    if char.isascii():
        return match[0]
    return "".join(f"\\{byte:03d}" for byte in char.encode("utf-8", "surrogateescape"))


def parse_name(text: str, state: _State, where: str) -> dns.name.Name:
    """A name in presentation form (escapes allowed), relative to the current origin."""
    if state.origin is None and not text.endswith("."):
        raise MasterFileError(f"{where}: {shown(text)} is relative, and no $ORIGIN came before it "
                              "(nor does the file's name give one)")
    try:
        return dns.name.from_text(escape_bytes(text), state.origin)
    except dns.exception.DNSException as exc:
        raise MasterFileError(f"{where}: bad name {shown(text)}: {bad_escape(text) or exc}") from None


MAX_SHOWN = 40      # characters of a file's text quoted in a message


def shown(text: str) -> str:
    """Text from the file, quoted for a one-line message: as written (no backslash doubled), and
    cut short when long."""
    return f"'{text}'" if len(text) <= MAX_SHOWN else f"'{text[:MAX_SHOWN - 3]}...'"


_ESCAPE = re.compile(r"\\([0-9]{1,3}|.)", re.DOTALL)


def bad_escape(text: str) -> str | None:
    """What is wrong with the first ``\\DDD`` escape of ``text`` that is not one, or None.

    RFC 1035 5.1: ``\\DDD`` is three digits, the decimal value of one octet, and ``\\X`` quotes a
    character that is not a digit. NSD reads ``\\12`` as the characters ``12`` and ``\\999`` as
    ``999``, which is not what their author meant; BIND refuses both, and so does the TS."""
    for match in _ESCAPE.finditer(text):
        code = match[1]
        if code[0] not in "0123456789":
            continue
        if len(code) < 3:
            return f"bad escape '\\{code}': \\DDD takes three digits (RFC 1035 5.1)"
        if int(code) > 255:
            return f"bad escape '\\{code}': \\DDD is one octet, at most 255 (RFC 1035 5.1)"
    return None


def _directive(tokens: list[str], state: _State, path: Path, where: str, depth: int) -> Iterator[Entry]:
    keyword = tokens[0].upper()
    if keyword == "$ORIGIN" and len(tokens) == 2 and tokens[1][0] == '"':
        raise MasterFileError(f"{where}: $ORIGIN takes a name, not a quoted string (as NSD)")
    if keyword == "$ORIGIN" and len(tokens) == 2:
        state.set_origin(parse_name(tokens[1], state, where))
    elif keyword == "$TTL" and len(tokens) == 2:
        state.default_ttl = parse_ttl(tokens[1], where)
    elif keyword == "$INCLUDE" and len(tokens) in (2, 3):
        yield from _include(tokens[1:], state, path, where, depth)
    elif keyword == "$GENERATE" and len(tokens) >= 4:
        yield from _generate(tokens[1:], state, str(path), int(where.rsplit(":", 1)[1]))
    elif keyword in _DIRECTIVE_ARGUMENTS:
        raise MasterFileError(f"{where}: {keyword} takes {_DIRECTIVE_ARGUMENTS[keyword]}")
    else:
        _unknown_directive(tokens, where)


def _unknown_directive(tokens: list[str], where: str) -> None:
    """A ``$WORD`` this reader does not know: skipped with a warning when it stands alone on its line
    (NSD skips it so), refused otherwise. NSD would read what follows the word as a record of the
    last owner, which is nobody's intent; BIND and Knot refuse every directive they do not know."""
    word = tokens[0][1:]
    if len(tokens) == 1 and word.isascii() and word.isalpha():
        log.warning("%s: unknown directive %s skipped, as NSD skips it", where, tokens[0])
        return
    known = ", ".join(_DIRECTIVE_ARGUMENTS)
    raise MasterFileError(f"{where}: unknown directive {tokens[0]} (the directives are {known}; "
                          "an unknown one is skipped only alone on its line)")


_DIRECTIVE_ARGUMENTS = {"$ORIGIN": "one name", "$TTL": "one TTL", "$INCLUDE": "a file name and an optional origin",
                        "$GENERATE": "a range, an owner, an optional TTL and class, a type and rdata"}


def _include(arguments: list[str], state: _State, path: Path, where: str, depth: int) -> Iterator[Entry]:
    """``$INCLUDE file [origin]``: the file read in place. The origin is restored after it (RFC 1035 5.1);
    the last owner and ``$TTL`` are the included file's, as NSD carries them on."""
    if depth >= MAX_INCLUDE_DEPTH:
        raise MasterFileError(f"{where}: $INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep (does it include itself?)")
    target = path.parent / arguments[0].strip('"')
    inner = dataclasses.replace(state)
    if len(arguments) == 2:
        inner.set_origin(parse_name(arguments[1], state, where))
    yield from _read_lines(read_text(target, where).split("\n"), target, inner, depth + 1)
    state.default_ttl, state.owner = inner.default_ttl, inner.owner


def _class_code(text: str) -> int | None:
    """The class a mnemonic or ``CLASSnnn`` names (RFC 3597 5), None when it names none."""
    try:
        return dns.rdataclass.from_text(text)
    except (dns.exception.DNSException, ValueError):
        return None


def _generate(arguments: list[str], state: _State, name: str, line: int) -> Iterator[Entry]:
    """``$GENERATE start-stop[/step] lhs [ttl] [class] type rhs``, one record per number (BIND)."""
    where = f"{name}:{line}"
    match = _GENERATE_RANGE.match(arguments[0])
    if match is None:
        raise MasterFileError(f"{where}: bad $GENERATE range {shown(arguments[0])} (start-stop or start-stop/step)")
    start, stop, step = int(match[1]), int(match[2]), int(match[3] or 1)
    if stop < start or step < 1:
        raise MasterFileError(f"{where}: bad $GENERATE range {shown(arguments[0])}")
    if (stop - start) // step + 1 > MAX_GENERATED:
        raise MasterFileError(f"{where}: $GENERATE range {shown(arguments[0])} makes {(stop - start) // step + 1:,} "
                              f"records; at most {MAX_GENERATED:,} per $GENERATE")
    lhs, rest = arguments[1], arguments[2:]
    for number in range(start, stop + 1, step):
        tokens = [_substitute(token, number, where) for token in rest]
        yield _entry(tokens, _substitute(lhs, number, where), state, name, line)


def _substitute(template: str, number: int, where: str) -> str:
    """``$``, ``$$`` and ``${offset[,width[,base]]}`` in a $GENERATE template replaced for ``number``,
    as BIND's ``genname`` does: an escaped character (``\\$``, ``\\\\``) passes through for the name or
    string reader, and a ``${`` that is not a modifier is an error."""
    if "$" not in template:
        return template

    def one(match: re.Match) -> str:
        text = match[0]
        if text[0] == "\\":
            return text
        if text == "$$":
            return "$"
        if text.startswith("${") and match[1] is None:
            raise MasterFileError(f"{where}: bad $GENERATE modifier {shown(text)}: it is ${{offset[,width[,base]]}}, "
                                  "with whole numbers and a base of d, o, x, X, n or N")
        offset, width, base = int(match[1] or 0), int(match[2] or 0), match[3] or "d"
        if width > MAX_GENERATE_WIDTH:
            raise MasterFileError(f"{where}: $GENERATE width {width} in {shown(text)} is over {MAX_GENERATE_WIDTH}")
        value = number + offset
        if base != "d":
            value &= 0xFFFFFFFF     # below zero, BIND writes the number's 32 bits
        if base in "nN":
            return _nibbles(value, width, base == "N")
        return format(value, f"0{width}{base}")
    return _GENERATE_DOLLAR.sub(one, template)


def _nibbles(value: int, width: int, upper: bool) -> str:
    """BIND's ``n`` and ``N`` (for ip6.arpa names): the hex digits lowest first, a dot after each
    but the last. ``width`` counts what is written, dots included: zeros and dots are added until
    it is reached, so an even width ends in a dot, as BIND writes it."""
    digits = "0123456789ABCDEF" if upper else "0123456789abcdef"
    written = []
    while True:
        written.append(digits[value & 15])
        value >>= 4
        width -= 1
        if width > 0 or value:
            written.append(".")
            width -= 1
        if not value and width <= 0:
            return "".join(written)
