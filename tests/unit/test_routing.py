"""Static routes, replica groups and learned routing, over real loopback sockets with fake backends.

Each fake backend records every query it gets (``FakeBackend.seen``), so what
the LS asked is counted at the backends, not taken from the LS's own counters.
"""
from __future__ import annotations

import asyncio
import tracemalloc

import dns.edns
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

from resolver.ls.groups import Groups
from resolver.ls.learning import LearnedOwners
from resolver.ls.race import route_table
from resolver.ls.settings import GroupSettings, LearnSettings, RetransmitSettings
from resolver.obs.stats import BackendStats

from support.fakes import FakeBackend, answer, by_name, negative, nodata, nxdomain, silent, slow
from support.inprocess import ask, run, running_ls_over_fakes
from support.waiting import wait_until_async

OFF = LearnSettings(enabled=False)


def asked(fake: FakeBackend, name: str) -> int:
    """Queries for ``name`` (not the LS's health probes, which ask SOA) the fake has received."""
    return sum(1 for query in fake.seen if str(query.q.qname).rstrip(".").lower() == name.lower()
               and query.q.qtype != 6)


# Static routes

def test_the_longest_route_wins_and_an_uncovered_name_goes_to_every_backend():
    async def main():
        routes = (("example.", ("b0",)), ("corp.example.", ("b1",)))
        async with running_ls_over_fakes([answer("192.0.2.1"), answer("192.0.2.2"), answer("192.0.2.3")],
                                         names=["b0", "b1", "b2"], routes=routes, learn=OFF) as (ls, fakes):
            deep, _ = await ask(ls, "a.b.Corp.Example")
            assert deep.answer[0][0].address == "192.0.2.2"
            shallow, _ = await ask(ls, "www.example")
            assert shallow.answer[0][0].address == "192.0.2.1"
            await ask(ls, "elsewhere.test")
            assert [asked(fake, "a.b.corp.example") for fake in fakes] == [0, 1, 0]
            assert [asked(fake, "www.example") for fake in fakes] == [1, 0, 0]
            await wait_until_async(lambda: [asked(fake, "elsewhere.test") for fake in fakes] == [1, 1, 1],
                                   what="the uncovered name at every backend")
            assert ls.server.stats.routing["route"] == 2 and ls.server.stats.routing["fanout"] == 1
    run(main())


def test_the_default_route_takes_every_name_no_other_route_covers():
    async def main():
        routes = ((".", ("b1",)), ("corp.example.", ("b0",)))
        async with running_ls_over_fakes([answer("192.0.2.1"), answer("192.0.2.2")], names=["b0", "b1"],
                                         routes=routes, learn=OFF) as (ls, fakes):
            reply, _ = await ask(ls, "anything.test")
            assert reply.answer[0][0].address == "192.0.2.2"
            reply, _ = await ask(ls, "corp.example")
            assert reply.answer[0][0].address == "192.0.2.1"
            assert [asked(fake, "anything.test") for fake in fakes] == [0, 1]
            assert [asked(fake, "corp.example") for fake in fakes] == [1, 0]
    run(main())


def test_a_route_whose_backends_are_down_gives_the_timeout_answer_at_once_without_asking_the_others():
    async def main():
        routes = (("corp.example.", ("b1",)),)
        async with running_ls_over_fakes([answer("192.0.2.1"), answer("192.0.2.2")], names=["b0", "b1"],
                                         routes=routes, timeout=3.0, probes=False) as (ls, fakes):
            ls.server.health.unreachable(ls.server.backends[1])
            reply, elapsed = await ask(ls, "www.corp.example", use_edns=0)
            assert reply.rcode() == dns.rcode.NXDOMAIN and not reply.answer
            assert [option.code for option in reply.options] == [dns.edns.EDECode.NO_REACHABLE_AUTHORITY]
            assert elapsed < 1.0
            assert asked(fakes[0], "www.corp.example") == 0
    run(main())


def test_a_route_naming_no_backend_or_group_is_refused():
    backends = [_Member(0, "b0"), _Member(1, "b1")]
    with pytest.raises(ValueError, match="no backend or group named 'b9'"):
        route_table((("corp.example.", ("b9",)),), backends, Groups((), backends))


def test_a_route_to_a_group_stands_for_all_its_members():
    backends = [_Member(0, "b0"), _Member(1, "b1"), _Member(2, "b2")]
    groups = Groups((GroupSettings("g", ("b1", "b2")),), backends)
    table = route_table((("corp.example.", ("g",)),), backends, groups)
    assert table.lookup(b"\x01x\x04corp\x07example\x00").mask == 0b110
    assert table.lookup(b"\x04corp\x07example\x00").domain == "corp.example."
    assert table.lookup(b"\x07example\x00") is None


