"""``dig`` against the TS and the LS, over UDP and TCP.

dig is the tool an operator reaches for first; these tests read its text output
(header status and flags, the question exactly as echoed, the sections) the way
a person would.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field

import pytest

from resolver.ls.cache import STALE_TTL
from support.paths import ZONES
from support.servers import Server, scrape, value
from support.waiting import wait_until
from support.tools import require_tool

ZONE = ZONES / "example.com.zone"
REVERSE = ZONES / "2.0.192.in-addr.arpa.zone"
SOA_RDATA = "ns1.example.com. hostmaster.example.com. 2026112401 7200 900 1209600 300"

HEADER = re.compile(r";; ->>HEADER<<- opcode: (\S+), status: (\S+), id: (\d+)")
FLAGS = re.compile(r";; flags:([^;]*);")
SECTION = re.compile(r";; (\w+) SECTION:")
QUERY_TIME = re.compile(r";; Query time: (\d+) msec")


@dataclass
class Dig:
    text: str
    status: str = ""
    flags: set[str] = field(default_factory=set)
    question: list[str] = field(default_factory=list)
    answer: list[tuple[str, str, str]] = field(default_factory=list)      # (owner, type, rdata)
    authority: list[tuple[str, str, str]] = field(default_factory=list)
    query_ms: int = -1

    def rrs(self, section: str, rrtype: str) -> list[tuple[str, str]]:
        return [(owner.lower(), rdata) for owner, t, rdata in getattr(self, section) if t == rrtype]


def dig(server: Server, name: str, rrtype: str = "A", *options: str) -> Dig:
    tool = require_tool("dig")
    argv = [tool, f"@{server.host}", "-p", str(server.port), name, rrtype, "+time=2", "+tries=1", *options]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0, f"{argv}: rc={proc.returncode}\n{proc.stdout}{proc.stderr}"
    return parse(proc.stdout)


def parse(text: str) -> Dig:
    out = Dig(text)
    section = None
    for line in text.splitlines():
        if m := HEADER.search(line):
            out.status = m.group(2).rstrip(",")
        elif m := FLAGS.search(line):
            out.flags = set(m.group(1).split())
        elif m := SECTION.match(line):
            section = m.group(1).lower()
        elif m := QUERY_TIME.match(line):
            out.query_ms = int(m.group(1))
        elif not line.strip():
            section = None
        elif section == "question":
            out.question.append(line)
        elif section in ("answer", "authority") and not line.startswith(";"):
            owner, _ttl, _cls, rrtype, rdata = line.split(None, 4)
            getattr(out, section).append((owner, rrtype, " ".join(rdata.split())))
    assert out.status, f"no header in dig output:\n{text}"
    return out


TRANSPORTS = pytest.mark.parametrize("transport", [[], ["+tcp"]], ids=["udp", "tcp"])


@pytest.fixture
def zone_ts(start_server) -> Server:
    return start_server("ts", "--zone", str(ZONE))


@pytest.fixture
def ls(demo_backends, start_server) -> Server:
    ts1, ts2 = demo_backends
    return start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport)


# --- table TS -------------------------------------------------------------------------------


@TRANSPORTS
def test_ts_table_hit_is_authoritative_answer(demo_backends, transport):
    ts1, _ = demo_backends
    d = dig(ts1, "www.ibm.com", "A", *transport)
    assert d.status == "NOERROR"
    assert {"qr", "aa", "rd"} <= d.flags
    assert "ra" not in d.flags
    assert d.rrs("answer", "A") == [("www.ibm.com.", "129.42.38.10")]


@TRANSPORTS
def test_ts_table_two_addresses_in_table_order(demo_backends, transport):
    ts1, _ = demo_backends
    d = dig(ts1, "multi.example.org", "A", *transport)
    assert d.status == "NOERROR"
    assert [rdata for _, rdata in d.rrs("answer", "A")] == ["192.0.2.101", "192.0.2.102"]


@TRANSPORTS
def test_ts_table_miss_is_nxdomain_with_root_soa(demo_backends, transport):
    _, ts2 = demo_backends
    d = dig(ts2, "www.ibm.com", "A", *transport)       # TS1's name
    assert d.status == "NXDOMAIN"
    assert "aa" in d.flags
    assert d.answer == []
    soa = d.rrs("authority", "SOA")
    assert len(soa) == 1 and soa[0][0] == ".", d.text


@TRANSPORTS
def test_ts_table_existing_name_other_type_is_nodata(demo_backends, transport):
    ts1, _ = demo_backends
    d = dig(ts1, "www.ibm.com", "AAAA", *transport)
    assert d.status == "NOERROR"
    assert "aa" in d.flags
    assert d.answer == []
    assert [owner for owner, _ in d.rrs("authority", "SOA")] == ["."]


def test_ts_table_root_apex_has_soa(demo_backends):
    ts1, _ = demo_backends
    d = dig(ts1, ".", "SOA")
    assert d.status == "NOERROR"
    assert "aa" in d.flags
    assert [owner for owner, _ in d.rrs("answer", "SOA")] == ["."]


@TRANSPORTS
@pytest.mark.parametrize("which", ["ts", "ls"])
def test_question_letter_case_is_kept(demo_backends, ls, which, transport):
    server = demo_backends[0] if which == "ts" else ls
    d = dig(server, "WwW.IbM.CoM", "A", *transport)
    assert d.status == "NOERROR"
    assert len(d.question) == 1
    assert d.question[0].split()[0] == ";WwW.IbM.CoM.", d.text
    assert [rdata for _, rdata in d.rrs("answer", "A")] == ["129.42.38.10"]


@TRANSPORTS
@pytest.mark.parametrize("which", ["ts", "ls"])
def test_rd_flag_is_copied(demo_backends, ls, which, transport):
    server = demo_backends[0] if which == "ts" else ls
    with_rd = dig(server, "www.ibm.com", "A", "+rec", *transport)
    without_rd = dig(server, "www.ibm.com", "A", "+norec", *transport)
    assert with_rd.status == without_rd.status == "NOERROR"
    assert "rd" in with_rd.flags
    assert "rd" not in without_rd.flags


# --- LS -----------------------------------------------------------------------------------------


@TRANSPORTS
def test_ls_hit_from_each_backend(ls, transport):
    d1 = dig(ls, "www.rutgers.edu", "A", *transport)
    d2 = dig(ls, "api.example.net", "A", *transport)
    assert d1.status == d2.status == "NOERROR"
    assert "qr" in d1.flags and "qr" in d2.flags
    assert [rdata for _, rdata in d1.rrs("answer", "A")] == ["128.6.46.111"]
    assert [rdata for _, rdata in d2.rrs("answer", "A")] == ["198.51.100.7"]


@TRANSPORTS
def test_ls_miss_is_nxdomain_with_soa_at_once(ls, transport):
    d = dig(ls, "www.amazon.com", "A", *transport)
    assert d.status == "NXDOMAIN"
    assert d.answer == []
    assert len(d.rrs("authority", "SOA")) == 1, d.text
    assert 0 <= d.query_ms < 1000, d.text


@TRANSPORTS
def test_ls_best_negative_nxdomain_beats_refused(start_server, transport):
    forward = start_server("ts", "--zone", str(ZONE))
    reverse = start_server("ts", "--zone", str(REVERSE))
    ls = start_server("ls", "--backend", reverse.hostport, "--backend", forward.hostport, "--timeout", "5")
    d = dig(ls, "nosuch.example.com", "A", *transport)
    assert d.status == "NXDOMAIN"
    assert d.rrs("authority", "SOA") == [("example.com.", SOA_RDATA)]
    assert 0 <= d.query_ms < 1000, d.text
    # and a name outside both zones is refused by both: the LS says so at once
    d = dig(ls, "www.example.org", "A", *transport)
    assert d.status == "REFUSED"
    assert 0 <= d.query_ms < 1000, d.text


@TRANSPORTS
def test_ls_passes_zone_answers_through(start_server, transport):
    forward = start_server("ts", "--zone", str(ZONE))
    reverse = start_server("ts", "--zone", str(REVERSE))
    ls = start_server("ls", "--backend", reverse.hostport, "--backend", forward.hostport)
    d = dig(ls, "alias.example.com", "A", *transport)
    assert d.status == "NOERROR"
    assert sorted(rdata for _, rdata in d.rrs("answer", "A")) == ["192.0.2.80", "192.0.2.81"]
    d = dig(ls, "80.2.0.192.in-addr.arpa", "PTR", *transport)
    assert d.status == "NOERROR"
    assert d.rrs("answer", "PTR") == [("80.2.0.192.in-addr.arpa.", "web.example.com.")]


# --- zone file TS ---------------------------------------------------------------------------------


@TRANSPORTS
def test_zone_apex_soa(zone_ts, transport):
    d = dig(zone_ts, "example.com", "SOA", *transport)
    assert d.status == "NOERROR"
    assert "aa" in d.flags
    assert d.rrs("answer", "SOA") == [("example.com.", SOA_RDATA)]


@TRANSPORTS
def test_zone_apex_ns(zone_ts, transport):
    d = dig(zone_ts, "example.com", "NS", *transport)
    assert d.status == "NOERROR"
    assert "aa" in d.flags
    assert sorted(d.rrs("answer", "NS")) == [("example.com.", "ns1.example.com."),
                                             ("example.com.", "ns2.example.net.")]


@TRANSPORTS
def test_zone_apex_mx(zone_ts, transport):
    d = dig(zone_ts, "example.com", "MX", *transport)
    assert d.status == "NOERROR"
    assert "aa" in d.flags
    assert d.rrs("answer", "MX") == [("example.com.", "10 mail.example.com.")]


@pytest.mark.parametrize("name,rrtype,expected", [
    ("example.com", "TXT", '"v=spf1 mx -all"'),
    ("ns1.example.com", "AAAA", "2001:db8::53"),
    ("mail.example.com", "A", "192.0.2.25"),
    ("_sip._tcp.example.com", "SRV", "10 60 5060 sip.example.com."),
    ("mixed.case.example.com", "TXT", '"case kept in the zone"'),
])
def test_zone_record_types(zone_ts, name, rrtype, expected):
    d = dig(zone_ts, name, rrtype)
    assert d.status == "NOERROR"
    assert "aa" in d.flags
    assert d.rrs("answer", rrtype) == [(name + ".", expected)]


def assert_negative(d: Dig, status: str) -> None:
    """An authoritative answer of example.com without records: ``status`` and the zone's SOA."""
    assert d.status == status, d.text
    assert "aa" in d.flags
    assert d.answer == []
    assert d.rrs("authority", "SOA") == [("example.com.", SOA_RDATA)]


