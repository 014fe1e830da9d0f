"""The race's rule on reply bytes: what a NOERROR reply is, and which replies do not parse."""
from __future__ import annotations

import struct

import dns.flags
import dns.message
import dns.rrset
import pytest

from resolver.ls.rule import (ALIAS, ANSWER, NAME_EXISTS, NODATA, NXDOMAIN_AA, NXDOMAIN_PLAIN, REFERRAL,
                              negative_rank, noerror_rank)
from resolver.wire import FORMERR, NOTIMP, NXDOMAIN, REFUSED, SERVFAIL, WireError

NAME = "Host.Corp.Example."


def reply(qtype: str = "A", answer: list[str] = (), authority: list[str] = (), additional: list[str] = (),
          aa: bool = True) -> bytes:
    """A NOERROR reply to NAME/qtype with the given records (``owner ttl IN type rdata``)."""
    query = dns.message.make_query(NAME, qtype)
    response = dns.message.make_response(query)
    if not aa:
        response.flags &= ~dns.flags.AA
    else:
        response.flags |= dns.flags.AA
    for section, texts in ((response.answer, answer), (response.authority, authority),
                           (response.additional, additional)):
        for text in texts:
            section.append(dns.rrset.from_text(*text.split(None, 4)))
    return response.to_wire()


def rank(wire: bytes, qtype: int = 1) -> int:
    question_end = 12 + len(dns.name.from_text(NAME).to_wire()) + 4
    return noerror_rank(wire, question_end, qtype)


SOA = "corp.example. 60 IN SOA ns.corp.example. admin.corp.example. 1 2 3 4 5"


@pytest.mark.parametrize("wire, qtype, expected", [
    (reply(answer=[f"{NAME} 60 IN A 192.0.2.1"]), 1, ANSWER),
    (reply(answer=[f"{NAME} 60 IN CNAME web.lab.example.", "web.lab.example. 60 IN A 192.0.2.2"]), 1, ANSWER),
    (reply("ANY", answer=[f"{NAME} 60 IN TXT hello"]), 255, ANSWER),
    (reply("CNAME", answer=[f"{NAME} 60 IN CNAME web.lab.example."]), 5, ANSWER),
    (reply(answer=[f"{NAME} 60 IN CNAME web.lab.example."]), 1, ALIAS),
    (reply(answer=[f"{NAME} 60 IN CNAME web.corp.example."], authority=[SOA]), 1, NODATA),   # chain ends in NODATA
    (reply(authority=[SOA]), 1, NODATA),
    (reply(), 1, NODATA),
    (reply(aa=False, authority=["corp.example. 60 IN NS ns1.corp.example."],
           additional=["ns1.corp.example. 60 IN A 192.0.2.53"]), 1, REFERRAL),
    (reply(aa=True, authority=["corp.example. 60 IN NS ns1.corp.example."]), 1, NODATA),   # AA: not a referral
], ids=["a", "cname-chain", "any", "cname-asked", "open-cname", "cname-to-nodata", "nodata-soa", "nodata-bare", "referral",
        "aa-with-ns"])
def test_what_a_noerror_reply_is(wire, qtype, expected):
    assert rank(wire, qtype) == expected


def test_the_ranks_of_the_nos_follow_the_spec():
    order = [ALIAS, NODATA, negative_rank(NXDOMAIN, True), negative_rank(NXDOMAIN, False), REFERRAL,
             negative_rank(SERVFAIL, False), negative_rank(NOTIMP, False), negative_rank(REFUSED, False)]
    assert order == sorted(order, reverse=True) and len(set(order)) == len(order)
    assert negative_rank(FORMERR, False) == negative_rank(NOTIMP, False)
    assert (NXDOMAIN_AA, NXDOMAIN_PLAIN) == (negative_rank(NXDOMAIN, True), negative_rank(NXDOMAIN, False))
    assert ANSWER > ALIAS >= NAME_EXISTS == NODATA > NXDOMAIN_AA


GOOD = reply(answer=[f"{NAME} 60 IN A 192.0.2.1"], authority=[SOA])


def with_counts(wire: bytes, an: int, ns: int, ar: int) -> bytes:
    return wire[:6] + struct.pack("!HHH", an, ns, ar) + wire[12:]


@pytest.mark.parametrize("wire", [
    with_counts(GOOD, 2, 1, 0),                         # counts larger than the records present
    with_counts(GOOD, 1, 1, 1),
    GOOD + b"\x00",                                     # trailing bytes
    GOOD[:-1],                                          # rdata cut short
    GOOD[:-30],                                         # a record cut in its fixed part
    with_counts(GOOD[:GOOD.index(b"\xc0\x0c")] + b"\xc0\xff" + GOOD[GOOD.index(b"\xc0\x0c") + 2:], 1, 1, 0),
    with_counts(GOOD[:GOOD.index(b"\xc0\x0c")] + b"\x80\x0c" + GOOD[GOOD.index(b"\xc0\x0c") + 2:], 1, 1, 0),
], ids=["an-too-many", "ar-too-many", "trailing", "rdata-short", "fixed-short", "pointer-forward", "bad-label"])
def test_replies_that_do_not_parse_raise(wire):
    with pytest.raises(WireError):
        rank(wire)
    with pytest.raises(Exception):      # dnspython agrees that each is broken
        dns.message.from_wire(wire)


def test_the_good_reply_parses():
    assert rank(GOOD) == ANSWER and dns.message.from_wire(GOOD).answer
