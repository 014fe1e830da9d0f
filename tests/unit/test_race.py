"""The fan-out race over real loopback sockets, with fake backends.

Each fake backend (``support.fakes``, on dnslib) answers every query by a rule
of the test's (a delay and a reply, or silence), so every ending of a race can
be produced on purpose. The LS runs in this process (``support.inprocess``).
"""
from __future__ import annotations

import asyncio
import itertools
import socket
from typing import Sequence

import dns.asyncquery
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest
from dnslib import QTYPE, RR, A, DNSHeader, DNSQuestion, DNSRecord

from resolver.ls import compaction
from resolver.ls.race import GRACE_FLOOR, GRACE_MIN_REPLIES, GRACE_WINDOW
from resolver.wire import FORMERR, NOERROR, NOTIMP, NXDOMAIN, REFUSED, SERVFAIL

from support.fakes import (BROKEN_SHAPES, FakeBackend, Rule, Send, answer, badvers, by_name, cname_only,
                           garbage_sections, header_only, lowercased, negative, nodata, nxdomain, other_question,
                           referral, silent, wrong_owner, broken_negative, other_opcode)
from support.inprocess import ask, run, running_ls, running_ls_over_fakes, running_ts
from support.paths import ZONES
from support.waiting import wait_until_async


def test_first_noerror_wins_over_an_earlier_nxdomain():
    async def main():
        async with running_ls_over_fakes([negative(dns.rcode.NXDOMAIN), answer(delay=0.05)]) as (ls, _):
            reply, _ = await ask(ls, "MiXeD.Example")
            assert reply.rcode() == dns.rcode.NOERROR
            assert reply.answer[0][0].address == "192.0.2.7"
            assert reply.question[0].name.to_text() == "MiXeD.Example."
    run(main())


def test_a_win_does_not_wait_for_a_silent_backend():
    async def main():
        async with running_ls_over_fakes([silent, answer()], timeout=5.0) as (ls, _):
            reply, elapsed = await ask(ls)
            assert reply.rcode() == dns.rcode.NOERROR and elapsed < 1.0
    run(main())


def test_all_negative_returns_the_authoritative_nxdomain_at_once():
    async def main():
        async with running_ls_over_fakes(
                [negative(dns.rcode.REFUSED), negative(dns.rcode.NXDOMAIN, 0.02, soa=True),
                 negative(dns.rcode.SERVFAIL)], timeout=5.0) as (ls, _):
            reply, elapsed = await ask(ls)
            assert reply.rcode() == dns.rcode.NXDOMAIN and reply.authority[0].rdtype == dns.rdatatype.SOA
            assert elapsed < 1.0
            assert not ls.server.race.pending
    run(main())


@pytest.mark.parametrize("rcode,expected", [(NXDOMAIN, dns.rcode.NXDOMAIN), (SERVFAIL, dns.rcode.SERVFAIL)])
def test_timeout_gives_the_configured_rcode_with_question_and_opt(rcode, expected):
    async def main():
        async with running_ls_over_fakes([silent, silent], timeout=0.3, rcode=rcode) as (ls, _):
            reply, elapsed = await ask(ls, "Gone.Example", use_edns=0)
            assert reply.rcode() == expected and 0.25 < elapsed < 2.0
            assert reply.edns == 0
            race = ls.server.race
            assert race.stats.outcomes["timeout"] == 1 and not race.pending
    run(main())