@TRANSPORTS
@pytest.mark.parametrize("name,rrtype", [
    ("mail.example.com", "AAAA"),                                        # the name has no such type
    ("b.c.example.com", "A"), ("c.example.com", "A"), ("_tcp.example.com", "A"),    # empty non-terminals
])
def test_zone_nodata(zone_ts, name, rrtype, transport):
    assert_negative(dig(zone_ts, name, rrtype, *transport), "NOERROR")


@TRANSPORTS
@pytest.mark.parametrize("name", ["nosuch.example.com", "x.mail.example.com", "d.b.c.example.com"])
def test_zone_nxdomain_with_soa(zone_ts, name, transport):
    assert_negative(dig(zone_ts, name, "A", *transport), "NXDOMAIN")


@TRANSPORTS
def test_zone_cname_chain_followed(zone_ts, transport):
    d = dig(zone_ts, "alias.example.com", "A", *transport)
    assert d.status == "NOERROR"
    assert "aa" in d.flags
    assert d.rrs("answer", "CNAME") == [("alias.example.com.", "www.example.com."),
                                        ("www.example.com.", "web.example.com.")]
    assert sorted(d.rrs("answer", "A")) == [("web.example.com.", "192.0.2.80"),
                                            ("web.example.com.", "192.0.2.81")]
    # the chain comes in order: CNAMEs first, then the target's records
    assert [t for _, t, _ in d.answer] == ["CNAME", "CNAME", "A", "A"]


