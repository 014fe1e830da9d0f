"""Property-based tests of everything that reads wire data: random and mutated packets.

For the TS's reply path, the LS's query handling and the race's reply
handling: nothing raises, a reply always carries the query's ID and one of
the rcodes a server may give, and a UDP reply to a query without EDNS is at
most 512 bytes (never an amplifier).
"""
from __future__ import annotations

import asyncio

import dns.edns
import dns.message
import dns.rcode
from hypothesis import given, settings
from hypothesis import strategies as st

from resolver.obs.stats import BackendStats
from resolver.wire import scan_query

from support.inprocess import balancer_over, make_ts
from support.paths import ZONES

ALLOWED = {dns.rcode.NOERROR, dns.rcode.FORMERR, dns.rcode.NXDOMAIN, dns.rcode.NOTIMP, dns.rcode.REFUSED}
TS = make_ts(ZONES / "lab.example.zone", ZONES / "ts1.txt")

SEEDS = [
    dns.message.make_query("www.lab.example", "A").to_wire(),
    dns.message.make_query("big.lab.example", "TXT").to_wire(),
    dns.message.make_query("x.delegated.lab.example", "NS", use_edns=0, payload=512).to_wire(),
    dns.message.make_query("foo.wild.lab.example", "ANY", use_edns=0, want_dnssec=True,
                           options=[dns.edns.GenericOption(10, b"12345678")]).to_wire(),
]


@st.composite
def packets(draw) -> bytes:
    """Random bytes, or a real query with bytes changed, cut or appended."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=700))
    packet = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        packet[draw(st.integers(min_value=0, max_value=len(packet) - 1))] = draw(st.integers(0, 255))
    packet = packet[:draw(st.integers(min_value=0, max_value=len(packet)))]
    return bytes(packet) + draw(st.binary(max_size=20))


def check_reply(packet: bytes, reply: bytes | None) -> None:
    q = scan_query(packet)
    if q is None:
        assert reply is None                # shorter than a header, or a response
        return
    assert reply is not None and reply[:2] == packet[:2] and reply[2] & 0x80
    rcode = reply[3] & 0x0F
    assert rcode in ALLOWED or (rcode == 0 and q.edns_size >= 0)     # BADVERS is 0 plus OPT
    if q.edns_size < 0:
        assert len(reply) <= 512


@settings(max_examples=3000, deadline=None)
@given(packets())
def test_ts_answers_every_readable_packet_properly(packet):
    check_reply(packet, TS.reply(packet))
    tcp = TS.reply(packet, stream=True)
    assert (tcp is None) == (scan_query(packet) is None)


class Sink:
    stream = False

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, data: bytes, addr: object) -> None:
        self.sent.append(data)


class Upstream:
    def __init__(self, index: int) -> None:
        self.index = index
        self.stats = BackendStats()
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def send_stream(self, data: bytes) -> None:
        self.sent.append(data)


@settings(max_examples=2000, deadline=None)
@given(packets(), packets())
def test_ls_handles_every_query_and_reply_without_raising(query_packet, reply_packet):
    async def main():
        upstreams = [Upstream(0), Upstream(1)]
        balancer = balancer_over(upstreams, 5.0)
        race = balancer.race
        sink = Sink()
        balancer.handle(query_packet, sink, ("127.0.0.1", 1))
        if sink.sent:
            check_reply(query_packet, sink.sent[0])
        # Whatever a backend sends back, under the pending ID or not, is handled or dropped.
        for upstream in upstreams:
            for sent in upstream.sent:
                race.on_reply(upstream, sent[:2] + reply_packet[2:])
            race.on_reply(upstream, reply_packet)
        race.close()
    asyncio.run(main())
