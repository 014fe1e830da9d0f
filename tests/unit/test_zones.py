"""Reading master files and tables: every shape NSD, BIND and Knot read, one-line errors for the rest.

The shapes live in :mod:`support.zone_shapes`; ``tests/conformance/test_nsd_zone_files.py``
puts the same files to NSD.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from resolver import cli
from resolver.ts.authority import Authority
from resolver.ts.server import AuthoritativeServer
from resolver.ts.zones import ZoneError, ZoneFile, load_sources, load_zone_file

from support.zone_shapes import READ_BY_BIND, READ_BY_NSD, REFUSED, REFUSED_LIKE_NSD, Shape


def loaded(tmp_path, shape: Shape) -> AuthoritativeServer:
    return AuthoritativeServer(Authority([load_zone_file(shape.write(tmp_path))]))


def ask(server: AuthoritativeServer, name: str, rdtype: str = "A") -> dns.message.Message:
    reply = server.reply(dns.message.make_query(dns.name.from_text(name), rdtype).to_wire(), stream=True)
    return dns.message.from_wire(reply)


def answer_text(server: AuthoritativeServer, name: str, rdtype: str = "A") -> list[str]:
    """The answer's records as ``TTL TYPE rdata``, sorted."""
    reply = ask(server, name, rdtype)
    return sorted(f"{rrset.ttl} {dns.rdatatype.to_text(rrset.rdtype)} {rd.to_text()}"
                  for rrset in reply.answer for rd in rrset)


@pytest.mark.parametrize("shape", READ_BY_NSD + READ_BY_BIND, ids=lambda s: s.id)
def test_every_shape_loads_with_its_soa_owner_as_the_zone(tmp_path, shape):
    data = load_zone_file(shape.write(tmp_path))
    assert data.origin == dns.name.from_text(shape.zone)


def by_id(shapes: list[Shape], id: str) -> Shape:
    return next(shape for shape in shapes if shape.id == id)


