"""Differential conformance: our TS against NSD, and the LS against the TS it forwards to.

The same query bytes (same ID) go to a reference server and to ours, and the
replies are compared field by field (see ``differential.py`` for exactly what
is compared and how). Every difference fails, except the few in the allow-lists
below, each with its reason.

* ``test_ts_matches_nsd``: NSD 4.x and our TS serving the same zone files
  (``zones/lab.example.zone``, built for this, ``zones/example.com.zone``, and
  ``trunc.example``, written here, for replies near the size limits).
* ``test_ls_is_transparent``: the same queries through the LS (two TS replicas
  behind it) and to one TS directly. The LS passes the TS's reply on with the
  client's ID, so every field must agree.
* TCP (RFC 7766): pipelining against NSD, the TS and the LS, and the idle,
  half-open and garbage connection handling of the TS and the LS.

The matrix: every name x every type with plain EDNS0 and without EDNS over UDP;
DNSSEC and meta query types on a few names; the trunc.example names under six
sizes (EDNS 1232, 800, 600, 512, no EDNS) over UDP and three over TCP; every variant
(no EDNS, EDNS version 1, DO, small buffers, unknown and cookie options, RD off,
CD, AD, Z, opcode 15, malformed question counts, TCP) on a representative subset;
and special queries (CHAOS, AXFR/IXFR over UDP, class ANY).
"""
from __future__ import annotations

import socket
import struct
import time
from dataclasses import replace
from pathlib import Path

import dns.exception
import dns.message
import pytest

from support.paths import ZONES
from support.servers import Server
from support.differential import (Accepted, Case, Variant, compare, exchange, fields, mismatch_report,
                                  tcp_pipeline, unexplained)
from support.nsd import Nsd

ZONE_FILES = [ZONES / "lab.example.zone", ZONES / "example.com.zone"]
TCP_TIMEOUT = 1.0       # --tcp-timeout for our servers in this module

# --------------------------------------------------------------------------- the matrix

LAB = "lab.example."
NAMES = [
    # apex and plain existing names
    LAB, f"ns1.{LAB}", f"mail.{LAB}", f"web.{LAB}", f"sip.{LAB}",
    # CNAMEs: one link, chains, out of zone, dangling
    f"www.{LAB}", f"alias.{LAB}", f"chain1.{LAB}", f"chain3.{LAB}", f"out.{LAB}", f"dead.{LAB}",
    # missing names, also below an existing name
    f"nosuch.{LAB}", f"deep.nosuch.{LAB}", f"x.a.b.c.{LAB}", f"x.web.{LAB}",
    # empty non-terminals and the name below them
    f"c.{LAB}", f"b.c.{LAB}", f"a.b.c.{LAB}", f"_tcp.{LAB}", f"case.{LAB}",
    # wildcards: the ENT above, the wildcard itself, covered names, a name that blocks it
    f"wild.{LAB}", f"*.wild.{LAB}", f"foo.wild.{LAB}", f"a.b.wild.{LAB}", f"sub.wild.{LAB}",
    f"x.sub.wild.{LAB}", f"cnamewild.{LAB}", f"*.cnamewild.{LAB}", f"foo.cnamewild.{LAB}",
    # delegations: at the cut, the glue, below; a cut whose NS is in the parent zone
    f"delegated.{LAB}", f"ns1.delegated.{LAB}", f"foo.delegated.{LAB}", f"a.ns1.delegated.{LAB}",
    f"other.{LAB}", f"www.other.{LAB}",
    # SRV, PTR, letter case, the large RRset
    f"_sip._tcp.{LAB}", f"10.{LAB}", f"Mixed.Case.{LAB}", f"mixed.case.{LAB}", f"big.{LAB}",
    "WwW.LaB.ExAmPlE.", "FOO.Wild.LAB.example.", "DeLeGaTeD.lab.EXAMPLE.", "X.Sub.Wild.Lab.Example.",
    # the second zone
    "example.com.", "www.example.com.", "nosuch.example.com.", "b.c.example.com.", "big.example.com.",
    "Mixed.Case.example.com.",
    # outside every zone: REFUSED
    "example.org.", "example.", "elsewhere.example.", "target.elsewhere.example.", ".",
]
TYPES = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "CNAME", "SRV", "PTR", "DS", "ANY", "TYPE666"]
# Long names: the longest labels, a wildcard expansion with a long owner.
LONG = ".".join(c * 63 for c in "abc")
NAMES += [f"{LONG}.{LAB}", f"{'x' * 63}.wild.{LAB}"]
# DNSSEC and meta types (the zones are unsigned), on a few names.
ODD_TYPES = ["DNSKEY", "RRSIG", "NSEC", "NSEC3PARAM", "TYPE0", "OPT", "MAILA", "MAILB", "TKEY"]
ODD_TYPE_NAMES = [LAB, f"www.{LAB}", f"nosuch.{LAB}", f"foo.wild.{LAB}", f"delegated.{LAB}", "example.org."]

