"""Backend health: a dead or silent backend is marked down, no longer waited for, and used again when it answers."""
from __future__ import annotations

import asyncio
import signal
import socket
import time

import dns.message
import dns.query
import dns.rcode

from support.paths import ZONES
from support.servers import query
from unit.test_race import ScriptedBackend, answer, ask, negative, run, silent

from resolver.ls.balancer import LoadBalancer, LsSettings, ProbeSettings
from resolver.net.listening import listen
from resolver.wire import NXDOMAIN, SERVFAIL

FAST_PROBES = ProbeSettings(".", interval=0.1, down_after=2)


class Switch:
    """A backend rule that can be changed while the test runs."""

    def __init__(self, rule) -> None:
        self.rule = rule

    def __call__(self, q):
        return self.rule(q)


async def start(rules, timeout: float = 5.0, rcode: int = NXDOMAIN, addresses=None):
    loop = asyncio.get_running_loop()
    backends = []
    for rule in rules:
        _, backend = await loop.create_datagram_endpoint(lambda r=rule: ScriptedBackend(r), local_addr=("127.0.0.1", 0))
        backends.append(backend)
    balancer = await LoadBalancer.connect(LsSettings(tuple(addresses or [b.address for b in backends]), timeout,
                                                     rcode, probe=FAST_PROBES))
    listener = await listen("127.0.0.1", 0, balancer.handle)
    balancer.start_probes()
    return balancer, listener, backends


async def until(condition, limit: float = 3.0) -> float:
    """Wait (bounded) until ``condition()`` holds; returns how long it took."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < limit, "condition not reached in time"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def test_a_silent_backend_is_marked_down_and_no_longer_waited_for():
    async def main():
        balancer, listener, _ = await start([silent, negative(dns.rcode.NXDOMAIN, soa=True)])
        health = balancer.race.health
        await until(lambda: not health.is_up(balancer.backends[0]))
        reply, elapsed = await ask(listener, "missing.example")
        assert reply.rcode() == dns.rcode.NXDOMAIN and elapsed < 0.5     # the LS timeout is 5 s
        listener.close(); balancer.close()
    run(main())


def test_a_backend_that_answers_again_is_used_again_within_a_probe_interval():
    async def main():
        switch = Switch(silent)
        balancer, listener, _ = await start([switch, negative(dns.rcode.NXDOMAIN)])
        health = balancer.race.health
        await until(lambda: not health.is_up(balancer.backends[0]))
        switch.rule = answer("192.0.2.77")
        took = await until(lambda: health.is_up(balancer.backends[0]))
        assert took < 3 * FAST_PROBES.interval
        reply, _ = await ask(listener, "back.example")
        assert reply.rcode() == dns.rcode.NOERROR and reply.answer[0][0].address == "192.0.2.77"
        listener.close(); balancer.close()
    run(main())


def test_with_every_backend_down_queries_get_the_timeout_answer_at_once():
    async def main():
        balancer, listener, _ = await start([silent, silent], rcode=SERVFAIL)
        await until(lambda: balancer.race.up_mask == 0)
        reply, elapsed = await ask(listener)
        assert reply.rcode() == dns.rcode.SERVFAIL and elapsed < 0.5
        assert balancer.race.stats.outcomes["all-down"] == 1
        listener.close(); balancer.close()
    run(main())


def test_an_unreachable_port_marks_the_backend_down_at_once():
    async def main():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            closed = probe.getsockname()
            loop = asyncio.get_running_loop()
        _, good = await loop.create_datagram_endpoint(lambda: ScriptedBackend(answer()), local_addr=("127.0.0.1", 0))
        balancer = await LoadBalancer.connect(LsSettings((closed, good.address),
                                                         probe=ProbeSettings(".", interval=10.0, down_after=2)))
        listener = await listen("127.0.0.1", 0, balancer.handle)
        balancer.start_probes()
        # One probe, one ICMP error: down long before a second probe (10 s) could judge it.
        await until(lambda: not balancer.race.health.is_up(balancer.backends[0]), limit=2.0)
        reply, elapsed = await ask(listener)
        assert reply.rcode() == dns.rcode.NOERROR and elapsed < 0.5
        listener.close(); balancer.close(); good.transport.close()
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
    deadline = time.monotonic() + 3.0
    while query(ls, "www.ibm.com", timeout=6).rcode() != dns.rcode.NOERROR:
        assert time.monotonic() < deadline, "TS1 not used again after its restart"
    assert any("is down" in line for line in ls.lines) and any("is up" in line for line in ls.lines)
    assert sum("is down" in line for line in ls.lines) == 1     # logged once, not per query