@pytest.mark.parametrize("shape_id,name,rdtype,expected", [
    ("origin_root_at_top", "www.dot.test", "A", ["300 A 192.0.2.1"]),
    ("origin_parent_at_top", "www.child.test", "A", ["300 A 192.0.2.1"]),
    ("origin_parent_at_top", "ftp.child.test", "A", ["300 A 192.0.2.3"]),       # $ORIGIN @ keeps child.test.
    ("first_record_not_at_apex", "mail.late.test", "MX", ["300 MX 10 www.late.test."]),
    ("owners_inherited", "inherit.test", "A", ["300 A 192.0.2.10"]),
    ("owners_inherited", "ns1.inherit.test", "TXT", ['300 TXT "ns1\'s text"']),
    ("owners_inherited", "www.inherit.test", "A", ["300 A 192.0.2.1", "300 A 192.0.2.2"]),
    ("owners_inherited", "www.inherit.test", "AAAA", ["600 AAAA 2001:db8::1"]),
    ("owners_inherited", "www.inherit.test", "TXT", ['600 TXT "class before TTL"']),
    ("escaped_owners", "a\\.b.escape.test", "A", ["300 A 192.0.2.1"]),
    ("escaped_owners", "abc.escape.test", "A", ["300 A 192.0.2.2"]),            # \065 is A
    ("escaped_owners", "xy.escape.test", "TXT", ['300 TXT "escaped letters"']),
    ("escaped_owners", "sp\\032ace.escape.test", "A", ["300 A 192.0.2.3"]),
    ("escaped_owners", "dot\\.dot.sub.escape.test", "AAAA", ["300 AAAA 2001:db8::1"]),
    ("escaped_owners", "alias.escape.test", "A", ["300 A 192.0.2.1", "300 CNAME a\\.b.escape.test."]),
    ("escaped_owners", "tail\\..escape.test", "A", ["300 A 192.0.2.4"]),
    ("obsolete_types", "minfo.old.test", "MINFO", ["300 MINFO ns1.old.test. hostmaster.old.test."]),
    ("obsolete_types", "md.old.test", "MD", ["300 MD ns1.old.test."]),
    ("obsolete_types", "null.old.test", "NULL", ["300 NULL \\# 3 010203"]),
    ("numbers_first_in_rdata", "mx.numbers.test", "MX", ["300 MX 4294 ns1.numbers.test.", "300 MX 65535 ns1.numbers.test."]),
    ("numbers_first_in_rdata", "txt.numbers.test", "TXT", ['300 TXT "2147483648" "99999999999"', '300 TXT "4294967296"']),
    ("rrsig_after_2106", "www.sig.test", "RRSIG",     # 2107-01-01 is past 2^32 seconds: it wraps (RFC 4034 3.1.5)
     ["300 RRSIG A 8 3 300 19701124173144 20250101000000 12345 sig.test. AAAA"]),
    ("rrsig_after_2106", "txt.sig.test", "RRSIG",
     ["300 RRSIG TXT 8 3 300 21060207062815 19700101000000 12345 sig.test. BBBB"]),
    ("rrsig_times_wrapped", "before.sigwrap.test", "RRSIG",
     ["300 RRSIG A 8 3 300 21060207062815 20250101000000 12345 sigwrap.test. AAAA"]),
    ("rrsig_times_wrapped", "last.sigwrap.test", "RRSIG",
     ["300 RRSIG A 8 3 300 21060129084031 20720315125632 12345 sigwrap.test. AAAA"]),
    ("rrsig_times_wrapped", "leap.sigwrap.test", "RRSIG",
     ["300 RRSIG A 8 3 300 20310101000000 20250101000000 12345 sigwrap.test. AAAA"]),
    ("include_without_origin", "www.inc.test", "TXT", ['300 TXT "included"']),
    ("include_with_origin", "sub.incorigin.test", "A", ["300 A 192.0.2.10"]),
    ("include_with_origin", "after.incorigin.test", "A", ["300 A 192.0.2.9"]),    # the origin comes back
    ("owner_after_include", "inner.incowner.test", "TXT", ['300 TXT "after names.inc"']),
    ("owner_after_include", "deep.sub.incowner.test", "TXT", ['300 TXT "after blank.inc"', '300 TXT "after deeper.inc"']),
    ("owner_after_include", "deep.sub.incowner.test", "AAAA", ["300 AAAA 2001:db8::8"]),
    ("owner_after_include", "outer.incowner.test", "TXT", []),
    ("ttl_units", "day.units.test", "A", ["86400 A 192.0.2.1"]),
    ("ttl_units", "ns1.units.test", "A", ["3600 A 192.0.2.53"]),
    ("ttl_units", "mixed.units.test", "TXT", ['788645 TXT "a long time"']),
    ("no_ttl_directive", "mail.nottl.test", "A", ["3600 A 192.0.2.2"]),        # NSD's default, not the last TTL
    ("no_ttl_directive", "www.nottl.test", "A", ["120 A 192.0.2.1"]),
    ("quotes_and_parentheses", "t1.quote.test", "TXT", ['300 TXT "semi ; colon" "paren ( inside )"']),
    ("quotes_and_parentheses", "t2.quote.test", "TXT", ['300 TXT "first line" "second line"']),
    ("quotes_and_parentheses", "t3.quote.test", "TXT", ['300 TXT "escaped \\"quote\\"" "back\\\\slash" "ABC"']),
    ("digests_as_written", "short.digest.test", "DS", ["300 DS 12345 8 2 abcd"]),
    ("digests_as_written", "typezero.digest.test", "DS", ["300 DS 1 8 0 ab"]),
    ("digests_as_written", "cds.digest.test", "CDS", ["300 CDS 0 0 0 00", "300 CDS 1 8 2 ab"]),
    ("digests_as_written", "generic.digest.test", "DS", ["300 DS 1 8 2 00"]),
    ("digests_as_written", "_443._tcp.www.digest.test", "TLSA", ["300 TLSA 3 1 1 ab", "300 TLSA 3 1 2 abcd"]),
    ("digests_as_written", "x._smimecert.digest.test", "SMIMEA", ["300 SMIMEA 3 1 2 abcd"]),
    ("digests_as_written", "digest.test", "ZONEMD", [f"300 ZONEMD 1 0 1 {'ab' * 48}", f"300 ZONEMD 1 1 0 {'cd' * 12}"]),
    ("generic_rdata", "a.generic.test", "A", ["300 A 192.0.2.1"]),
    ("generic_rdata", "t.generic.test", "TXT", ['300 TXT "abc"']),
    ("duplicates_dropped", "a.dup.test", "A", ["300 A 192.0.2.1"]),
    ("relative_origin", "www.sub.rel.test", "A", ["300 A 192.0.2.1"]),
    ("include_relative_origin", "www.sub.increl.test", "A", ["300 A 192.0.2.1"]),
    ("generate", "host4.gen.test", "A", ["300 A 192.0.2.4"]),
    ("generate", "020.rev.gen.test", "PTR", ["300 PTR host20.gen.test."]),
    ("generate", "gen.test", "TXT", ['300 TXT "line $ 1"', '300 TXT "line $ 2"']),
    ("generate", "h100.gen.test", "AAAA", ["60 AAAA 2001:db8::100"]),
    ("generate_modifiers", "n1.0.genmod.test", "TXT", ['300 TXT "1.0.0"']),      # widths count the dots
    ("generate_modifiers", "n1.2.1.wide.genmod.test", "TXT", ['300 TXT "0.0.0.0"']),
    ("generate_modifiers", "plus002.genmod.test", "TXT", ['300 TXT "-2_-02_fffffffe"']),
    ("generate_modifiers", "plus003.genmod.test", "TXT", ['300 TXT "-1_-01_ffffffff"']),
    ("generate_modifiers", "esc\\$.genmod.test", "TXT", ['300 TXT "$_\\\\1_$_1}"']),
    ("escaped_non_ascii", "b.escna.test", "TXT", ['300 TXT "a\\195\\169b"']),     # \é is é, as NSD reads it
    ("escaped_non_ascii", "c.escna.test", "TXT", ['300 TXT "a\\195\\169b"']),
    ("escaped_non_ascii", "d\\195\\169.escna.test", "A", ["300 A 192.0.2.1"]),
    ("escaped_non_ascii", "e.escna.test", "CNAME", ["300 CNAME x\\195\\169.escna.test."]),
    ("escaped_non_ascii", "f.escna.test", "TXT", ['300 TXT "a\\233b"']),               # a Latin-1 byte
    ("escaped_non_ascii", "g.escna.test", "TXT", ['300 TXT "a\\\\\\195\\169b"']),    # \\ is a backslash
    ("escaped_non_ascii", "h.escna.test", "TXT", ['300 TXT "a\\194\\178"']),
    ("fields_parted_by_space_and_tab", "nb.sep.test", "TXT", ['300 TXT "a\\194\\160b"']),
    ("fields_parted_by_space_and_tab", "x.sep.test", "TXT", ['300 TXT "a\\011b" "c\\028d"']),
    ("fields_parted_by_space_and_tab", "y.sep.test", "TXT", ['300 TXT "a\\012" "b\\226\\128\\131c"']),
    ("fields_parted_by_space_and_tab", "caf\\194\\160x.sep.test", "A", ["300 A 192.0.2.1"]),
    ("quoted_owners", "a13.qown.test", "A", ["300 A 192.0.2.15"]),
    ("quoted_owners", "b\\03213.qown.test", "TXT", ['300 TXT "x"']),
    ("quoted_owners", "c\\.d.qown.test", "A", ["300 A 192.0.2.4"]),
    ("quoted_owners", "\\@.qown.test", "A", ["300 A 192.0.2.5"]),
    ("quoted_owners", "x\\.y.qown.test", "A", ["300 A 192.0.2.6"]),
])
def test_what_each_shape_serves(tmp_path, shape_id, name, rdtype, expected):
    server = loaded(tmp_path, by_id(READ_BY_NSD + READ_BY_BIND, shape_id))
    assert answer_text(server, name, rdtype) == expected


