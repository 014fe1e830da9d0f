"""--rate-limit: queries per second per client address; past it, UDP queries are dropped."""
from __future__ import annotations

import socket
import time

import dns.message
import dns.rcode

from resolver.ls.ratelimit import RateLimiter
from support.querylog import logged
from support.servers import query
from support.waiting import wait_until


def test_token_bucket_allows_the_rate_and_refills():
    limiter = RateLimiter(10)
    assert sum(limiter.allows("192.0.2.1") for _ in range(50)) == 10      # one second's worth at once
    assert limiter.allows("192.0.2.2")                                   # other clients are not affected
    limiter.buckets["192.0.2.1"][1] -= 0.5                               # half a second later
    assert sum(limiter.allows("192.0.2.1") for _ in range(50)) == 5


def test_the_ls_drops_udp_queries_past_the_limit(start_server, demo_backends):
    ts1, ts2 = demo_backends
    ls = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport, "--rate-limit", "20")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(100):
            sock.sendto(dns.message.make_query("www.ibm.com", "A", id=i).to_wire(), (ls.host, ls.port))
        sock.settimeout(1.0)
        answered = 0
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                sock.recv(512)
            except socket.timeout:
                break
            answered += 1
    assert 20 <= answered <= 30         # 20 at once, plus what refills while the burst is read


def test_queries_over_the_limit_are_in_the_query_log(start_server, demo_backends, tmp_path):
    """Over the limit a UDP query is dropped (rcode ``-``: no reply) and a TCP one REFUSED, each
    with a query log line; 1 query a second lets the first through and few of the next ten."""
    ts1, ts2 = demo_backends
    log = tmp_path / "queries.log"
    ls = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport, "--rate-limit", "1",
                      "--query-log", str(log))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(10):
            sock.sendto(dns.message.make_query("www.ibm.com", "A", id=i).to_wire(), (ls.host, ls.port))
    wait_until(lambda: len(logged(log)) == 10, 3, "ten query log lines")
    dropped = [line for line in logged(log) if line[2] == "rate-limit"]
    assert len(dropped) >= 7 and set(dropped) == {("www.ibm.com.", "A", "rate-limit", "-", "udp", None)}
    refused = [query(ls, "www.ibm.com", tcp=True).rcode() == dns.rcode.REFUSED for _ in range(5)]
    assert sum(refused) >= 3
    wait_until(lambda: len(logged(log)) == 15, 3, "five more query log lines")
    over_tcp = [line for line in logged(log)[10:] if line[2] == "rate-limit"]
    assert len(over_tcp) == sum(refused)
    assert set(over_tcp) == {("www.ibm.com.", "A", "rate-limit", "REFUSED", "tcp", None)}