def test_zone_cname_out_of_zone_is_not_followed(zone_ts):
    d = dig(zone_ts, "out.example.com", "A")
    assert d.status == "NOERROR"
    assert d.answer == [("out.example.com.", "CNAME", "www.example.org.")]


def test_zone_cname_itself_asked_for(zone_ts):
    d = dig(zone_ts, "www.example.com", "CNAME")
    assert d.status == "NOERROR"
    assert d.answer == [("www.example.com.", "CNAME", "web.example.com.")]


def test_zone_dangling_cname_is_nxdomain_with_the_cname(zone_ts):
    # RFC 6604: the rcode is that of the last name in the chain.
    d = dig(zone_ts, "dead.example.com", "A")
    assert d.status == "NXDOMAIN"
    assert d.rrs("answer", "CNAME") == [("dead.example.com.", "nowhere.example.com.")]
    assert d.rrs("authority", "SOA") == [("example.com.", SOA_RDATA)]


@TRANSPORTS
@pytest.mark.parametrize("name", ["www.example.org", "com", "example.net", "."])
def test_zone_refused_outside(zone_ts, name, transport):
    d = dig(zone_ts, name, "A", *transport)
    assert d.status == "REFUSED"
    assert d.answer == []
    assert "aa" not in d.flags


# --- --zone and --table on one TS --------------------------------------------------------------------