@pytest.mark.parametrize("name,rdtype,additional", [
    ("mb.old.test", "MB", ["host.old.test. A", "host.old.test. AAAA", "ns1.old.test. A"]),
    ("mb.old.test", "ANY", ["host.old.test. A", "host.old.test. AAAA"]),
    ("wild.old.test", "MB", ["nowhere.wild.old.test. A", "ns1.old.test. A"]),     # the wildcard's, as NSD
    ("mg.old.test", "MG", ["ns1.old.test. A"]),                                 # NSD adds none for MG and MR
    ("mr.old.test", "MR", ["ns1.old.test. A"]),
])
def test_an_mb_hosts_addresses_go_in_the_additional_section_as_nsd_adds_them(tmp_path, name, rdtype, additional):
    reply = ask(loaded(tmp_path, by_id(READ_BY_NSD, "obsolete_types")), name, rdtype)
    assert sorted(f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}" for rrset in reply.additional) == additional


def test_a_generated_zone_keeps_addresses_compact(tmp_path):
    shape = by_id(READ_BY_BIND, "generate")
    data = load_zone_file(shape.write(tmp_path))
    assert b"\x05host1\x03gen\x04test\x00" in data.addresses


@pytest.mark.parametrize("shape", REFUSED_LIKE_NSD + REFUSED, ids=lambda s: s.id)
def test_refused_shapes_name_file_and_line(tmp_path, shape):
    path = shape.write(tmp_path)
    with pytest.raises(ZoneError) as refused:
        load_zone_file(path)
    message = str(refused.value)
    assert "\n" not in message
    where = f"{shape.file_name}:{shape.line}: " if shape.line else f"{shape.file_name}: "
    if shape.includes:      # the error is in the included file
        where = f"{next(iter(shape.includes))}:{shape.line}: "
    assert where in message and shape.message in message, message


