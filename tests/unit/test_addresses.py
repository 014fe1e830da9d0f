"""The fast path for plain address lines: same answers as dnspython's, same errors."""
from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.zone
import pytest

from resolver.ts.server import AuthoritativeServer
from resolver.ts.zones import ZoneData, ZoneError, load_zone_file

from support.inprocess import make_ts

HEAD = "$ORIGIN fast.test.\n$TTL 300\n@ IN SOA ns1 hm 1 2 3 4 5\n@ IN NS ns1\n"


def served(tmp_path, body: str) -> AuthoritativeServer:
    path = tmp_path / "fast.test.zone"
    path.write_text(HEAD + body)
    return make_ts(path)


def general_path(tmp_path, body: str) -> AuthoritativeServer:
    """The same zone through dnspython alone, for comparison."""
    zone = dns.zone.from_text(HEAD + body, origin="fast.test.", relativize=False)
    return make_ts(ZoneData(zone))


def answer(server: AuthoritativeServer, name: str, rdtype: str = "A", **kw) -> dns.message.Message:
    return dns.message.from_wire(server.reply(dns.message.make_query(name, rdtype, **kw).to_wire()))


def text(message: dns.message.Message) -> tuple:
    sections = [sorted(rrset.to_text() for rrset in section)
                for section in (message.answer, message.authority, message.additional)]
    return message.rcode(), message.flags, sections


BODY = """ns1 IN A 192.0.2.53
www 3600 IN A 192.0.2.1
    IN A 192.0.2.2
    IN TXT "inherits www"
    IN AAAA 2001:db8::1
Mixed.Case IN A 192.0.2.3
deep.a.b IN A 192.0.2.4
alias IN CNAME target
target IN A 192.0.2.5
sub IN NS ns.sub
ns.sub IN A 192.0.2.6
"""


@pytest.mark.parametrize("name,rdtype", [
    ("www.fast.test", "A"), ("WWW.fast.test", "AAAA"), ("www.fast.test", "TXT"), ("www.fast.test", "ANY"),
    ("www.fast.test", "MX"), ("mixed.case.fast.test", "A"), ("a.b.fast.test", "A"), ("b.fast.test", "TXT"),
    ("alias.fast.test", "A"), ("ns1.fast.test", "A"), ("ns.sub.fast.test", "A"), ("x.sub.fast.test", "A"),
    ("nothing.fast.test", "A"), ("fast.test", "NS"),
])
def test_fast_path_answers_like_the_general_path(tmp_path, name, rdtype):
    fast, general = served(tmp_path, BODY), general_path(tmp_path, BODY)
    for kw in ({}, {"use_edns": 0}):
        assert text(answer(fast, name, rdtype, **kw)) == text(answer(general, name, rdtype, **kw))


def test_plain_addresses_are_kept_compact_and_other_records_go_to_dnspython(tmp_path):
    path = tmp_path / "fast.test.zone"
    path.write_text(HEAD + BODY)
    data = load_zone_file(path)
    assert len(data.addresses[b"\x04deep\x01a\x01b\x04fast\x04test\x00"]) == 1
    # www has a TXT record too: all of its records are kept in the zone, none in the compact table.
    assert b"\x03www\x04fast\x04test\x00" not in data.addresses
    www = data.zone.get_node("www.fast.test.")
    assert {rds.rdtype for rds in www} == {dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.TXT}


def test_a_bad_address_names_its_line(tmp_path):
    path = tmp_path / "fast.test.zone"
    path.write_text(HEAD + "a IN A 192.0.2.1\nb IN A 192.0.2.300\n")
    with pytest.raises(ZoneError, match=r"fast.test.zone:6: '192.0.2.300' is not an IPv4 address"):
        load_zone_file(path)


def test_an_error_after_taken_lines_keeps_its_line_number(tmp_path):
    path = tmp_path / "fast.test.zone"
    path.write_text(HEAD + "a IN A 192.0.2.1\nb IN A 192.0.2.2\nc IN BOGUS x\n")
    with pytest.raises(ZoneError, match=r"fast.test.zone:7:"):
        load_zone_file(path)


def test_a_large_address_set_still_truncates_properly(tmp_path):
    body = "".join(f"many IN A 192.0.2.{i}\n" for i in range(1, 60))
    fast = served(tmp_path, body)
    udp = answer(fast, "many.fast.test")
    assert udp.flags & dns.flags.TC and not udp.answer
    full = dns.message.from_wire(fast.reply(dns.message.make_query("many.fast.test", "A").to_wire(), stream=True))
    assert len(full.answer[0]) == 59


@pytest.mark.parametrize("body,message", [
    ("www IN CNAME a\nwww IN A 192.0.2.1\n", r"fast.test.zone:6: www.fast.test. has a CNAME and other data"),
    ("www IN A 192.0.2.1\nwww IN CNAME a\n", r"fast.test.zone:6: www.fast.test. has a CNAME and other data"),
    ("www 4294967296 IN A 192.0.2.1\n", r"fast.test.zone:5: TTL 4294967296 does not fit in 32 bits"),
    ('www 4294967296 IN TXT "x"\n', r"fast.test.zone:5: TTL 4294967296 does not fit in 32 bits"),
    ("other.test. IN A 192.0.2.1\n", r"fast.test.zone:5: other.test. is outside the zone fast.test."),
    ('other.test. IN TXT "x"\n', r"fast.test.zone:5: other.test. is outside the zone fast.test."),
])
def test_broken_zones_name_file_and_problem(tmp_path, body, message):
    path = tmp_path / "fast.test.zone"
    path.write_text(HEAD + body)
    with pytest.raises(ZoneError, match=message):
        make_ts(path)
