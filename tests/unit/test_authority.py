"""Compiled answers, checked in-process by parsing them with dnspython."""
from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest

from resolver import cli
from resolver.config import parse_args
from resolver.ts.authority import Authority
from resolver.ts.server import AuthoritativeServer
from resolver.ts.zones import ZoneError, load_table, load_zone_file

from support.inprocess import make_ts
from support.round_robin import APPS, GLUE, MAIL, MX, SIX, TXT, WWW, ZONE_TEXT
from support.signed_zone import nsec3_owner, signed_zone
from support.paths import ZONES


@pytest.fixture(scope="module")
def server() -> AuthoritativeServer:
    return make_ts(ZONES / "example.com.zone", ZONES / "ts1.txt")


def ask(server: AuthoritativeServer, name: str, rdtype: str = "A", stream: bool = False, **kw) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, **kw)
    reply = server.reply(query.to_wire(), stream)
    assert reply is not None
    message = dns.message.from_wire(reply)
    assert message.id == query.id
    return message


def rrs(section, rdtype: str) -> set[str]:
    return {rd.to_text() for rrset in section if rrset.rdtype == dns.rdatatype.from_text(rdtype) for rd in rrset}


def test_positive_answer_keeps_question_case_and_sets_aa(server):
    reply = ask(server, "WeB.ExAmPlE.CoM")
    assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA
    assert not reply.flags & dns.flags.RA
    assert reply.question[0].name.to_text() == "WeB.ExAmPlE.CoM."
    assert reply.answer[0].name.to_text() == "WeB.ExAmPlE.CoM."
    assert rrs(reply.answer, "A") == {"192.0.2.80", "192.0.2.81"}


def test_rd_is_copied(server):
    assert ask(server, "web.example.com").flags & dns.flags.RD
    query = dns.message.make_query("web.example.com", "A")
    query.flags &= ~dns.flags.RD
    assert not dns.message.from_wire(server.reply(query.to_wire())).flags & dns.flags.RD


@pytest.mark.parametrize("name,rdtype", [("web.example.com", "MX"), ("b.c.example.com", "A"), ("c.example.com", "TXT")])
def test_nodata_for_existing_name_and_empty_non_terminals(server, name, rdtype):
    reply = ask(server, name, rdtype)
    assert reply.rcode() == dns.rcode.NOERROR and not reply.answer
    assert reply.authority[0].rdtype == dns.rdatatype.SOA
    assert reply.authority[0].ttl == 300    # RFC 2308: min(SOA TTL, MINIMUM)


def test_nxdomain_carries_the_zone_soa(server):
    reply = ask(server, "nothing.here.example.com")
    assert reply.rcode() == dns.rcode.NXDOMAIN and reply.flags & dns.flags.AA
    assert reply.authority[0].name.to_text() == "example.com."


def test_table_names_live_in_the_root_zone(server):
    assert rrs(ask(server, "MULTI.example.ORG").answer, "A") == {"192.0.2.101", "192.0.2.102"}
    reply = ask(server, "not.in.any.table")
    assert reply.rcode() == dns.rcode.NXDOMAIN and reply.authority[0].name.to_text() == "."


def test_child_zone_wins_over_the_table_root_zone(server):
    # mail.example.com is in ts1.txt and in example.com.zone: the zone is more specific.
    assert ask(server, "mail.example.com").answer[0].ttl == 3600


def test_refused_outside_every_zone():
    only = make_ts(ZONES / "example.com.zone")
    reply = ask(only, "www.example.org")
    assert reply.rcode() == dns.rcode.REFUSED and not reply.flags & dns.flags.AA


def test_cname_chain_is_followed_inside_the_zone(server):
    reply = ask(server, "alias.example.com")
    assert [r.rdtype for r in reply.answer] == [dns.rdatatype.CNAME, dns.rdatatype.CNAME, dns.rdatatype.A]
    assert rrs(reply.answer, "A") == {"192.0.2.80", "192.0.2.81"}


def test_cname_to_missing_in_zone_name_is_nxdomain_with_the_cname(server):
    reply = ask(server, "dead.example.com")
    assert reply.rcode() == dns.rcode.NXDOMAIN and rrs(reply.answer, "CNAME") == {"nowhere.example.com."}