# Replica groups

class _Member:
    def __init__(self, index: int, name: str) -> None:
        self.index, self.name, self.stats = index, name, BackendStats()


def picks(policy: str, candidates: int, count: int, weights=(), outstanding=(0, 0, 0)) -> list[int]:
    """How often each of three members is picked among ``candidates`` in ``count`` picks."""
    members = [_Member(index, f"m{index}") for index in range(3)]
    for member, waiting in zip(members, outstanding):
        member.stats.outstanding = waiting
    groups = Groups((GroupSettings("g", ("m0", "m1", "m2"), policy, tuple(weights)),), members)
    counts = [0, 0, 0]
    for _ in range(count):
        chosen = groups.choose(candidates)
        assert chosen & (chosen - 1) == 0 and chosen & candidates     # one member, one that may be asked
        counts[chosen.bit_length() - 1] += 1
    return counts


def test_round_robin_asks_each_member_in_turn():
    assert picks("round-robin", 0b111, 999) == [333, 333, 333]
    assert picks("round-robin", 0b101, 1000) == [500, 0, 500]      # a member down is skipped


def test_random_spreads_by_weight():
    counts = picks("random", 0b111, 1000, weights=(("m0", 2), ("m1", 1), ("m2", 1)))
    # binomial: 500 +- 16 and 250 +- 14 (one standard deviation); the bounds are six of them
    assert 400 <= counts[0] <= 600 and 165 <= counts[1] <= 335 and 165 <= counts[2] <= 335


def test_least_outstanding_asks_the_member_awaiting_fewest_replies_ties_in_order():
    assert picks("least-outstanding", 0b111, 1000, outstanding=(3, 1, 2)) == [0, 1000, 0]
    assert picks("least-outstanding", 0b111, 1000, outstanding=(1, 1, 1)) == [1000, 0, 0]
    assert picks("least-outstanding", 0b101, 1000, outstanding=(4, 0, 2)) == [0, 0, 1000]


def test_first_available_asks_the_first_member_that_may_be_asked():
    assert picks("first-available", 0b111, 1000) == [1000, 0, 0]
    assert picks("first-available", 0b110, 1000) == [0, 1000, 0]


def test_a_backend_in_two_groups_or_an_unknown_member_is_refused():
    members = [_Member(0, "a"), _Member(1, "b")]
    with pytest.raises(ValueError, match="in a group already"):
        Groups((GroupSettings("g", ("a", "b")), GroupSettings("h", ("b",))), members)
    with pytest.raises(ValueError, match="no backend named 'c'"):
        Groups((GroupSettings("g", ("a", "c")),), members)


def _group_of(policy: str, size: int = 2) -> tuple[GroupSettings, ...]:
    return (GroupSettings("g", tuple(f"r{index}" for index in range(size)), policy),)


def test_a_group_spreads_queries_over_its_members_and_counts_as_one_backend():
    async def main():
        async with running_ls_over_fakes([answer("192.0.2.1"), answer("192.0.2.1")], names=["r0", "r1"],
                                         groups=_group_of("round-robin"), learn=OFF) as (ls, fakes):
            for index in range(100):
                reply, _ = await ask(ls, f"n{index}.example")
                assert reply.answer[0][0].address == "192.0.2.1"
            counts = [sum(asked(fake, f"n{index}.example") for index in range(100)) for fake in fakes]
            assert counts == [50, 50]
    run(main())


# Names asked of each member. A busy machine may leave a member silent past its RTO (10 ms at
# least) now and then, and the other member is asked too: the bounds allow 1% of that.
@pytest.mark.parametrize("policy, weights, bounds", [
    ("round-robin", (), ((500, 510), (500, 510))),
    ("random", (("r0", 3),), ((680, 830), (180, 330))),       # 750 +- 14 (one standard deviation)
    ("first-available", (), ((1000, 1000), (0, 10))),
    ("least-outstanding", (), ((1000, 1000), (0, 10))),       # one query at a time: always a tie, to the first
])
def test_each_policy_spreads_a_thousand_queries_as_documented(policy, weights, bounds):
    async def main():
        group = (GroupSettings("g", ("r0", "r1"), policy, weights),)
        async with running_ls_over_fakes([answer("192.0.2.1"), answer("192.0.2.1")], names=["r0", "r1"],
                                         groups=group, learn=OFF, probes=False) as (ls, fakes):
            for index in range(1000):
                reply, _ = await ask(ls, f"p{index}.example")
                assert reply.answer[0][0].address == "192.0.2.1"
            counts = [len({str(query.q.qname) for query in fake.seen if query.q.qtype != 6}) for fake in fakes]
            assert all(low <= count <= high for count, (low, high) in zip(counts, bounds)), counts
    run(main(), limit=60)


