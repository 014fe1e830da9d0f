"""The answer cache in the LS (issue: cache the race's result), over real sockets on loopback.

Each test starts fake backends (``support.fakes``) and an LS with its cache on,
and counts what the backends were asked: a query answered from the cache is
seen by none. Times that are the subject of a test (a TTL running out) are
waited out; nothing else is.
"""
from __future__ import annotations

import asyncio
import socket
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Sequence

import dns.asyncquery
import dns.edns
import dns.name
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from dnslib import CNAME, EDNS0, QTYPE, RR, SOA, A, DNSRecord, EDNSOption

from resolver.ls.race import JOIN_LIMIT
from resolver.ls.settings import CacheSettings, ProbeSettings
from support.fakes import FakeBackend, Rule, answer, by_name, cname_only, negative, nodata, nxdomain, silent, slow
from support.inprocess import Running, ask, run, running_ls_over_fakes
from support.waiting import wait_until_async

CACHE = CacheSettings()
COOKIE = 10        # the EDNS option code (RFC 7873)


def asked(fake: FakeBackend, name: str) -> int:
    """Queries for ``name`` (any type but SOA, which the health probes ask) the fake received, a query's
    retransmitted copies (same ID) counted once."""
    return len({query.header.id for query in fake.seen
                if str(query.q.qname).rstrip(".").lower() == name.lower() and query.q.qtype != QTYPE.SOA})


def answer_with_ttl(address: str, ttl: int, records: int = 1) -> Rule:
    """NOERROR, AA, ``records`` A records (``address`` then the next ones) with TTL ``ttl``, and an
    OPT record when the query had one."""
    def rule(request: DNSRecord):
        reply = request.reply(ra=0, aa=1)
        first = [int(part) for part in address.split(".")]
        for n in range(records):
            rdata = A(".".join(map(str, first[:3] + [first[3] + n])))
            reply.add_answer(RR(request.q.qname, QTYPE.A, ttl=ttl, rdata=rdata))
        if any(record.rtype == QTYPE.OPT for record in request.ar):
            reply.add_ar(EDNS0(udp_len=1232))
        return [(0.0, reply.pack())]
    return rule


def answer_with_cookie(address: str, ttl: int) -> Rule:
    """A positive answer (TTL ``ttl``) whose OPT record echoes the query's client cookie with a server
    cookie of its own (RFC 7873 5.2), as BIND and Knot answer, 0.3 s late."""
    def rule(request: DNSRecord):
        reply = request.reply(ra=0, aa=1)
        reply.add_answer(RR(request.q.qname, QTYPE.A, ttl=ttl, rdata=A(address)))
        cookies = [option.data for record in request.ar if record.rtype == QTYPE.OPT
                   for option in record.rdata if option.code == COOKIE]
        if cookies:
            reply.add_ar(EDNS0(udp_len=1232, opts=[EDNSOption(COOKIE, cookies[0][:8] + b"server16octets!!")]))
        return [(0.3, reply.pack())]
    return rule


def negative_with_soa(rcode: int, soa_ttl: int, minimum: int) -> Rule:
    """An authoritative negative answer whose SOA has TTL ``soa_ttl`` and MINIMUM ``minimum``."""
    def rule(request: DNSRecord):
        reply = request.reply(ra=0, aa=1)
        reply.header.rcode = rcode
        reply.add_auth(RR(".", QTYPE.SOA, ttl=soa_ttl, rdata=SOA("a.", "b.", (1, 2, 3, 4, minimum))))
        return [(0.0, reply.pack())]
    return rule


async def ask_raw(ls, query: dns.message.Message, tcp: bool = False) -> dns.message.Message:
    send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
    return await send(query, ls.host, port=ls.port, timeout=8.0)


# --------------------------------------------------------------------------- hits


def test_a_second_query_is_answered_from_the_cache_with_the_clients_id_and_spelling_and_a_lower_ttl():
    async def main():
        async with running_ls_over_fakes([answer("192.0.2.1"), nxdomain()], cache=CACHE) as (ls, fakes):
            first, _ = await ask(ls, "www.example")
            assert first.answer[0].ttl == 60
            await asyncio.sleep(1.1)        # the TTL counts down in whole seconds
            query = dns.message.make_query("WwW.ExAmPlE", "A")
            second = await ask_raw(ls, query)
            assert second.id == query.id
            assert second.question[0].name.to_text() == "WwW.ExAmPlE."      # letter case too, not just equal
            assert second.answer[0][0].address == "192.0.2.1"
            assert 0 < second.answer[0].ttl < 60
            assert [asked(fake, "www.example") for fake in fakes] == [1, 1]
            assert ls.server.race.cache.stats.hits == 1
            assert ls.server.race.stats.outcomes["cache"] == 1
    run(main())


