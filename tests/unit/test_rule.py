"""The race's rule on reply bytes: what a NOERROR reply is, and which replies do not parse."""
from __future__ import annotations

import struct

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rrset
import pytest

from resolver.ls.rule import (ALIAS, ANSWER, NAME_EXISTS, NODATA, NXDOMAIN_AA, NXDOMAIN_PLAIN, REFERRAL, TRUNCATED,
                              as_asked, negative_rank, noerror_rank, rank_of, rcode_of)
from resolver.wire import BADVERS, FORMERR, NOTIMP, NXDOMAIN, REFUSED, SERVFAIL, YXDOMAIN, WireError, scan_query

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
    # The chain ends in NODATA on this backend; another may hold its end: followed (resolver.ls.chase).
    (reply(answer=[f"{NAME} 60 IN CNAME web.corp.example."], authority=[SOA]), 1, ALIAS),
    (reply(authority=[SOA]), 1, NODATA),
    (reply(), 1, NODATA),
    (reply(aa=False, authority=["corp.example. 60 IN NS ns1.corp.example."],
           additional=["ns1.corp.example. 60 IN A 192.0.2.53"]), 1, REFERRAL),
    (reply(aa=True, authority=["corp.example. 60 IN NS ns1.corp.example."]), 1, NODATA),   # AA: not a referral
], ids=["a", "cname-chain", "any", "cname-asked", "open-cname", "cname-to-nodata", "nodata-soa", "nodata-bare", "referral",
        "aa-with-ns"])
def test_what_a_noerror_reply_is(wire, qtype, expected):
    assert rank(wire, qtype) == expected


def nxdomain_reply(answer: list[str], aa: bool = True) -> bytes:
    wire = bytearray(reply(answer=answer, authority=[SOA], aa=aa))
    wire[3] = (wire[3] & 0xF0) | NXDOMAIN
    return bytes(wire)


@pytest.mark.parametrize("wire, expected", [
    # RFC 6604: the rcode is the end's. The alias is here, its end is not: another backend may hold it.
    (nxdomain_reply([f"{NAME} 60 IN CNAME app.corp.example."]), ALIAS),
    (nxdomain_reply([f"{NAME} 60 IN CNAME a.corp.example.", "a.corp.example. 60 IN CNAME b.corp.example."]), ALIAS),
    (nxdomain_reply([f"{NAME} 60 IN CNAME app.corp.example."], aa=False), ALIAS),
    (nxdomain_reply([]), NXDOMAIN_AA),
    (nxdomain_reply([], aa=False), NXDOMAIN_PLAIN),
], ids=["cname", "two-cnames", "cname-not-aa", "plain-aa", "plain"])
def test_an_nxdomain_at_the_end_of_a_cname_chain_is_an_open_alias(wire, expected):
    question_end = 12 + len(dns.name.from_text(NAME).to_wire()) + 4
    assert rank_of(wire, question_end, 1) == expected


def test_an_nxdomain_whose_cname_is_for_another_name_is_dropped():
    wire = nxdomain_reply(["other.corp.example. 60 IN CNAME app.corp.example."])
    with pytest.raises(WireError):      # records only for other names (RFC 2181 5.4.1), as for NOERROR
        rank_of(wire, 12 + len(dns.name.from_text(NAME).to_wire()) + 4, 1)


def test_the_ranks_of_the_nos_follow_the_spec():
    order = [ALIAS, NODATA, negative_rank(NXDOMAIN, True), negative_rank(NXDOMAIN, False), REFERRAL,
             negative_rank(SERVFAIL, False), negative_rank(NOTIMP, False), negative_rank(REFUSED, False)]
    assert order == sorted(order, reverse=True) and len(set(order)) == len(order)
    assert negative_rank(FORMERR, False) == negative_rank(NOTIMP, False)
    assert (NXDOMAIN_AA, NXDOMAIN_PLAIN) == (negative_rank(NXDOMAIN, True), negative_rank(NXDOMAIN, False))
    assert ANSWER > ALIAS >= NAME_EXISTS == NODATA > NXDOMAIN_AA


def test_a_yxdomain_from_a_dname_ranks_with_nxdomain_above_the_errors():
    """RFC 6672 2.2: the zone's final word on a name below a DNAME whose target would be too long."""
    wire = bytearray(reply(answer=["corp.example. 60 IN DNAME " + "a" * 60 + ".example."], authority=[], aa=True))
    wire[3] = (wire[3] & 0xF0) | YXDOMAIN
    question_end = 12 + len(dns.name.from_text(NAME).to_wire()) + 4
    assert rank_of(bytes(wire), question_end, 1) == NXDOMAIN_AA > negative_rank(SERVFAIL, False)
    assert negative_rank(YXDOMAIN, False) == NXDOMAIN_PLAIN > negative_rank(REFUSED, False)


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


