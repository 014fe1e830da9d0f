"""Hostnames as people write them, to domain names: one reading for the client's hostfiles and
the TS's tables, so that a name written ``bücher.example`` in both is the same name.

A label outside ASCII is IDNA-encoded (RFC 5891: ``bücher`` is ``xn--bcher-kva``) with
dnspython's IDNA 2008 codec with UTS 46 mapping (upper case folded, as browsers and libidn2 do),
``dns.name.IDNA_2008``, which needs the ``idna`` package (installed with ``dnspython[idna]``).
ASCII labels, escapes included, are read as in master files.
"""
from __future__ import annotations

import dns.exception
import dns.name

IDNA_CODEC = dns.name.IDNA_2008


def read_hostname(text: str) -> dns.name.Name:
    """The (absolute) domain name ``text`` stands for, its final dot optional. Raises
    :class:`dns.name.IDNAException` for a label that is not valid IDNA, another
    ``dns.exception.DNSException`` for a name that is no domain name (an empty label, a label
    over 63 octets, a name over 255)."""
    return dns.name.from_text(text, idna_codec=IDNA_CODEC)


def why_not(exc: dns.exception.DNSException) -> str:
    """What is wrong with a name :func:`read_hostname` refused, in a few words: the IDNA rule it
    breaks, without dnspython's prefix, or dnspython's text."""
    if isinstance(exc, dns.name.IDNAException):
        reason = exc.kwargs.get("idna_exception")
        return f"not a valid internationalised name (IDNA): {reason or exc}"
    return str(exc)
