"""The direct reader of record data (resolver.ts.rdata_text) against dnspython's ``from_text``.

Whatever the reader returns must be the record dnspython reads from the same
tokens (same class, fields, letter case and wire form); whatever dnspython
refuses, the reader must leave to it (None), so that the zone loader's error
is dnspython's. Spellings the reader does not take on return None too.
"""
from __future__ import annotations

import base64

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resolver.ts.rdata_text import RdataReader, add_to_rdataset, address_rdata
from resolver.ts.zones import _TokenList

ORIGIN = dns.name.from_text("Example.test.")
SIG = base64.b64encode(bytes(range(40))).decode()
KEY = base64.b64encode(bytes(range(64, 100))).decode()
HASH = "0P9MHAVEQVM6T7VBL5LOP2U3T2RP3TOM"

# (type, rdata as written): read here, or left to dnspython (which may refuse it).
CASES = [
    ("NS", "ns1"), ("NS", "NS1.Example.test."), ("NS", "@"), ("NS", "."), ("NS", "a..b"), ("NS", ".a"),
    ("NS", "ns1 extra"), ("NS", '"quoted"'), ("NS", "x" * 64), ("NS", ".".join(["x" * 60] * 5)),
    ("NS", ".".join(["a" * 63] * 3) + "." + "d" * 61 + "."), ("NS", ".".join(["a" * 63] * 3) + "." + "d" * 62 + "."),
    ("NS", ".".join(["a" * 63] * 3) + "." + "d" * 48), ("NS", ".".join(["a" * 63] * 3) + "." + "d" * 49),   # 255 bytes
    ("NS", "sp\\032ace"), ("NS", "caf\\233"), ("CNAME", "www.other.test."), ("CNAME", "*.w"),
    ("PTR", "host1.example.test."), ("DNAME", "other.test."),
    ("MX", "10 mail"), ("MX", "0 ."), ("MX", "65535 mx.Example.test."), ("MX", "65536 mail"), ("MX", "-1 mail"),
    ("MX", "mail"), ("MX", "010 mail"), ("MX", '"10" mail'), ("MX", "10 mail extra"), ("MX", "1_0 mail"),
    ("TXT", '"v=spf1 -all" "record 9"'), ("TXT", "unquoted words"), ("TXT", '""'), ("TXT", '"' + "x" * 255 + '"'),
    ("TXT", '"' + "x" * 256 + '"'), ("TXT", '"a \\"quoted\\" word"'), ("TXT", '"\\065BC"'), ("TXT", '"semi ; colon"'),
    ("DS", "12345 8 2 " + "ab" * 32), ("DS", "12345 8 2 " + "AB" * 16 + " " + "cd" * 16), ("DS", "12345 8 2 abc"),
    ("DS", "12345 8 1 " + "ab" * 32), ("DS", "12345 RSASHA256 2 " + "ab" * 32), ("DS", "70000 8 2 " + "ab" * 32),
    ("DS", "12345 8 0 ab"), ("DS", "12345 8 2 " + "zz" * 32), ("DS", "12345 8 2"), ("DS", "1 300 2 " + "ab" * 32),
    ("DNSKEY", f"257 3 8 {KEY}"), ("DNSKEY", f"256 3 13 {KEY[:20]} {KEY[20:]}"), ("DNSKEY", "257 3 8 not*base64"),
    ("DNSKEY", f"257 3 ECDSAP256SHA256 {KEY}"), ("DNSKEY", f"70000 3 8 {KEY}"), ("DNSKEY", f"257 300 8 {KEY}"),
    ("DNSKEY", "257 3 8"), ("DNSKEY", f"257 3 8 {KEY}="),
    ("RRSIG", f"A 8 2 300 20300101000000 20200101000000 12345 Example.test. {SIG}"),
    ("RRSIG", f"NSEC3 13 3 3600 20300101000000 20200101000000 1 signer {SIG[:10]} {SIG[10:]}"),
    ("RRSIG", f"TYPE65280 8 2 300 1700000000 20200101000000 12345 . {SIG}"),
    ("RRSIG", f"A 8 2 1h 20300101000000 20200101000000 12345 Example.test. {SIG}"),
    ("RRSIG", f"A RSASHA256 2 300 20300101000000 20200101000000 12345 Example.test. {SIG}"),
    ("RRSIG", f"A 8 2 300 20301301000000 20200101000000 12345 Example.test. {SIG}"),
    ("RRSIG", f"A 8 2 300 2030010100000 20200101000000 12345 Example.test. {SIG}"),
    ("RRSIG", f"A 8 2 300 21070101000000 20200101000000 12345 Example.test. {SIG}"),     # past 2^32 s: the loader's
    ("RRSIG", f"A 8 2 300 21060101000000 20200101000000 12345 Example.test. {SIG}"),     # wrap, then dnspython
    ("RRSIG", f"A 8 2 300 20300101000000 20200101000000 70000 Example.test. {SIG}"),
    ("RRSIG", f"A 8 256 300 20300101000000 20200101000000 1 Example.test. {SIG}"),
    ("RRSIG", f"A 8 2 4294967296 20300101000000 20200101000000 1 Example.test. {SIG}"),
    ("RRSIG", f"BOGUS 8 2 300 20300101000000 20200101000000 1 Example.test. {SIG}"),
    ("RRSIG", f'"A" 8 2 300 20300101000000 20200101000000 1 Example.test. {SIG}'),
    ("RRSIG", "A 8 2 300 20300101000000 20200101000000 12345 Example.test."),
    ("RRSIG", "A 8 2 300 20300101000000 20200101000000 12345 Example.test. not*base64"),
    ("NSEC", "next.Example.test. A RRSIG NSEC"), ("NSEC", "next"), ("NSEC", "next A TYPE65280 CAA"),
    ("NSEC", "next BOGUS"), ("NSEC", "next TYPE0"), ("NSEC", 'next "A"'), ("NSEC", "next a rrsig"),
    ("NSEC3", f"1 0 0 - {HASH} A RRSIG"), ("NSEC3", f"1 1 10 aabbccdd {HASH.lower()} NS SOA DNSKEY NSEC3PARAM"),
    ("NSEC3", f"1 0 0 - {HASH}"), ("NSEC3", f"1 0 0 abc {HASH} A"), ("NSEC3", f"1 0 0 - {HASH[:-1]}W A"),
    ("NSEC3", f"1 0 0 - {HASH[:30]} A"), ("NSEC3", f"1 0 0 - {HASH}==== A"), ("NSEC3", f"256 0 0 - {HASH} A"),
    ("NSEC3", f"1 0 65536 - {HASH} A"), ("NSEC3", "1 0 0 - ! A"), ("NSEC3", f'1 0 0 "-" {HASH} A'),
    ("NSEC3", f"1 0 0 - {HASH} TYPE0"), ("NSEC3", f"1 0 0 - {HASH[:8]} A"),
    ("SRV", "0 0 5060 sip"), ("MX", "\\# 4 000a0000"),
    ("A", "192.0.2.1"), ("A", "192.0.2.300"), ("A", "192.0.02.1"), ("A", "192.0.2"), ("A", "1.2.3.4 5"), ("A", "::1"),
    ("AAAA", "2001:db8::1"), ("AAAA", "2001:DB8::1"), ("AAAA", "2001:db8:0:0:0:0:0:1"), ("AAAA", "::ffff:192.0.2.1"),
    ("AAAA", "::"), ("AAAA", "2001:db8::g"), ("AAAA", "192.0.2.1"), ("AAAA", "1::2:3:4:5:6:7"),
]