def test_cname_out_of_zone_stops_at_the_cname(server):
    reply = ask(server, "out.example.com", "AAAA")
    assert reply.rcode() == dns.rcode.NOERROR and rrs(reply.answer, "CNAME") == {"www.example.org."}
    assert not reply.authority


def test_cname_query_returns_only_the_cname(server):
    reply = ask(server, "alias.example.com", "CNAME")
    assert [r.rdtype for r in reply.answer] == [dns.rdatatype.CNAME]


def test_mx_and_srv_targets_get_additional_addresses(server):
    # 192.0.2.53 is ns1, the in-zone target of the NS RRset in the authority section (as NSD).
    assert rrs(ask(server, "example.com", "MX").additional, "A") == {"192.0.2.25", "192.0.2.53"}
    assert rrs(ask(server, "_sip._tcp.example.com", "SRV").additional, "A") == {"192.0.2.60", "192.0.2.53"}


def test_positive_answers_carry_the_zone_ns_and_no_rrset_twice(server):
    reply = ask(server, "ns1.example.com", "A")
    assert rrs(reply.authority, "NS") == {"ns1.example.com.", "ns2.example.net."}
    assert rrs(reply.additional, "AAAA") == {"2001:db8::53"} and not rrs(reply.additional, "A")
    apex_ns = ask(server, "example.com", "NS")
    assert rrs(apex_ns.answer, "NS") and not apex_ns.authority


def test_large_answer_truncates_over_udp_and_fits_with_edns(server):
    small = ask(server, "big.example.com", "TXT")
    assert small.flags & dns.flags.TC and not small.answer
    large = ask(server, "big.example.com", "TXT", use_edns=0, payload=1232)
    assert not large.flags & dns.flags.TC and len(large.answer[0]) == 12 and large.edns == 0
    tcp = ask(server, "big.example.com", "TXT", stream=True)
    assert len(tcp.answer[0]) == 12


def test_optional_records_are_dropped_before_truncating(tmp_path):
    lines = ["$ORIGIN big.test.", "@ 60 IN SOA ns hm 1 2 3 4 5", "@ 60 IN NS ns", "ns 60 IN A 192.0.2.1"]
    for i in range(10):
        lines += [f"@ 60 IN MX {i} mx{i}", f"mx{i} 60 IN A 192.0.2.{10 + i}", f"mx{i} 60 IN AAAA 2001:db8::{i}"]
    path = tmp_path / "big.test.zone"
    path.write_text("\n".join(lines) + "\n")
    server = make_ts(path)
    full = ask(server, "big.test", "MX", stream=True)
    udp = ask(server, "big.test", "MX")                 # 512 bytes: not every AAAA fits
    assert len(udp.answer[0]) == 10 and not udp.flags & dns.flags.TC
    assert rrs(udp.additional, "A") == rrs(full.additional, "A")      # all A RRsets go first
    assert len(rrs(udp.additional, "AAAA")) < len(rrs(full.additional, "AAAA")) == 10


def test_other_classes_are_refused(server):
    reply = ask(server, "version.bind", "TXT", rdclass="CH")
    assert reply.rcode() == dns.rcode.REFUSED


@pytest.mark.parametrize("rdtype,stream,rcode", [
    ("AXFR", False, dns.rcode.NOTIMP), ("AXFR", True, dns.rcode.REFUSED), ("IXFR", False, dns.rcode.REFUSED)])
def test_zone_transfers_are_not_offered(server, rdtype, stream, rcode):
    reply = ask(server, "example.com", rdtype, stream=stream)
    assert reply.rcode() == rcode and not reply.answer


def test_silent_miss_replies_only_for_names_it_has():
    silent = make_ts(ZONES / "ts1.txt", silent_miss=True)
    assert silent.reply(dns.message.make_query("www.ibm.com", "A").to_wire()) is not None
    nodata = dns.message.from_wire(silent.reply(dns.message.make_query("www.ibm.com", "AAAA").to_wire()))
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer      # the name is held, without AAAA
    assert silent.reply(dns.message.make_query("missing.example", "A").to_wire()) is None


def test_silent_miss_stays_silent_on_referrals_and_names_outside_its_zones():
    silent = make_ts(ZONES / "lab.example.zone", silent_miss=True)
    for name in ("host.delegated.lab.example", "www.example.org"):
        assert silent.reply(dns.message.make_query(name, "A").to_wire()) is None, name