def test_replies_with_wrong_id_question_or_source_are_ignored():
    async def main():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as forger:
            forger.bind(("127.0.0.1", 0))
            balancer = None

            def lying_then_honest(query: DNSRecord) -> Sequence[Send]:
                upstream = balancer.backends[0]
                source = upstream.transports[upstream.socket_of[query.header.id & 0xFF]]    # the query's socket
                upstream_port = source.get_extra_info("sockname")[1]
                name = query.q.qname
                forged = query.reply(ra=0, aa=0)
                forged.add_answer(RR(name, QTYPE.A, ttl=60, rdata=A("203.0.113.66")))
                forger.sendto(forged.pack(), ("127.0.0.1", upstream_port))     # right ID, wrong source
                wrong_id = query.reply(ra=0, aa=0)
                wrong_id.header.id ^= 0x5555
                wrong_id.add_answer(RR(name, QTYPE.A, ttl=60, rdata=A("203.0.113.67")))
                other_name = DNSRecord(DNSHeader(id=query.header.id, qr=1, rd=query.header.rd),
                                       q=DNSQuestion("other.example", QTYPE.A))
                other_name.add_answer(RR("other.example.", QTYPE.A, ttl=60, rdata=A("203.0.113.68")))
                honest = answer("192.0.2.99")(query)[0][1]
                return [(0.0, wrong_id.pack()), (0.01, other_name.pack()), (0.1, honest)]

            with FakeBackend(lying_then_honest) as backend:
                async with running_ls([backend.address], probes=False) as ls:
                    balancer = ls.server
                    reply, _ = await ask(ls, "host.example")
                    assert reply.answer[0][0].address == "192.0.2.99"
                    # Wrong ID; same ID with another question (the other source never reaches it).
                    assert balancer.backends[0].stats.forged == 2
    run(main())


def test_thousands_in_flight_with_a_silent_backend_all_resolve_and_leave_no_state():
    async def main():
        async with running_ls_over_fakes([silent, answer()], timeout=5.0) as (ls, _):
            names = [f"h{i}.example" for i in range(2000)]
            replies = await asyncio.gather(*(ask(ls, name) for name in names))
            assert all(reply.rcode() == dns.rcode.NOERROR for reply, _ in replies)
            assert not ls.server.race.pending
    run(main())


def test_races_that_ended_behind_one_still_waiting_are_not_kept(monkeypatch):
    """One query waits out its timeout at the front of the deadline queue while 600 others are
    answered at once: the queue is rid of the ended ones as it grows (resolver.ls.compaction),
    where it kept every race until the waiting one's deadline (rate x timeout races under load)."""
    monkeypatch.setattr(compaction, "COMPACT_FLOOR", 64)

    async def main():
        rule = by_name({"waits.example": silent})
        async with running_ls_over_fakes([rule], timeout=5.0) as (ls, _):
            waiting = asyncio.ensure_future(ask(ls, "waits.example"))
            race = ls.server.race
            await wait_until_async(lambda: race.pending, 2, "the waiting race")
            for i in range(600):
                reply, _ = await ask(ls, f"h{i}.example")
                assert reply.rcode() == dns.rcode.NOERROR
            assert len(race.pending) == 1 and len(race._deadlines) <= 80
            waiting.cancel()
    run(main())


def test_tcp_clients_are_answered_over_tcp_in_full():
    async def main():
        async with running_ts(ZONES / "example.com.zone") as ts, running_ls([ts.address], probes=False) as ls:
            udp, _ = await ask(ls, "big.example.com", "TXT")
            assert udp.flags & dns.flags.TC and not udp.answer
            tcp, _ = await ask(ls, "big.example.com", "TXT", tcp=True)
            assert not tcp.flags & dns.flags.TC and len(tcp.answer[0]) == 12
    run(main())


def test_a_backend_refusing_tcp_counts_as_servfail_at_once():
    async def main():
        # A fake backend without a TCP listener: connecting to it is refused.
        async with running_ls_over_fakes([answer()], tcp=False, timeout=5.0) as (ls, _):
            reply, elapsed = await ask(ls, tcp=True)
            assert reply.rcode() == dns.rcode.SERVFAIL and elapsed < 1.0
            assert not ls.server.race.pending
    run(main())


def test_queries_beyond_the_inflight_limit_get_servfail_at_once():
    async def main():
        # One client, its share the whole table, and nothing waits long enough to be jostled.
        async with running_ls_over_fakes([silent], timeout=0.5, max_inflight=10, max_inflight_per_client=10,
                                         jostle_timeout=5.0) as (ls, _):
            race = ls.server.race
            replies = await asyncio.gather(*(ask(ls, f"h{i}.example") for i in range(25)))
            fast = [reply for reply, elapsed in replies if elapsed < 0.25]
            assert len(fast) == 15 and all(reply.rcode() == dns.rcode.SERVFAIL for reply in fast)
            assert race.stats.outcomes["overflow"] == 15 and race.stats.outcomes["timeout"] == 10
            assert not race.pending
    run(main())


