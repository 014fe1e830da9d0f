"""Property-based tests of everything that reads wire data: random and mutated packets.

For the TS's reply path, the LS's query handling and the race's reply
handling: nothing raises, a reply always carries the query's ID and one of
the rcodes a server may give, and a UDP reply to a query without EDNS is at
most 512 bytes (never an amplifier).
"""
from __future__ import annotations

import asyncio

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rrset
from hypothesis import given, settings
from hypothesis import strategies as st

from resolver.client.explain import BackendReply, backend_reply, predict
from resolver.obs.stats import BackendStats
from resolver.wire import WireError, scan_query

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
        self.name = f"upstream{index}"
        self.stats = BackendStats()
        self.probe_answered_at = float("-inf")
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


# --------------------------------------------------------------------------- the race against the pure rule

# Reply shapes a backend may send: (label, rcode, AA, answer text or None, authority texts).
SHAPES = {
    "answer": (dns.rcode.NOERROR, True, "A {address}", []),
    "nodata": (dns.rcode.NOERROR, True, None, ["SOA"]),
    "referral": (dns.rcode.NOERROR, False, None, ["NS"]),
    "nxdomain-aa": (dns.rcode.NXDOMAIN, True, None, ["SOA"]),
    "nxdomain": (dns.rcode.NXDOMAIN, False, None, []),
    "servfail": (dns.rcode.SERVFAIL, False, None, []),
    "notimp": (dns.rcode.NOTIMP, False, None, []),
    "formerr": (dns.rcode.FORMERR, False, None, []),
    "refused": (dns.rcode.REFUSED, False, None, []),
    "silent": None,
}
AUTHORITY = {"SOA": "corp.example. 60 IN SOA ns.corp.example. h.corp.example. 1 2 3 4 5",
             "NS": "corp.example. 60 IN NS ns1.corp.example."}


def shaped_reply(query: dns.message.Message, shape: str, index: int) -> dns.message.Message:
    rcode, aa, answer, authority = SHAPES[shape]
    reply = dns.message.make_response(query)
    reply.set_rcode(rcode)
    reply.flags = (reply.flags | dns.flags.AA) if aa else (reply.flags & ~dns.flags.AA)
    if answer:
        reply.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", f"192.0.2.{index + 1}"))
    for kind in authority:
        reply.authority.append(dns.rrset.from_text(*AUTHORITY[kind].split(None, 4)))
    return reply


def answer_lowercased(query: dns.message.Message, index: int) -> bytes:
    wire = shaped_reply(query, "answer", index).to_wire()
    end = 12 + len(query.question[0].name.to_wire())
    return wire[:12] + wire[12:end].lower() + wire[end:]


def badvers(query: dns.message.Message, index: int) -> bytes:
    reply = shaped_reply(query, "formerr", index)
    reply.use_edns(0)
    reply.set_rcode(dns.rcode.BADVERS)      # NOERROR in the header, 1 in the OPT record's extended rcode
    return reply.to_wire()


def servfail_questionless(query: dns.message.Message, index: int) -> bytes:
    reply = shaped_reply(query, "servfail", index)
    reply.question = []
    return reply.to_wire()


def malformed(query: dns.message.Message, index: int) -> bytes:
    wire = shaped_reply(query, "answer", index).to_wire()
    ancount = int.from_bytes(wire[6:8], "big")
    return wire[:6] + (ancount + 1).to_bytes(2, "big") + wire[8:]      # one answer more than it holds


# Shapes only the reply's bytes can have.
WIRE_SHAPES = {"answer-lowercased": answer_lowercased, "badvers": badvers,
               "servfail-questionless": servfail_questionless, "malformed": malformed}


def shaped_wire(query: dns.message.Message, shape: str, index: int) -> bytes:
    if shape in WIRE_SHAPES:
        return WIRE_SHAPES[shape](query, index)
    return shaped_reply(query, shape, index).to_wire()


class Recorder:
    """A stand-in upstream that keeps the last query sent to it (health probes, which a race's
    timeout brings forward, go nowhere)."""

    def __init__(self, index: int) -> None:
        self.index, self.name, self.stats, self.sent = index, f"recorder{index}", BackendStats(), b""
        self.probe_answered_at = float("-inf")
        self.up, self.probe_id, self.probe_failures = True, None, 0

    def send_probe(self, data: bytes) -> None:
        pass

    def send(self, data: bytes) -> None:
        self.sent = data

    def send_stream(self, data: bytes) -> None:
        self.sent = data


class Waiter:
    stream = False

    def __init__(self) -> None:
        self.done = asyncio.get_running_loop().create_future()

    def send(self, data: bytes, addr: object) -> None:
        if not self.done.done():
            self.done.set_result(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*SHAPES, *WIRE_SHAPES]), min_size=1, max_size=4), st.randoms(use_true_random=False))
def test_the_race_ends_as_the_pure_rule_says(shapes, rng):
    """Whatever the backends send, in whatever order, the LS's reply is the one
    ``client --explain``'s rule (resolver.client.explain.predict over resolver.ls.rule) predicts."""
    order = list(range(len(shapes)))
    rng.shuffle(order)

    async def main() -> tuple[bytes, dns.message.Message]:
        upstreams = [Recorder(i) for i in range(len(shapes))]
        balancer = balancer_over(upstreams, timeout=0.05, nodata_grace=0.01)
        query = dns.message.make_query("Host.Corp.Example", "A")
        sink = Waiter()
        balancer.handle(query.to_wire(), sink, ("127.0.0.1", 1))
        upstream_id = upstreams[0].sent[:2]
        for index in order:
            if shapes[index] != "silent":
                wire = shaped_wire(query, shapes[index], index)
                balancer.race.on_reply(upstreams[index], upstream_id + wire[2:])
        try:
            return await asyncio.wait_for(sink.done, 2.0), query
        finally:
            balancer.health.close()
            balancer.race.close()

    out, query = asyncio.run(main())
    got = dns.message.from_wire(out)
    wire = query.to_wire()
    replies = [BackendReply(f"b{i}") if shapes[i] == "silent" else
               judged(f"b{i}", shaped_wire(query, shapes[i], i), wire, float(order.index(i)))
               for i in range(len(shapes))]
    verdict = predict(replies, "A", 0.05)
    assert dns.rcode.to_text(got.rcode()) in verdict.rcodes, (shapes, order, verdict.text, got)
    assert sorted(rd.address for rrset in got.answer for rd in rrset) == sorted(verdict.answers), (shapes, order)
    assert got.question == query.question and got.question[0].name.to_text() == "Host.Corp.Example."


def judged(backend: str, reply: bytes, query: bytes, ms: float) -> BackendReply:
    """The reply as ``client --explain`` shows it: judged by the LS's code, malformed when it does not parse."""
    try:
        return backend_reply(backend, reply, query, scan_query(query), ms)
    except WireError:
        return BackendReply(backend, malformed=True)