# dnspython's own words, which name its tokenizer, its token numbers or its exceptions.
DNSPYTHON_WORDS = re.compile(r"expecting|EOL|identifier|Text input|DNS message|generic rdata|uint\d|resource record|"
                             r"format requires|out of range$|Error|\\\\")


@pytest.mark.parametrize("shape", REFUSED_LIKE_NSD + REFUSED, ids=lambda s: s.id)
def test_refused_shapes_are_said_in_plain_words(tmp_path, shape):
    with pytest.raises(ZoneError) as refused:
        load_zone_file(shape.write(tmp_path))
    assert not DNSPYTHON_WORDS.search(str(refused.value)), str(refused.value)


def _fail_the_zone_loaded(*_):
    raise AssertionError("the zone loaded and the TS would serve it")


@pytest.mark.parametrize("shape", REFUSED_LIKE_NSD + REFUSED, ids=lambda s: s.id)
def test_the_ts_command_prints_one_line_and_exits_1(tmp_path, capsys, monkeypatch, shape):
    path = shape.write(tmp_path)
    monkeypatch.setattr(cli, "serve_with_workers", _fail_the_zone_loaded)      # a failure, not a server for ever
    assert cli.main(["ts", "--listen", "127.0.0.1:0", "--zone", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("resolver ts: error: ") and shape.message in err, err


def test_a_ttl_over_2_31_is_served_as_0_with_a_warning(tmp_path, caplog):
    path = tmp_path / "big.test.zone"
    path.write_text("$TTL 300\n@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n"
                    "www 2147483648 IN A 192.0.2.2\ntxt 4294967295 IN TXT x\n")
    with caplog.at_level(logging.WARNING, logger="resolver.ts"):
        server = AuthoritativeServer(Authority([load_zone_file(path)]))
    assert answer_text(server, "www.big.test") == ["0 A 192.0.2.2"]
    assert answer_text(server, "txt.big.test", "TXT") == ['0 TXT "x"']
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}:5: TTL 2147483648 is over 2^31 - 1, served as 0 (RFC 2181 8)",
        f"{path}:6: TTL 4294967295 is over 2^31 - 1, served as 0 (RFC 2181 8)"]


