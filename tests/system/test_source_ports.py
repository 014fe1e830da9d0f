"""Random source ports for upstream UDP queries (RFC 5452), seen from the backend.

A :class:`~support.recorder.PortRecorder` stands in for the backend and
records the source port of every query it receives. Through a real LS
(``python -m resolver ls``): the queries leave from every socket of the pool,
none favoured; with ``--source-ports 1``, from one socket at a time; a socket
replaced every second gives way to a new port while the old one still
delivers a late reply. Through an LS in this process: forged replies are not
taken (from another port, with another ID, or on another socket of the pool
than the query left from), and the client gets the real answer. And the flag's
bad values fail in one line.
"""
from __future__ import annotations

import socket
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import dns.message
import dns.rcode
import pytest
from dnslib import QTYPE, RR, A, DNSRecord

from resolver.cli import main
from resolver.ls.settings import CacheSettings, LsSettings, RetransmitSettings
from support.inprocess import ask, run, running_ls
from support.recorder import PortRecorder, address_for, answer, positive
from support.servers import query, scrape, value
from support.waiting import wait_until, wait_until_async

QUERIES = 1024              # upstream queries counted for the spread over the pool
FAIR_SHARE_LIMIT = 3        # no port carries more than this many times its fair share (1 / pool size) of them
ROTATIONS = "resolver_backend_source_port_rotations_total"


def addresses(reply: dns.message.Message) -> list[str]:
    return [rd.address for rrset in reply.answer for rd in rrset]


# --------------------------------------------------------------------------- through a real LS


@pytest.mark.parametrize("flag,pool", [((), LsSettings.source_ports), (("--source-ports", "8"), 8)],
                         ids=["default", "8"])
def test_queries_leave_from_every_port_of_the_pool_none_favoured(start_server, flag, pool):
    with PortRecorder() as recorder:
        ls = start_server("ls", "--backend", f"rec={recorder.hostport}", "--metrics", "127.0.0.1:0", *flag)
        deadline = time.monotonic() + 60
        for i in range(QUERIES):
            name = f"q{i}.example"
            assert addresses(query(ls, name)) == [address_for(name)]
            assert time.monotonic() < deadline, f"{i} queries in 60 s"
        ports = Counter(recorder.ports())
        samples = scrape(ls)
        rotations = value(samples, ROTATIONS, backend="rec")
    # Each query once, and again if its reply came later than the backend's retransmission timeout.
    assert sum(ports.values()) == QUERIES + value(samples, "resolver_backend_retransmissions_total", backend="rec")
    # Every socket of the pool was used; more ports only as sockets were replaced, one a second.
    assert pool <= len(ports) <= pool + rotations, (len(ports), rotations)
    busiest, most = ports.most_common(1)[0]
    assert most <= FAIR_SHARE_LIMIT * QUERIES / pool, f"port {busiest} carried {most} of {QUERIES}"


def test_one_source_port_keeps_one_socket_at_a_time(start_server):
    with PortRecorder() as recorder:
        ls = start_server("ls", "--backend", f"rec={recorder.hostport}", "--metrics", "127.0.0.1:0",
                          "--source-ports", "1")
        for i in range(200):
            name = f"one{i}.example"
            assert addresses(query(ls, name)) == [address_for(name)]
        rotations = value(scrape(ls), ROTATIONS, backend="rec")
        ports = recorder.ports()
    assert len(set(ports)) <= 1 + rotations
    # One socket at a time: a port, once given up, never comes back.
    runs = [port for i, port in enumerate(ports) if i == 0 or port != ports[i - 1]]
    assert len(runs) == len(set(runs))


def test_a_replaced_socket_gives_way_to_a_new_port_and_still_delivers_a_late_reply(start_server):
    """One socket (``--source-ports 1``), replaced after a second: the reply to a query that left
    from it, held by the backend until then, still reaches the client, before the timeout."""
    held: list[tuple[DNSRecord, tuple[str, int]]] = []

    def hold_late(request: DNSRecord, source: tuple[str, int], sock: socket.socket) -> None:
        if str(request.q.qname) == "late.example.":
            held.append((request, source))
        else:
            answer(request, source, sock)

    with PortRecorder(hold_late) as recorder, ThreadPoolExecutor(1) as pool:
        ls = start_server("ls", "--backend", f"rec={recorder.hostport}", "--metrics", "127.0.0.1:0",
                          "--source-ports", "1", "--udp-retries", "0", "--timeout", "5")
        asking = pool.submit(query, ls, "late.example", timeout=8)
        started = time.monotonic()
        wait_until(lambda: held, 3, "the late query at the backend")
        request, source = held[0]
        wait_until(lambda: value(scrape(ls), ROTATIONS, backend="rec") >= 1, 3, "the socket replaced")
        assert addresses(query(ls, "after.example")) == [address_for("after.example")]
        assert recorder.ports()[-1] != source[1]              # the next query left from a new port
        recorder.sock.sendto(positive(request), source)       # the late reply, to the socket replaced
        reply = asking.result(8)
        assert addresses(reply) == [address_for("late.example")]
        assert time.monotonic() - started < 5                 # the reply, not the timeout's answer
        assert value(scrape(ls), "resolver_backend_forged_responses_total", backend="rec") == 0


