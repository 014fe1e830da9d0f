"""The fake backends (``support.fakes``) really misbehave as their names say.

Each fake is asked with dnspython, over UDP (and TCP where it serves TCP), and
the reply is checked against the behaviour the LS tests rely on: if a fake
stopped misbehaving, the tests built on it would pass for the wrong reason.
"""
from __future__ import annotations

import socket
import struct
import time
from typing import Iterator

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from dnslib import QTYPE

from support.fakes import (BROKEN_SHAPES, FakeBackend, Rule, answer, cname_only, garbage_sections, header_only,
                           header_only_formerr, lowercased, negative, nodata, nxdomain, other_question, referral,
                           silent, slow)
from support.waiting import wait_until

NAME = "Www.Example.TEST."


def ask(fake: FakeBackend, name: str = NAME, rdtype: str = "A", tcp: bool = False,
        timeout: float = 2.0) -> dns.message.Message:
    """One dnspython query to the fake; its parsed reply."""
    query = dns.message.make_query(name, rdtype)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, fake.host, port=fake.address[1], timeout=timeout)


def raw(fake: FakeBackend, name: str = NAME, wait: float = 2.0) -> tuple[bytes, bytes]:
    """The query's bytes and the fake's reply bytes, unparsed, over UDP."""
    query = dns.message.make_query(name, "A").to_wire()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(wait)
        sock.sendto(query, fake.address)
        return query, sock.recv(65535)


@pytest.fixture
def fake(request) -> Iterator[FakeBackend]:
    """A fake backend following the rule the test is parametrized with (``indirect``)."""
    with FakeBackend(request.param) as backend:
        yield backend


@pytest.mark.parametrize("fake", [answer("192.0.2.7")], indirect=True)
@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_answer_is_a_positive_authoritative_answer(fake, tcp):
    reply = ask(fake, tcp=tcp)
    assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA
    assert [rrset.to_text() for rrset in reply.answer] == [f"{NAME} 60 IN A 192.0.2.7"]
    assert reply.question[0].name.to_text() == NAME                  # echoed exactly
    assert str(fake.seen[-1].q.qname) == NAME and fake.seen[-1].q.qtype == QTYPE.A


@pytest.mark.parametrize("fake", [nxdomain()], indirect=True)
def test_nxdomain_is_authoritative_with_the_soa(fake):
    reply = ask(fake)
    assert reply.rcode() == dns.rcode.NXDOMAIN and reply.flags & dns.flags.AA
    assert not reply.answer and [rrset.rdtype for rrset in reply.authority] == [dns.rdatatype.SOA]


@pytest.mark.parametrize("fake", [nodata()], indirect=True)
def test_nodata_is_noerror_with_an_empty_answer_and_the_soa(fake):
    reply = ask(fake)
    assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA
    assert not reply.answer and [rrset.rdtype for rrset in reply.authority] == [dns.rdatatype.SOA]


@pytest.mark.parametrize("fake", [negative(dns.rcode.REFUSED)], indirect=True)
def test_negative_without_soa_is_the_bare_rcode(fake):
    reply = ask(fake)
    assert reply.rcode() == dns.rcode.REFUSED and not reply.flags & dns.flags.AA
    assert not reply.answer and not reply.authority


@pytest.mark.parametrize("fake", [cname_only("elsewhere.invalid.")], indirect=True)
def test_cname_only_leaves_the_chain_open(fake):
    reply = ask(fake)
    assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA
    assert [rrset.rdtype for rrset in reply.answer] == [dns.rdatatype.CNAME]
    assert reply.answer[0][0].target.to_text() == "elsewhere.invalid."
    target = ask(fake, "elsewhere.invalid.")          # the fake does not answer for the target either
    assert not any(rrset.rdtype == dns.rdatatype.A for rrset in target.answer)


@pytest.mark.parametrize("fake", [referral("ns1.child.invalid.", "192.0.2.53")], indirect=True)
def test_referral_has_ns_and_glue_and_no_aa(fake):
    reply = ask(fake)
    assert reply.rcode() == dns.rcode.NOERROR and not reply.flags & dns.flags.AA and not reply.answer
    assert [(rrset.rdtype, rrset[0].target.to_text()) for rrset in reply.authority] == \
        [(dns.rdatatype.NS, "ns1.child.invalid.")]
    assert [rrset.to_text() for rrset in reply.additional] == ["ns1.child.invalid. 60 IN A 192.0.2.53"]


@pytest.mark.parametrize("fake", [lowercased("192.0.2.8")], indirect=True)
def test_lowercased_echoes_the_question_in_lower_case(fake):
    reply = ask(fake)
    assert reply.question[0].name.to_text() == NAME.lower() != NAME
    assert reply.answer[0][0].address == "192.0.2.8"