@pytest.fixture
def both_ts(start_server) -> Server:
    return start_server("ts", "--zone", str(ZONE), "--table", str(ZONES / "ts2.txt"))


@TRANSPORTS
def test_zone_and_table_together(both_ts, transport):
    # a table name (root zone)
    d = dig(both_ts, "WWW.GOOGLE.COM", "A", *transport)
    assert d.status == "NOERROR"
    assert "aa" in d.flags
    assert [rdata for _, rdata in d.rrs("answer", "A")] == ["8.8.8.8"]
    # a zone name, CNAME chain included
    d = dig(both_ts, "alias.example.com", "A", *transport)
    assert d.status == "NOERROR"
    assert sorted(rdata for _, rdata in d.rrs("answer", "A")) == ["192.0.2.80", "192.0.2.81"]
    # a miss inside example.com: the more specific zone answers, with its own SOA
    d = dig(both_ts, "nosuch.example.com", "A", *transport)
    assert d.status == "NXDOMAIN"
    assert d.rrs("authority", "SOA") == [("example.com.", SOA_RDATA)]
    # a miss anywhere else: the root zone of the table answers, with its SOA
    d = dig(both_ts, "www.example.org", "A", *transport)
    assert d.status == "NXDOMAIN"
    assert [owner for owner, _ in d.rrs("authority", "SOA")] == ["."]


# --- RA on every reply of the LS ------------------------------------------------------------------
#
# The LS resolves for its client (it follows CNAMEs across backends), so every reply says recursion
# is available, whatever the query's RD, as dnsmasq's replies do: dig then prints no "recursion
# requested but not available" warning.

NO_RECURSION = "recursion requested but not available"
EVERY_WAY = [(transport, rd) for transport in ([], ["+tcp"]) for rd in ("+rec", "+norec")]


def with_ra(server: Server, name: str, rrtype: str, status: str, *options: str) -> list[Dig]:
    """dig ``name`` at ``server`` over UDP and TCP, with RD and without: each reply has ``status``,
    RA set and RD as asked, and dig warns of nothing."""
    replies = []
    for transport, rd in EVERY_WAY:
        d = dig(server, name, rrtype, rd, *transport, *options)
        assert d.status == status, d.text
        assert "ra" in d.flags and ("rd" in d.flags) == (rd == "+rec"), d.text
        assert NO_RECURSION not in d.text, d.text
        replies.append(d)
    return replies


@pytest.mark.parametrize("cache", ["raced", "cached"])
def test_ls_sets_ra_on_answers_and_negatives_raced_and_from_the_cache(demo_backends, start_server, cache):
    """A backend's answer, NXDOMAIN and NODATA passed on, and the same from the cache (each asked
    again: the cache's key leaves RD out, so only the first of each transport is raced)."""
    ts1, ts2 = demo_backends
    ls = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport, "--metrics", "127.0.0.1:0",
                      *(["--cache-size", "0"] if cache == "raced" else []))
    asked = [("www.rutgers.edu", "A", "NOERROR"), ("www.amazon.com", "A", "NXDOMAIN"), ("www.ibm.com", "AAAA", "NOERROR")]
    for _ in range(2):
        for name, rrtype, status in asked:
            replies = with_ra(ls, name, rrtype, status)
            assert all(bool(d.answer) == (name == "www.rutgers.edu") for d in replies)
    hits = value(scrape(ls), "resolver_ls_cache_hits_total")
    assert hits == (0 if cache == "raced" else 6 * len(asked))