def tokens_of(text: str) -> list[str]:
    """The tokens the master-file reader makes of one record's data (quoted strings keep their quotes)."""
    from resolver.ts.master_file import _TOKEN
    return [quoted or word for _, quoted, _, word, _ in (m.groups() for m in _TOKEN.finditer(text))
            if quoted or word]


def dnspython(rdtype: int, tokens: list[str]) -> dns.rdata.Rdata | Exception:
    try:
        return dns.rdata.from_text(dns.rdataclass.IN, rdtype, _TokenList().load(tokens), ORIGIN, False)
    except Exception as exc:  # noqa: BLE001 - any refusal counts
        return exc


READER = RdataReader()      # one reader for every case: after its first record of a type it makes them directly


def check_same(type_text: str, text: str) -> dns.rdata.Rdata | None:
    rdtype = dns.rdatatype.from_text(type_text)
    tokens = tokens_of(text)
    expected = dnspython(rdtype, tokens)
    first, again = READER.read(rdtype, tokens, ORIGIN), READER.read(rdtype, tokens, ORIGIN)
    for read in first, again:
        if isinstance(expected, Exception):
            assert read is None, f"{type_text} {text}: read as {read}, but dnspython refuses it: {expected}"
        elif read is not None:
            assert type(read) is type(expected)
            assert read.to_text() == expected.to_text()         # letter case kept
            assert read.to_wire() == expected.to_wire() and read == expected and hash(read) == hash(expected)
            assert read.covers() == expected.covers()
            for klass in type(read).__mro__:
                for field in getattr(klass, "__slots__", ()):
                    value, theirs = getattr(read, field), getattr(expected, field)
                    kind = dns.name.Name if isinstance(theirs, dns.name.Name) else type(theirs)   # ZoneNames too
                    assert value == theirs and isinstance(value, kind) and type(value) in (type(theirs), kind), field
    return first


@pytest.mark.parametrize("type_text,text", CASES)
def test_the_reader_reads_as_dnspython_or_leaves_it_to_dnspython(type_text, text):
    check_same(type_text, text)