def test_least_outstanding_sends_most_queries_to_the_member_that_replies_faster():
    async def main():
        group = (GroupSettings("g", ("r0", "r1"), "least-outstanding"),)
        async with running_ls_over_fakes([answer("192.0.2.1", delay=0.05), answer("192.0.2.1")],
                                         names=["r0", "r1"], groups=group, learn=OFF, probes=False) as (ls, fakes):
            async def client(number: int) -> None:      # four clients, each asking 50 names one after another
                for index in range(50):
                    await ask(ls, f"o{number}-{index}.example")
            await asyncio.gather(*(client(number) for number in range(4)))
            slow_member, fast_member = (len({str(q.q.qname) for q in fake.seen if q.q.qtype != 6}) for fake in fakes)
            assert slow_member + fast_member >= 200 and fast_member > 2 * slow_member
            assert all(backend.stats.outstanding == 0 for backend in ls.server.backends)
    run(main(), limit=60)


@pytest.mark.parametrize("failure, tcp", [("servfail", False), ("refused", False), ("silent", False),
                                           ("silent", True)])
def test_a_member_that_fails_is_replaced_by_the_next_within_the_race(failure, tcp):
    rules = {"servfail": negative(dns.rcode.SERVFAIL), "refused": negative(dns.rcode.REFUSED), "silent": silent}
    async def main():
        async with running_ls_over_fakes([rules[failure], answer("192.0.2.9")], names=["r0", "r1"],
                                         groups=_group_of("first-available"), learn=OFF, probes=False,
                                         timeout=3.0) as (ls, fakes):
            reply, elapsed = await ask(ls, "www.example", tcp=tcp)
            assert reply.rcode() == dns.rcode.NOERROR and reply.answer[0][0].address == "192.0.2.9"
            assert elapsed < 1.0        # silent: the member's RTO (376 ms before any sample), not the timeout
            assert asked(fakes[0], "www.example") >= 1 and asked(fakes[1], "www.example") >= 1
            assert ls.server.backends[1].stats.failovers == 1
    run(main())


def test_round_robin_takes_one_turn_per_query_so_a_failing_member_is_first_for_half_of_them():
    async def main():
        async with running_ls_over_fakes([negative(dns.rcode.REFUSED), answer("192.0.2.9")], names=["r0", "r1"],
                                         groups=_group_of("round-robin"), learn=OFF, probes=False) as (ls, fakes):
            for index in range(20):
                reply, _ = await ask(ls, f"t{index}.example")
                assert reply.answer[0][0].address == "192.0.2.9"
            assert sum(1 for q in fakes[0].seen if q.q.qtype != 6) == 10     # first for every other query
            assert ls.server.backends[1].stats.failovers == 10
    run(main())


@pytest.mark.parametrize("failure", ["servfail", "silent"])
def test_a_group_whose_member_fails_over_does_not_hedge_to_the_other_backends(failure):
    rules = {"servfail": negative(dns.rcode.SERVFAIL), "silent": silent}
    async def main():
        group = (GroupSettings("g", ("bad", "good"), "first-available"),)
        async with running_ls_over_fakes([rules[failure], answer("192.0.2.9"), nxdomain()],
                                         names=["bad", "good", "other"], groups=group, probes=False,
                                         timeout=3.0) as (ls, (_, _, other)):
            for _ in range(4):
                reply, _ = await ask(ls, "www.example")
                assert reply.answer[0][0].address == "192.0.2.9"
            assert asked(other, "www.example") == 1        # the first query's fan-out only
            assert ls.server.stats.hedges == {"silent": 0, "negative": 0}
    run(main())


def test_a_members_definite_no_is_its_groups_and_the_others_are_not_asked():
    async def main():
        async with running_ls_over_fakes([nxdomain(), answer("192.0.2.9")], names=["r0", "r1"],
                                         groups=_group_of("first-available"), learn=OFF) as (ls, fakes):
            reply, _ = await ask(ls, "gone.example")
            assert reply.rcode() == dns.rcode.NXDOMAIN
            assert [asked(fake, "gone.example") for fake in fakes] == [1, 0]
    run(main())