@pytest.mark.parametrize("on_timeout", ["nxdomain", "servfail"])
def test_ls_sets_ra_on_its_timeout_answer(start_server, on_timeout):
    silent = start_server("ts", "--table", str(ZONES / "ts1.txt"), "--silent-miss")
    ls = start_server("ls", "--backend", silent.hostport, "--timeout", "0.3", "--on-timeout", on_timeout,
                      "--cache-size", "0")
    with_ra(ls, "www.amazon.com", "A", on_timeout.upper())


def test_ls_sets_ra_on_a_chain_it_follows_and_on_one_nobody_ends(start_server):
    corp = start_server("ts", "--zone", str(ZONES / "corp.example.zone"))
    lab = start_server("ts", "--zone", str(ZONES / "lab.example.zone"))
    ls = start_server("ls", "--backend", corp.hostport, "--backend", lab.hostport, "--cache-size", "0")
    for d in with_ra(ls, "www.corp.example", "A", "NOERROR"):        # the chain across both backends
        assert [rrtype for _, rrtype, _ in d.answer][:1] == ["CNAME"] and d.rrs("answer", "A"), d.text
    for d in with_ra(ls, "out.lab.example", "A", "NOERROR"):         # nobody has its target: lab's reply as it was
        assert [rrtype for _, rrtype, _ in d.answer] == ["CNAME"], d.text


def test_ls_sets_ra_on_a_stale_answer(start_server, tmp_path):
    zone = tmp_path / "short.example.zone"
    zone.write_text("$ORIGIN short.example.\n$TTL 1\n@ IN SOA ns hostmaster 1 7200 900 1209600 1\n"
                    "@ IN NS ns\nns IN A 192.0.2.53\nwww IN A 192.0.2.1\n")
    ts = start_server("ts", "--zone", str(zone))
    ls = start_server("ls", "--backend", ts.hostport, "--serve-stale", "60", "--timeout", "0.5")
    for transport in ([], ["+tcp"]):
        assert dig(ls, "www.short.example", "A", *transport).rrs("answer", "A") == [("www.short.example.", "192.0.2.1")]
    ts.stop()
    stale = re.compile(rf"^www\.short\.example\.\s+{STALE_TTL}\s+IN\s+A\s+192\.0\.2\.1$", re.M)
    wait_until(lambda: stale.search(dig(ls, "www.short.example", "A").text), 5, "the answer served stale", interval=0.2)
    for d in with_ra(ls, "www.short.example", "A", "NOERROR"):
        assert stale.search(d.text), d.text


def test_ls_sets_ra_on_its_refusals(start_server, demo_backends):
    """REFUSED by the allow-list (UDP and TCP) and by the rate limit (TCP: over UDP it drops)."""
    ts1, _ = demo_backends
    elsewhere = start_server("ls", "--backend", ts1.hostport, "--allow", "192.0.2.0/24")
    with_ra(elsewhere, "www.ibm.com", "A", "REFUSED")
    limited = start_server("ls", "--backend", ts1.hostport, "--rate-limit", "1")
    first = dig(limited, "www.ibm.com", "A", "+tcp")
    assert first.status == "NOERROR" and "ra" in first.flags
    for rd in ("+rec", "+norec"):
        d = dig(limited, "www.ibm.com", "A", "+tcp", rd)
        assert d.status == "REFUSED" and "ra" in d.flags and NO_RECURSION not in d.text, d.text


def test_ls_sets_ra_on_formerr_and_notimp(ls):
    """A query without a question or OPT record gets FORMERR (a bare header), another opcode NOTIMP."""
    with_ra(ls, "www.ibm.com", "A", "FORMERR", "+header-only", "+noedns")
    with_ra(ls, "www.ibm.com", "A", "NOTIMP", "+opcode=status")
