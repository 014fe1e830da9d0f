"""The fan-out race over real loopback sockets, with scripted backends.

Each scripted backend is a UDP socket that answers every query by a rule of
the test's (a delay and a reply, or silence), so every ending of a race can be
produced on purpose.
"""
from __future__ import annotations

import asyncio
import time
from typing import Callable

import dns.asyncquery
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from resolver.ts.authority import Authority
from resolver.ls.balancer import LoadBalancer, LsSettings
from resolver.net.listening import enlarge_buffers, listen
from resolver.ts.server import AuthoritativeServer
from resolver.wire import NXDOMAIN, SERVFAIL
from resolver.ts.zones import load_zone_file

from support.paths import ZONES

Rule = Callable[[dns.message.Message], "tuple[float, bytes] | None"]


class ScriptedBackend(asyncio.DatagramProtocol):
    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.seen: list[dns.message.Message] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        enlarge_buffers(transport.get_extra_info("socket"))

    def datagram_received(self, data: bytes, addr) -> None:
        query = dns.message.from_wire(data)
        self.seen.append(query)
        action = self.rule(query)
        if action is not None:
            delay, reply = action
            asyncio.get_running_loop().call_later(delay, self.transport.sendto, reply, addr)

    @property
    def address(self) -> tuple[str, int]:
        return self.transport.get_extra_info("sockname")[:2]


def answer(address: str = "192.0.2.7", delay: float = 0.0) -> Rule:
    def rule(query: dns.message.Message):
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA
        reply.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", address))
        return delay, reply.to_wire()
    return rule


def negative(rcode: int, delay: float = 0.0, soa: bool = False) -> Rule:
    def rule(query: dns.message.Message):
        reply = dns.message.make_response(query)
        reply.set_rcode(rcode)
        if soa:
            reply.flags |= dns.flags.AA
            reply.authority.append(dns.rrset.from_text(".", 60, "IN", "SOA", "a. b. 1 2 3 4 5"))
        return delay, reply.to_wire()
    return rule


def silent(query: dns.message.Message):
    return None


async def start_ls(rules: list[Rule], timeout: float = 5.0, rcode: int = NXDOMAIN, max_inflight: int = 20000):
    loop = asyncio.get_running_loop()
    backends = []
    for rule in rules:
        _, backend = await loop.create_datagram_endpoint(lambda r=rule: ScriptedBackend(r), local_addr=("127.0.0.1", 0))
        backends.append(backend)
    balancer = await LoadBalancer.connect(LsSettings(tuple(b.address for b in backends), timeout, rcode, max_inflight))
    listener = await listen("127.0.0.1", 0, balancer.handle)
    balancer.start_probes()
    return balancer, listener, backends


async def ask(listener, name: str = "host.example", rdtype: str = "A", tcp: bool = False, timeout: float = 8.0, **kw):
    query = dns.message.make_query(name, rdtype, **kw)
    send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
    started = time.monotonic()
    reply = await send(query, listener.host, timeout=timeout, port=listener.port)
    assert reply.id == query.id and reply.question == query.question
    return reply, time.monotonic() - started


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_first_noerror_wins_over_an_earlier_nxdomain():
    async def main():
        balancer, listener, _ = await start_ls([negative(dns.rcode.NXDOMAIN), answer(delay=0.05)])
        reply, _ = await ask(listener, "MiXeD.Example")
        assert reply.rcode() == dns.rcode.NOERROR
        assert reply.answer[0][0].address == "192.0.2.7"
        assert reply.question[0].name.to_text() == "MiXeD.Example."
        listener.close(); balancer.close()
    run(main())


def test_a_win_does_not_wait_for_a_silent_backend():
    async def main():
        balancer, listener, _ = await start_ls([silent, answer()], timeout=5.0)
        reply, elapsed = await ask(listener)
        assert reply.rcode() == dns.rcode.NOERROR and elapsed < 1.0
        listener.close(); balancer.close()
    run(main())


def test_all_negative_returns_the_authoritative_nxdomain_at_once():
    async def main():
        balancer, listener, _ = await start_ls(
            [negative(dns.rcode.REFUSED), negative(dns.rcode.NXDOMAIN, 0.02, soa=True), negative(dns.rcode.SERVFAIL)],
            timeout=5.0)
        reply, elapsed = await ask(listener)
        assert reply.rcode() == dns.rcode.NXDOMAIN and reply.authority[0].rdtype == dns.rdatatype.SOA
        assert elapsed < 1.0
        assert not balancer.race.pending
        listener.close(); balancer.close()
    run(main())


