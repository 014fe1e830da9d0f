"""--rate-limit: queries per second per client address; past it, UDP queries are dropped."""
from __future__ import annotations

import socket
import time

import dns.message

from resolver.ls.ratelimit import RateLimiter


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