def test_each_record_ttl_counts_down_and_never_below_zero():
    async def main():
        async with running_ls_over_fakes([answer_with_ttl("192.0.2.10", 2, records=3), nxdomain()],
                                         cache=CACHE) as (ls, fakes):
            await ask(ls, "many.example")
            await asyncio.sleep(1.1)
            reply, _ = await ask(ls, "many.example")
            assert reply.answer[0].ttl == 1 and len(reply.answer[0]) == 3
            assert asked(fakes[0], "many.example") == 1
    run(main())


def test_an_answer_from_a_followed_cname_chain_is_cached_whole():
    async def main():
        rules = [by_name({"www.corp.example": cname_only("web.lab.example.")}, nxdomain()),
                 by_name({"web.lab.example": answer("198.51.100.4")}, nxdomain())]
        async with running_ls_over_fakes(rules, cache=CACHE) as (ls, fakes):
            for _ in range(2):
                reply, _ = await ask(ls, "www.corp.example")
                assert [rrset.rdtype for rrset in reply.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
            assert asked(fakes[0], "www.corp.example") == 1 and asked(fakes[1], "web.lab.example") == 1
    run(main())


# --------------------------------------------------------------------------- negative answers (RFC 2308)


def test_nxdomain_and_nodata_from_every_backend_are_cached_for_the_soa_minimum():
    async def main():
        async with running_ls_over_fakes([nxdomain(), by_name({"exists.example": nodata()}, nxdomain())],
                                         cache=CACHE) as (ls, fakes):
            for name, rcode in (("gone.example", dns.rcode.NXDOMAIN), ("exists.example", dns.rcode.NOERROR)):
                for _ in range(2):
                    reply, _ = await ask(ls, name)
                    assert reply.rcode() == rcode and not reply.answer
                assert reply.authority[0].ttl <= 5          # kept min(SOA TTL 60, MINIMUM 5), and served so
                assert [asked(fake, name) for fake in fakes] == [1, 1]
    run(main())


def test_the_negative_ttl_is_the_smaller_of_the_soa_ttl_and_its_minimum_and_capped():
    async def main():
        rules = [by_name({"short.example": negative_with_soa(3, 2, 100),
                          "long.example": negative_with_soa(3, 7200, 7200)}, nxdomain())] * 2
        cache = CacheSettings(negative_ttl_max=30)
        async with running_ls_over_fakes(rules, cache=cache) as (ls, fakes):
            for _ in range(2):
                short, _ = await ask(ls, "short.example")
                long_, _ = await ask(ls, "long.example")
            assert 1 <= short.authority[0].ttl <= 2          # the SOA's own TTL, below its MINIMUM
            assert 29 <= long_.authority[0].ttl <= 30        # negative_ttl_max
            assert asked(fakes[0], "short.example") == asked(fakes[0], "long.example") == 1
    run(main())


def test_a_no_is_not_cached_while_another_backend_was_silent_failed_or_timed_out():
    async def main():
        for rules in ([nxdomain(), silent], [nxdomain(), negative(dns.rcode.SERVFAIL)], [silent, silent]):
            async with running_ls_over_fakes(rules, cache=CACHE, timeout=0.5, probes=False) as (ls, fakes):
                for _ in range(2):
                    reply, _ = await ask(ls, "maybe.example")
                    assert reply.rcode() in (dns.rcode.NXDOMAIN, dns.rcode.SERVFAIL)
                assert [asked(fake, "maybe.example") for fake in fakes] == [2, 2], rules
                assert len(ls.server.race.cache) == 0
    run(main(), limit=40)


def test_a_refused_from_a_backend_without_the_zone_does_not_stop_a_no_being_cached():
    async def main():
        async with running_ls_over_fakes([nxdomain(), negative(dns.rcode.REFUSED)], cache=CACHE) as (ls, fakes):
            for _ in range(2):
                reply, _ = await ask(ls, "nosuch.example")
                assert reply.rcode() == dns.rcode.NXDOMAIN
            assert [asked(fake, "nosuch.example") for fake in fakes] == [1, 1]
    run(main())


def test_a_no_is_not_cached_while_a_backend_it_may_go_to_is_down():
    async def main():
        async with running_ls_over_fakes([nxdomain(), answer("192.0.2.9")], cache=CACHE,
                                         probe=ProbeSettings(interval=0.1, down_after=1)) as (ls, fakes):
            fakes[1].stop()
            await wait_until_async(lambda: not ls.server.backends[1].up, 5, "the stopped backend marked down")
            for _ in range(2):
                reply, _ = await ask(ls, "elsewhere.example")
                assert reply.rcode() == dns.rcode.NXDOMAIN
            assert asked(fakes[0], "elsewhere.example") == 2       # the down backend might hold it
            assert len(ls.server.race.cache) == 0
    run(main())


def test_servfail_from_every_backend_is_cached_for_the_servfail_ttl_only():
    async def main():
        failing = negative(dns.rcode.SERVFAIL)
        async with running_ls_over_fakes([failing, failing], cache=CacheSettings(servfail_ttl=1),
                                         probes=False) as (ls, fakes):
            for _ in range(2):
                reply, _ = await ask(ls, "broken.example")
                assert reply.rcode() == dns.rcode.SERVFAIL
            assert asked(fakes[0], "broken.example") == 1
            await asyncio.sleep(1.1)
            await ask(ls, "broken.example")
            assert asked(fakes[0], "broken.example") == 2
    run(main())


def test_the_first_reply_is_clamped_as_the_cached_ones_are():
    async def main():
        rules = [by_name({"short.example": answer_with_ttl("192.0.2.1", 2),
                          "long.example": answer_with_ttl("192.0.2.2", 100)}, nxdomain()), nxdomain()]
        async with running_ls_over_fakes(rules, cache=CacheSettings(min_ttl=60, max_ttl=80)) as (ls, _):
            for _ in range(2):
                short, _ = await ask(ls, "short.example")
                long_, _ = await ask(ls, "long.example")
                assert 59 <= short.answer[0].ttl <= 60 and 79 <= long_.answer[0].ttl <= 80
    run(main())


def test_a_query_with_a_client_subnet_is_neither_answered_from_the_cache_nor_kept():
    async def main():
        async with running_ls_over_fakes([answer("192.0.2.1"), nxdomain()], cache=CACHE) as (ls, fakes):
            subnets = [dns.edns.ECSOption(address, 24) for address in ("10.9.9.0", "198.51.100.0")]
            for ecs in subnets + subnets:
                reply = await ask_raw(ls, dns.message.make_query("geo.example", "A", use_edns=0, options=[ecs]))
                assert reply.answer
            assert asked(fakes[0], "geo.example") == 4       # RFC 7871 7.3.1: the answer may be the subnet's
            await ask(ls, "geo.example", use_edns=0)
            await ask(ls, "geo.example", use_edns=0)
            assert asked(fakes[0], "geo.example") == 5       # an answer for no subnet is kept as any other
    run(main())


# --------------------------------------------------------------------------- the key


def test_do_cd_and_edns_are_part_of_the_key():
    async def main():
        async with running_ls_over_fakes([answer("192.0.2.1"), nxdomain()], cache=CACHE) as (ls, fakes):
            plain = dns.message.make_query("k.example", "A")
            edns = dns.message.make_query("k.example", "A", use_edns=0)
            do = dns.message.make_query("k.example", "A", want_dnssec=True)
            cd = dns.message.make_query("k.example", "A", use_edns=0)
            cd.flags |= dns.flags.CD
            first = {}
            for query in (plain, edns, do, cd, plain, edns, do, cd):
                reply = await ask_raw(ls, query)
                assert reply.answer
                shape = (reply.edns, reply.ednsflags, reply.flags & dns.flags.CD)
                assert first.setdefault(id(query), shape) == shape      # the cached reply is the fresh one's kind
            assert asked(fakes[0], "k.example") == 4
    run(main())


def test_a_tcp_client_never_gets_a_truncated_entry():
    async def main():
        big = answer_with_ttl("192.0.2.1", 60, records=40)      # about 660 octets: over 512
        async with running_ls_over_fakes([big, nxdomain()], cache=CACHE) as (ls, fakes):
            query = dns.message.make_query("big.example", "A")      # no EDNS: 512 octets over UDP
            for _ in range(2):
                udp = await ask_raw(ls, query)
                assert udp.flags & dns.flags.TC and not udp.answer
                tcp = await ask_raw(ls, query, tcp=True)
                assert len(tcp.answer[0]) == 40 and not tcp.flags & dns.flags.TC
            # each transport's reply is kept apart; the UDP one, too big for its client, goes back cut
            assert asked(fakes[0], "big.example") == 2
            assert ls.server.race.stats.outcomes["cache"] == 2
    run(main())


def test_replies_fitted_to_different_sizes_are_kept_apart():
    async def main():
        async with running_ls_over_fakes([answer("192.0.2.1"), nxdomain()], cache=CACHE) as (ls, fakes):
            for size in (512, 1232, 4096, 512, 1232, 4096):    # 4096 is capped to 1232 (RFC 6891 6.2.5)
                reply = await ask_raw(ls, dns.message.make_query("sized.example", "A", use_edns=0, payload=size))
                assert reply.answer
            assert asked(fakes[0], "sized.example") == 2
    run(main())


# --------------------------------------------------------------------------- serve-stale (RFC 8767)


OLD = "old.example"     # the name of the expired answers below


@asynccontextmanager
async def expired(cache: CacheSettings, then: Sequence[Rule | None], first: Rule | None = None,
                  second: Rule | None = None, **settings: Any) -> AsyncIterator[tuple[Running, list[FakeBackend]]]:
    """An LS whose cache holds :data:`OLD`'s answer from its first backend (``first``: an A record
    with TTL 1 s by default; the second backend ``second``, NXDOMAIN by default), past that TTL by
    the time the block starts; by then each backend answers by its rule in ``then`` (None: as
    before). ``settings`` as for :func:`running_ls_over_fakes`; ``query`` keyword args (as
    :func:`ask`'s) go with the first query."""
    query = settings.pop("query", {})
    rules = [first or answer_with_ttl("192.0.2.1", 1), second or nxdomain()]
    async with running_ls_over_fakes(rules, cache=cache, **settings) as (ls, fakes):
        await ask(ls, OLD, **query)
        for fake, rule in zip(fakes, then):
            if rule is not None:
                fake.rule = rule
        await asyncio.sleep(1.1)        # past the TTL: the subject of these tests
        yield ls, fakes


def test_a_stale_answer_goes_back_with_ttl_30_within_the_client_response_timer():
    async def main():
        stale = CacheSettings(serve_stale=60, stale_answer_timeout=0.3)
        async with expired(stale, [silent, silent], timeout=3.0, probes=False) as (ls, _):
            reply, seconds = await ask(ls, OLD)
            assert reply.answer[0][0].address == "192.0.2.1" and reply.answer[0].ttl == 30
            assert 0.25 <= seconds < 1.5
            assert ls.server.race.cache.stats.stale == 1
    run(main())


def test_a_stale_answer_goes_back_when_the_race_fails_before_the_timer():
    async def main():
        stale = CacheSettings(serve_stale=60, stale_answer_timeout=1.8)
        failing = negative(dns.rcode.SERVFAIL)
        async with expired(stale, [failing, None], probes=False, query={"use_edns": 0}) as (ls, fakes):
            reply, seconds = await ask(ls, OLD, use_edns=0)
            assert reply.rcode() == dns.rcode.NOERROR and reply.answer[0].ttl == 30 and seconds < 1.0
            assert [(option.otype, option.code) for option in reply.options] == \
                [(dns.edns.OptionType.EDE, dns.edns.EDECode.STALE_ANSWER)]       # RFC 8914 4.4
            # the refresh failed: for a while the stale answer goes back without asking the backends
            before = asked(fakes[0], OLD)
            again, _ = await ask(ls, OLD, use_edns=0)
            assert again.answer[0].ttl == 30 and asked(fakes[0], OLD) == before
    run(main())


def test_a_stale_answer_goes_back_when_every_backend_is_gone():
    async def main():
        stale = CacheSettings(serve_stale=60, stale_answer_timeout=0.5)
        async with running_ls_over_fakes([answer_with_ttl("192.0.2.1", 1), nxdomain()], cache=stale,
                                         timeout=3.0) as (ls, fakes):
            await ask(ls, "old.example")
            for fake in fakes:
                fake.stop()         # killed: its port now unreachable
            await asyncio.sleep(1.1)
            for _ in range(3):
                reply, seconds = await ask(ls, "old.example")
                assert reply.answer[0][0].address == "192.0.2.1" and reply.answer[0].ttl == 30
                assert seconds < 1.0
    run(main())


def cname_with_ttl(target: str, ttl: int) -> Rule:
    """NOERROR, AA, and only a CNAME (TTL ``ttl``) to ``target``, which the fake does not hold."""
    def rule(request: DNSRecord):
        reply = request.reply(ra=0, aa=1)
        reply.add_answer(RR(request.q.qname, QTYPE.CNAME, ttl=ttl, rdata=CNAME(target)))
        return [(0.0, reply.pack())]
    return rule


def test_a_stale_chain_goes_back_when_the_backend_of_its_target_fails():
    async def main():
        refused = negative(dns.rcode.REFUSED)      # each backend holds one zone, and refuses the other's
        rules = [by_name({"alias.corp.example": cname_with_ttl("tgt.lab.example.", 1)}, refused),
                 by_name({"tgt.lab.example": answer_with_ttl("10.0.0.2", 1)}, refused)]
        async with running_ls_over_fakes(rules, cache=CacheSettings(serve_stale=60), probes=False) as (ls, fakes):
            fresh, _ = await ask(ls, "alias.corp.example")
            assert [rrset.rdtype for rrset in fresh.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
            fakes[1].rule = negative(dns.rcode.SERVFAIL)
            await asyncio.sleep(1.1)
            for _ in range(2):
                reply, seconds = await ask(ls, "alias.corp.example")
                assert [(rrset.rdtype, rrset.ttl) for rrset in reply.answer] == \
                    [(dns.rdatatype.CNAME, 30), (dns.rdatatype.A, 30)] and seconds < 1.0
    run(main())


def test_without_serve_stale_an_expired_answer_is_not_served():
    async def main():
        async with expired(CacheSettings(serve_stale=0), [silent, silent], timeout=0.5, probes=False) as (ls, _):
            reply, _ = await ask(ls, OLD)
            assert reply.rcode() == dns.rcode.NXDOMAIN and not reply.answer      # the timeout answer
    run(main())


def test_a_name_gone_from_its_backend_is_not_served_stale_while_another_refuses_it():
    async def main():
        stale = CacheSettings(serve_stale=60)
        async with expired(stale, [nxdomain(), None], second=negative(dns.rcode.REFUSED), probes=False) as (ls, fakes):
            for _ in range(2):
                reply, _ = await ask(ls, OLD)
                assert reply.rcode() == dns.rcode.NXDOMAIN and not reply.answer
            assert asked(fakes[0], OLD) == 2          # the NXDOMAIN was kept in its place
    run(main())


def test_a_flushed_stale_answer_is_not_served_again():
    async def main():
        stale = CacheSettings(serve_stale=60, stale_answer_timeout=0.3)
        async with expired(stale, [silent, silent], timeout=1.5, probes=False) as (ls, _):
            first, _ = await ask(ls, OLD)
            assert first.answer[0].ttl == 30                       # stale; its race runs on
            assert ls.server.race.cache.flush() == 1
            second, _ = await ask(ls, OLD)
            assert second.rcode() == dns.rcode.NXDOMAIN and not second.answer     # the race's own end
    run(main())


def test_every_query_given_a_stale_answer_is_counted():
    async def main():
        stale = CacheSettings(serve_stale=60, stale_answer_timeout=0.3)
        async with expired(stale, [silent, silent], timeout=3.0, probes=False) as (ls, _):
            replies = await asyncio.gather(*(ask(ls, OLD) for _ in range(5)))
            assert all(reply.answer[0].ttl == 30 for reply, _ in replies)
            assert ls.server.race.cache.stats.stale == 5
    run(main())


def test_a_name_gone_from_every_backend_is_not_served_stale():
    async def main():
        stale = CacheSettings(serve_stale=60)
        async with expired(stale, [nxdomain(), None], probes=False) as (ls, _):
            reply, _ = await ask(ls, OLD)
            assert reply.rcode() == dns.rcode.NXDOMAIN
    run(main())


# --------------------------------------------------------------------------- prefetch


def test_a_name_asked_through_its_ttl_never_misses_after_the_first_query():
    async def main():
        async with running_ls_over_fakes([answer_with_ttl("192.0.2.1", 2), nxdomain()], cache=CACHE) as (ls, fakes):
            cache = ls.server.race.cache
            end = time.monotonic() + 4.5
            while time.monotonic() < end:
                reply, _ = await ask(ls, "popular.example")
                assert reply.answer[0][0].address == "192.0.2.1"
                await asyncio.sleep(0.05)
            assert cache.stats.misses == 1
            assert cache.stats.prefetches >= 2 and asked(fakes[0], "popular.example") >= 3
    run(main())


# --------------------------------------------------------------------------- shared in-flight queries


def test_identical_queries_in_flight_share_one_race():
    async def main():
        async with running_ls_over_fakes([slow(answer("192.0.2.1"), 0.5), slow(nxdomain(), 0.5)],
                                         cache=CACHE) as (ls, fakes):
            queries = [dns.message.make_query("Same.Example" if n % 2 else "same.example", "A") for n in range(100)]
            replies = await asyncio.gather(*(ask_raw(ls, query) for query in queries))
            for query, reply in zip(queries, replies):
                assert reply.id == query.id and reply.question[0].name.to_text() == query.question[0].name.to_text()
                assert reply.answer[0][0].address == "192.0.2.1"
            assert [asked(fake, "same.example") for fake in fakes] == [1, 1]
            assert ls.server.race.stats.outcomes["joined"] == 99
    run(main())


def test_a_race_takes_at_most_join_limit_queries_and_the_rest_start_another():
    async def main():
        async with running_ls_over_fakes([slow(answer("192.0.2.1"), 0.5), slow(nxdomain(), 0.5)],
                                         cache=CACHE) as (ls, fakes):
            count = JOIN_LIMIT + 5
            wires = [dns.message.make_query("flood.example", "A", id=n).to_wire() for n in range(count)]
            loop = asyncio.get_running_loop()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)
                sock.connect(ls.address)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                for wire in wires:
                    sock.send(wire)
                answered = set()
                deadline = time.monotonic() + 10
                while len(answered) < count and time.monotonic() < deadline:
                    reply = dns.message.from_wire(await asyncio.wait_for(loop.sock_recv(sock, 4096), 10))
                    assert reply.answer[0][0].address == "192.0.2.1"
                    answered.add(reply.id)
            assert len(answered) == count
            assert [asked(fake, "flood.example") for fake in fakes] == [2, 2]     # two races, not one
            assert ls.server.race.stats.outcomes["joined"] == count - 2
    run(main())


@pytest.mark.parametrize("ttl", [60, 0])      # kept in the cache, and not (a TTL of 0)
def test_a_query_that_joins_another_does_not_get_its_cookie(ttl):
    async def main():
        async with running_ls_over_fakes([answer_with_cookie("192.0.2.1", ttl), nxdomain()], cache=CACHE) as (ls, _):
            queries = [dns.message.make_query("cookie.example", "A", use_edns=0, options=[
                dns.edns.GenericOption(dns.edns.OptionType.COOKIE, bytes([n]) * 8)]) for n in (1, 2)]
            replies = await asyncio.gather(*(ask_raw(ls, query) for query in queries))
            for query, reply in zip(queries, replies):
                assert reply.answer[0][0].address == "192.0.2.1"
                for option in reply.options:        # a cookie, if any, must be the client's own (RFC 7873 5.3)
                    if option.otype == dns.edns.OptionType.COOKIE:
                        assert option.client == query.options[0].data
            assert ls.server.race.stats.outcomes["joined"] == 1
    run(main())


def test_udp_and_tcp_queries_do_not_join_each_other():
    async def main():
        async with running_ls_over_fakes([slow(answer("192.0.2.1"), 0.3), nxdomain()],
                                         cache=CacheSettings(entries=1)) as (ls, fakes):
            query = dns.message.make_query("t.example", "A")
            await asyncio.gather(ask_raw(ls, query), ask_raw(ls, query, tcp=True))
            assert asked(fakes[0], "t.example") == 2
    run(main())


def test_the_plan_says_what_the_cache_holds():
    async def main():
        async with running_ls_over_fakes([answer("192.0.2.1"), nxdomain()], cache=CACHE) as (ls, _):
            await ask(ls, "plan.example", use_edns=0)
            race = ls.server.race
            cached = race.plan(dns.name.from_text("plan.example").to_wire())["cached"]
            assert cached == [{"type": "A", "flags": "edns", "size": 1232, "rcode": "NOERROR",
                               "ttl_left": cached[0]["ttl_left"], "stale": False}]
            assert 58 <= cached[0]["ttl_left"] <= 60
            assert race.plan(dns.name.from_text("plan.example").to_wire(), dns.rdatatype.AAAA)["cached"] == []
    run(main())