def test_other_opcodes_get_notimp_from_the_ls_with_question_and_opt():
    async def main():
        async with running_ls_over_fakes([answer()], timeout=5.0) as (ls, backends):
            query = dns.message.make_query("Some.Example", "A", use_edns=0)
            query.set_opcode(dns.opcode.STATUS)
            reply = await dns.asyncquery.udp(query, ls.host, timeout=3, port=ls.port)
            assert reply.rcode() == dns.rcode.NOTIMP and reply.opcode() == dns.opcode.STATUS
            assert reply.question == query.question and reply.edns == 0
            await ask(ls, "After.Example")      # the backend has seen everything the LS sent before this
            asked = [str(q.q.qname) for q in backends[0].seen]
            assert "After.Example." in asked and "Some.Example." not in asked     # answered by the LS itself
    run(main())


def test_one_tcp_connection_has_at_most_100_queries_in_flight():
    async def main():
        # A TS that accepts TCP but never answers these names keeps every race open for the timeout.
        async with running_ts(ZONES / "example.com.zone", silent_miss=True) as ts, \
                running_ls([ts.address], timeout=1.0, probes=False) as ls:
            race = ls.server.race
            reader, writer = await asyncio.open_connection(ls.host, ls.port)
            try:
                for i in range(150):
                    wire = dns.message.make_query(f"q{i}.example.com", "A").to_wire()
                    writer.write(len(wire).to_bytes(2, "big") + wire)
                await writer.drain()
                await wait_until_async(lambda: len(race.pending) >= 100, 0.9, "100 queries in flight")
                # Whether it stops there is an absence: give the LS the time to read more if it would
                # (well inside the 1 s timeout that keeps its races open).
                await asyncio.sleep(0.2)
                assert len(race.pending) == 100
                replies = []
                for _ in range(150):        # every query is answered in the end (after the timeouts)
                    length = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), 5), "big")
                    replies.append(dns.message.from_wire(await reader.readexactly(length)))
                assert {r.question[0].name.to_text() for r in replies} == {f"q{i}.example.com." for i in range(150)}
                assert all(r.rcode() == dns.rcode.NXDOMAIN for r in replies)
            finally:
                writer.close()
    run(main())


def test_a_probe_reply_counts_even_when_a_finished_race_used_the_same_id():
    async def main():
        async with running_ls_over_fakes([silent, answer()]) as (ls, backends):
            balancer = ls.server
            await ask(ls)     # backend 0 stays silent: the finished race still lists it as awaited
            await wait_until_async(lambda: any(q.q.qtype == QTYPE.A for q in backends[0].seen), 2,
                                   "the race's query at backend 0")
            race_id = next(q.header.id for q in backends[0].seen if q.q.qtype == QTYPE.A)
            upstream = balancer.backends[0]
            upstream.probe_id, upstream.probe_failures = race_id, 1     # a probe drew the same random ID
            probe = dns.message.make_query(".", "SOA", id=race_id)
            upstream.datagram_received(dns.message.make_response(probe).to_wire(), upstream.address)    # as it arrives
            assert upstream.probe_failures == 0
            assert upstream.stats.late == 0
    run(main())


def test_a_probe_reply_counts_even_when_a_pending_race_uses_the_same_id():
    async def main():
        async with running_ls_over_fakes([silent, silent], timeout=5.0) as (ls, _):
            balancer = ls.server
            asking = asyncio.ensure_future(ask(ls))
            try:
                await wait_until_async(lambda: balancer.race.pending, 2, "the race in flight", interval=0.005)
                race_id = next(iter(balancer.race.pending))
                upstream = balancer.backends[0]
                upstream.probe_id, upstream.probe_failures = race_id, 1     # a probe drew a waiting race's ID
                probe = dns.message.make_query(".", "SOA", id=race_id)
                upstream.datagram_received(dns.message.make_response(probe).to_wire(), upstream.address)    # as it arrives
                assert upstream.probe_failures == 0
                assert upstream.stats.forged == 0 and race_id in balancer.race.pending
            finally:
                asking.cancel()
    run(main())


