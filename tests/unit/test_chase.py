"""CNAMEs into another backend: the LS follows the chain itself and gives the client one reply.

Real TS backends, each authoritative for its own zone (written per test), in
the test's process; the LS races every link across all of them.
"""
from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import dns.flags
from dns.message import Message
import dns.rcode
import dns.rdatatype
import pytest

from resolver.ls.balancer import LoadBalancer
from support.fakes import FakeBackend, silent
from support.inprocess import ask, run, running_ls, running_ts
from support.waiting import wait_until_async
from support.zone_servers import small_zone as zone


def resolve(zones: list[Path], name: str, rdtype: str = "A", tcp: bool = False,
            **make_kw) -> tuple[Message, float, LoadBalancer]:
    """Ask ``name`` of an LS racing one TS per zone file or table (no health probes: the backends see
    only the chain); the reply, the seconds it took, and the LS, all servers closed again."""
    async def main() -> tuple[Message, float, LoadBalancer]:
        async with contextlib.AsyncExitStack() as stack:
            servers = [await stack.enter_async_context(running_ts(path)) for path in zones]
            ls = await stack.enter_async_context(running_ls([s.address for s in servers], probes=False))
            reply, elapsed = await ask(ls, name, rdtype, tcp=tcp, **make_kw)
            return reply, elapsed, ls.server
    return run(main())


def chain_of(reply) -> list[tuple[str, str]]:
    return [(rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype)) for rrset in reply.answer]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_cname_into_another_backend_is_followed_and_merged(tmp_path, tcp):
    corp = zone(tmp_path, "corp.example", "www IN CNAME web.lab.example.")
    lab = zone(tmp_path, "lab.example", "web IN A 198.51.100.80")
    reply, _, ls = resolve([corp, lab], "WWW.Corp.Example", tcp=tcp)
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.question[0].name.to_text() == "WWW.Corp.Example."
    # Names compare case-insensitively (compression may borrow the question's spelling of a suffix).
    assert [(name.lower(), kind) for name, kind in chain_of(reply)] == [("www.corp.example.", "CNAME"),
                                                                        ("web.lab.example.", "A")]
    assert reply.answer[-1][0].address == "198.51.100.80"
    assert ls.race.stats.outcomes["followed"] == 1
    assert sum(ls.race.stats.replies) == 1      # one reply to the client, the links not counted


def test_a_chain_across_three_backends(tmp_path):
    one = zone(tmp_path, "one.example", "a IN CNAME b.two.example.")
    two = zone(tmp_path, "two.example", "b IN CNAME c.three.example.")
    three = zone(tmp_path, "three.example", "c IN A 198.51.100.3")
    reply, _, _ = resolve([one, two, three], "a.one.example")
    assert chain_of(reply) == [("a.one.example.", "CNAME"), ("b.two.example.", "CNAME"),
                               ("c.three.example.", "A")]


def test_dnames_of_a_chain_across_backends_stay_before_the_cnames_synthesised_from_them(tmp_path):
    """RFC 6672 3.1: each synthesised CNAME comes after its DNAME, in the merged reply too."""
    one = zone(tmp_path, "one.example", "old IN DNAME two.example.")
    two = zone(tmp_path, "two.example", "new IN DNAME three.example.")
    three = zone(tmp_path, "three.example", "c IN A 198.51.100.3")
    reply, _, _ = resolve([one, two, three], "c.new.old.one.example")
    assert chain_of(reply) == [("old.one.example.", "DNAME"), ("c.new.old.one.example.", "CNAME"),
                               ("new.two.example.", "DNAME"), ("c.new.two.example.", "CNAME"),
                               ("c.three.example.", "A")]


def test_a_loop_across_backends_is_servfail(tmp_path):
    one = zone(tmp_path, "one.example", "a IN CNAME b.two.example.")
    two = zone(tmp_path, "two.example", "b IN CNAME a.one.example.")
    reply, elapsed, _ = resolve([one, two], "a.one.example")
    assert reply.rcode() == dns.rcode.SERVFAIL and elapsed < 2.0


@pytest.mark.parametrize("links, rcode", [(4, dns.rcode.NOERROR), (8, dns.rcode.NOERROR), (9, dns.rcode.SERVFAIL)])
def test_at_most_eight_links(tmp_path, links, rcode):
    # c0.one -> c1.two -> c2.one -> ...: every link crosses to the other backend.
    zones = {"one.example": [], "two.example": []}
    for i in range(links):
        here, there = ("one.example", "two.example") if i % 2 == 0 else ("two.example", "one.example")
        zones[here].append(f"c{i} IN CNAME c{i + 1}.{there}.")
    last = "one.example" if links % 2 == 0 else "two.example"
    zones[last].append(f"c{links} IN A 198.51.100.{links}")

    reply, _, _ = resolve([zone(tmp_path, origin, *records) for origin, records in zones.items()], "c0.one.example")
    assert reply.rcode() == rcode
    if rcode == dns.rcode.NOERROR:
        assert len(chain_of(reply)) == links + 1 and reply.answer[-1][0].address == f"198.51.100.{links}"


