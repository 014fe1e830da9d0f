"""The header/question/OPT scanner and the servers' own replies."""
from __future__ import annotations

import struct

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resolver.wire import (BADVERS, FORMERR, NOTIMP, SERVFAIL, error_reply, scan_query,
                           truncated_reply)


def wire(name: str = "www.Example.com", rdtype: str = "A", **kw) -> bytes:
    return dns.message.make_query(name, rdtype, **kw).to_wire()


def test_plain_query_is_scanned():
    data = wire("www.Example.com", "MX")
    q = scan_query(data)
    assert q is not None and q.error == 0
    assert q.qname == b"\x03www\x07Example\x03com\x00"
    assert q.question == q.qname + b"\x00\x0f\x00\x01"
    assert (q.qtype, q.qclass, q.edns_size, q.udp_limit) == (15, 1, -1, 512)


def test_edns_size_and_do_bit_are_read_and_capped():
    q = scan_query(wire(use_edns=0, payload=4096, want_dnssec=True))
    assert (q.edns_size, q.edns_do, q.udp_limit) == (4096, True, 1232)
    assert scan_query(wire(use_edns=0, payload=100)).udp_limit == 512


def test_edns_version_1_is_badvers():
    assert scan_query(wire(use_edns=1)).error == BADVERS


def test_responses_and_short_packets_get_no_reply():
    response = dns.message.make_response(dns.message.make_query("a.example", "A")).to_wire()
    assert scan_query(response) is None
    assert scan_query(b"\x00" * 11) is None


@pytest.mark.parametrize("packet", [
    struct.pack("!HHHHHH", 7, 0, 1, 0, 0, 0),                                 # question missing
    struct.pack("!HHHHHH", 7, 0, 1, 0, 0, 0) + b"\x05ab",                     # label runs past the end
    struct.pack("!HHHHHH", 7, 0, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01",   # pointer in the question
    struct.pack("!HHHHHH", 7, 0, 2, 0, 0, 0) + b"\x00\x00\x01\x00\x01" * 2,   # two questions
    struct.pack("!HHHHHH", 7, 0, 1, 0, 0, 1) + b"\x00\x00\x01\x00\x01" + b"\x00\x00\x29",  # cut OPT
])
def test_malformed_queries_are_formerr(packet):
    q = scan_query(packet)
    assert q is not None and q.error == FORMERR
    reply = dns.message.from_wire(error_reply(packet, q, q.error), question_only=True)
    assert reply.id == 7 and reply.rcode() == dns.rcode.FORMERR


def test_two_opt_records_are_formerr():
    q = dns.message.make_query("a.example", "A", use_edns=0)
    data = bytearray(q.to_wire())
    opt = data[-11:]
    data += opt
    data[11] = 2
    assert scan_query(bytes(data)).error == FORMERR


def test_other_opcodes_are_notimp():
    data = bytearray(wire())
    data[2] |= dns.opcode.to_flags(dns.opcode.NOTIFY) >> 8
    q = scan_query(bytes(data))
    assert q.error == NOTIMP
    reply = dns.message.from_wire(error_reply(bytes(data), q, q.error))
    assert reply.opcode() == dns.opcode.NOTIFY and reply.rcode() == dns.rcode.NOTIMP


def test_error_reply_echoes_question_rd_and_opt():
    data = wire("MiXeD.example", "AAAA", use_edns=0, want_dnssec=True)
    q = scan_query(data)
    reply = dns.message.from_wire(error_reply(data, q, SERVFAIL))
    assert reply.id == dns.message.from_wire(data).id
    assert reply.rcode() == dns.rcode.SERVFAIL
    assert reply.flags & dns.flags.QR and reply.flags & dns.flags.RD
    assert reply.question[0].name.to_text() == "MiXeD.example."
    assert reply.edns == 0 and reply.ednsflags & dns.flags.DO


def test_badvers_reply_carries_extended_rcode():
    data = wire(use_edns=1)
    q = scan_query(data)
    reply = dns.message.from_wire(error_reply(data, q, q.error))
    assert reply.rcode() == dns.rcode.BADVERS and reply.edns == 0


def test_truncated_reply_sets_tc_and_has_no_records():
    data = wire()
    reply = dns.message.from_wire(truncated_reply(data, scan_query(data), 0x8400))
    assert reply.flags & dns.flags.TC and reply.flags & dns.flags.AA
    assert not reply.answer and not reply.authority


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=600))
def test_random_packets_never_raise(packet):
    q = scan_query(packet)
    if q is not None and q.error:
        assert error_reply(packet, q, q.error)[:2] == packet[:2]


@settings(max_examples=2000, deadline=None)
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255), st.data())
def test_mutated_queries_never_raise(position, value, data):
    packet = bytearray(wire("host.example.org", "TXT", use_edns=0, options=[dns.edns.GenericOption(65001, b"xy")]))
    packet[position % len(packet)] = value
    cut = data.draw(st.integers(min_value=0, max_value=len(packet)))
    scan_query(bytes(packet[:cut]))


def test_a_query_with_a_client_subnet_option_says_so():
    plain = dns.message.make_query("a.example", "A", use_edns=0, options=[dns.edns.GenericOption(10, bytes(8))])
    subnet = dns.message.make_query("a.example", "A", use_edns=0,
                                    options=[dns.edns.GenericOption(10, bytes(8)), dns.edns.ECSOption("10.0.0.0", 8)])
    assert scan_query(plain.to_wire()).subnet is False
    assert scan_query(subnet.to_wire()).subnet is True
    assert scan_query(dns.message.make_query("a.example", "A").to_wire()).subnet is False