@pytest.mark.parametrize("text,message", [
    ("www.a.com 1.2.3.4\n", "expected 'hostname IP A'"),
    ("www.a.com 1.2.3 A\n", "not an IPv4 address"),
    ("www.a.com 2001:db8::1 A\n", "expected AAAA"),
])
def test_bad_table_lines_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "t.txt"
    path.write_text("# comment\n\n" + text)
    with pytest.raises(ZoneError, match=rf"t.txt:3: .*{message}"):
        load_table(path)


def test_zone_origin_comes_from_the_file_name(tmp_path):
    path = tmp_path / "example.net.zone"
    path.write_text("@ 60 IN SOA ns hm 1 2 3 4 5\n@ 60 IN NS ns\nns 60 IN A 192.0.2.1\n")
    assert load_zone_file(path).origin.to_text() == "example.net."


def test_broken_zone_names_the_file(tmp_path):
    path = tmp_path / "bad.zone"
    path.write_text("$ORIGIN bad.example.\n@ 60 IN SOA ns hm 1 2 3 4 5\n@ 60 IN NS ns\nns 60 IN A 300.1.1.1\n")
    with pytest.raises(ZoneError, match="bad.zone:"):
        load_zone_file(path)


# --------------------------------------------------------------------------- names without records, signed zones

ODD_NAMES = """$ORIGIN odd.test.
$TTL 60
@          SOA   ns1 hostmaster 1 2 3 4 60
@          NS    ns1
ns1        A     192.0.2.1
host.*.sub A     192.0.2.10
*.wc       A     192.0.2.40
mx         MX    10 host.wc
cw         CNAME foo.wc
sub2       NS    ns1.sub2
ns1.sub2   A     192.0.2.50
into       CNAME www.sub2
signed     CAA   0 issue "ca.example"
signed     RRSIG CAA 13 3 60 20300101000000 20200101000000 1 odd.test. AAAA
signed     NSEC  www.odd.test. RRSIG NSEC CAA
signed     RRSIG NSEC 13 3 60 20300101000000 20200101000000 1 odd.test. AAAA
order      TXT   "first"
order      AAAA  2001:db8::1
sigs       RRSIG NSEC 13 3 60 20300101000000 20200101000000 1 odd.test. AAAA
sigs       NSEC  www.odd.test. RRSIG NSEC
"""


@pytest.fixture(scope="module")
def odd(tmp_path_factory) -> AuthoritativeServer:
    path = tmp_path_factory.mktemp("odd") / "odd.test.zone"
    path.write_text(ODD_NAMES)
    return make_ts(path)


def test_a_wildcard_at_an_empty_non_terminal_covers_names_with_nodata(odd):
    reply = ask(odd, "anything.sub.odd.test")
    assert reply.rcode() == dns.rcode.NOERROR and not reply.answer and reply.authority[0].rdtype == dns.rdatatype.SOA
    assert ask(odd, "x.*.sub.odd.test").rcode() == dns.rcode.NXDOMAIN     # nothing covers names below *.sub


def test_targets_covered_by_a_wildcard_are_followed_and_get_its_addresses(odd):
    assert rrs(ask(odd, "mx.odd.test", "MX").additional, "A") == {"192.0.2.40", "192.0.2.1"}
    reply = ask(odd, "cw.odd.test")
    assert [r.name.to_text() for r in reply.answer] == ["cw.odd.test.", "foo.wc.odd.test."]


def test_a_cname_into_a_delegation_ends_in_its_referral_with_aa(odd):
    reply = ask(odd, "into.odd.test")
    assert reply.flags & dns.flags.AA and rrs(reply.answer, "CNAME") == {"www.sub2.odd.test."}
    assert rrs(reply.authority, "NS") == {"ns1.sub2.odd.test."} and rrs(reply.additional, "A") == {"192.0.2.50"}


def test_glue_asked_in_mixed_case_is_written_in_the_question_case(odd):
    reply = ask(odd, "NS1.Sub2.odd.test")
    assert not reply.flags & dns.flags.AA
    assert {rd.target.to_text() for rd in reply.authority[0]} == {"NS1.Sub2.odd.test."}