def test_a_chain_ending_in_nxdomain_has_the_final_rcode_and_soa(tmp_path):
    corp = zone(tmp_path, "corp.example", "www IN CNAME gone.lab.example.")
    lab = zone(tmp_path, "lab.example", "web IN A 198.51.100.80")
    reply, _, _ = resolve([corp, lab], "www.corp.example")
    assert reply.rcode() == dns.rcode.NXDOMAIN                      # RFC 6604: the final target's rcode
    assert chain_of(reply) == [("www.corp.example.", "CNAME")]
    assert [(r.name.to_text(), r.rdtype) for r in reply.authority] == [("lab.example.", dns.rdatatype.SOA)]


def test_a_chain_ending_in_nodata(tmp_path):
    corp = zone(tmp_path, "corp.example", "www IN CNAME web.lab.example.")
    lab = zone(tmp_path, "lab.example", "web IN A 198.51.100.80")
    reply, _, _ = resolve([corp, lab], "www.corp.example", "AAAA")
    assert reply.rcode() == dns.rcode.NOERROR and chain_of(reply) == [("www.corp.example.", "CNAME")]
    assert [r.rdtype for r in reply.authority] == [dns.rdatatype.SOA]


def view(directory: Path, name: str, *records: str) -> Path:
    """One view of ``view.example`` (SOA, NS) with ``records``, in a directory of its own."""
    (directory / name).mkdir()
    return zone(directory / name, "view.example", *records)


def test_a_cname_whose_end_is_nxdomain_in_its_view_is_followed_into_the_other_view(tmp_path):
    # RFC 6604: the public view answers NXDOMAIN with the alias, since it lacks the end; the internal
    # view has it. One reply: the chain and the address.
    public = view(tmp_path, "public", "www IN CNAME app")
    internal = view(tmp_path, "internal", "app IN A 10.9.9.9")
    for _ in range(5):      # whichever view answers first
        reply, _, ls = resolve([public, internal], "www.view.example")
        assert reply.rcode() == dns.rcode.NOERROR
        assert chain_of(reply) == [("www.view.example.", "CNAME"), ("app.view.example.", "A")]
        assert reply.answer[-1][0].address == "10.9.9.9" and ls.race.stats.outcomes["followed"] == 1


def test_a_cname_whose_end_is_nodata_in_its_zone_is_followed_to_the_backend_with_the_type(tmp_path):
    corp = zone(tmp_path, "corp.example", "alias IN CNAME www", "www IN A 198.51.100.7")
    table = tmp_path / "v6.txt"
    table.write_text("www.corp.example 2001:db8::7 AAAA\n")
    reply, _, _ = resolve([corp, table], "alias.corp.example", "AAAA")
    assert reply.rcode() == dns.rcode.NOERROR
    assert chain_of(reply) == [("alias.corp.example.", "CNAME"), ("www.corp.example.", "AAAA")]


def test_a_chain_whose_end_no_view_has_keeps_the_nxdomain(tmp_path):
    public = view(tmp_path, "public", "www IN CNAME app")
    internal = view(tmp_path, "internal", "other IN A 10.9.9.9")
    reply, _, _ = resolve([public, internal], "www.view.example")
    assert reply.rcode() == dns.rcode.NXDOMAIN and chain_of(reply) == [("www.view.example.", "CNAME")]
    assert [r.rdtype for r in reply.authority] == [dns.rdatatype.SOA]


def test_a_loop_through_nxdomain_replies_is_servfail(tmp_path):
    # Each view has one alias of the loop and not its end: each answers NXDOMAIN with its CNAME.
    one = view(tmp_path, "one", "a IN CNAME b")
    two = view(tmp_path, "two", "b IN CNAME a")
    reply, elapsed, _ = resolve([one, two], "a.view.example")
    assert reply.rcode() == dns.rcode.SERVFAIL and elapsed < 2.0


def test_a_table_name_aliased_from_a_zone_resolves_through_the_table_backend(tmp_path):
    corp = zone(tmp_path, "corp.example", "intranet IN CNAME www.ibm.com.")
    table = tmp_path / "ts1.txt"
    table.write_text("www.ibm.com 129.42.38.10 A\n")
    reply, _, _ = resolve([corp, table], "intranet.corp.example")
    assert chain_of(reply) == [("intranet.corp.example.", "CNAME"), ("www.ibm.com.", "A")]
    assert not reply.flags & dns.flags.TC


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_merged_chain_too_big_for_udp_is_truncated_there_and_whole_over_tcp(tmp_path, tcp):
    label = "x" * 60
    corp = zone(tmp_path, "corp.example", f"{label}0 IN CNAME {label}1.lab.example.")
    lab = zone(tmp_path, "lab.example", *(f"{label}1 IN A 198.51.100.{i}" for i in range(1, 60)))
    reply, _, _ = resolve([corp, lab], f"{label}0.corp.example", tcp=tcp)
    assert reply.rcode() == dns.rcode.NOERROR
    if tcp:
        assert not reply.flags & dns.flags.TC and len(reply.answer[-1]) == 59
    else:
        assert reply.flags & dns.flags.TC and not reply.answer        # the client retries over TCP