def test_a_member_killed_mid_load_loses_no_query():
    async def main():
        async with running_ls_over_fakes([answer("192.0.2.5"), answer("192.0.2.5")], names=["r0", "r1"],
                                         groups=_group_of("round-robin"), learn=OFF, timeout=3.0) as (ls, fakes):
            async def one(index: int):
                reply, _ = await ask(ls, f"k{index}.example", timeout=4.0)
                return reply.answer[0][0].address if reply.answer else dns.rcode.to_text(reply.rcode())
            first = await asyncio.gather(*(one(index) for index in range(100)))
            fakes[0].rule = silent          # a member dies mid-load: it answers nothing from now on
            second = await asyncio.gather(*(one(index) for index in range(100, 300)))
            assert first + second == ["192.0.2.5"] * 300
            assert ls.server.backends[1].stats.failovers > 0
    run(main(), limit=60)


# Learned routing

def test_after_one_query_a_name_goes_to_its_owner_only():
    async def main():
        async with running_ls_over_fakes([by_name({"mine.example": answer("192.0.2.1")}, nxdomain()), nxdomain()],
                                         probes=False) as (ls, fakes):
            for _ in range(10):
                reply, _ = await ask(ls, "mine.example")
                assert reply.answer[0][0].address == "192.0.2.1"
            await wait_until_async(lambda: asked(fakes[1], "mine.example") >= 1, what="the first fan-out")
            assert [asked(fake, "mine.example") for fake in fakes] == [10, 1]
            assert ls.server.stats.routing["learned"] == 9
    run(main())


def test_a_name_that_moved_is_answered_right_on_the_next_query():
    async def main():
        async with running_ls_over_fakes([answer("192.0.2.1"), nxdomain()], probes=False) as (ls, fakes):
            await ask(ls, "moving.example")
            await ask(ls, "moving.example")
            fakes[0].rule, fakes[1].rule = nxdomain(), answer("192.0.2.2")
            reply, _ = await ask(ls, "moving.example")
            assert reply.answer[0][0].address == "192.0.2.2"
            assert ls.server.stats.hedges["negative"] == 1
            reply, _ = await ask(ls, "moving.example")         # the new owner is asked first now
            assert reply.answer[0][0].address == "192.0.2.2"
            assert asked(fakes[1], "moving.example") == 3 and asked(fakes[0], "moving.example") == 3
    run(main())


@pytest.mark.parametrize("retries", [RetransmitSettings.retries, 0])
def test_an_owner_that_turns_slow_is_hedged_after_its_rto(retries):
    async def main():
        async with running_ls_over_fakes([answer("192.0.2.1"), answer("192.0.2.2", delay=0.02)], probes=False,
                                         timeout=3.0, retransmit=RetransmitSettings(retries)) as (ls, fakes):
            await ask(ls, "both.example")       # the first fan-out: backend 0 wins and owns the name
            for index in range(20):              # and gives samples for its RTO
                await ask(ls, f"warm{index}.example")
            fakes[0].rule = slow(answer("192.0.2.1"), 1.0)
            reply, elapsed = await ask(ls, "both.example")
            assert reply.answer[0][0].address == "192.0.2.2"
            assert elapsed < 0.5
            assert ls.server.stats.hedges["silent"] == 1
    run(main())


def test_a_query_for_another_type_keeps_the_names_owner():
    async def main():
        # The owner says NODATA for AAAA (it holds the name with A only): the others are asked, and
        # their NXDOMAIN says nothing of the owner, whose A queries still go to it alone.
        async with running_ls_over_fakes([answer("192.0.2.1"), nxdomain()], probes=False) as (ls, fakes):
            await ask(ls, "dual.example")
            reply, _ = await ask(ls, "dual.example", "AAAA")
            assert reply.rcode() == dns.rcode.NOERROR and not reply.get_rrset(reply.answer, reply.question[0].name,
                                                                            dns.rdataclass.IN, dns.rdatatype.AAAA)
            for _ in range(3):
                reply, _ = await ask(ls, "dual.example")
                assert reply.answer[0][0].address == "192.0.2.1"
            await wait_until_async(lambda: len([q for q in fakes[1].seen if q.q.qtype == 28]) == 1, what="the AAAA")
            assert len([q for q in fakes[1].seen if q.q.qtype == 1]) == 1      # the first A query's fan-out
    run(main())