def test_rrsig_asked_gives_every_rrsig_of_the_name(odd):
    covered = {rd.type_covered for rrset in ask(odd, "signed.odd.test", "RRSIG").answer for rd in rrset}
    assert covered == {dns.rdatatype.CAA, dns.rdatatype.NSEC}


@pytest.mark.parametrize("name,rdtype", [
    ("signed", "CAA"),      # a normal type over RRSIG and NSEC
    ("order", "AAAA"),      # the first preferred type, though TXT comes first
    ("sigs", "NSEC"),       # only RRSIG and NSEC: the last of them in the file
])
def test_any_gets_the_rrset_nsd_picks(odd, name, rdtype):
    answer = ask(odd, f"{name}.odd.test", "ANY").answer
    assert {rrset.rdtype for rrset in answer} == {dns.rdatatype.from_text(rdtype)}


def test_nsec3_owner_names_are_not_names(tmp_path):
    origin = "n3.test."
    records = [(origin, "SOA", "ns1 hostmaster 1 2 3 4 60"), (origin, "NS", "ns1"), (f"ns1.{origin}", "A", "192.0.2.1")]
    plain = tmp_path / "n3.test.zone"
    plain.write_text(signed_zone(origin, records, nsec3=True))
    wild = tmp_path / "w3.test.zone"
    wild.write_text(signed_zone("w3.test.", [(n.replace(origin, "w3.test."), t, d) for n, t, d in records]
                                + [("*.w3.test.", "TXT", '"wild"')], nsec3=True))
    owner = nsec3_owner(f"ns1.{origin}", origin)
    server = make_ts(plain, wild)
    for rdtype in ("NSEC3", "ANY", "A"):
        assert ask(server, owner, rdtype).rcode() == dns.rcode.NXDOMAIN, rdtype
    wild_owner = nsec3_owner("ns1.w3.test.", "w3.test.")
    assert rrs(ask(server, wild_owner, "TXT").answer, "TXT") == {'"wild"'}
    assert ask(server, f"x.{wild_owner}", "TXT").rcode() == dns.rcode.NXDOMAIN      # no wildcard below it
    assert ask(server, f"ns1.{origin}", "NSEC3").answer == []


# --------------------------------------------------------------------------- answers spliced from bytes

SPLICE_TYPES = ("A", "AAAA", "TXT", "RRSIG", "NSEC", "DS", "DNSKEY", "CAA", "MX", "NS", "SOA", "ANY", "NSEC3", "SRV")


def replies(server: AuthoritativeServer, names: list[str]) -> dict[tuple[str, str, int], bytes | None]:
    """Every reply for each name (and its upper-case spelling) and type, without EDNS and with 512 and 4096."""
    out = {}
    for name in names:
        for spelling in (name, name.upper()):
            for rdtype in SPLICE_TYPES:
                for payload in (0, 512, 4096):
                    query = dns.message.make_query(spelling, rdtype, use_edns=0 if payload else None,
                                                   payload=payload or 1232)
                    query.id = 1
                    out[(spelling, rdtype, payload)] = server.reply(query.to_wire())
    return out


def test_names_whose_answers_are_spliced_get_the_bytes_the_general_path_packs(tmp_path, monkeypatch):
    from resolver.ts.compiled import CompiledZone
    origin = "sp.test."
    records = [(origin, "SOA", "ns1 hostmaster 1 2 3 4 60"), (origin, "NS", "ns1"), (f"ns1.{origin}", "A", "192.0.2.1"),
               (f"www.{origin}", "A", "192.0.2.2"), (f"www.{origin}", "TXT", '"t"'), (f"Mixed.{origin}", "AAAA", "::1"),
               (f"*.w.{origin}", "A", "192.0.2.3"), (f"mx.{origin}", "MX", "10 www"), (f"big.{origin}", "TXT",
               " ".join(['"' + "x" * 200 + '"'] * 3)), (f"sub.{origin}", "NS", "ns.sub"), (f"sub.{origin}", "DS",
               "12345 13 2 " + "ab" * 32), (f"a.b.{origin}", "CAA", '0 issue "ca.example"')]
    paths = []
    for nsec3 in (False, True):
        path = tmp_path / f"{'n3' if nsec3 else 'n'}.{origin}zone"
        path.write_text(signed_zone(origin, records, nsec3=nsec3).replace(origin, f"{'n3' if nsec3 else 'n'}.{origin}"))
        paths.append(path)
    odd = tmp_path / "odd.test.zone"
    odd.write_text(ODD_NAMES)
    for path in [*paths, odd]:
        text = path.read_text()
        names = sorted({line.split()[0] for line in text.splitlines() if line and not line.startswith("$")})
        names = [n if n.endswith(".") else f"{n}.odd.test." for n in names if n != "@"]
        spliced = replies(make_ts(path), names)
        monkeypatch.setattr(CompiledZone, "_compile_spliced", lambda *args: False)
        assert replies(make_ts(path), names) == spliced, path.name
        monkeypatch.undo()