# --------------------------------------------------------------------------- forged replies


def query_port(balancer, request: DNSRecord) -> int:
    """The port of the pool socket the LS's query ``request`` left from, as the LS has it."""
    backend = balancer.backends[0]
    return backend.transports[backend.socket_of[request.header.id & 0xFF]].get_extra_info("sockname")[1]


def forged(request: DNSRecord, address: str = "203.0.113.66") -> DNSRecord:
    """A reply to ``request`` carrying another address than the backend's answer."""
    reply = request.reply(ra=0, aa=1)
    reply.add_answer(RR(str(request.q.qname), QTYPE.A, ttl=60, rdata=A(address)))
    return reply


@pytest.mark.parametrize("forgery", ["other-source-port", "wrong-id", "other-socket-of-the-pool"])
def test_a_forged_reply_before_the_real_one_is_not_taken(forgery):
    """Each query's forgery reaches the LS before the backend's real answer: from the backend's
    address but another port (the kernel does not deliver it), from the backend itself with
    another ID, or with the right ID to another socket of the pool than the query left from
    (RFC 5452 9.1). The client gets the real answer; the last two are counted as forged. Asked
    again, each name is answered from the cache, with the real answer: no forgery was kept."""
    holder: dict = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as forger:
        forger.bind(("127.0.0.1", 0))

        def forge_then_answer(request: DNSRecord, source: tuple[str, int], sock: socket.socket) -> None:
            if QTYPE[request.q.qtype] == "A":
                lie = forged(request)
                if forgery == "other-source-port":
                    forger.sendto(lie.pack(), source)
                elif forgery == "wrong-id":       # one the LS never sent, so no race it ran can take it as late
                    sent = {earlier.header.id for _, earlier in holder["recorder"].queries}
                    lie.header.id = next(uid for uid in range(65536) if uid not in sent)
                    sock.sendto(lie.pack(), source)
                else:
                    ports = [t.get_extra_info("sockname")[1] for t in holder["ls"].server.backends[0].transports]
                    other = next(port for port in ports if port != query_port(holder["ls"].server, request))
                    sock.sendto(lie.pack(), (source[0], other))
            answer(request, source, sock)

        async def main() -> None:
            with PortRecorder(forge_then_answer) as recorder:
                holder["recorder"] = recorder
                # Each query sent once (no copies after a slow reply), so each meets one forgery.
                async with running_ls([recorder.address], probes=False, cache=CacheSettings(),
                                      retransmit=RetransmitSettings(retries=0)) as ls:
                    holder["ls"] = ls
                    for i in range(20):
                        name = f"forged{i}.example"
                        reply, _ = await ask(ls, name)
                        assert addresses(reply) == [address_for(name)]
                    stats = ls.server.backends[0].stats
                    counted = 0 if forgery == "other-source-port" else 20
                    await wait_until_async(lambda: stats.forged >= counted, 2, "the forgeries counted")
                    assert stats.forged == counted and stats.replies[dns.rcode.NOERROR] == 20
                    for i in range(20):
                        name = f"forged{i}.example"
                        reply, _ = await ask(ls, name)
                        assert addresses(reply) == [address_for(name)]
                    assert ls.server.race.cache.stats.hits == 20 and len(recorder.ports()) == 20
        run(main())


# --------------------------------------------------------------------------- the flag


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "257"])
def test_a_bad_source_port_count_is_one_line_naming_the_flag(capsys, bad):
    rc = main(["ls", "--listen", "127.0.0.1:0", "--backend", "127.0.0.1:5301", "--source-ports", bad])
    err = capsys.readouterr().err.splitlines()
    assert rc == 2 and len(err) == 1 and "--source-ports" in err[0] and repr(bad) in err[0], err


def test_a_bad_source_port_count_in_a_config_file_is_one_line_naming_the_key(capsys, tmp_path):
    path = tmp_path / "ls.toml"
    path.write_text('listen = ["127.0.0.1:0"]\nbackend = ["127.0.0.1:5301"]\nsource-ports = 0\n')
    rc = main(["ls", "--config", str(path)])
    err = capsys.readouterr().err.splitlines()
    assert rc == 2 and len(err) == 1 and str(path) in err[0] and "source-ports" in err[0], err