def test_an_extended_rcode_in_the_opt_record_makes_a_noerror_header_badvers():
    response = dns.message.make_response(dns.message.make_query(NAME, "A", use_edns=0))
    response.set_rcode(BADVERS)
    wire = response.to_wire()
    assert wire[3] & 0x0F == 0          # the header alone says NOERROR
    assert rank(wire) == negative_rank(BADVERS, False) == negative_rank(FORMERR, False)
    assert rcode_of(wire, rank(wire)) == BADVERS


@pytest.mark.parametrize("rcode", [FORMERR, SERVFAIL, NOTIMP, REFUSED, BADVERS], ids=dns.rcode.to_text)
def test_a_questionless_error_becomes_the_clients_error_reply(rcode):
    query = dns.message.make_query(NAME, "A", use_edns=0, id=4242).to_wire()
    response = dns.message.make_response(dns.message.from_wire(query))
    response.question = []
    response.set_rcode(rcode)
    out, got = as_asked(response.to_wire(), query, scan_query(query))
    client = dns.message.from_wire(out)
    assert (client.rcode(), client.id, str(client.question[0].name)) == (rcode, 4242, NAME)
    assert got == negative_rank(rcode, False) and rcode_of(out, got) == rcode


@pytest.mark.parametrize("rcode", [0, NXDOMAIN], ids=["NOERROR", "NXDOMAIN"])
def test_a_questionless_reply_that_is_no_error_is_not_a_reply(rcode):
    query = dns.message.make_query(NAME, "A").to_wire()
    header = query[:2] + struct.pack("!5H", 0x8400 | rcode, 0, 0, 0, 0)
    assert as_asked(header, query, scan_query(query)) is None


def test_the_question_in_other_letter_case_is_the_clients_again():
    query = dns.message.make_query(NAME, "A").to_wire()
    lowered = reply(answer=[f"{NAME.lower()} 60 IN A 192.0.2.1"])
    lowered = lowered[:12] + lowered[12:12 + len(NAME) + 5].lower() + lowered[12 + len(NAME) + 5:]
    out, got = as_asked(lowered, query, scan_query(query))
    assert got == ANSWER and out[12:12 + len(NAME) + 1] == query[12:12 + len(NAME) + 1]


def record(owner: bytes, rdtype: int, rdata: bytes) -> bytes:
    return owner + struct.pack("!HHIH", rdtype, 1, 60, len(rdata)) + rdata


def test_owner_names_written_out_or_ending_in_a_pointer_are_walked():
    query = dns.message.make_query(NAME, "A").to_wire()
    question = query[12:]
    header = query[:2] + struct.pack("!5H", 0x8400, 1, 2, 0, 0)
    spelled = dns.name.from_text(NAME).to_wire()
    wire = header + question + record(spelled, 1, b"\xc0\x00\x02\x01") + \
        record(b"\x03www\xc0\x0c", 1, b"\xc0\x00\x02\x02")        # www. and a pointer to the question
    assert rank(wire) == ANSWER and len(dns.message.from_wire(wire).answer) == 2
    forward = header + question + record(spelled, 1, b"\xc0\x00\x02\x01") + \
        record(b"\x03www\xc0\xff", 1, b"\x00" * 4)                  # a pointer after labels, past the end
    with pytest.raises(WireError):
        rank(forward)
    bad_label = header + question + record(b"\x45www\x00", 1, b"\x00" * 4) + record(spelled, 1, b"\x00" * 4)
    with pytest.raises(WireError):
        rank(bad_label)


def test_records_for_another_name_do_not_answer_and_the_reply_is_dropped():
    with pytest.raises(WireError):
        rank(reply(answer=["evil.example. 60 IN A 198.51.100.66"]))
    # The end of a chain the reply holds is the name the answer is for, however it is compressed.
    chained = reply(answer=[f"{NAME} 60 IN CNAME a.lab.example.", "a.lab.example. 60 IN CNAME b.lab.example.",
                            "b.lab.example. 60 IN A 192.0.2.9"])
    assert rank(chained) == ANSWER


def test_a_truncated_reply_is_neither_an_answer_nor_nodata():
    wire = bytearray(reply())
    wire[2] |= 0x02                                     # TC
    assert rank(bytes(wire)) == TRUNCATED
    assert NAME_EXISTS <= TRUNCATED < ANSWER and TRUNCATED > ALIAS


def test_an_address_record_of_the_wrong_length_does_not_parse():
    good = reply(answer=[f"{NAME} 60 IN A 192.0.2.1"])
    with pytest.raises(WireError):
        rank(good[:-6] + struct.pack("!H", 5) + good[-4:] + b"\x00")
