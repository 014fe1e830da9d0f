"""A flood of queries nobody answers: bounded state, flat memory, hits still resolve."""
from __future__ import annotations

import socket
import time

import dns.exception
import dns.message
import dns.rcode

from support.paths import ZONES
from support.servers import query

FLOOD = 50000


def resident_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def flood(server, count: int) -> None:
    """``count`` queries for missing names, as fast as one socket sends them (bounded)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(count):
            sock.sendto(dns.message.make_query(f"m{i}.nowhere.example", "A").to_wire(), (server.host, server.port))


def test_a_flood_to_silent_backends_keeps_memory_flat_and_hits_resolving(start_server):
    ts = start_server("ts", "--table", str(ZONES / "ts1.txt"), "--silent-miss")
    ls = start_server("ls", "--backend", ts.hostport, "--timeout", "3", "--max-inflight", "2000",
                      "--on-overflow", "drop")
    assert query(ls, "www.ibm.com").rcode() == dns.rcode.NOERROR
    before = resident_kib(ls.proc.pid)
    started = time.monotonic()
    flood(ls, FLOOD)
    assert time.monotonic() - started < 30
    # Like a stub resolver, retry: a full table drops new queries until its entries time out (3 s).
    reply = None
    for _ in range(5):
        try:
            reply = query(ls, "www.ibm.com", timeout=1.5)
            break
        except dns.exception.Timeout:
            continue
    assert reply is not None and reply.answer[0][0].address == "129.42.38.10"
    after = resident_kib(ls.proc.pid)
    # At most 2,000 of the 50,000 are kept: about 1 MB. Without the limit the LS grows by over 30 MB.
    assert after - before < 8 * 1024, f"LS grew from {before} KiB to {after} KiB"
    assert ls.proc.poll() is None


def test_past_the_inflight_limit_the_ls_drops_when_told(start_server):
    ts = start_server("ts", "--table", str(ZONES / "ts1.txt"), "--silent-miss")
    ls = start_server("ls", "--backend", ts.hostport, "--timeout", "3", "--max-inflight", "10",
                      "--on-overflow", "drop")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        for i in range(20):
            sock.sendto(dns.message.make_query(f"m{i}.nowhere.example", "A").to_wire(), (ls.host, ls.port))
        try:
            early = sock.recv(512)
        except socket.timeout:
            early = None
    assert early is None      # the 10 past the limit got no SERVFAIL; the 10 kept wait for the 3 s timeout