@pytest.mark.parametrize("rcode,expected", [(NXDOMAIN, dns.rcode.NXDOMAIN), (SERVFAIL, dns.rcode.SERVFAIL)])
def test_timeout_gives_the_configured_rcode_with_question_and_opt(rcode, expected):
    async def main():
        balancer, listener, _ = await start_ls([silent, silent], timeout=0.3, rcode=rcode)
        reply, elapsed = await ask(listener, "Gone.Example", use_edns=0)
        assert reply.rcode() == expected and 0.25 < elapsed < 2.0
        assert reply.edns == 0
        assert balancer.race.stats.outcomes["timeout"] == 1 and not balancer.race.pending
        listener.close(); balancer.close()
    run(main())


def test_replies_with_wrong_id_question_or_source_are_ignored():
    async def main():
        loop = asyncio.get_running_loop()
        forger, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
        balancer = None

        def lying_then_honest(query: dns.message.Message):
            upstream_port = balancer.backends[0].transport.get_extra_info("sockname")[1]
            forged = dns.message.make_response(query)
            forged.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "203.0.113.66"))
            forger.sendto(forged.to_wire(), ("127.0.0.1", upstream_port))     # right ID, wrong source
            wrong_id = dns.message.make_response(query)
            wrong_id.id ^= 0x5555
            wrong_id.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "203.0.113.67"))
            wrong_case = dns.message.make_response(dns.message.make_query("HOST.example", "A", id=query.id))
            wrong_case.answer.append(dns.rrset.from_text("HOST.example.", 60, "IN", "A", "203.0.113.68"))
            backend_reply = answer("192.0.2.99")(query)[1]
            for data, delay in ((wrong_id.to_wire(), 0.0), (wrong_case.to_wire(), 0.01), (backend_reply, 0.1)):
                loop.call_later(delay, backend.transport.sendto, data, ("127.0.0.1", upstream_port))
            return None

        _, backend = await loop.create_datagram_endpoint(lambda: ScriptedBackend(lying_then_honest),
                                                         local_addr=("127.0.0.1", 0))
        balancer = await LoadBalancer.connect(LsSettings((backend.address,)))
        listener = await listen("127.0.0.1", 0, balancer.handle)
        reply, _ = await ask(listener, "host.example")
        assert reply.answer[0][0].address == "192.0.2.99"
        # Wrong ID; same ID with the question in another letter case (the other source never reaches it).
        assert balancer.backends[0].stats.forged == 2
        forger.close(); listener.close(); balancer.close()
    run(main())


def test_thousands_in_flight_with_a_silent_backend_all_resolve_and_leave_no_state():
    async def main():
        balancer, listener, _ = await start_ls([silent, answer()], timeout=5.0)
        names = [f"h{i}.example" for i in range(2000)]
        replies = await asyncio.gather(*(ask(listener, name) for name in names))
        assert all(reply.rcode() == dns.rcode.NOERROR for reply, _ in replies)
        assert not balancer.race.pending
        listener.close(); balancer.close()
    run(main())


def test_tcp_clients_are_answered_over_tcp_in_full():
    async def main():
        ts = AuthoritativeServer(Authority([load_zone_file(ZONES / "example.com.zone")]))
        ts_listener = await listen("127.0.0.1", 0, ts.handle)
        balancer = await LoadBalancer.connect(LsSettings(((ts_listener.host, ts_listener.port),)))
        listener = await listen("127.0.0.1", 0, balancer.handle)
        udp, _ = await ask(listener, "big.example.com", "TXT")
        assert udp.flags & dns.flags.TC and not udp.answer
        tcp, _ = await ask(listener, "big.example.com", "TXT", tcp=True)
        assert not tcp.flags & dns.flags.TC and len(tcp.answer[0]) == 12
        listener.close(); balancer.close(); ts_listener.close()
    run(main())


def test_a_backend_refusing_tcp_counts_as_servfail_at_once():
    async def main():
        # A scripted backend has no TCP listener: connecting to it is refused.
        balancer, listener, _ = await start_ls([answer()], timeout=5.0)
        reply, elapsed = await ask(listener, tcp=True)
        assert reply.rcode() == dns.rcode.SERVFAIL and elapsed < 1.0
        assert not balancer.race.pending
        listener.close(); balancer.close()
    run(main())