def test_names_between_a_base_and_names_below_it_are_found_by_wire_key():
    from resolver.ts.compiled import _names_between
    base = dns.name.from_text("Zone.test.")
    names = [dns.name.from_text(text) for text in
             ("a.b.c.zone.test.", "X.B.C.Zone.Test.", "zone.test.", "other.test.", "xzone.test.", "c.zone.test.")]
    keys, found = _names_between(base, names)
    assert found == {dns.name.from_text(text) for text in
                     ("a.b.c.zone.test.", "b.c.zone.test.", "c.zone.test.", "x.b.c.zone.test.")}
    assert keys == {name.to_digestable(): name for name in found}
    # A name keeps the spelling of the first that ends in it.
    assert [n.to_text() for n in found if n == dns.name.from_text("b.c.zone.test.")] == ["b.c.zone.test."]


def test_the_name_fields_of_the_common_types_are_every_field_holding_a_name():
    from resolver.ts.compiled import KEPT_CASE, NAME_FIELDS
    import dns.name as names
    samples = {"A": "192.0.2.1", "AAAA": "::1", "TXT": '"t"', "NS": "ns.test.", "CNAME": "c.test.",
               "PTR": "p.test.", "DNAME": "d.test.", "MX": "10 mx.test.", "SOA": "m.test. r.test. 1 2 3 4 5",
               "DS": "1 8 2 " + "ab" * 32, "DNSKEY": "257 3 8 AAAA", "NSEC": "n.test. A",
               "NSEC3": "1 0 0 - 0P9MHAVEQVM6T7VBL5LOP2U3T2RP3TOM A",
               "RRSIG": "A 8 2 300 20300101000000 20200101000000 1 s.test. AAAA"}
    classes = {rdtype: dns.rdata.get_rdata_class(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype))
               for rdtype in samples}       # DS's is the TS's own (digest_types)
    assert set(NAME_FIELDS) == set(classes.values())
    for rdtype, cls in classes.items():
        rdata = dns.rdata.from_text("IN", rdtype, samples[rdtype])
        holding = {slot for klass in cls.__mro__ for slot in getattr(klass, "__slots__", ())
                   if isinstance(getattr(rdata, slot), names.Name)} - set(KEPT_CASE.get(rdtype, ()))
        assert holding == set(NAME_FIELDS[cls]), rdtype


# --------------------------------------------------------------------------- round robin (ts --round-robin)

def round_robin_zone(tmp_path, text: str = ZONE_TEXT):
    path = tmp_path / "rr.test.zone"
    path.write_text(text)
    return load_zone_file(path)


def turns(server: AuthoritativeServer, name: str, rdtype: str, count: int, stream: bool = False) -> list[list[str]]:
    """The data of the asked type in ``count`` successive answers, in order; each whole reply
    parses, and its other sections are the first reply's."""
    first = ask(server, name, rdtype, stream)
    seen = []
    for reply in [first, *(ask(server, name, rdtype, stream) for _ in range(count - 1))]:
        assert (reply.authority, reply.additional) == (first.authority, first.additional)
        assert [rrset.rdtype for rrset in reply.answer] == [rrset.rdtype for rrset in first.answer]
        seen.append([rd.to_text() for rrset in reply.answer if rrset.rdtype == dns.rdatatype.from_text(rdtype)
                     for rd in rrset])
    return seen


