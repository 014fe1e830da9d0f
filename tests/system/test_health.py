"""Backend health: a dead or silent backend is marked down, no longer waited for, and used again when it answers."""
from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time

import dns.message
import dns.query
import dns.rcode
from dnslib import QTYPE

from resolver.ls.settings import ProbeSettings
from resolver.net.addresses import format_hostport
from resolver.wire import SERVFAIL

from support.fakes import FakeBackend, answer, negative, silent, slow
from support.inprocess import ask, run, running_ls, running_ls_over_fakes, running_ts
from support.paths import ZONES
from support.ports import free_port
from support.servers import query, scrape, value
from support.waiting import wait_until, wait_until_async
from support.zone_servers import small_zone

FAST_PROBES = ProbeSettings(".", interval=0.1, down_after=2)


def test_a_silent_backend_is_marked_down_and_no_longer_waited_for():
    async def main():
        async with running_ls_over_fakes([silent, negative(dns.rcode.NXDOMAIN, soa=True)],
                                         probe=FAST_PROBES) as (ls, _):
            balancer = ls.server
            health = balancer.health
            await wait_until_async(lambda: not health.is_up(balancer.backends[0]), 3, "backend 0 down")
            reply, elapsed = await ask(ls, "missing.example")
            assert reply.rcode() == dns.rcode.NXDOMAIN and elapsed < 0.5     # the LS timeout is 5 s
    run(main())


def test_a_backend_that_answers_again_is_used_again_within_a_probe_interval():
    async def main():
        async with running_ls_over_fakes([silent, negative(dns.rcode.NXDOMAIN)],
                                         probe=FAST_PROBES) as (ls, backends):
            balancer = ls.server
            health = balancer.health
            await wait_until_async(lambda: not health.is_up(balancer.backends[0]), 3, "backend 0 down")
            backends[0].rule = answer("192.0.2.77")        # the backend answers again
            took = await wait_until_async(lambda: health.is_up(balancer.backends[0]), 3, "backend 0 up again")
            assert took < 3 * FAST_PROBES.interval
            reply, _ = await ask(ls, "back.example")
            assert reply.rcode() == dns.rcode.NOERROR and reply.answer[0][0].address == "192.0.2.77"
    run(main())


def test_with_every_backend_down_queries_get_the_timeout_answer_at_once():
    async def main():
        async with running_ls_over_fakes([silent, silent], rcode=SERVFAIL, probe=FAST_PROBES) as (ls, _):
            race = ls.server.race
            await wait_until_async(lambda: race.up_mask == 0, 3, "every backend down")
            reply, elapsed = await ask(ls)
            assert reply.rcode() == dns.rcode.SERVFAIL and elapsed < 0.5
            assert race.stats.outcomes["all-down"] == 1
    run(main())


def test_an_unreachable_port_marks_the_backend_down_at_once():
    async def main():
        closed = ("127.0.0.1", free_port())
        with FakeBackend(answer()) as good:
            async with running_ls([closed, good.address], probe=ProbeSettings(".", interval=10.0, down_after=2)) as ls:
                balancer = ls.server
                # One probe, one ICMP error: down long before a second probe (10 s) could judge it.
                await wait_until_async(lambda: not balancer.health.is_up(balancer.backends[0]), 2.0,
                                       "the closed port down")
                reply, elapsed = await ask(ls)
                assert reply.rcode() == dns.rcode.NOERROR and elapsed < 0.5
    run(main())


def test_killing_a_ts_under_load_loses_nothing_and_a_restart_brings_it_back(start_server):
    ts1 = start_server("ts", "--table", str(ZONES / "ts1.txt"))
    ts2 = start_server("ts", "--table", str(ZONES / "ts2.txt"))
    ls = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport,
                      "--probe-interval", "0.2", "--timeout", "5")
    assert query(ls, "www.ibm.com").rcode() == dns.rcode.NOERROR

    # A bounded load of TS2 names; TS1 is killed a third of the way in.
    answers = []
    for i in range(300):
        if i == 100:
            ts1.stop(signal.SIGKILL)
        answers.append(dns.query.udp(dns.message.make_query("www.google.com", "A"), ls.host, port=ls.port,
                                     timeout=6))
    assert all(r.rcode() == dns.rcode.NOERROR and r.answer[0][0].address == "8.8.8.8" for r in answers)

    # TS1 is marked down (ICMP or probes), so a miss no longer waits for the 5 s timeout.
    started = time.monotonic()
    assert query(ls, "www.amazon.com", timeout=6).rcode() == dns.rcode.NXDOMAIN
    assert time.monotonic() - started < 1.0

    # The same port again: its names resolve once a probe gets through.
    start_server("ts", "--table", str(ZONES / "ts1.txt"), listen=ts1.hostport)
    wait_until(lambda: query(ls, "www.ibm.com", timeout=6).rcode() == dns.rcode.NOERROR, 3.0,
               "TS1 used again after its restart", interval=0)
    ls.wait_for_line("is down")
    ls.wait_for_line("is up (answers probes again)")       # the LS logs it; its stderr reaches us through a thread
    assert ls.count_lines("is down") == 1       # logged once, not per query