# --------------------------------------------------------------------------- the question, as asked


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_reply_echoing_the_question_in_other_letter_case_wins_in_the_clients_spelling(tcp):
    async def main():
        # The NXDOMAIN comes first; the lower-cased positive answer must still win the race.
        async with running_ls_over_fakes([lowercased("192.0.2.8", delay=0.05), nxdomain()], probes=False) as (ls, _):
            reply, _ = await ask(ls, "MiXeD.Example", tcp=tcp)
            assert reply.rcode() == dns.rcode.NOERROR and reply.answer[0][0].address == "192.0.2.8"
            assert reply.question[0].name.to_text() == "MiXeD.Example."       # the client's spelling, byte for byte
            assert [b.stats.forged for b in ls.server.backends] == [0, 0]
    run(main())


def test_a_reply_to_another_type_is_not_an_answer():
    async def main():
        async with running_ls_over_fakes([other_question("AAAA")], timeout=0.3, probes=False) as (ls, _):
            reply, _ = await ask(ls, "Host.Example")
            assert reply.rcode() == dns.rcode.NXDOMAIN and not reply.answer      # the made-up timeout answer
            assert ls.server.race.stats.outcomes["timeout"] == 1
            # Dropped, not counted as a reply; the probe the timeout brings forward may draw a second one.
            stats = ls.server.backends[0].stats
            assert stats.forged >= 1 and not any(stats.replies)
    run(main())


# --------------------------------------------------------------------------- error replies without a question


@pytest.mark.parametrize("rcode", [FORMERR, SERVFAIL, NOTIMP, REFUSED], ids=lambda r: dns.rcode.to_text(r))
def test_a_questionless_error_reply_is_that_no_and_ends_the_race_at_once(rcode):
    async def main():
        async with running_ls_over_fakes([header_only(rcode)], timeout=5.0, probes=False) as (ls, _):
            reply, elapsed = await ask(ls, "Broken.Example", use_edns=0)
            assert reply.rcode() == rcode and elapsed < 1.0                   # not the 5 s timeout
            assert reply.edns == 0                                            # question and OPT echoed (by ask too)
            stats = ls.server.backends[0].stats
            assert stats.replies[rcode] == 1 and stats.forged == 0
            assert ls.server.race.stats.outcomes["negative"] == 1
    run(main())


@pytest.mark.parametrize("question", [False, True], ids=["question-less", "question-echoed"])
def test_a_badvers_reply_is_an_error_no_not_nodata(question):
    async def main():
        async with running_ls_over_fakes([badvers(question)], timeout=5.0, probes=False) as (ls, _):
            reply, elapsed = await ask(ls, "Broken.Example", use_edns=0)
            assert reply.rcode() == dns.rcode.BADVERS and elapsed < 1.0       # the header alone says NOERROR
            assert reply.question[0].name.to_text() == "Broken.Example."
            stats = ls.server.backends[0].stats
            assert stats.replies[dns.rcode.BADVERS] == 1 and stats.forged == 0
            assert ls.server.race.stats.outcomes["negative"] == 1
    run(main())


def test_a_badvers_loses_to_a_nodata():
    async def main():
        async with running_ls_over_fakes([badvers(), nodata(delay=0.05)], probes=False) as (ls, _):
            reply, _ = await ask(ls, "host.example", use_edns=0)
            assert reply.rcode() == dns.rcode.NOERROR and reply.authority and not reply.answer
    run(main())


def test_a_questionless_error_loses_to_a_better_no():
    async def main():
        async with running_ls_over_fakes([header_only(SERVFAIL), nxdomain(delay=0.05)], probes=False) as (ls, _):
            reply, _ = await ask(ls, "missing.example")
            assert reply.rcode() == dns.rcode.NXDOMAIN and reply.authority      # the NXDOMAIN, with its SOA
    run(main())


