"""The header of every reply the LS sends a client: the client's ID, and RA set.

The LS resolves for its client: it follows an alias across backends
(:mod:`resolver.ls.chase`) and answers from its cache, so it says recursion
is available (RA, RFC 1035 4.1.1) on every reply, as dnsmasq does (its
``forward.c`` sets ``HB4_RA`` on each reply it passes on, ``rfc1035.c`` on each
answer and error it makes itself): a backend's reply passed on, its own
NXDOMAIN, SERVFAIL, REFUSED, FORMERR and NOTIMP, whether or not the query
asked for recursion (RD), since RA says what the server offers. Without it,
``dig`` warns "recursion requested but not available" on every query. A reply
from the cache was stored with RA set and AA clear (:mod:`resolver.ls.cache`), so it
needs nothing more.
"""
from __future__ import annotations

from ..wire import RA, Query, error_reply

WITH_RA = tuple(bytes((octet | RA,)) for octet in range(256))      # the header's fourth octet, by its value, RA set


def passed_on(query: bytes, reply: bytes) -> bytes:
    """A backend's ``reply`` to the client's ``query`` (both whole messages) as the LS sends it:
    under the client's ID, RA set; the rest as the backend sent it. No parsing: one OR on an octet."""
    return query[:2] + reply[2:3] + WITH_RA[reply[3]] + reply[4:]


def own_reply(data: bytes, q: Query, rcode: int, ede: int | None = None, echo: bool = True) -> bytes:
    """The LS's own reply with ``rcode`` and no records to the query ``data`` (scanned as ``q``), RA
    set: :func:`resolver.wire.error_reply`, with the extended error ``ede`` (RFC 8914) for an EDNS
    client, and with ``echo`` false the bare header NSD sends for FORMERR and NOTIMP."""
    return error_reply(data, q, rcode, RA, ede=ede, echo=echo)
