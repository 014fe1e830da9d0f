"""The race's rule for negative replies: which "no" is worth most to the client.

Pure functions of a reply's header, shared by the race (:mod:`resolver.ls.race`)
and by ``client --explain`` (:mod:`resolver.client.explain`), which predicts the
LS's choice without running an LS.
"""
from __future__ import annotations

from ..wire import FORMERR, NOTIMP, NXDOMAIN, REFUSED, SERVFAIL

_RANKS = {SERVFAIL: 3, NOTIMP: 2, FORMERR: 2, REFUSED: 1}


def negative_rank(rcode: int, authoritative: bool) -> int:
    """How useful a negative reply is to the client; the race returns the highest.

    An authoritative NXDOMAIN (5, it carries the zone's SOA, RFC 2308) beats a
    non-authoritative one (4), then SERVFAIL (3), NOTIMP and FORMERR (2),
    REFUSED (1); any other rcode ranks 0.
    """
    if rcode == NXDOMAIN:
        return 5 if authoritative else 4
    return _RANKS.get(rcode, 0)
