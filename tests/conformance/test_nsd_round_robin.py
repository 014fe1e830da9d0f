"""``ts --round-robin`` against NSD's ``round-robin: yes`` on the same zone: successive queries
for a name of k addresses see k orders, each a rotation of the zone's, over UDP and TCP, after a
CNAME or a DNAME and for a name a wildcard answers too, for MX as for addresses; the authority
and additional sections (the NS RRset, its glue, the MX targets' addresses) keep the zone's
order in both. Without the flag every answer keeps the zone's order.

NSD turns one counter for the whole server, a step for each RRset of an answer section it
writes; the TS turns one per question, so its orders come in turn from the zone's own. The
tests therefore ask NSD for what both promise (each order a rotation, as many orders as its
steps reach) and the TS for its exact turn.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator

import dns.message
import dns.rdatatype
import pytest

from support.differential import exchange
from support.nsd import Nsd
from support.round_robin import APPS, GLUE, MAIL, MX, ORIGIN, SIX, TXT, WWW, ZONE_TEXT
from support.servers import Server
from support.tools import require_tool
from support.zone_servers import write_zone_files

ZONE_TEXTS = {ORIGIN: ZONE_TEXT}
GLUE_LINES = [f"ns.{ORIGIN} 300 IN A {address}" for address in GLUE]
MAIL_LINES = [f"mx{i}.{ORIGIN} 300 IN A {address}" for i, address in enumerate(MAIL, 1)]


@pytest.fixture(scope="module")
def rr_nsd(tmp_path_factory, zone_files) -> Iterator[Nsd]:
    server = Nsd(require_tool("nsd"), tmp_path_factory.mktemp("nsd"), zone_files, options=["round-robin: yes"])
    server.start()
    try:
        yield server
    finally:
        server.stop()


def ts_with(zone_files: list[Path], *flags: str) -> Server:
    return Server(["ts", *[arg for path in zone_files for arg in ("--zone", str(path))], "--listen", "127.0.0.1:0",
                   *flags])


@pytest.fixture(scope="module")
def rr_ts(zone_files) -> Iterator[Server]:
    server = ts_with(zone_files, "--round-robin")
    try:
        yield server
    finally:
        server.stop()


def ask(address: tuple[str, int], name: str, rdtype: str, tcp: bool) -> dns.message.Message:
    """One query (a fresh ID each), the reply parsed."""
    reply = exchange(dns.message.make_query(name, rdtype).to_wire(), address, tcp=tcp)
    assert reply is not None, f"no reply from {address} to {name} {rdtype}"
    return dns.message.from_wire(reply)


def orders(address: tuple[str, int], name: str, rdtype: str, tcp: bool, count: int
           ) -> list[tuple[list[str], list[str], list[str], list[str]]]:
    """``count`` successive replies: the data of the asked type in the answer section in order, the
    other answer records, the authority and the additional records (as text lines)."""
    wanted = dns.rdatatype.from_text(rdtype)
    out = []
    for _ in range(count):
        reply = ask(address, name, rdtype, tcp)
        data = [rd.to_text() for rrset in reply.answer if rrset.rdtype == wanted for rd in rrset]
        others = [line for rrset in reply.answer if rrset.rdtype != wanted for line in rrset.to_text().splitlines()]
        out.append((data, others, [line for rrset in reply.authority for line in rrset.to_text().splitlines()],
                    [line for rrset in reply.additional for line in rrset.to_text().splitlines()]))
    return out


def rotations(zone_order: list[str]) -> list[list[str]]:
    return [zone_order[turn:] + zone_order[:turn] for turn in range(len(zone_order))]


# name, type, the zone's order of the data asked, the CNAME before it, the additional section
CASES = [("www.rr.test.", "A", WWW, [], GLUE_LINES),
         ("alias.rr.test.", "A", WWW, ["alias.rr.test. 300 IN CNAME www.rr.test."], GLUE_LINES),
         ("six.rr.test.", "AAAA", SIX, [], GLUE_LINES),
         ("txt.rr.test.", "TXT", TXT, [], GLUE_LINES),
         ("www.dn.rr.test.", "A", WWW,
          [f"dn.{ORIGIN} 300 IN DNAME {ORIGIN}", f"www.dn.{ORIGIN} 300 IN CNAME www.{ORIGIN}"],
          GLUE_LINES),
         ("web.apps.rr.test.", "A", APPS, [], GLUE_LINES),      # a wildcard's
         ("rr.test.", "MX", MX, [], MAIL_LINES + GLUE_LINES)]   # the targets' addresses in the zone's order


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize("name,rdtype,zone_order,chain,additional", CASES,
                         ids=[case[1] + "-" + case[0] for case in CASES])
def test_successive_answers_turn_through_every_rotation_as_nsd_round_robin_does(rr_nsd, rr_ts, tcp, name, rdtype,
                                                                                zone_order, chain, additional):
    k = len(zone_order)
    turns = rotations(zone_order)
    seen = {}
    for server, address in (("nsd", rr_nsd.address), ("ts", (rr_ts.host, rr_ts.port))):
        replies = orders(address, name, rdtype, tcp, 2 * k)
        seen[server] = [data for data, _, _, _ in replies]
        assert all(data in turns for data in seen[server]), (server, seen[server])      # each a rotation
        # NSD's one counter steps once for each RRset of the answer section: after a DNAME and its
        # CNAME, three steps a query, so that three addresses never turn; the TS sees every order.
        steps = len(chain) + 1 if server == "nsd" else 1
        assert len(set(map(tuple, seen[server]))) == k // math.gcd(steps, k), (server, seen[server])
        for _, others, authority, extra in replies:
            assert others == chain, server
            assert authority == [f"{ORIGIN} 300 IN NS ns.{ORIGIN}"], server
            assert extra == additional, server      # the zone's order, each time
    first = turns.index(seen["ts"][0])
    assert seen["ts"] == [turns[(first + step) % k] for step in range(2 * k)]     # one step a query, in turn


def test_without_round_robin_every_answer_keeps_the_zone_order(zone_files):
    server = ts_with(zone_files)
    try:
        for tcp in (False, True):
            for name, rdtype, zone_order, _, _ in CASES:
                seen = [data for data, _, _, _ in orders((server.host, server.port), name, rdtype, tcp, 4)]
                assert seen == [zone_order] * 4, (name, seen)
    finally:
        server.stop()