@pytest.mark.parametrize("fake", [other_question("AAAA")], indirect=True)
def test_other_question_names_another_type(fake):
    query, reply = raw(fake)
    question = dns.message.from_wire(reply).question[0]
    assert question.name == dns.message.from_wire(query).question[0].name
    assert question.rdtype == dns.rdatatype.AAAA != dns.message.from_wire(query).question[0].rdtype


@pytest.mark.parametrize("fake", [header_only_formerr(), header_only(dns.rcode.REFUSED)], indirect=True,
                         ids=["FORMERR", "REFUSED"])
def test_header_only_is_twelve_bytes(fake):
    query, reply = raw(fake)
    assert len(reply) == 12
    qid, flags, *counts = struct.unpack("!6H", reply)
    assert qid == struct.unpack("!H", query[:2])[0] and flags & 0x8000
    assert flags & 0xF in (dns.rcode.FORMERR, dns.rcode.REFUSED)
    assert counts == [0, 0, 0, 0]
    assert ask(fake).rcode() == flags & 0xF       # dnspython takes it as the reply, with no question


@pytest.mark.parametrize("fake", [garbage_sections(shape) for shape in BROKEN_SHAPES], indirect=True,
                         ids=BROKEN_SHAPES)
def test_garbage_sections_do_not_parse(fake):
    query, reply = raw(fake)
    qid, flags = struct.unpack("!HH", reply[:4])
    assert qid == struct.unpack("!H", query[:2])[0] and flags & 0x8000 and flags & 0xF == 0
    with pytest.raises(dns.exception.DNSException):
        dns.message.from_wire(reply)


@pytest.mark.parametrize("fake", [silent], indirect=True)
def test_silent_never_replies(fake):
    with pytest.raises(dns.exception.Timeout):
        ask(fake, timeout=0.3)
    assert len(fake.seen) == 1          # it did receive the query


@pytest.mark.parametrize("rule", [slow(nodata(), 0.3), answer(delay=0.3)], ids=["slow", "delay"])
def test_slow_replies_after_the_delay(rule: Rule):
    with FakeBackend(rule) as fake:
        started = time.monotonic()
        reply = ask(fake)
        assert 0.3 <= time.monotonic() - started < 2.0
        assert reply.rcode() == dns.rcode.NOERROR


def test_the_rule_can_change_while_the_fake_runs():
    with FakeBackend(silent) as fake:
        with pytest.raises(dns.exception.Timeout):
            ask(fake, timeout=0.3)
        fake.rule = answer("192.0.2.9")
        assert ask(fake).answer[0][0].address == "192.0.2.9"


def test_without_tcp_a_connection_is_refused():
    with FakeBackend(answer(), tcp=False) as fake:
        assert ask(fake).rcode() == dns.rcode.NOERROR
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(fake.address, timeout=2).close()


def test_leaving_the_block_stops_a_reply_still_waiting_and_closes_the_port():
    with FakeBackend(slow(answer(), 30.0)) as fake:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(dns.message.make_query(NAME, "A").to_wire(), fake.address)
            started = time.monotonic()
            wait_until(lambda: fake.seen, 2, "the query at the fake")
    assert time.monotonic() - started < 5        # the 30 s reply did not hold up the exit
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(fake.address, timeout=2).close()


def framed_query(name: str) -> bytes:
    wire = dns.message.make_query(name, "A").to_wire()
    return struct.pack("!H", len(wire)) + wire


@pytest.mark.parametrize("end, ending", [("close", b""), ("reset", ConnectionResetError), ("half-close", b"")])
def test_stream_answers_ends_each_connection_at_the_query_after_them(end, ending):
    """One answer per connection, then the next query read ends it unanswered: a FIN (close, half-close)
    or a reset; the ending query is kept in ``seen``."""
    with FakeBackend(answer(), stream_answers=1, stream_end=end) as fake, \
            socket.create_connection(fake.address, timeout=2) as sock:
        sock.sendall(framed_query("one.test") + framed_query("two.test"))
        length = struct.unpack("!H", sock.recv(2, socket.MSG_WAITALL))[0]
        assert dns.message.from_wire(sock.recv(length, socket.MSG_WAITALL)).answer[0].name.to_text() == "one.test."
        if isinstance(ending, bytes):
            assert sock.recv(1) == ending
        else:
            with pytest.raises(ending):
                sock.recv(1)
        assert [str(query.q.qname) for query in fake.seen] == ["one.test.", "two.test."]


def test_stream_answers_zero_closes_at_the_first_query():
    with FakeBackend(answer(), stream_answers=0) as fake, socket.create_connection(fake.address, timeout=2) as sock:
        sock.sendall(framed_query("one.test"))
        assert sock.recv(2) == b""
        assert [str(query.q.qname) for query in fake.seen] == ["one.test."]


def test_a_stream_end_of_another_kind_is_refused():
    with pytest.raises(ValueError):
        FakeBackend(answer(), stream_end="linger")