@pytest.mark.parametrize("rcode", [NOERROR, NXDOMAIN], ids=["NOERROR", "NXDOMAIN"])
def test_a_questionless_reply_that_is_no_error_is_dropped(rcode):
    async def main():
        async with running_ls_over_fakes([header_only(rcode)], timeout=0.3, probes=False) as (ls, _):
            reply, _ = await ask(ls, "host.example")
            assert reply.rcode() == dns.rcode.NXDOMAIN and not reply.authority    # made up at the timeout
            assert ls.server.race.stats.outcomes["timeout"] == 1
            # Dropped, not counted as a reply; the probe the timeout brings forward may draw a second one.
            stats = ls.server.backends[0].stats
            assert stats.forged >= 1 and not any(stats.replies)
    run(main())


# --------------------------------------------------------------------------- positive answers win; "no"s rank


NOT_ANSWERS = {"nodata": nodata, "referral": referral, "cname-only": cname_only}


@pytest.mark.parametrize("no_first", [True, False], ids=["no-first", "answer-first"])
@pytest.mark.parametrize("kind", list(NOT_ANSWERS))
def test_a_positive_answer_beats_a_noerror_without_one_30_times_of_30(kind, no_first):
    async def main():
        # A delay in the backend makes the order deterministic: the other reply comes 50 ms later.
        no, yes = (NOT_ANSWERS[kind](), answer("192.0.2.30", delay=0.05)) if no_first else \
            (NOT_ANSWERS[kind](delay=0.05), answer("192.0.2.30"))
        async with running_ls_over_fakes([no, yes], probes=False) as (ls, _):
            replies = await asyncio.gather(*(ask(ls, f"n{i}.corp.example") for i in range(30)))
            assert [r.rcode() for r, _ in replies] == [dns.rcode.NOERROR] * 30
            assert all(r.answer and r.answer[-1][0].address == "192.0.2.30" for r, _ in replies)
            assert ls.server.race.stats.outcomes["won"] == 30
    run(main())


def is_nodata(reply: dns.message.Message) -> bool:
    return reply.rcode() == dns.rcode.NOERROR and not reply.answer and \
        [rrset.rdtype for rrset in reply.authority] == [dns.rdatatype.SOA]


def is_referral(reply: dns.message.Message) -> bool:
    return reply.rcode() == dns.rcode.NOERROR and not reply.answer and \
        [rrset.rdtype for rrset in reply.authority] == [dns.rdatatype.NS]


def is_cname_only(reply: dns.message.Message) -> bool:
    return reply.rcode() == dns.rcode.NOERROR and [rrset.rdtype for rrset in reply.answer] == [dns.rdatatype.CNAME]


def is_nxdomain(reply: dns.message.Message) -> bool:
    return reply.rcode() == dns.rcode.NXDOMAIN and bool(reply.authority)


# (better, worse, what the client must get): each pair asked in both orders.
RANKED = [
    (cname_only, nodata, is_cname_only),
    (nodata, nxdomain, is_nodata),
    (nxdomain, referral, is_nxdomain),
    (referral, lambda delay=0.0: negative(dns.rcode.SERVFAIL, delay), is_referral),
    (lambda delay=0.0: negative(dns.rcode.SERVFAIL, delay), lambda delay=0.0: negative(dns.rcode.REFUSED, delay),
     lambda reply: reply.rcode() == dns.rcode.SERVFAIL),
]


@pytest.mark.parametrize("better_first", [True, False], ids=["better-first", "worse-first"])
@pytest.mark.parametrize("better, worse, expected", RANKED,
                         ids=["alias>nodata", "nodata>nxdomain", "nxdomain>referral", "referral>servfail",
                              "servfail>refused"])
def test_when_no_backend_answers_the_best_no_goes_back(better, worse, expected, better_first):
    async def main():
        rules = [better(), worse(delay=0.05)] if better_first else [better(delay=0.05), worse()]
        async with running_ls_over_fakes(rules, probes=False) as (ls, _):
            reply, elapsed = await ask(ls, "missing.corp.example")
            assert expected(reply), reply
            assert elapsed < 1.0        # every backend said no: no waiting for the timeout
            outcomes = ls.server.race.stats.outcomes    # an open CNAME is followed; its target's race is a link
            assert outcomes["negative"] + outcomes["followed"] == 1
    run(main())


