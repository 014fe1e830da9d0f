"""dnspython's errors on a record's data, said in plain words.

dnspython's messages name its tokenizer's states ("expecting an identifier"),
its token type numbers (``expected EOL or EOF, got 3 "b"``) or its exceptions'
generic texts ("Text input is malformed."). :func:`explain` turns an error
raised while dnspython read a record's rdata into what the zone file's author
can act on: a field missing or one too many, a field that is not a number, a
bad ``\\DDD`` escape (RFC 1035 5.1), a ``\\#`` length that the data does not
have (RFC 3597 5), an RRSIG time that is neither a date nor seconds (RFC 4034
3.2). The zone reader puts it after ``FILE:LINE: bad TYPE record:``.
"""
from __future__ import annotations

import binascii
import re
import struct
from typing import Sequence

import dns.exception
import dns.rdatatype
import dns.rdtypes.rrsigbase

from .master_file import bad_escape, is_number, shown

# dnspython's words for "the next field is not there" (or is a quoted string where a word must be).
_MISSING = ("expecting an identifier", "expecting another identifier", "expecting a string", "expecting a name")
_EXTRA = "expected EOL or EOF"
_UINT = re.compile(r"^not a uint(\d+)$")
_MNEMONIC = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")


def explain(exc: Exception, tokens: Sequence[str], read: int, rdtype: int) -> str:
    """What is wrong with a record of type ``rdtype`` whose rdata ``tokens`` (as written) made
    dnspython raise ``exc`` after it had taken ``read`` of them."""
    if isinstance(exc, dns.exception.SyntaxError) and exc.__cause__ is not None:
        exc = exc.__cause__         # dnspython wraps what its readers raise in a SyntaxError of the same text
    escape = next((problem for problem in map(bad_escape, tokens) if problem), None)
    if escape is not None:
        return escape
    current = tokens[read - 1] if 0 < read <= len(tokens) else None
    text = str(exc)
    if isinstance(exc, dns.exception.UnexpectedEnd) or text in _MISSING:
        if read >= len(tokens) or current is None:
            return f"a field is missing ({_fields(len(tokens))} given)"
        return f"{shown(current)} is not what a {dns.rdatatype.to_text(rdtype)} record has there"
    if text.startswith(_EXTRA) and current is not None:
        return f"{shown(current)} and what follows it are more fields than the record has"
    # int() on a field dnspython reads itself (CERT's type, LOC's degrees): named as written, not as
    # dnspython unescaped it ('²' comes to it as the bytes of its UTF-8, 'Â²').
    if (text == "expecting an integer" or text.startswith("invalid literal for int()")) and current is not None:
        below_zero = current.startswith("-") and is_number(current[1:])
        return f"{shown(current)} is {'below zero' if below_zero else 'not a number'}"
    if isinstance(exc, dns.rdtypes.rrsigbase.BadSigTime) and current is not None:
        return f"signature time {shown(current)} is neither a date YYYYMMDDHHmmSS nor seconds since 1970 (RFC 4034 3.2)"
    if isinstance(exc, (dns.rdatatype.UnknownRdatatype, dns.exception.FormError)) or _UINT.match(text):
        return _named_field(exc, tokens, rdtype)
    if isinstance(exc, (struct.error, OverflowError)) or text == "argument out of range":
        # Raised as the record is written in wire form: a value its field cannot hold.
        if rdtype == dns.rdatatype.LOC:
            return "the altitude is out of range: -100000.00m to 42849672.95m (RFC 1876)"
        return "a value does not fit in its field"
    return _encoding(exc, tokens, text)


def _named_field(exc: Exception, tokens: Sequence[str], rdtype: int) -> str:
    """Errors dnspython raises once it has read every field: the field is found again in ``tokens``."""
    if isinstance(exc, dns.rdatatype.UnknownRdatatype):
        unknown = next((token for token in tokens if _MNEMONIC.match(token) and not _is_type(token)), None)
        return f"{shown(unknown)} is not a record type" if unknown else "it names a record type that does not exist"
    if isinstance(exc, dns.exception.FormError):
        if tokens and tokens[0] == "\\#":
            return f"the \\# data is not a valid {dns.rdatatype.to_text(rdtype)} record"
        return "a field is malformed"
    bits = int(_UINT.match(str(exc))[1])        # type: ignore[index]
    big = next((token for token in tokens if is_number(token) and int(token) >= 2**bits), None)
    return f"{big or 'a number'} does not fit in {bits} bits"


def _encoding(exc: Exception, tokens: Sequence[str], text: str) -> str:
    """Hex, base64 and ``\\#`` data that is not what it says, or dnspython's own words."""
    if text == "generic rdata hex data has wrong length" and len(tokens) >= 2 and is_number(tokens[1]):
        octets = len("".join(tokens[2:])) // 2
        return f"\\# says {tokens[1]} octets, but the data after it has {octets} (RFC 3597 5)"
    if text == "generic rdata does not start with \\#":
        return "this type is written only in the generic form \\# LENGTH HEX here (RFC 3597 5)"
    if isinstance(exc, binascii.Error) or text in ("Non-hexadecimal digit found", "Odd-length string"):
        if "base64" in text or "padding" in text or "Invalid" in text:
            return "the base64 data holds a character that is not base64"
        return "the hex data is not an even number of hex digits" if "Odd" in text else \
            "the hex data holds a character that is not a hex digit"
    if text == "Text input is malformed.":
        return "a field is malformed"
    return text or type(exc).__name__


def _is_type(token: str) -> bool:
    try:
        dns.rdatatype.from_text(token)
    except dns.exception.DNSException:
        return False
    return True


def _fields(count: int) -> str:
    return f"{count} field" if count == 1 else f"{count} fields"