# A third zone, written to a temporary file for both servers: replies that only
# just fit, or do not, in 512 bytes and in other EDNS sizes, so truncation (which
# sections go first, when TC is set) is compared too.
TRUNC = "trunc.example."
_HOSTS = [f"host-with-a-longer-name-{i:02d}" for i in range(1, 11)]
TRUNC_ZONE = "\n".join([
    f"$ORIGIN {TRUNC}",
    "$TTL 3600",
    "@ IN SOA ns01 hostmaster 1 7200 900 1209600 300",
    *[f"@ IN NS nameserver-{i:02d}" for i in range(1, 9)],
    *[f"nameserver-{i:02d} IN A 192.0.2.{i}\nnameserver-{i:02d} IN AAAA 2001:db8::{i}" for i in range(1, 9)],
    *[f"{h} IN A 198.51.100.{i}\n{h} IN AAAA 2001:db8:1::{i}" for i, h in enumerate(_HOSTS, 1)],
    # answer fits in 512, the zone's NS (authority) and their addresses do not
    f'fill IN TXT "{"f" * 250}"',
    f'fill2 IN TXT "{"g" * 200}" "{"h" * 200}"',
    # many MX targets: the additional section overflows first
    *[f"mx IN MX {i} {h}" for i, h in enumerate(_HOSTS, 1)],
    # an A RRset of 40 records (640 bytes of records): TC without EDNS
    *[f"many IN A 203.0.113.{i}" for i in range(1, 41)],
    # a wildcard whose expansion is too large for 512
    *[f'*.wbig IN TXT "wildcard record {i:02d} {"w" * 40}"' for i in range(12)],
    # a referral with ten in-bailiwick name servers and their glue
    *[f"deleg IN NS ns{i:02d}.deleg" for i in range(1, 11)],
    *[f"ns{i:02d}.deleg IN A 192.0.2.{100 + i}\nns{i:02d}.deleg IN AAAA 2001:db8:2::{i}" for i in range(1, 11)],
    # a referral whose name servers are out of the zone: no glue
    *[f"outdeleg IN NS {h}.elsewhere.example." for h in _HOSTS],
    "",
])
TRUNC_NAMES = [TRUNC, f"fill.{TRUNC}", f"fill2.{TRUNC}", f"mx.{TRUNC}", f"many.{TRUNC}", f"x.wbig.{TRUNC}",
               f"deleg.{TRUNC}", f"a.deleg.{TRUNC}", f"outdeleg.{TRUNC}", f"nosuch.{TRUNC}"]
TRUNC_TYPES = ["A", "TXT", "MX", "NS", "ANY"]

EDNS0 = Variant("edns0")
NOEDNS = Variant("noedns", edns=None)
COOKIE = bytes.fromhex("0123456789abcdef")            # a client cookie only (RFC 7873)


def _without_question(wire: bytes) -> bytes:
    end = 12
    while wire[end]:
        end += wire[end] + 1
    end += 5
    return wire[:4] + b"\x00\x00" + wire[6:12] + wire[end:]


def _question_twice(wire: bytes) -> bytes:
    end = 12
    while wire[end]:
        end += wire[end] + 1
    end += 5
    return wire[:4] + b"\x00\x02" + wire[6:end] + wire[12:end] + wire[end:]


def _with_answer_record(wire: bytes) -> bytes:
    """The query with an A record in its answer section, after the question (a query must carry none)."""
    end = 12
    while wire[end]:
        end += wire[end] + 1
    end += 5
    record = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes((192, 0, 2, 1))
    return wire[:6] + b"\x00\x01" + wire[8:end] + record + wire[end:]


