"""Queries to a backend over TCP when the backend ends the connection (RFC 7766 6.2.4).

A TCP client's query goes to the backends over TCP, several on one connection
(pipelined). A backend may end that connection with queries on it still
unanswered: NSD with ``tcp-query-count: 1`` answers one query and closes, a
server restarts, an idle timeout closes a connection just as a query is written
on it. The LS asks those queries again on a new connection, so a TCP client gets
the answer of a backend that has it; and a query a backend never answers,
however often it is asked, counts as that backend's SERVFAIL at once rather than
keeping the client until the timeout.

Here a client writes :data:`PIPELINED` queries on one connection to the LS and
then reads as many replies: behind the LS a real NSD that serves one query per
connection, and fakes (:class:`~support.fakes.FakeBackend` with
``stream_answers``) that end every connection after one answer by a close, a
reset, or a half-close.
"""
from __future__ import annotations

import contextlib
import socket
import struct
import time
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from support.fakes import STREAM_ENDS, FakeBackend, answer, nxdomain
from support.nsd import Nsd
from support.servers import Server, query, read_tcp_message, scrape, value
from support.tools import require_tool

PIPELINED = 20          # queries written on one client connection before any reply is read
SEQUENTIAL = 5          # queries asked one after the other
LS_TIMEOUT = 5.0        # --timeout; a client that waits this long got the timeout answer, not a backend's
PROMPT = 2.0            # seconds: well before the timeout
FAKE_ADDRESS = "192.0.2.7"      # the address support.fakes.answer() gives every name


def ask_pipelined(server: tuple[str, int], names: list[str]) -> dict[str, dns.message.Message | None]:
    """Write one A query for each of ``names`` on one TCP connection to ``server``, then read as many
    replies (or until the server closes); the reply to each name by its ID, None when none came."""
    queries = {}
    for number, name in enumerate(names, 1):
        q = dns.message.make_query(name, "A")
        q.id = number
        queries[number] = q
    replies: dict[int, dns.message.Message] = {}
    with socket.create_connection(server, timeout=LS_TIMEOUT + 3) as sock:
        sock.sendall(b"".join(struct.pack("!H", len(wire)) + wire
                              for wire in (q.to_wire() for q in queries.values())))
        for _ in queries:
            data = read_tcp_message(sock)
            if data is None:
                break
            reply = dns.message.from_wire(data)
            replies[reply.id] = reply
    return {q.question[0].name.to_text(): replies.get(number) for number, q in queries.items()}


def addresses(reply: dns.message.Message | None) -> list[str]:
    """The reply's rcode and A records, or ``["no reply"]``."""
    if reply is None:
        return ["no reply"]
    return [dns.rcode.to_text(reply.rcode()), *(f"{rrset.name} {rdata}" for rrset in reply.answer
                                                if rrset.rdtype == dns.rdatatype.A for rdata in rrset)]


def start_ls(start_server, *backends: str) -> Server:
    argv = ["ls", "--timeout", str(LS_TIMEOUT), "--metrics", "127.0.0.1:0"]
    for backend in backends:
        argv += ["--backend", backend]
    return start_server(*argv)


@pytest.fixture
def nsd_one_query_per_connection(tmp_path: Path):
    """A real NSD with ``tcp-query-count: 1`` serving pipe.test, whose h0 … h19 have one address each."""
    zone = tmp_path / "pipe.test.zone"
    zone.write_text("$ORIGIN pipe.test.\n$TTL 300\n@ IN SOA ns hostmaster 1 7200 900 1209600 300\n@ IN NS ns\n"
                    "ns IN A 192.0.2.53\n" + "".join(f"h{i} IN A 198.51.100.{i + 1}\n" for i in range(PIPELINED)))
    nsd = Nsd(require_tool("nsd"), tmp_path, [zone], options=["tcp-query-count: 1"])
    nsd.start()
    yield nsd
    nsd.stop()


def test_nsd_serving_one_query_per_connection_answers_every_pipelined_query_through_the_ls(
        nsd_one_query_per_connection, start_server):
    nsd = nsd_one_query_per_connection
    names = [f"h{i}.pipe.test." for i in range(PIPELINED)]
    want = {name: ["NOERROR", f"{name} 198.51.100.{i + 1}"] for i, name in enumerate(names)}
    direct = ask_pipelined(nsd.address, names)
    assert sum(reply is not None for reply in direct.values()) == 1, "NSD answers one query per connection"
    ls = start_ls(start_server, nsd.hostport)
    got = {name: addresses(reply) for name, reply in ask_pipelined(ls.addresses[0], names).items()}
    assert got == want


@pytest.mark.parametrize("end", STREAM_ENDS)
def test_a_backend_ending_each_connection_after_one_answer_still_answers_every_pipelined_query(end, start_server):
    names = [f"h{i}.pipe.test." for i in range(PIPELINED)]
    with FakeBackend(answer(FAKE_ADDRESS), stream_answers=1, stream_end=end) as fake:
        ls = start_ls(start_server, fake.hostport)
        got = {name: addresses(reply) for name, reply in ask_pipelined(ls.addresses[0], names).items()}
        samples = scrape(ls)
    assert got == {name: ["NOERROR", f"{name} {FAKE_ADDRESS}"] for name in names}
    # Each query after the first went again on a new connection, once or more: counted as sent again.
    sent_again = value(samples, "resolver_backend_retransmissions_total", backend=fake.hostport)
    assert sent_again >= PIPELINED - 1
    assert value(samples, "resolver_backend_requests_total", backend=fake.hostport) == PIPELINED + sent_again


def test_a_query_on_a_connection_the_backend_closes_as_it_arrives_is_asked_again(start_server):
    """The backend answers one query per connection and closes it when the next arrives, as an idle
    timeout racing a new query does: every query after the first on a connection goes on a new one."""
    with FakeBackend(answer(FAKE_ADDRESS), stream_answers=1) as fake:
        ls = start_ls(start_server, fake.hostport)
        for i in range(SEQUENTIAL):
            started = time.monotonic()
            reply = query(ls, f"s{i}.pipe.test", tcp=True, timeout=LS_TIMEOUT + 3)
            assert addresses(reply) == ["NOERROR", f"s{i}.pipe.test. {FAKE_ADDRESS}"]
            assert time.monotonic() - started < PROMPT


@pytest.mark.parametrize("other, rcode", [(None, "SERVFAIL"), (nxdomain, "NXDOMAIN")])
def test_a_backend_that_closes_without_answering_fails_the_query_after_one_resend(other, rcode, start_server):
    """Asked once and once again, then the race counts it as that backend's SERVFAIL: the client gets
    the best reply at once (the other backend's NXDOMAIN, or SERVFAIL alone), not the timeout answer."""
    with contextlib.ExitStack() as stack:
        closer = stack.enter_context(FakeBackend(answer(FAKE_ADDRESS), stream_answers=0))
        backends = [closer.hostport] + ([stack.enter_context(FakeBackend(other())).hostport] if other else [])
        ls = start_ls(start_server, *backends)
        started = time.monotonic()
        reply = query(ls, "gone.pipe.test", tcp=True, timeout=LS_TIMEOUT + 3)
        took = time.monotonic() - started
        asked = [r for r in closer.seen if str(r.q.qname) == "gone.pipe.test."]
    assert dns.rcode.to_text(reply.rcode()) == rcode
    assert took < PROMPT
    assert len(asked) == 2