def test_a_backend_that_answers_below_a_learned_zone_joins_its_owners():
    async def main():
        # remote says NXDOMAIN with the root's SOA, 50 ms away; wild holds every name under wild.test and
        # refuses the rest, so it never says no for wild.test. Once it has answered one name there, new
        # names are asked of both at once, not of remote first.
        wild = by_name({f"new{index}.wild.test": answer("192.0.2.99") for index in range(6)},
                       negative(dns.rcode.REFUSED))
        async with running_ls_over_fakes([nxdomain(delay=0.05), wild], probes=False) as (ls, _):
            await ask(ls, "nosuch.example")         # remote: the root zone's owner
            reply, first = await ask(ls, "new0.wild.test")
            assert reply.answer[0][0].address == "192.0.2.99" and first >= 0.05
            for index in range(1, 6):
                reply, elapsed = await ask(ls, f"new{index}.wild.test")
                assert reply.answer[0][0].address == "192.0.2.99" and elapsed < 0.04
    run(main())


def test_a_missing_name_still_reaches_every_backend():
    async def main():
        async with running_ls_over_fakes([by_name({"a.example": answer()}, nxdomain(zone="example.")),
                                          nxdomain(zone="example.")], probes=False) as (ls, fakes):
            await ask(ls, "a.example")
            for _ in range(3):
                reply, _ = await ask(ls, "nosuch.example")
                assert reply.rcode() == dns.rcode.NXDOMAIN
            assert [asked(fake, "nosuch.example") for fake in fakes] == [3, 3]
    run(main())


def test_a_zone_learned_from_negative_answers_sends_its_new_names_to_its_owner_first():
    async def main():
        zone_a = by_name({"www.a.example": answer("192.0.2.1"), "new.a.example": answer("192.0.2.3")},
                         nodata(zone="a.example."))
        async with running_ls_over_fakes([zone_a, negative(dns.rcode.REFUSED)], probes=False) as (ls, fakes):
            await ask(ls, "other.a.example")      # NODATA with a.example's SOA: backend 0 owns a.example
            reply, _ = await ask(ls, "new.a.example")
            assert reply.answer[0][0].address == "192.0.2.3"
            assert [asked(fake, "new.a.example") for fake in fakes] == [1, 0]
    run(main())


def test_learn_off_asks_every_backend_every_time():
    async def main():
        async with running_ls_over_fakes([answer("192.0.2.1"), nxdomain()], learn=OFF, probes=False) as (ls, fakes):
            for _ in range(5):
                await ask(ls, "fanned.example")
            await wait_until_async(lambda: asked(fakes[1], "fanned.example") == 5, what="every query at both")
            assert asked(fakes[0], "fanned.example") == 5
            assert ls.server.stats.routing["fanout"] == 5 and not ls.server.stats.routing["learned"]
    run(main())


def test_learned_names_expire_with_the_answers_ttl():
    owners = LearnedOwners(10, 86_400)
    reply = _reply_with_ttl(30)
    owners.answered(b"\x01a\x00", 0b10, reply, 12 + 7, now=100.0)
    assert owners.owners(b"\x01a\x00", 129.0) == 0b10
    assert owners.owners(b"\x01a\x00", 130.5) == 0
    assert len(owners) == 0


def test_the_learned_table_stays_within_its_size_with_a_million_distinct_names():
    size = 100_000
    owners = LearnedOwners(size, 86_400)
    reply = _reply_with_ttl(300)
    tracemalloc.start()
    try:
        for index in range(1_000_000):
            owners.answered(b"\x08" + b"%08d" % index + b"\x05bench\x00", 0b01, reply, 19, now=0.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(owners) == size
    assert owners.owners(b"\x0800999999\x05bench\x00", 1.0) == 0b01
    assert owners.owners(b"\x0800000000\x05bench\x00", 1.0) == 0       # the oldest went first
    assert peak < 40 * 1024 * 1024          # the README's bound: about 250 octets an entry


def _reply_with_ttl(ttl: int) -> bytes:
    """A positive reply for ``a.`` (question at 12, 7 octets) whose one A record has ``ttl``."""
    header = b"\x00\x01\x84\x00\x00\x01\x00\x01\x00\x00\x00\x00"
    question = b"\x01a\x00\x00\x01\x00\x01"
    return header + question + b"\xc0\x0c\x00\x01\x00\x01" + ttl.to_bytes(4, "big") + b"\x00\x04\xc0\x00\x02\x01"
