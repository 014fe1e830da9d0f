"""Room in the race table (:mod:`resolver.ls.admission`): the per-client share and jostling.

The LS runs in this process over fake backends (``support.inprocess``); the
clients are two loopback addresses, 127.0.0.1 and 127.0.0.2, which Linux has
without any setup. Races are held open by a silent backend, so which query
got a place, which was refused and which was jostled out shows in the replies
and their timing.
"""
from __future__ import annotations

import asyncio
import contextlib
from time import perf_counter

import dns.name
import dns.rcode

from support.fakes import nxdomain, silent
from support.inprocess import ask, run, running_ls, running_ls_over_fakes, running_ts
from support.waiting import wait_until_async
from support.zone_servers import small_zone as zone

ONE, TWO = "127.0.0.1", "127.0.0.2"     # two client addresses
TIMEOUT = 5.0           # the LS's timeout: a race the test holds open lasts this long unless jostled
JOSTLE = 1.0            # the jostle timeout of the tests that jostle: well above the time between two steps


def asked(ls, name: str, source: str) -> asyncio.Task:
    """A query from ``source`` whose reply the test awaits later."""
    return asyncio.create_task(ask(ls, name, source=source))


async def racing(race, count: int) -> None:
    """Wait (bounded) until ``count`` races are in the table."""
    await wait_until_async(lambda: len(race.pending) == count, 2.0, f"{count} races in flight")


async def aged(race, name: str, seconds: float) -> None:
    """Wait (bounded) until the race for ``name`` has waited ``seconds``."""
    wire = dns.name.from_text(name).to_wire()
    entry = next(e for e in race.pending.values() if e.q.qname == wire)
    await wait_until_async(lambda: perf_counter() - entry.started >= seconds, seconds + 2.0, f"{name} aged")


async def cancelled(*tasks: asyncio.Task) -> None:
    """Stop waiting for the replies of races the test leaves open."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def test_a_client_at_its_share_is_refused_at_once_while_another_client_is_admitted():
    async def main():
        async with running_ls_over_fakes([silent], probes=False, timeout=1.0, max_inflight=8,
                                         max_inflight_per_client=2, jostle_timeout=TIMEOUT) as (ls, _):
            race = ls.server.race
            held = [asked(ls, "a1.example", ONE), asked(ls, "a2.example", ONE)]
            await racing(race, 2)
            refused, elapsed = await ask(ls, "a3.example", source=ONE)
            assert refused.rcode() == dns.rcode.SERVFAIL and elapsed < 0.5
            other = asked(ls, "b1.example", TWO)
            await racing(race, 3)       # the table has room for 8: the other client gets its place
            # The three admitted were raced: they get the timeout answer at the 1 s timeout.
            for reply, elapsed in await asyncio.gather(*held, other):
                assert reply.rcode() == dns.rcode.NXDOMAIN and elapsed > 0.9
            assert race.stats.outcomes["overflow"] == 1 and race.stats.outcomes["timeout"] == 3
            assert race.stats.outcomes["jostled"] == 0
            assert not race.admission.clients       # a client whose races all ended leaves no record
    run(main())


def test_a_full_table_jostles_the_oldest_race_past_the_jostle_time_but_not_a_younger_one():
    async def main():
        # Each race has a backend's NXDOMAIN (with the zone's SOA) and waits for the silent backend.
        async with running_ls_over_fakes([nxdomain(), silent], probes=False, timeout=TIMEOUT, max_inflight=3,
                                         max_inflight_per_client=3, jostle_timeout=JOSTLE) as (ls, _):
            race = ls.server.race
            old = asked(ls, "old.example", ONE)
            await racing(race, 1)
            await wait_until_async(lambda: all(e.best for e in race.pending.values()), 2.0, "the NXDOMAIN in")
            await aged(race, "old.example", JOSTLE)
            young = [asked(ls, "young1.example", ONE), asked(ls, "young2.example", ONE)]
            await racing(race, 3)       # the table is full
            new = asked(ls, "new.example", TWO)
            # The old race ends now with SERVFAIL: the silent backend had not had its time, so the
            # other's NXDOMAIN (which the deadline would pass on) may deny a name that exists.
            reply, elapsed = await old
            assert reply.rcode() == dns.rcode.SERVFAIL
            assert JOSTLE <= elapsed < TIMEOUT - 1
            await racing(race, 3)       # the new query has its place
            # The oldest race left is younger than the jostle timeout: the next query finds no room.
            refused, elapsed = await ask(ls, "late.example", source=TWO)
            assert refused.rcode() == dns.rcode.SERVFAIL and elapsed < 0.5
            assert not any(task.done() for task in (*young, new))
            assert race.stats.outcomes["jostled"] == 1 and race.stats.outcomes["overflow"] == 1
            assert race.stats.outcomes["timeout"] == 0
            await cancelled(*young, new)
    run(main())


def test_a_client_at_its_share_jostles_its_own_oldest_race_not_an_older_one_of_another_client():
    async def main():
        async with running_ls_over_fakes([silent], probes=False, timeout=TIMEOUT, max_inflight=10,
                                         max_inflight_per_client=2, jostle_timeout=JOSTLE) as (ls, _):
            race = ls.server.race
            other = asked(ls, "other.example", TWO)
            await racing(race, 1)
            mine = [asked(ls, "mine1.example", ONE)]
            await racing(race, 2)
            await aged(race, "mine1.example", JOSTLE)
            mine.append(asked(ls, "mine2.example", ONE))
            await racing(race, 3)       # ONE now holds its share
            mine.append(asked(ls, "mine3.example", ONE))
            reply, elapsed = await mine[0]      # jostled: SERVFAIL, long before the timeout
            assert reply.rcode() == dns.rcode.SERVFAIL and JOSTLE <= elapsed < TIMEOUT - 1
            await racing(race, 3)
            assert not other.done()     # older, but another client's
            # ONE's oldest race now is mine2, younger than the jostle timeout: no room for ONE.
            refused, elapsed = await ask(ls, "mine4.example", source=ONE)
            assert refused.rcode() == dns.rcode.SERVFAIL and elapsed < 0.5
            assert race.stats.outcomes["jostled"] == 1 and race.stats.outcomes["overflow"] == 1
            await cancelled(other, *mine[1:])
    run(main())


def test_a_cname_chain_the_ls_follows_fits_in_the_place_of_its_clients_query(tmp_path):
    """Each link's race takes the place the race before it left: with room for one race in all,
    a chain across three backends is followed to its end."""
    one = zone(tmp_path, "one.example", "a IN CNAME b.two.example.")
    two = zone(tmp_path, "two.example", "b IN CNAME c.three.example.")
    three = zone(tmp_path, "three.example", "c IN A 198.51.100.3")

    async def main():
        async with contextlib.AsyncExitStack() as stack:
            servers = [await stack.enter_async_context(running_ts(path)) for path in (one, two, three)]
            ls = await stack.enter_async_context(running_ls([s.address for s in servers], probes=False,
                                                            max_inflight=1, max_inflight_per_client=1))
            reply, _ = await ask(ls, "a.one.example")
            assert reply.rcode() == dns.rcode.NOERROR and reply.answer[-1][0].address == "198.51.100.3"
            outcomes = ls.server.race.stats.outcomes
            assert outcomes["followed"] == 1 and outcomes["link"] == 2 and outcomes["overflow"] == 0
    run(main())