def test_an_unknown_directive_alone_on_its_line_is_skipped_with_a_warning_as_nsd_skips_it(tmp_path, caplog):
    shape = by_id(READ_BY_NSD, "unknown_directive_alone")
    with caplog.at_level(logging.WARNING, logger="resolver.ts"):
        server = loaded(tmp_path, shape)
    assert answer_text(server, "www.dollar.test", "TXT") == ['300 TXT "the owner goes on"']
    assert [r.getMessage() for r in caplog.records] == [
        f"{tmp_path / shape.file_name}:{line}: unknown directive {word} skipped, as NSD skips it"
        for line, word in ((7, "$FOO"), (9, "$Bar"), (10, "$DATE"))]


def test_rrsig_times_in_seconds_are_seconds_since_1970_as_rfc_4034_has_them(tmp_path):
    """NSD 4.6 reads only dates: it refuses 0 and takes 1735689600 for a day of 2007 (its strptime)."""
    path = tmp_path / "secs.test.zone"
    path.write_text("$TTL 300\n@ IN SOA ns1 h 1 2 3 4 5\n"
                    "w IN RRSIG A 8 3 300 1735689600 0 12345 secs.test. AAAA\n"
                    "x IN RRSIG A 8 3 300 4294967295 1 12345 secs.test. AAAA\n")
    server = AuthoritativeServer(Authority([load_zone_file(path)]))
    assert answer_text(server, "w.secs.test", "RRSIG") == [
        "300 RRSIG A 8 3 300 20250101000000 19700101000000 12345 secs.test. AAAA"]
    assert answer_text(server, "x.secs.test", "RRSIG") == [
        "300 RRSIG A 8 3 300 21060207062815 19700101000001 12345 secs.test. AAAA"]


def test_a_zone_without_ns_records_loads_as_nsd_loads_it(tmp_path):
    path = tmp_path / "nons.test.zone"
    path.write_text("$TTL 300\n@ IN SOA ns1 h 1 2 3 4 5\nwww IN A 192.0.2.1\n")
    server = AuthoritativeServer(Authority([load_zone_file(path)]))
    assert answer_text(server, "www.nons.test") == ["300 A 192.0.2.1"]


def test_nsec3_owners_below_an_apex_dname_load_as_nsd_loads_them(tmp_path):
    """An NSEC3 owner is no name (RFC 5155 7.2.8): NSD's check for data below a DNAME passes over
    it, and so does the TS; any other record there is refused."""
    path = tmp_path / "apexdn.test.zone"
    nsec3 = "2vptu5timamqttgl4luu9kg21e0aor3s IN NSEC3 1 0 0 - 2vptu5timamqttgl4luu9kg21e0aor3t A RRSIG\n"
    path.write_text("$TTL 300\n@ IN SOA ns1.other.test. h 1 2 3 4 5\n@ IN DNAME other.test.\n" + nsec3)
    assert load_zone_file(path).origin == dns.name.from_text("apexdn.test")
    path.write_text(path.read_text() + "2vptu5timamqttgl4luu9kg21e0aor3s IN TXT x\n")
    with pytest.raises(ZoneError, match="DNAME at apexdn.test. has data below it"):
        load_zone_file(path)



# --------------------------------------------------------------------------- tables and zones together


def test_tables_merge_and_a_name_in_two_tables_keeps_every_address(tmp_path):
    one, two = tmp_path / "one.txt", tmp_path / "two.txt"
    one.write_text("www.example.org 192.0.2.1 A\nonly.one.example 192.0.2.10 A\n")
    two.write_text("WWW.example.org 192.0.2.2 A\nwww.example.org 2001:db8::2 AAAA\nonly.two.example 192.0.2.20 A\n")
    zones = load_sources([], [one, two])
    assert len(zones) == 1
    server = AuthoritativeServer(Authority(zones))
    assert answer_text(server, "www.example.org") == ["300 A 192.0.2.1", "300 A 192.0.2.2"]
    assert answer_text(server, "www.example.org", "AAAA") == ["300 AAAA 2001:db8::2"]
    assert answer_text(server, "only.one.example") == ["300 A 192.0.2.10"]
    assert answer_text(server, "only.two.example") == ["300 A 192.0.2.20"]
    assert server.zone_sizes() == {".": 1 + 3}      # the root, and three names