def _option_overruns(wire: bytes) -> bytes:
    """The query's OPT (last, with no options) given an option whose length runs past its data."""
    return wire[:-2] + b"\x00\x08" + b"\x00\x0a\x00\x08" + b"1234"


def _half_option(wire: bytes) -> bytes:
    """The query's OPT given two bytes of data: half an option header."""
    return wire[:-2] + b"\x00\x02" + b"\x00\x0a"


VARIANTS = [
    Variant("edns1", edns=1),
    Variant("do", do=True),
    Variant("bufsize512", payload=512),
    Variant("bufsize512-do", payload=512, do=True),
    Variant("bufsize100", payload=100),
    Variant("unknown-option", options=((65001, b"differential"),)),
    Variant("cookie", options=((10, COOKIE),)),
    Variant("rd0", rd=False),
    Variant("noedns-rd0", edns=None, rd=False),
    Variant("cd", cd=True),
    Variant("ad", ad=True),
    Variant("z", z=True),
    Variant("tcp", tcp=True),
    Variant("tcp-noedns", edns=None, tcp=True),
]
SIZE_VARIANTS = [EDNS0, NOEDNS, Variant("bufsize512", payload=512), Variant("bufsize600", payload=600),
                 Variant("bufsize800", payload=800), Variant("noedns-tcp", edns=None, tcp=True),
                 Variant("tcp", tcp=True), Variant("bufsize512-tcp", payload=512, tcp=True)]
# Queries a server rejects on the header alone: the name does not matter, so a few cases do.
HEADER_VARIANTS = [
    Variant("opcode15", opcode=15),
    Variant("opcode15-noedns", edns=None, opcode=15),
    Variant("opcode15-tcp", opcode=15, tcp=True),
    # Another opcode is NOTIMP whatever the counts say: NSD checks the opcode first.
    Variant("opcode15-qdcount0", opcode=15, mangle=_without_question),
    Variant("opcode15-qdcount0-noedns", edns=None, opcode=15, mangle=_without_question),
    Variant("opcode15-qdcount2", opcode=15, mangle=_question_twice),
    Variant("opcode15-answer-record", opcode=15, mangle=_with_answer_record),
    Variant("opcode1-iquery-noedns", edns=None, opcode=1),
    Variant("opcode2-status-qdcount0", opcode=2, mangle=_without_question),
    Variant("opcode3-noedns", edns=None, opcode=3),
    Variant("opcode6-dso-qdcount0-tcp", opcode=6, mangle=_without_question, tcp=True),
    Variant("answer-record", mangle=_with_answer_record),
    Variant("qdcount0", mangle=_without_question),
    Variant("qdcount0-noedns", edns=None, mangle=_without_question),
    Variant("qdcount2", mangle=_question_twice),
    Variant("qdcount2-noedns", edns=None, mangle=_question_twice),
    Variant("tc-in-query", tc=True),
    Variant("option-overruns", mangle=_option_overruns),
    Variant("option-overruns-tcp", mangle=_option_overruns, tcp=True),
    Variant("half-option", mangle=_half_option),
]
HEADER_CASES = [(LAB, "SOA"), (f"www.{LAB}", "A"), ("example.org.", "A")]
SUBSET_NAMES = [LAB, f"www.{LAB}", f"web.{LAB}", f"nosuch.{LAB}", f"b.c.{LAB}", f"foo.wild.{LAB}",
                f"x.sub.wild.{LAB}", f"delegated.{LAB}", f"ns1.delegated.{LAB}", "WwW.LaB.ExAmPlE.",
                f"big.{LAB}", "example.org."]
SUBSET_TYPES = ["A", "TXT", "NS", "ANY"]
TCP = Variant("tcp", tcp=True)
SPECIAL = [
    Case("version.bind.", "TXT", EDNS0, "CH"),
    Case("version.bind.", "TXT", NOEDNS, "CH"),
    Case("version.bind.", "ANY", EDNS0, "CH"),
    Case("version.server.", "TXT", EDNS0, "CH"),
    Case("id.server.", "TXT", EDNS0, "CH"),
    Case("hostname.bind.", "TXT", EDNS0, "CH"),
    Case("version.bind.", "TXT", TCP, "CH"),
    Case(LAB, "AXFR", EDNS0),
    Case(LAB, "AXFR", NOEDNS),
    Case(LAB, "IXFR", EDNS0),
    Case("example.com.", "AXFR", EDNS0),
    Case(f"www.{LAB}", "AXFR", EDNS0),
    Case(LAB, "AXFR", TCP),
    Case(LAB, "IXFR", TCP),
    Case(LAB, "SOA", EDNS0, "ANY"),
    Case(f"www.{LAB}", "A", EDNS0, "ANY"),
    Case(LAB, "SOA", EDNS0, "CH"),
]