def test_a_nodata_goes_back_after_the_grace_despite_a_silent_backend():
    async def main():
        async with running_ls_over_fakes([nodata(), silent], timeout=5.0, nodata_grace=0.2,
                                         probes=False) as (ls, _):
            reply, elapsed = await ask(ls, "v6only.corp.example", "AAAA")
            assert reply.rcode() == dns.rcode.NOERROR and not any(r.rdtype == dns.rdatatype.AAAA for r in reply.answer)
            assert 0.15 < elapsed < 1.0          # the grace, not the 5 s timeout
            assert ls.server.race.stats.outcomes["negative"] == 1
    run(main())


def test_the_grace_adapts_to_how_fast_the_silent_backend_used_to_reply():
    async def main():
        async with running_ls_over_fakes([nodata(), answer("192.0.2.40")], timeout=5.0, nodata_grace=2.0,
                                         probes=False) as (ls, fakes):
            for i in range(GRACE_MIN_REPLIES):         # the second backend replies in about a millisecond
                await ask(ls, f"warm{i}.corp.example")
            fakes[1].rule = silent
            reply, elapsed = await ask(ls, "v6only.corp.example", "AAAA")
            assert reply.rcode() == dns.rcode.NOERROR and not reply.answer
            assert elapsed < 0.5        # twice its slowest replies (at least 10 ms), not the 2 s cap
            assert GRACE_FLOOR <= ls.server.race.grace(0b10) < 0.5
    run(main())


def jittery(address: str, every: int, late: float) -> Rule:
    """A positive answer at once, but to every ``every``-th query ``late`` seconds late (and to each
    copy of it the LS sends again: the query is slow, not lost)."""
    asked = itertools.count(1)
    turns: dict[int, int] = {}

    def rule(request):
        turn = turns.setdefault(request.header.id, next(asked))
        return answer(address, delay=late if turn % every == 0 else 0.0)(request)
    return rule


def test_the_grace_waits_for_a_backends_slow_replies_not_its_mean_one():
    async def main():
        # One reply in three comes 60 ms late: a mean-based grace (about 4 x 20 ms, or less while
        # the late ones go unseen) lets the NODATA win those; the grace follows the tail.
        async with running_ls_over_fakes([nodata(), jittery("192.0.2.41", 3, 0.06)], nodata_grace=0.5,
                                         probes=False) as (ls, _):
            replies = [(await ask(ls, f"j{i}.corp.example"))[0] for i in range(3 * GRACE_MIN_REPLIES)]
            assert [bool(r.answer) for r in replies] == [True] * len(replies)
            assert ls.server.race.grace(0b10) >= 0.06
    run(main())


def test_a_backend_that_turns_slow_after_a_long_fast_run_is_waited_for_once_a_slow_reply_is_seen():
    async def main():
        async with running_ls_over_fakes([nodata(), jittery("192.0.2.42", 3, 0.06)], nodata_grace=0.5,
                                         probes=False) as (ls, _):
            latency = ls.server.backends[1].stats.latency
            for _ in range(5 * GRACE_WINDOW):       # a long history of replies in 0.2 ms
                latency.observe(0.0002)
            first = [(await ask(ls, f"s{i}.corp.example"))[0] for i in range(3)]
            # Its first late reply finds a grace of 10 ms and loses to the NODATA, but is timed
            # when it comes; from then on its late replies are waited for.
            assert [bool(r.answer) for r in first] == [True, True, False]
            await wait_until_async(lambda: ls.server.backends[1].stats.late == 1, what="the late reply")
            replies = [(await ask(ls, f"t{i}.corp.example"))[0] for i in range(3 * GRACE_MIN_REPLIES)]
            assert [bool(r.answer) for r in replies] == [True] * len(replies)
    run(main())


def test_a_backend_that_is_always_slow_is_waited_for_longer_than_the_nodata_grace():
    async def main():
        # A VPN backend 300 ms away: once its reply time is known, its answers beat the fast NODATA.
        async with running_ls_over_fakes([nodata(), answer("192.0.2.43", delay=0.3)], nodata_grace=0.05,
                                         probes=False) as (ls, _):
            latency = ls.server.backends[1].stats.latency
            for _ in range(GRACE_MIN_REPLIES):
                latency.observe(0.3)
            reply, elapsed = await ask(ls, "vpn.corp.example")
            assert reply.answer[0][0].address == "192.0.2.43" and elapsed >= 0.3
    run(main())