def test_a_merged_chain_bigger_than_the_edns_size_though_each_link_fits_is_truncated(tmp_path):
    label = "y" * 60
    corp = zone(tmp_path, "corp.example", f"{label}0 IN CNAME {label}1.lab.example.",
                f"{label}2 IN CNAME {label}3.lab.example.")
    lab = zone(tmp_path, "lab.example", f"{label}1 IN CNAME {label}2.corp.example.",
               *(f"{label}3 IN A 198.51.100.{i}" for i in range(1, 61)))
    reply, _, _ = resolve([corp, lab], f"{label}0.corp.example", use_edns=0, payload=1232)
    assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.TC and not reply.answer
    whole, _, _ = resolve([corp, lab], f"{label}0.corp.example", tcp=True, use_edns=0, payload=1232)
    assert len(whole.answer) == 4 and len(whole.answer[-1]) == 60


def test_a_merged_chain_keeps_the_order_the_backend_gave(tmp_path):
    corp = zone(tmp_path, "corp.example", "www IN CNAME web.lab.example.")
    lab = zone(tmp_path, "lab.example", *(f"web IN A 198.51.100.{i}" for i in (7, 3, 9, 1, 5, 8, 2, 6, 4)))
    direct, _, _ = resolve([lab], "web.lab.example", tcp=True)
    for _ in range(3):
        reply, _, _ = resolve([corp, lab], "www.corp.example", tcp=True)
        assert [rd.address for rd in reply.answer[-1]] == [rd.address for rd in direct.answer[-1]]


def test_a_merged_chain_over_64_kib_gets_tc_not_a_lost_reply(tmp_path):
    corp = zone(tmp_path, "corp.example", "www IN CNAME big.lab.example.")
    lab = zone(tmp_path, "lab.example", *(f"big IN A 10.{i >> 8}.{i & 255}.1" for i in range(4093)))
    reply, _, _ = resolve([corp, lab], "www.corp.example", tcp=True)
    assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.TC and not reply.answer


@pytest.mark.parametrize("second, rcode", [(3, dns.rcode.NOERROR), (4, dns.rcode.SERVFAIL)])
def test_at_most_eight_cnames_however_the_backends_split_the_chain(tmp_path, second, rcode):
    # Five CNAMEs inside one.example, then `second` more inside two.example, then the address.
    one = zone(tmp_path, "one.example", *(f"a{i} IN CNAME a{i + 1}" for i in range(4)), "a4 IN CNAME b0.two.example.")
    two = zone(tmp_path, "two.example", *(f"b{i} IN CNAME b{i + 1}" for i in range(second)),
               f"b{second} IN A 198.51.100.99")
    reply, _, _ = resolve([one, two], "a0.one.example")
    assert reply.rcode() == rcode
    if rcode == dns.rcode.NOERROR:
        assert len(chain_of(reply)) == 5 + second + 1


@pytest.mark.parametrize("linking", [False, True], ids=["first-race", "link-race"])
def test_stopping_the_ls_mid_chain_still_answers_the_client(tmp_path, linking):
    # lab.example's backend never replies: with a long grace the first race waits for it, and
    # without one the race for the CNAME's target does. Stopping the LS answers either way.
    corp = zone(tmp_path, "corp.example", "www IN CNAME web.lab.example.")

    async def main() -> Message:
        with FakeBackend(silent) as mute:
            async with running_ts(corp) as ts:
                async with running_ls([ts.address, mute.address], probes=False,
                                      nodata_grace=0.01 if linking else 5.0) as ls:
                    asked = asyncio.ensure_future(ask(ls, "www.corp.example"))
                    await wait_until_async(lambda: ls.server.race.stats.outcomes["followed"] == int(linking))
                    await wait_until_async(lambda: ls.server.race.inflight == 1)
                    ls.server.race.answer_all()
                    reply, _ = await asked
                    return reply

    reply = run(main())
    assert reply.rcode() == dns.rcode.NOERROR and chain_of(reply) == [("www.corp.example.", "CNAME")]


@pytest.mark.parametrize("grace", [0.3, 5.0], ids=["link-race-times-out", "first-race-times-out"])
def test_a_chain_into_a_silent_backend_answers_at_the_clients_timeout_not_later(tmp_path, grace):
    # The target's only possible holder never replies. However the time splits between the first
    # race and the link's, the client gets the chain as far as it goes at the LS's timeout.
    corp = zone(tmp_path, "corp.example", "www IN CNAME web.lab.example.")
    timeout = 0.5

    async def main() -> tuple[Message, float]:
        with FakeBackend(silent) as mute:
            async with running_ts(corp) as ts:
                async with running_ls([ts.address, mute.address], probes=False, timeout=timeout,
                                      nodata_grace=grace) as ls:
                    return await ask(ls, "www.corp.example")

    reply, elapsed = run(main())
    assert reply.rcode() == dns.rcode.NOERROR and chain_of(reply) == [("www.corp.example.", "CNAME")]
    assert timeout * 0.9 <= elapsed < timeout + 0.2