def build_matrix() -> list[Case]:
    cases = [Case(n, t, v) for v in (EDNS0, NOEDNS) for n in NAMES for t in TYPES]
    cases += [Case(n, t, EDNS0) for n in ODD_TYPE_NAMES for t in ODD_TYPES]
    cases += [Case(n, t, v) for v in SIZE_VARIANTS for n in TRUNC_NAMES for t in TRUNC_TYPES]
    cases += [Case(n, t, v) for v in VARIANTS for n in SUBSET_NAMES for t in SUBSET_TYPES]
    cases += [Case(n, t, v) for v in HEADER_VARIANTS for n, t in HEADER_CASES]
    cases += SPECIAL
    return list(dict.fromkeys(cases))


MATRIX = build_matrix()
assert len({c.id for c in MATRIX}) == len(MATRIX)

# --------------------------------------------------------------------------- allow-lists
#
# Differences we accept on purpose, each with its reason. A difference counts as
# accepted only when the case matches ``when`` and the field is listed. Anything
# else fails. Keep this short: a difference that looks like a bug is reported,
# not listed here.

SERVER_IDENTITY = {"version.bind.", "version.server.", "id.server.", "hostname.bind."}

NSD_ACCEPTED: list[Accepted] = [
    Accepted(
        reason="CHAOS-class identity queries (version.bind, id.server, hostname.bind): NSD by default "
               "answers with its version and host name; our TS REFUSES every class but IN (README), so "
               "it never discloses them. Its reply is the one NSD gives any other CHAOS query (REFUSED, "
               "EDE 21 Not Supported). NSD with hide-version/hide-identity: yes also REFUSES these, "
               "with EDE 18 Prohibited instead.",
        when=lambda c: c.qclass == "CH" and c.name.lower() in SERVER_IDENTITY and c.qtype in ("TXT", "ANY"),
        fields=frozenset({"rcode", "answer", "opt.options"}),
        values={"rcode": ("NOERROR", "REFUSED"), "opt.options": ((), ((15, "0015"),))},
    ),
    Accepted(
        reason="QCLASS ANY (255): NSD answers from the IN data with AA clear, no NS and no SOA; our TS "
               "REFUSES every class but IN (README), with EDE 21 Not Supported. Stub resolvers and "
               "recursors never send class ANY for data, and an authoritative server need not answer it.",
        when=lambda c: c.qclass == "ANY",
        fields=frozenset({"rcode", "flags", "answer", "authority", "additional", "opt.options"}),
        values={"rcode": ("NOERROR", "REFUSED"), "opt.options": ((), ((15, "0015"),))},
    ),
]

# The LS may differ from the TS only in replies it makes itself; there are none
# expected for answers the TS serves.
LS_ACCEPTED: list[Accepted] = [
    Accepted(
        reason="Other opcodes: the LS answers NOTIMP itself, echoing the question and, for an EDNS "
               "query, an OPT record, so that clients can match the reply (RFC 6891 section 7); the TS "
               "sends NSD's bare header (no question, no OPT).",
        when=lambda c: c.variant.opcode != 0,
        fields=frozenset({"question", "opt", "opt.version", "opt.flags", "opt.payload", "opt.options"}),
    ),
    Accepted(
        reason="RA: the LS recurses for its clients (it follows CNAMEs across backends), so every reply "
               "of its says so, as dnsmasq's do; the TS, authoritative, leaves it clear.",
        when=lambda c: True,
        fields=frozenset({"flags"}),
        check=lambda diff, _: set(str(diff.right).split()) == set(str(diff.left).split()) | {"ra"},
    ),
]