def test_backends_started_after_the_ls_are_starting_not_down_until_the_first_round_ends(start_server):
    """Started before its backends, the LS reports no backend down that comes up within the first
    probe round (6 s here, room for a TS to start on a busy machine), only its first state, up; one
    that never comes up is reported down when the round ends, not at its first ICMP error."""
    late, never = free_port(), free_port()
    ls = start_server("ls", "--backend", f"late=127.0.0.1:{late}", "--backend", f"never=127.0.0.1:{never}",
                      "--probe-interval", "6")
    started = time.monotonic()
    start_server("ts", "--table", str(ZONES / "ts1.txt"), listen=f"127.0.0.1:{late}")
    ls.wait_for_line(re.compile(r"backend late is up \(answers probes\)$"), timeout=8)
    assert time.monotonic() - started < 6, "the TS came up after the first round: the test proves nothing"
    ls.wait_for_line("backend never is down (port unreachable)", timeout=8)
    assert time.monotonic() - started >= 5        # held until the round ends (6 s from the LS's first probe)
    assert ls.count_lines("backend late is down") == 0, "\n".join(ls.lines)
    assert ls.count_lines("backend never is") == 1      # its first state, once


def test_silent_miss_backends_with_their_own_probe_names_stay_up_while_one_without_goes_down(tmp_path):
    """Two --silent-miss TS serve different zones, each probed for its own apex; a third one, left
    with the global probe name (the root, which it does not answer), is marked down: by then
    the other two have been probed as often and are still up."""
    corp = small_zone(tmp_path, "corp.example", "www A 192.0.2.10")
    lab = small_zone(tmp_path, "lab.example", "www A 192.0.2.20")

    async def main():
        async with running_ts(corp, silent_miss=True) as ts_corp, running_ts(lab, silent_miss=True) as ts_lab, \
                running_ts(corp, silent_miss=True) as ts_plain:
            addresses = [(ts.host, ts.port) for ts in (ts_corp, ts_lab, ts_plain)]
            names = ((format_hostport(*addresses[0]), "corp.example."), (format_hostport(*addresses[1]), "lab.example."))
            probe = ProbeSettings(".", interval=0.1, down_after=2, names=names)
            async with running_ls(addresses, probe=probe) as ls:
                balancer = ls.server
                health = balancer.health
                await wait_until_async(lambda: not health.is_up(balancer.backends[2]), 3, "the third backend down")
                assert health.is_up(balancer.backends[0]) and health.is_up(balancer.backends[1])
                for name, address in (("www.corp.example", "192.0.2.10"), ("www.lab.example", "192.0.2.20")):
                    reply, elapsed = await ask(ls, name)
                    assert reply.answer[0][0].address == address and elapsed < 0.5
    run(main())


def test_a_probe_name_for_a_backend_the_ls_does_not_have_is_a_usage_error():
    done = subprocess.run([sys.executable, "-m", "resolver", "ls", "--listen", "127.0.0.1:0",
                           "--backend", "corp=127.0.0.1:9", "--probe-name", "lab=lab.example."],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "--probe-name lab=lab.example.: no backend is called 'lab' (backends: corp)" in done.stderr


def test_a_backend_that_answers_clients_but_not_probes_stays_up_while_it_answers():
    """A backend silent on the SOA probe but answering the clients' queries is alive: each probe
    round with a reply to a client's query counts as answered (as dnsdist's lazy health checks count
    live traffic). Once the clients stop, the unanswered probes mark it down."""
    def not_the_probe(request):
        return silent(request) if request.q.qtype == 6 else answer("192.0.2.9")(request)

    async def main():
        async with running_ls_over_fakes([not_the_probe], probe=FAST_PROBES) as (ls, _):
            balancer = ls.server
            started = time.monotonic()
            while time.monotonic() - started < 10 * FAST_PROBES.interval:       # ten rounds of traffic
                reply, _ = await ask(ls, "busy.example")
                assert reply.rcode() == dns.rcode.NOERROR
                assert balancer.health.is_up(balancer.backends[0])
                await asyncio.sleep(FAST_PROBES.interval / 4)       # the client's pace, not a wait for readiness
            await wait_until_async(lambda: not balancer.health.is_up(balancer.backends[0]), 3, "down once idle")
    run(main())


def test_replies_to_a_slow_backends_probe_copies_are_duplicates_not_forged(start_server):
    """A backend that takes longer than a third of the probe interval gets each probe twice (the
    copy sent a third into the round, same ID) and answers both: the first reply answers the probe,
    the second is a duplicate, not a forged reply. The reply times leave each copy's reply well
    inside its round (0.35 s, then 0.3 + 0.35 s, of 0.9 s), so none comes after the next probe."""
    with FakeBackend(slow(answer(), 0.35)) as fake:
        ls = start_server("ls", "--backend", f"slow={fake.hostport}", "--probe-interval", "0.9",
                          "--metrics", "127.0.0.1:0")
        def copies_answered(samples: dict) -> float:
            return sum(value(samples, f"resolver_backend_{kind}_responses_total", backend="slow")
                       for kind in ("duplicate", "forged"))
        wait_until(lambda: copies_answered(scrape(ls)) >= 3, 15, "three replies to probe copies", interval=0.1)
        samples = scrape(ls)
        assert value(samples, "resolver_backend_forged_responses_total", backend="slow") == 0
        assert value(samples, "resolver_backend_duplicate_responses_total", backend="slow") >= 3
        assert value(samples, "resolver_backend_up", backend="slow") == 1
        assert value(samples, "resolver_backend_requests_total", backend="slow") == 0     # no client traffic
        probe_ids = [request.header.id for request in list(fake.seen) if request.q.qtype == QTYPE.SOA]
        assert len(probe_ids) > len(set(probe_ids))          # copies went out, under their probe's ID