def test_a_table_name_inside_a_served_zone_is_refused_with_its_line(tmp_path):
    table = tmp_path / "t.txt"
    table.write_text("# names\nwww.example.org 192.0.2.1 A\nwww.Inside.test 192.0.2.2 A\n")
    zone = tmp_path / "inside.test.zone"
    zone.write_text("$TTL 300\n@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.53\n")
    with pytest.raises(ZoneError, match=rf"^{table}:3: www.inside.test. is inside the zone inside.test. that "
                                        rf"{zone} serves: serve a name from one source$"):
        load_sources([zone], [table])


def test_a_zone_from_two_files_is_refused(tmp_path):
    first, second = tmp_path / "a.zone", tmp_path / "b.zone"
    for path in (first, second):
        path.write_text("$ORIGIN same.test.\n$TTL 300\n@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\n")
    with pytest.raises(ZoneError, match=rf"^{second}: zone same.test. is already served from {first}$"):
        load_sources([first, second], [])


def test_a_table_hostname_with_escapes_is_read_as_in_master_files(tmp_path):
    table = tmp_path / "t.txt"
    table.write_text("a\\.b.example 192.0.2.1 A\n")
    server = AuthoritativeServer(Authority(load_sources([], [table])))
    assert answer_text(server, "a\\.b.example") == ["300 A 192.0.2.1"]
    assert ask(server, "b.example").rcode() == dns.rcode.NXDOMAIN


def test_table_ptr_gives_each_address_the_first_name_written_for_it_across_tables(tmp_path):
    one, two = tmp_path / "one.txt", tmp_path / "two.txt"
    one.write_text("first.example 192.0.2.1 A\nsecond.example 192.0.2.1 A\nFirst.example 2001:db8::1 AAAA\n")
    two.write_text("third.example 192.0.2.1 A\nthird.example 192.0.2.3 A\n")
    server = AuthoritativeServer(Authority(load_sources([], [one, two], table_ptr=True)))
    assert answer_text(server, "1.2.0.192.in-addr.arpa", "PTR") == ["300 PTR first.example."]
    assert answer_text(server, "3.2.0.192.in-addr.arpa", "PTR") == ["300 PTR third.example."]
    assert answer_text(server, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
                       "PTR") == ["300 PTR first.example."]
    assert answer_text(server, "second.example") == ["300 A 192.0.2.1"]     # the forward names are as before
    assert ask(server, "2.2.0.192.in-addr.arpa", "PTR").rcode() == dns.rcode.NXDOMAIN
    plain = AuthoritativeServer(Authority(load_sources([], [one, two])))
    assert ask(plain, "1.2.0.192.in-addr.arpa", "PTR").rcode() == dns.rcode.NXDOMAIN


def test_a_table_ptr_name_inside_a_served_reverse_zone_is_refused_with_its_line(tmp_path):
    table = tmp_path / "t.txt"
    table.write_text("host.example 198.51.100.7 A\nwww.example 192.0.2.1 A\n")
    zone = tmp_path / "2.0.192.in-addr.arpa.zone"
    zone.write_text("$TTL 300\n@ IN SOA ns1.example. h.example. 1 2 3 4 5\n@ IN NS ns1.example.\n")
    load_sources([zone], [table])       # without PTR records the table has no name there
    with pytest.raises(ZoneError, match=rf"^{table}:2: 1.2.0.192.in-addr.arpa. is inside the zone "
                                        rf"2.0.192.in-addr.arpa. that {zone} serves"):
        load_sources([zone], [table], table_ptr=True)


