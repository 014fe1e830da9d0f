"""Retransmission over real loopback sockets, with fake backends that lose or delay on purpose.

A fake's rule sees every copy of a query the LS sends it, so a test can drop
the first copy (a lost datagram), stay silent (count the copies and time them),
or answer every copy late (a second reply). The LS runs in this process
without periodic health probes, so the queries a fake sees are the race's (and
the one probe a race that times out brings forward).
"""
from __future__ import annotations

import asyncio
import time
from typing import Sequence

import dns.rcode
import pytest
from dnslib import DNSRecord

from resolver.ls.settings import RetransmitSettings

from support.fakes import Rule, Send, answer, by_name, nxdomain, silent
from support.inprocess import ask, run, running_ls_over_fakes
from support.waiting import wait_until_async

FLOOR = 0.1         # seconds: a floor high enough to time the copies on a busy machine
WARM = "warm.example"       # answered at once: the sample that brings the backend's RTO down to FLOOR


def losing_the_first_copy(rule: Rule) -> Rule:
    """``rule``, except that the first copy of each query is lost on the way."""
    ids: set[int] = set()

    def lossy(request: DNSRecord) -> Sequence[Send]:
        if request.header.id in ids:
            return rule(request)
        ids.add(request.header.id)
        return ()
    return lossy


def timed(rule: Rule, times: list[float]) -> Rule:
    """``rule``, noting when each query arrived."""
    def timing(request: DNSRecord) -> Sequence[Send]:
        times.append(time.monotonic())
        return rule(request)
    return timing


def test_a_lost_query_is_sent_again_after_the_rto_and_its_reply_is_no_sample():
    async def main():
        async with running_ls_over_fakes([losing_the_first_copy(answer())], probes=False) as (ls, (fake,)):
            reply, elapsed = await ask(ls)
            assert reply.rcode() == dns.rcode.NOERROR
            assert 0.3 < elapsed < 1.5          # the first RTO, 376 ms, not the 5 s timeout
            first, second = fake.seen
            assert first.pack() == second.pack()        # the same datagram, its ID included
            backend = ls.server.backends[0]
            assert backend.stats.retransmissions == 1 and backend.stats.sent == 2
            assert ls.server.race.retransmit.rtt[0].srtt is None     # Karn: a reply to either copy
    run(main())


def test_a_fast_backend_gets_each_query_once_and_times_every_reply():
    async def main():
        async with running_ls_over_fakes([answer()], probes=False) as (ls, (fake,)):
            for i in range(50):
                reply, _ = await ask(ls, f"h{i}.example")
                assert reply.rcode() == dns.rcode.NOERROR
            assert len(fake.seen) == 50
            assert ls.server.backends[0].stats.retransmissions == 0
            rtt = ls.server.race.retransmit.rtt[0]
            assert rtt.srtt is not None and rtt.rto == RetransmitSettings.floor
    run(main())


@pytest.mark.parametrize("retries, copies", [(6, 4), (2, 3), (0, 1)], ids=["deadline", "limit", "off"])
def test_copies_to_a_silent_backend_back_off_until_the_deadline_or_the_limit(retries, copies):
    """RTO 100 ms, timeout 1 s: copies at 0, 0.1, 0.3 and 0.7 s (the next, at 1.5 s, would be past
    the deadline), or as many of them as ``retries`` allows."""
    times: list[float] = []

    async def main():
        settings = RetransmitSettings(retries=retries, floor=FLOOR)
        rule = by_name({"quiet.example": timed(silent, times)})
        async with running_ls_over_fakes([rule], probes=False, timeout=1.0, retransmit=settings) as (ls, _):
            await ask(ls, WARM)
            reply, elapsed = await ask(ls, "quiet.example")
            assert reply.rcode() == dns.rcode.NXDOMAIN and elapsed >= 0.9
            assert len(times) == copies
            assert ls.server.backends[0].stats.retransmissions == copies - 1
    run(main())
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    for gap, expected in zip(gaps, (FLOOR, 2 * FLOOR, 4 * FLOOR)):
        assert expected * 0.8 < gap < expected + 0.15, gaps


def test_each_backend_gets_its_copy_after_its_own_rto():
    """The first backend has replied within 1 ms (RTO 100 ms), the second never (RTO 376 ms, the
    first one): a query the first says NXDOMAIN to goes to the second again after 376 ms, then
    after 752 ms more, not at the first's RTO."""
    times: list[float] = []

    async def main():
        settings = RetransmitSettings(floor=FLOOR)
        fast = by_name({"quiet.example": nxdomain()})
        slow = by_name({"quiet.example": timed(silent, times)}, silent)
        async with running_ls_over_fakes([fast, slow], probes=False, timeout=1.5, retransmit=settings) as (ls, _):
            await ask(ls, WARM)
            reply, _ = await ask(ls, "quiet.example")
            assert reply.rcode() == dns.rcode.NXDOMAIN
            assert [backend.stats.retransmissions for backend in ls.server.backends] == [0, 2]
    run(main())
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert len(gaps) == 2 and 0.3 < gaps[0] < 0.5 and 0.6 < gaps[1] < 0.9, gaps


@pytest.mark.parametrize("race_over", [True, False], ids=["race-over", "race-on"])
def test_a_second_reply_to_a_query_sent_again_is_a_duplicate_not_a_forgery(race_over):
    """Every copy of the query is answered 150 ms late, the second copy having gone at the RTO,
    100 ms: the first reply counts (it wins, or it is a "no" while the other backend stays
    silent), the second is a duplicate, and neither is a sample."""
    async def main():
        late = answer(delay=0.15) if race_over else nxdomain(delay=0.15)
        settings = RetransmitSettings(floor=FLOOR)
        async with running_ls_over_fakes([by_name({"late.example": late}), by_name({}, silent)], probes=False,
                                         timeout=1.0, retransmit=settings) as (ls, _):
            await ask(ls, WARM)
            race = ls.server.race
            srtt = race.retransmit.rtt[0].srtt
            asking = asyncio.ensure_future(ask(ls, "late.example"))
            stats = ls.server.backends[0].stats
            await wait_until_async(lambda: stats.duplicates == 1, 2.0, "the second reply")
            assert bool(race.pending) != race_over
            reply, _ = await asking
            assert reply.rcode() == (dns.rcode.NOERROR if race_over else dns.rcode.NXDOMAIN)
            assert stats.forged == 0 and stats.retransmissions == 1
            assert race.retransmit.rtt[0].srtt == srtt
    run(main())


def test_tcp_queries_are_not_sent_again():
    async def main():
        async with running_ls_over_fakes([silent], probes=False, timeout=0.6) as (ls, (fake,)):
            reply, _ = await ask(ls, tcp=True)
            assert reply.rcode() == dns.rcode.NXDOMAIN
            asked = [query for query in fake.seen if str(query.q.qname) == "host.example."]     # not the probe
            assert len(asked) == 1 and ls.server.backends[0].stats.retransmissions == 0
    run(main())