def test_queries_beyond_the_inflight_limit_get_servfail_at_once():
    async def main():
        balancer, listener, _ = await start_ls([silent], timeout=0.5, max_inflight=10)
        replies = await asyncio.gather(*(ask(listener, f"h{i}.example") for i in range(25)))
        fast = [reply for reply, elapsed in replies if elapsed < 0.25]
        assert len(fast) == 15 and all(reply.rcode() == dns.rcode.SERVFAIL for reply in fast)
        assert balancer.race.stats.outcomes["overflow"] == 15 and balancer.race.stats.outcomes["timeout"] == 10
        assert not balancer.race.pending
        listener.close(); balancer.close()
    run(main())


def test_other_opcodes_get_notimp_from_the_ls_with_question_and_opt():
    async def main():
        balancer, listener, backends = await start_ls([answer()], timeout=5.0)
        query = dns.message.make_query("Some.Example", "A", use_edns=0)
        query.set_opcode(dns.opcode.STATUS)
        reply = await dns.asyncquery.udp(query, listener.host, timeout=3, port=listener.port)
        assert reply.rcode() == dns.rcode.NOTIMP and reply.opcode() == dns.opcode.STATUS
        assert reply.question == query.question and reply.edns == 0
        asked = [q.question[0].name.to_text() for q in backends[0].seen]
        assert "Some.Example." not in asked     # answered by the LS itself
        listener.close(); balancer.close()
    run(main())


def test_one_tcp_connection_has_at_most_100_queries_in_flight():
    async def main():
        # A TS that accepts TCP but never answers these names keeps every race open for the timeout.
        silent_ts = AuthoritativeServer(Authority([load_zone_file(ZONES / "example.com.zone")]), silent_miss=True)
        ts_listener = await listen("127.0.0.1", 0, silent_ts.handle)
        balancer = await LoadBalancer.connect(LsSettings(((ts_listener.host, ts_listener.port),), 1.0))
        listener = await listen("127.0.0.1", 0, balancer.handle)
        reader, writer = await asyncio.open_connection(listener.host, listener.port)
        for i in range(150):
            wire = dns.message.make_query(f"q{i}.example.com", "A").to_wire()
            writer.write(len(wire).to_bytes(2, "big") + wire)
        await writer.drain()
        await asyncio.sleep(0.5)    # let the LS read what it will (its races wait for the 1 s timeout)
        assert len(balancer.race.pending) == 100
        replies = []
        for _ in range(150):        # every query is answered in the end (after the timeouts)
            length = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), 5), "big")
            replies.append(dns.message.from_wire(await reader.readexactly(length)))
        assert {r.question[0].name.to_text() for r in replies} == {f"q{i}.example.com." for i in range(150)}
        assert all(r.rcode() == dns.rcode.NXDOMAIN for r in replies)
        writer.close(); listener.close(); balancer.close(); ts_listener.close()
    run(main())


def test_a_probe_reply_counts_even_when_a_finished_race_used_the_same_id():
    async def main():
        balancer, listener, backends = await start_ls([silent, answer()])
        await ask(listener)     # backend 0 stays silent: the finished race still lists it as awaited
        race_id = next(q.id for q in backends[0].seen if q.question[0].rdtype == dns.rdatatype.A)
        upstream = balancer.backends[0]
        upstream.probe_id, upstream.probe_failures = race_id, 1     # a probe drew the same random ID
        probe = dns.message.make_query(".", "SOA", id=race_id)
        balancer.race.on_reply(upstream, dns.message.make_response(probe).to_wire())
        assert upstream.probe_id is None and upstream.probe_failures == 0
        assert upstream.stats.late == 0
        listener.close(); balancer.close()
    run(main())


def test_a_probe_reply_counts_even_when_a_pending_race_uses_the_same_id():
    async def main():
        balancer, listener, _ = await start_ls([silent, silent], timeout=5.0)
        asking = asyncio.ensure_future(ask(listener))
        while not balancer.race.pending:
            await asyncio.sleep(0.005)
        race_id = next(iter(balancer.race.pending))
        upstream = balancer.backends[0]
        upstream.probe_id, upstream.probe_failures = race_id, 1     # a probe drew a waiting race's ID
        probe = dns.message.make_query(".", "SOA", id=race_id)
        balancer.race.on_reply(upstream, dns.message.make_response(probe).to_wire())
        assert upstream.probe_id is None and upstream.probe_failures == 0
        assert upstream.stats.forged == 0 and race_id in balancer.race.pending
        asking.cancel()
        listener.close(); balancer.close()
    run(main())