def test_a_table_name_outside_ascii_is_idna_encoded_as_the_client_encodes_it(tmp_path):
    table = tmp_path / "t.txt"
    table.write_text("bücher.example 192.0.2.1 A\nBÜCHER.example 192.0.2.2 A\n")
    server = AuthoritativeServer(Authority(load_sources([], [table])))
    assert answer_text(server, "xn--bcher-kva.example") == ["300 A 192.0.2.1", "300 A 192.0.2.2"]
    assert answer_text(server, "bücher.example") == ["300 A 192.0.2.1", "300 A 192.0.2.2"]


LATIN1_HEAD = b"$ORIGIN l1.test.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"


def test_a_latin1_byte_in_a_comment_is_read_as_nsd_reads_it(tmp_path):
    path = tmp_path / "l1.test.zone"
    path.write_bytes(LATIN1_HEAD + b"; caf\xe9, an old comment\nwww A 192.0.2.2   ; and here \xe9\n")
    assert load_zone_file(path).addresses       # www is served


def test_bytes_that_are_not_utf8_in_names_and_strings_are_served_as_written_as_nsd_serves_them(tmp_path):
    path = tmp_path / "l1.test.zone"
    path.write_bytes(LATIN1_HEAD + b'www TXT "caf\xe9" "th\xc3\xa9"\ncaf\xe9 A 192.0.2.3\nth\xc3\xa9 A 192.0.2.4\n')
    data = load_zone_file(path)
    txt = data.zone.get_rdataset("www.l1.test.", "TXT")
    assert [s for rdata in txt for s in rdata.strings] == [b"caf\xe9", b"th\xc3\xa9"]
    # Names keep their bytes too (dnspython alone would IDNA-encode the UTF-8 one).
    assert {b"\x04caf\xe9\x02l1\x04test\x00", b"\x04th\xc3\xa9\x02l1\x04test\x00"} <= set(data.addresses)


@pytest.mark.parametrize("text,path,name", [
    ("db.example", "db.example", None),
    ("example.com=db.example", "db.example", "example.com."),
    ("example.com.=dir/db.example", "dir/db.example", "example.com."),
    ("0/26.2.0.192.in-addr.arpa=rev.zone", "rev.zone", "0/26.2.0.192.in-addr.arpa."),   # RFC 2317 names hold '/'
    ("example.com=v=1/db.example", "v=1/db.example", "example.com."),     # split at the first '='
    ("=v=1/db.example", "v=1/db.example", None),                          # a path with '=', named by the file
])
def test_a_zone_argument_is_file_or_name_and_file(text, path, name):
    zone = ZoneFile.parse(text)
    assert (zone.path, zone.name) == (Path(path), name and dns.name.from_text(name))


@pytest.mark.parametrize("text", ["example.com=", "a..b=db.example", "=", "x" * 64 + "=db.example"])
def test_a_zone_argument_without_a_file_or_with_a_bad_name_is_refused(text):
    with pytest.raises(ValueError):
        ZoneFile.parse(text)


def test_a_named_zone_reads_relative_names_against_its_name_not_its_file_name(tmp_path):
    path = tmp_path / "db.example"
    path.write_text("$TTL 300\n@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.53\nwww IN A 192.0.2.1\n")
    assert load_zone_file(path).origin == dns.name.from_text("db.example")     # without a name, the file's
    data = load_zone_file(path, dns.name.from_text("example.test"))
    assert data.origin == dns.name.from_text("example.test")
    assert answer_text(AuthoritativeServer(Authority([data])), "www.example.test") == ["300 A 192.0.2.1"]


def test_loaded_zones_are_frozen_out_of_the_collectors_passes(tmp_path):
    import gc
    from resolver.ts.serve import load
    from resolver.ts.settings import TsSettings
    path = tmp_path / "frozen.test.zone"
    path.write_text("$TTL 300\n@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n")
    try:
        authority = load(TsSettings(zones=(path,)))
        assert gc.isenabled() and gc.get_freeze_count() > 0 and gc.is_tracked(authority.exact)
    finally:
        gc.unfreeze()
