"""Round robin (``ts --round-robin``): the records of each RRset of an answer in a new order on
each query, as NSD's ``round-robin: yes`` and BIND's ``rrset-order cyclic`` give them.

Clients tend to use the first address of an answer, so rotating the order on each query spreads
them over every address of a name: what is called DNS load balancing. An answer of k records
has k orders, each a rotation of the zone's (the first record becomes the last); they are all
packed once (when the zones load; a wildcard's or a DNAME's on first use), and a query takes
the next one: no answer is read or packed again per query. Without ``--round-robin`` no answer
is touched, and replies are NSD's byte for byte.

What turns, as NSD turns it: the RRsets of the answer section, of every type but signatures
and denials (RRSIG, NSEC, NSEC3), not the authority section nor the additional one (glue and a
target's addresses stay in the zone's order, as NSD adds them). Answers spliced from bytes (plain
addresses, and names whose types hold no domain name: A, AAAA, TXT, CAA, DS, DNSKEY,
NSEC3PARAM) turn here, each record's data and length swapped with another's in place, which
leaves every compression pointer of the answer aiming where it did; the answers the general path
packs (a CNAME chain, MX, NS, SRV, a wildcard, a DNAME) are packed in each order by
:mod:`resolver.ts.compiled`, whose names then compress where they fall, as NSD writes them.
Each question (name and type) turns on its own counter, so that successive queries for a name
see its k orders in turn; NSD turns one counter for the whole server; the names a wildcard
answers share one for each length of name. Answers that may be packed again smaller for a UDP
client (over 512 octets) and negative answers keep their order.
"""
from __future__ import annotations

import itertools
import math
from typing import Iterable

import dns.rdatatype

from ..wire import RR_FIXED, skip_name
from .sections import Answer

# Types whose record data holds no domain name, turned in place (the general path packs the others).
TURNED = frozenset({dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.TXT, dns.rdatatype.CAA, dns.rdatatype.DS,
                    dns.rdatatype.DNSKEY, dns.rdatatype.NSEC3PARAM})
Span = tuple[int, int]      # where a record's data length and data lie in an answer's sections: start, end


class RotatingAnswer(Answer):
    """An answer whose ``sections`` are the next of its orders on each read: :func:`resolver.ts.
    authority.render` reads them once per reply."""

    __slots__ = ("orders",)

    def __init__(self, answer: Answer, orders: tuple[bytes, ...]) -> None:    # noqa: D107 - see the class
        self.flags, self.ancount, self.nscount, self.arcount = (answer.flags, answer.ancount, answer.nscount,
                                                                answer.arcount)
        self.holds_name, self.ede, self.ede_text = answer.holds_name, answer.ede, answer.ede_text
        self.shrink, self.tally = answer.shrink, answer.tally
        self.orders = itertools.cycle(orders)

    @property       # type: ignore[override]
    def sections(self) -> bytes:
        """The answer's sections, its records in the next order."""
        return next(self.orders)


def rotating(answers: dict[bytes, Answer], keys: Iterable[bytes] | None = None) -> None:
    """Give each answer of ``answers`` (by lower-case wire name and two type bytes, as
    ``Authority.exact`` holds them) that has an RRset to turn its orders, in place (:func:`turning`).
    ``keys``: only those entries (default: all). An answer shared by several entries gets one
    RotatingAnswer, shared too."""
    made: dict[int, Answer] = {}
    for key in answers if keys is None else keys:     # values replaced in place: no key comes or goes
        answer = answers[key]
        if answer.ancount < 2:      # most answers: nothing to turn, and nothing remembered
            continue
        turned = made.get(id(answer))
        if turned is None:
            turned = made[id(answer)] = turning(answer, len(key) - 2)
        answers[key] = turned


def turning(answer: Answer, qname_len: int) -> Answer:
    """The answer as a :class:`RotatingAnswer` when its answer section has an RRset to turn; else
    itself (so too an answer already turning, and one that may be packed again smaller).
    ``qname_len``: the length of the question names it answers, in octets (wire form)."""
    if answer.ancount < 2 or answer.shrink is not None or isinstance(answer, RotatingAnswer):
        return answer
    orders = _orders(answer.sections, answer.ancount, 12 + qname_len + 4)
    return RotatingAnswer(answer, orders) if orders else answer


def _orders(sections: bytes, ancount: int, start: int) -> tuple[bytes, ...]:
    """Every order of the answer's sections (the first as packed), which follow a question that
    ends at ``start``; () when no RRset of its answer section turns. With RRsets of several sizes
    (rare: a chain ends in one RRset), as many orders as their least common multiple."""
    groups = _rrsets_to_turn(sections, ancount, start)
    if not groups:
        return ()
    count = math.lcm(*(len(group) for group in groups))
    orders = []
    for turn in range(count):
        out, pos = [], 0
        for group in groups:
            shift = turn % len(group)
            for (begin, end), (from_begin, from_end) in zip(group, group[shift:] + group[:shift]):
                out.append(sections[pos:begin])
                out.append(sections[from_begin:from_end])
                pos = end
        out.append(sections[pos:])
        orders.append(b"".join(out))
    return tuple(orders)


def _rrsets_to_turn(sections: bytes, ancount: int, start: int) -> list[list[Span]]:
    """The RRsets of ``TURNED`` types of two records or more in the answer section, each as the
    spans of its records' data (length included). Records of one RRset follow each other and
    share an owner: the same compression pointer, or a pointer to the first one's name."""
    groups: list[list[Span]] = []
    previous = None
    message = bytes(start) + sections       # as sent: skip_name checks its pointers against their place
    pos = 0
    for _ in range(ancount):
        owner = _owner(sections, pos, start)
        pos = skip_name(message, start + pos) - start
        rdtype, _, _, length = RR_FIXED.unpack_from(sections, pos)
        span = (pos + RR_FIXED.size - 2, pos + RR_FIXED.size + length)
        pos = span[1]
        if rdtype in TURNED and previous == (owner, rdtype):
            groups[-1].append(span)
        elif rdtype in TURNED:
            groups.append([span])
        previous = (owner, rdtype)
    return [group for group in groups if len(group) > 1]


def _owner(sections: bytes, pos: int, start: int) -> int:
    """Where the name at ``pos`` is written in the message (the sections begin at ``start``):
    where a pointer leads, for a name that is one; the name's own place otherwise."""
    if sections[pos] >= 0xC0:
        return int.from_bytes(sections[pos:pos + 2], "big") & 0x3FFF
    return start + pos