# An answer from the LS's cache is not authoritative (RFC 1035 6.2, RFC 2181 5.4.1): AA clear, RA set.
CACHE_ACCEPTED: list[Accepted] = [
    *LS_ACCEPTED,
    Accepted(
        reason="AA: an answer from the LS's cache has it clear, as CoreDNS's cache, Unbound and dnsmasq "
               "clear it; the TS's own reply has it set. RA as above.",
        when=lambda c: True,
        fields=frozenset({"flags"}),
        check=lambda diff, _: set(str(diff.right).split()) == set(str(diff.left).split()) - {"aa"} | {"ra"},
    ),
]

# --------------------------------------------------------------------------- servers


def _server(*args: str) -> Server:
    return Server([*args, "--listen", "127.0.0.1:0"])


@pytest.fixture(scope="module")
def zone_files(tmp_path_factory) -> list[Path]:
    trunc = tmp_path_factory.mktemp("zones") / f"{TRUNC.rstrip('.')}.zone"
    trunc.write_text(TRUNC_ZONE)
    return [*ZONE_FILES, trunc]


# ``nsd`` serves zone_files (conftest.py).


@pytest.fixture(scope="module")
def servers(zone_files):
    """The TS (and a replica) on the same zones, and the LS in front of both: without its answer
    cache (every query raced), and with it.

    Module-scoped like NSD, so the conftest ``start_server`` factory (function
    scope) is not used; the same ``Server`` class starts them.
    """
    zone_args = [a for z in zone_files for a in ("--zone", str(z))]
    started: list[Server] = []
    try:
        ts1 = _server("ts", *zone_args, "--tcp-timeout", str(TCP_TIMEOUT))
        started.append(ts1)
        ts2 = _server("ts", *zone_args, "--tcp-timeout", str(TCP_TIMEOUT))
        started.append(ts2)
        ls = _server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport,
                     "--tcp-timeout", str(TCP_TIMEOUT), "--cache-size", "0")     # every query raced
        started.append(ls)
        cached = _server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport,
                         "--tcp-timeout", str(TCP_TIMEOUT))                       # its answer cache on
        started.append(cached)
        yield {"ts": ts1, "ts2": ts2, "ls": ls, "cached": cached}
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture(scope="module")
def ts(servers) -> Server:
    return servers["ts"]


@pytest.fixture(scope="module")
def ls(servers) -> Server:
    return servers["ls"]


def address(server) -> tuple[str, int]:
    return (server.host, server.port)


# --------------------------------------------------------------------------- differential tests


def check(case: Case, left_name: str, left, right_name: str, right, allowed) -> None:
    wire = case.wire()
    a = exchange(wire, address(left), tcp=case.variant.tcp)
    b = exchange(wire, address(right), tcp=case.variant.tcp)
    diffs = unexplained(case, compare(a, b), allowed)
    assert not diffs, mismatch_report(case, diffs, left_name, a, right_name, b)


@pytest.mark.parametrize("case", MATRIX, ids=lambda c: c.id)
def test_ts_matches_nsd(case: Case, nsd: Nsd, ts: Server) -> None:
    check(case, "NSD", nsd, "TS", ts, NSD_ACCEPTED)


@pytest.mark.parametrize("case", MATRIX, ids=lambda c: c.id)
def test_ls_is_transparent(case: Case, ts: Server, ls: Server) -> None:
    check(case, "TS", ts, "LS", ls, LS_ACCEPTED)


def ttls_apart(wire: bytes | None) -> tuple[bytes | None, list[int]]:
    """``wire`` with every record's TTL (the OPT record's field aside) set to 0, and those TTLs in
    order; a message dnspython cannot read is given back as it is, with none."""
    if wire is None:
        return None, []
    try:
        message = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return wire, []
    ttls = []
    for section in (message.answer, message.authority, message.additional):
        for rrset in section:
            ttls.append(rrset.ttl)
            rrset.ttl = 0
    return message.to_wire(), ttls