def test_an_nxdomain_gets_no_grace_a_silent_backend_may_still_have_the_name():
    async def main():
        async with running_ls_over_fakes([nxdomain(), silent], timeout=0.5, nodata_grace=0.05,
                                         probes=False) as (ls, _):
            reply, elapsed = await ask(ls, "maybe.corp.example")
            assert is_nxdomain(reply) and elapsed > 0.45      # the backend's NXDOMAIN, at the timeout
            assert ls.server.race.stats.outcomes["negative"] == 1
    run(main())


def test_an_answer_within_the_grace_still_wins():
    async def main():
        async with running_ls_over_fakes([nodata(), answer("192.0.2.31", delay=0.05)], nodata_grace=0.5,
                                         probes=False) as (ls, _):
            reply, _ = await ask(ls, "late.corp.example")
            assert reply.answer[0][0].address == "192.0.2.31"
    run(main())


@pytest.mark.parametrize("shape", BROKEN_SHAPES)
def test_a_noerror_reply_whose_sections_do_not_parse_is_dropped_and_the_good_one_wins(shape):
    async def main():
        async with running_ls_over_fakes([garbage_sections(shape), answer("192.0.2.32", delay=0.05)],
                                         probes=False) as (ls, _):
            reply, _ = await ask(ls, "host.corp.example")
            assert reply.answer[0][0].address == "192.0.2.32"
            garbage = ls.server.backends[0].stats
            assert garbage.forged >= 1 and not any(garbage.replies)
    run(main())


@pytest.mark.parametrize("rtype", ["A", "CNAME"])
@pytest.mark.parametrize("owner_first", [True, False], ids=["wrong-owner-first", "nodata-first"])
def test_a_record_for_another_name_is_no_answer(owner_first, rtype):
    async def main():
        rules = [wrong_owner(rtype=rtype), nodata(delay=0.05)] if owner_first else \
            [wrong_owner(rtype=rtype, delay=0.05), nodata()]
        async with running_ls_over_fakes(rules, probes=False) as (ls, _):
            reply, _ = await ask(ls, "www.corp.example")
            assert reply.rcode() == dns.rcode.NOERROR and not reply.answer       # the NODATA, not evil.example.
            assert [rrset.rdtype for rrset in reply.authority] == [dns.rdatatype.SOA]
    run(main())


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_truncated_reply_is_no_nodata_the_udp_client_gets_tc_and_tcp_the_answer(tmp_path, tcp):
    # One backend has 100 addresses for the name (no UDP reply holds them), the other only an AAAA.
    many, one = tmp_path / "many.txt", tmp_path / "one.txt"
    many.write_text("".join(f"huge.lab 10.0.2.{i} A\n" for i in range(1, 101)))
    one.write_text("huge.lab 2001:db8::9 AAAA\n")

    async def main():
        async with running_ts(many) as ts1, running_ts(one) as ts2:
            async with running_ls([ts1.address, ts2.address], probes=False) as ls:
                return await ask(ls, "huge.lab", tcp=tcp)
    reply, _ = run(main())
    assert reply.rcode() == dns.rcode.NOERROR
    if tcp:
        assert len(reply.answer[0]) == 100
    else:
        assert reply.flags & dns.flags.TC and not reply.authority      # not the AAAA backend's NODATA


@pytest.mark.parametrize("broken", [broken_negative("nxdomain-cut"), broken_negative("cname-pointer"), other_opcode()],
                         ids=["nxdomain-cut", "cname-pointer", "other-opcode"])
def test_a_no_that_does_not_parse_or_another_opcode_is_dropped_and_the_good_no_wins(broken):
    async def main():
        async with running_ls_over_fakes([broken, nxdomain(delay=0.05)], probes=False) as (ls, _):
            reply, _ = await ask(ls, "x.corp.example")
            assert is_nxdomain(reply)                   # the good NXDOMAIN, with its SOA
            assert ls.server.backends[0].stats.forged >= 1
    run(main())