@pytest.mark.parametrize("type_text,text", [
    ("NS", "ns1"), ("MX", "10 mail"), ("TXT", '"a" b'), ("DS", "12345 8 2 " + "ab" * 32),
    ("DNSKEY", f"257 3 8 {KEY}"), ("RRSIG", f"A 8 2 300 20300101000000 20200101000000 12345 Example.test. {SIG}"),
    ("NSEC", "next A RRSIG"), ("NSEC3", f"1 0 0 - {HASH} A RRSIG"), ("A", "192.0.2.1"), ("AAAA", "2001:db8::1"),
])
def test_the_plain_spellings_are_read_here(type_text, text):
    assert check_same(type_text, text) is not None


@pytest.mark.parametrize("type_text,text", [
    ("MX", '"10" mail'), ("TXT", '"\\065BC"'), ("DS", "12345 RSASHA256 2 " + "ab" * 32), ("SRV", "0 0 5060 sip"),
    ("NS", "sp\\032ace"), ("MX", "\\# 4 000a0000"),
])
def test_other_spellings_are_left_to_dnspython(type_text, text):
    assert RdataReader().read(dns.rdatatype.from_text(type_text), tokens_of(text), ORIGIN) is None


def test_records_after_the_first_of_a_type_are_made_without_the_constructor_where_that_gives_the_same():
    reader = RdataReader()
    for type_text, text in CASES:
        reader.read(dns.rdatatype.from_text(type_text), tokens_of(text), ORIGIN)
    trusted = {dns.rdatatype.to_text(rdtype) for rdtype, (_, maker) in reader._readers.items() if maker.trusted}
    # What dnspython 2.6 and later keep in these records' fields is what the reader sets.
    assert trusted == {"A", "AAAA", "NS", "CNAME", "PTR", "DNAME", "MX", "TXT", "RRSIG", "NSEC", "NSEC3"}


WORDS = ["192.0.2.1", "2001:db8::1", "0", "1", "8", "10", "255", "256", "65535", "65536", "4294967296", "-", "@", ".", "a", "A", "Mail",
         "a.b", "a..b", "x.Example.test.", "RRSIG", "NSEC3", "TYPE65280", "BOGUS", "RSASHA256", "20300101000000",
         "20301301000000", "1h", '"q"', '""', "ab" * 16, HASH, HASH.lower(), SIG, KEY, "not*b64", "x" * 64]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["A", "AAAA", "NS", "CNAME", "MX", "TXT", "DS", "DNSKEY", "RRSIG", "NSEC", "NSEC3"]),
       st.lists(st.sampled_from(WORDS), max_size=10))
def test_any_tokens_are_read_as_dnspython_reads_them_or_left_to_it(type_text, words):
    check_same(type_text, " ".join(words))


def test_a_record_joins_its_rrset_as_dnspython_adds_it():
    mx = [dns.rdata.from_text("IN", "MX", text) for text in ("10 a.test.", "20 b.test.", "10 A.test.")]
    ours = dns.rdataset.Rdataset(dns.rdataclass.IN, dns.rdatatype.MX)
    theirs = dns.rdataset.Rdataset(dns.rdataclass.IN, dns.rdatatype.MX)
    for rdata, ttl in zip(mx, (300, 60, 600)):
        add_to_rdataset(ours, rdata, ttl)
        theirs.add(rdata, ttl)
    assert list(ours) == list(theirs) and ours.ttl == theirs.ttl == 60 and len(ours) == 2
    cname = dns.rdataset.Rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
    for text, ttl in (("a.test.", 300), ("b.test.", 600)):      # a singleton: the last one stays, as in dnspython
        add_to_rdataset(cname, dns.rdata.from_text("IN", "CNAME", text), ttl)
    assert [r.to_text() for r in cname] == ["b.test."] and cname.ttl == 300


@pytest.mark.parametrize("type_text,wire", [("A", bytes([192, 0, 2, 1])), ("A", bytes(4)), ("A", bytes([255] * 4)),
                                            ("AAAA", bytes(16)), ("AAAA", bytes.fromhex("20010db8" + "00" * 11 + "01")),
                                            ("AAAA", bytes(10) + b"\xff\xff" + bytes([192, 0, 2, 1]))])
def test_an_address_in_wire_form_becomes_the_record_dnspython_reads_from_it(type_text, wire):
    rdtype = dns.rdatatype.from_text(type_text)
    expected = dns.rdata.from_wire(dns.rdataclass.IN, rdtype, wire, 0, len(wire))
    for _ in range(2):      # made by the constructor, then directly
        made = address_rdata(rdtype, wire)
        assert type(made) is type(expected) and made.address == expected.address and made == expected


@pytest.mark.parametrize("type_text,text", [
    ("A", "192.0.2.1"), ("AAAA", "2001:db8::1"), ("TXT", '"a" "b"'), ("MX", "10 Mx.Example.test."),
    ("RRSIG", f"A 8 2 300 20300101000000 20200101000000 12345 Example.TEST. {SIG}"), ("NSEC3", f"1 0 0 - {HASH} A"),
])
def test_record_data_is_written_uncompressed_as_dnspython_writes_it(type_text, text):
    from resolver.ts.sections import rdata_wire
    rdata = dns.rdata.from_text("IN", type_text, text)
    assert rdata_wire(rdata) == rdata.to_wire()