@pytest.mark.parametrize("case", MATRIX, ids=lambda c: c.id)
def test_a_cached_answer_is_the_fresh_one_with_lower_ttls(case: Case, ts: Server, servers) -> None:
    """Asked twice through an LS with its cache on (the second time from the cache when the first
    reply was kept), the reply is the TS's own but for TTLs, each at most the TS's."""
    wire = case.wire()
    direct = exchange(wire, address(ts), tcp=case.variant.tcp)
    exchange(wire, address(servers["cached"]), tcp=case.variant.tcp)
    again = exchange(wire, address(servers["cached"]), tcp=case.variant.tcp)
    (direct_zeroed, direct_ttls), (again_zeroed, again_ttls) = ttls_apart(direct), ttls_apart(again)
    diffs = unexplained(case, compare(direct_zeroed, again_zeroed), CACHE_ACCEPTED)
    assert not diffs, mismatch_report(case, diffs, "TS", direct, "LS (cache)", again)
    assert len(again_ttls) == len(direct_ttls) and all(0 <= b <= a for a, b in zip(direct_ttls, again_ttls)), \
        (case.id, direct_ttls, again_ttls)


# --------------------------------------------------------------------------- TCP (RFC 7766)

PIPELINE = [replace(c, variant=EDNS0) for c in MATRIX if c.variant == EDNS0 and c.qclass == "IN"]