@pytest.mark.parametrize("name,rdtype,order", [
    ("www.rr.test", "A", WWW),
    ("WWW.Rr.Test", "A", WWW),
    ("alias.rr.test", "A", WWW),        # after the CNAME, which points into it
    ("www.dn.rr.test", "A", WWW),       # after a DNAME and the CNAME synthesised from it
    ("txt.rr.test", "TXT", TXT),        # records of different lengths
    ("ns.rr.test", "A", GLUE),
    ("six.rr.test", "AAAA", SIX),
    ("one.apps.rr.test", "A", APPS),    # a wildcard's
    ("rr.test", "MX", MX),
])
def test_round_robin_turns_each_answer_on_its_own_counter(tmp_path, name, rdtype, order):
    server = AuthoritativeServer(Authority([round_robin_zone(tmp_path)], round_robin=True))
    k = len(order)
    expected = [order[turn % k:] + order[:turn % k] for turn in range(2 * k)]
    assert turns(server, name, rdtype, 2 * k) == expected
    assert turns(server, name, rdtype, k, stream=True) == expected[:k]      # TCP takes the next turns


def test_round_robin_leaves_the_additional_section_in_zone_order(tmp_path):
    server = AuthoritativeServer(Authority([round_robin_zone(tmp_path)], round_robin=True))
    for name, rdtype, additional in (("rr.test", "MX", MAIL + GLUE), ("www.rr.test", "A", GLUE)):
        assert [[rd.to_text() for rrset in ask(server, name, rdtype).additional for rd in rrset]
                for _ in range(3)] == [additional] * 3


def test_without_round_robin_answers_are_the_same_bytes_each_time(tmp_path):
    server = AuthoritativeServer(Authority([round_robin_zone(tmp_path)]))
    for name, rdtype in (("www.rr.test", "A"), ("alias.rr.test", "A"), ("one.apps.rr.test", "A"), ("rr.test", "MX")):
        wire = dns.message.make_query(name, rdtype).to_wire()
        assert len({server.reply(wire) for _ in range(4)}) == 1


def test_a_zone_swapped_in_turns_too_and_the_others_go_on_turning(tmp_path):
    other = tmp_path / "other.test.zone"
    other.write_text("$ORIGIN other.test.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.9\n"
                     "two A 198.51.100.1\ntwo A 198.51.100.2\n")
    authority = Authority([round_robin_zone(tmp_path), load_zone_file(other)], round_robin=True)
    assert turns(AuthoritativeServer(authority), "two.other.test", "A", 1) == [["198.51.100.1", "198.51.100.2"]]
    fresh = authority.replacing(round_robin_zone(tmp_path, ZONE_TEXT.replace("192.0.2.3", "192.0.2.4")))
    server = AuthoritativeServer(fresh)
    assert turns(server, "www.rr.test", "A", 3) == [["192.0.2.1", "192.0.2.2", "192.0.2.4"],
                                                     ["192.0.2.2", "192.0.2.4", "192.0.2.1"],
                                                     ["192.0.2.4", "192.0.2.1", "192.0.2.2"]]
    assert turns(server, "two.other.test", "A", 1) == [["198.51.100.2", "198.51.100.1"]]    # its counter went on


def test_round_robin_turns_a_tables_addresses(tmp_path):
    table = tmp_path / "t.txt"
    table.write_text("pool.example 192.0.2.1 A\npool.example 192.0.2.2 A\npool.example 2001:db8::1 AAAA\n"
                     "pool.example 2001:db8::2 AAAA\n")
    server = AuthoritativeServer(Authority([load_table(table)], round_robin=True))
    assert turns(server, "pool.example", "AAAA", 3) == [["2001:db8::1", "2001:db8::2"], ["2001:db8::2", "2001:db8::1"],
                                                        ["2001:db8::1", "2001:db8::2"]]


def test_round_robin_and_table_ptr_are_flags_and_config_keys(tmp_path):
    config = tmp_path / "ts.toml"
    config.write_text('listen = ["127.0.0.1:0"]\ntable = ["t.txt"]\nround-robin = true\ntable-ptr = true\n')
    from_file = cli.ts_settings(parse_args(cli.build_parser(), ["ts", "--config", str(config)]))
    flags = cli.ts_settings(parse_args(cli.build_parser(), ["ts", "--listen", "127.0.0.1:0", "--round-robin",
                                                            "--table-ptr"]))
    plain = cli.ts_settings(parse_args(cli.build_parser(), ["ts", "--listen", "127.0.0.1:0"]))
    assert (from_file.round_robin, from_file.table_ptr) == (flags.round_robin, flags.table_ptr) == (True, True)
    assert (plain.round_robin, plain.table_ptr) == (False, False)