def pipeline_cases(count: int) -> list[tuple[int, Case]]:
    """``count`` distinct queries with IDs 1..count, spread over the names and types."""
    step = max(1, len(PIPELINE) // count)
    picked = PIPELINE[::step][:count]
    assert len(picked) == count
    return [(i + 1, c) for i, c in enumerate(picked)]


def assert_all_answered(replies: dict[int, bytes], queries: list[tuple[int, Case]], who: str) -> None:
    missing = [c.id for qid, c in queries if qid not in replies]
    assert not missing, f"{who}: {len(missing)} of {len(queries)} pipelined queries unanswered: {missing[:10]}"
    for qid, case in queries:
        got = fields(replies[qid])
        sent = fields(case.wire(qid))
        assert got["question"] == sent["question"], f"{who}: reply {qid} has another question"


@pytest.mark.parametrize("who", ["ts", "ls", "nsd"])
def test_tcp_pipelining_one_write(who: str, request) -> None:
    """100 queries in one write on one connection: every one answered (RFC 7766 6.2.1.1)."""
    server = request.getfixturevalue(who)
    queries = pipeline_cases(100)
    replies = tcp_pipeline([c.wire(qid) for qid, c in queries], address(server))
    assert_all_answered(replies, queries, who)


def test_tcp_pipelining_matches_nsd(nsd: Nsd, ts: Server) -> None:
    """The 100 pipelined replies of the TS agree with NSD's, reply by reply."""
    queries = pipeline_cases(100)
    wires = [c.wire(qid) for qid, c in queries]
    ours = tcp_pipeline(wires, address(ts))
    theirs = tcp_pipeline(wires, address(nsd))
    problems = []
    for qid, case in queries:
        tcp_case = replace(case, variant=Variant("tcp", tcp=True))
        diffs = unexplained(tcp_case, compare(theirs.get(qid), ours.get(qid)), NSD_ACCEPTED)
        if diffs:
            problems.append(mismatch_report(tcp_case, diffs, "NSD", theirs.get(qid), "TS", ours.get(qid)))
    assert not problems, f"{len(problems)} of {len(queries)} differ\n" + "\n".join(problems)


def test_ls_tcp_pipelining_transparent(ts: Server, ls: Server) -> None:
    """20 queries back to back on one connection to the LS; replies (any order) match the TS's."""
    queries = pipeline_cases(20)
    wires = [c.wire(qid) for qid, c in queries]
    through_ls = tcp_pipeline(wires, address(ls), one_write=False)
    assert_all_answered(through_ls, queries, "ls")
    problems = []
    for (qid, case), wire in zip(queries, wires):
        tcp_case = replace(case, variant=Variant("tcp", tcp=True))
        direct = exchange(wire, address(ts), tcp=True)
        diffs = unexplained(tcp_case, compare(direct, through_ls[qid]), LS_ACCEPTED)
        if diffs:
            problems.append(mismatch_report(tcp_case, diffs, "TS", direct, "LS", through_ls[qid]))
    assert not problems, "\n".join(problems)


def wait_closed(sock: socket.socket, limit: float) -> tuple[float | None, bytes]:
    """Seconds until the server closes ``sock`` (None if still open after ``limit``), and any data sent."""
    start = time.monotonic()
    data = b""
    while True:
        left = limit - (time.monotonic() - start)
        if left <= 0:
            return None, data
        sock.settimeout(left)
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            return None, data
        except ConnectionError:
            return time.monotonic() - start, data
        if not chunk:
            return time.monotonic() - start, data
        data += chunk


@pytest.mark.parametrize("who", ["ts", "ls"])
def test_tcp_idle_and_half_open_connections_closed(who: str, request) -> None:
    """With --tcp-timeout 1: idle, length-prefix-only and half-message connections are closed
    after about a second, without a reply."""
    server = request.getfixturevalue(who)
    query = Case(f"www.{LAB}", "A", EDNS0).wire()
    framed = struct.pack("!H", len(query)) + query
    starts = {"idle": b"", "prefix only": framed[:2], "half a message": framed[: 2 + len(query) // 2]}
    socks = {}
    for label, data in starts.items():
        socks[label] = socket.create_connection(address(server), timeout=2)
        if data:
            socks[label].sendall(data)
    began = time.monotonic()
    try:
        results = {}
        for label, sock in socks.items():
            elapsed, data = wait_closed(sock, TCP_TIMEOUT + 4 - (time.monotonic() - began))
            results[label] = (None if elapsed is None else time.monotonic() - began, data)
    finally:
        for sock in socks.values():
            sock.close()
    for label, (closed_at, data) in results.items():
        assert closed_at is not None, f"{who}: {label} connection still open after {TCP_TIMEOUT + 4} s"
        assert closed_at >= TCP_TIMEOUT * 0.5, f"{who}: {label} connection closed too early ({closed_at:.2f} s)"
        assert data == b"", f"{who}: {label} connection got data: {data.hex()}"


@pytest.mark.parametrize("who", ["ts", "ls"])
@pytest.mark.parametrize("length", [0, 5, 11])
def test_tcp_garbage_length_closes(who: str, length: int, request) -> None:
    """A length prefix too short for a DNS header: the connection is closed at once, no reply."""
    server = request.getfixturevalue(who)
    with socket.create_connection(address(server), timeout=2) as sock:
        sock.sendall(struct.pack("!H", length) + b"\x00" * length)
        elapsed, data = wait_closed(sock, TCP_TIMEOUT + 4)
    assert elapsed is not None, f"{who}: connection still open after a {length}-byte message"
    assert elapsed < TCP_TIMEOUT * 0.5, f"{who}: closed only after {elapsed:.2f} s, at the idle timeout"
    assert data == b"", f"{who}: got data: {data.hex()}"


# --------------------------------------------------------------------------- the harness itself


def _reply(**kw) -> bytes:
    """A small authoritative reply built with dnspython, for checking the comparison."""
    import dns.flags
    import dns.message
    import dns.rrset

    q = dns.message.make_query(kw.get("qname", "a.lab.example."), "A", use_edns=kw.get("edns", 0))
    q.id = 4242
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA
    if kw.get("do"):
        r.want_dnssec(True)
    r.answer.append(dns.rrset.from_text(kw.get("owner", "Web.lab.example."), kw.get("ttl", 3600), "IN", "A",
                                        "192.0.2.80"))
    return r.to_wire()


@pytest.mark.parametrize("change, field", [
    ({"ttl": 60}, "answer"),
    ({"owner": "web.lab.example."}, "answer"),
    ({"qname": "A.lab.example."}, "question"),
    ({"do": True}, "opt.flags"),
    ({"edns": False}, "opt"),
])
def test_comparison_sees_differences(change: dict, field: str) -> None:
    """The comparison is strict where it should be: TTLs, owner and question letter case, OPT."""
    diffs = compare(_reply(), _reply(**change))
    assert field in {d.field for d in diffs}, diffs
    assert compare(_reply(), _reply()) == []
    assert [d.field for d in compare(_reply(), None)] and compare(None, None) == []


@pytest.mark.parametrize("entry", NSD_ACCEPTED, ids=lambda a: a.reason[:40])
def test_allow_list_entries_still_needed(entry: Accepted, nsd: Nsd, ts: Server) -> None:
    """Every allow-list entry still covers a difference that occurs; a stale entry fails here."""
    covered = []
    for case in MATRIX:
        if entry.when(case):
            wire = case.wire()
            diffs = compare(exchange(wire, address(nsd), tcp=case.variant.tcp),
                            exchange(wire, address(ts), tcp=case.variant.tcp))
            covered += [d for d in diffs if entry.covers(case, d)]
    assert covered, f"no difference left for: {entry.reason}"
