"""--workers: several processes on one address (SO_REUSEPORT), started and stopped as one."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import dns.message
import dns.query
import dns.rcode
import pytest

from support.paths import ZONES
from support.servers import query


def worker_pids(server) -> set[int]:
    children = f"/proc/{server.proc.pid}/task/{server.proc.pid}/children"
    with open(children) as listing:
        return {int(pid) for pid in listing.read().split()}


def asked_from_many_ports(server, name: str, count: int = 40) -> list[dns.message.Message]:
    """Each query from a new socket, so SO_REUSEPORT spreads them over the workers."""
    return [dns.query.udp(dns.message.make_query(name, "A"), server.host, port=server.port, timeout=3)
            for _ in range(count)]


@pytest.mark.parametrize("command", ["ts", "ls"])
def test_workers_answer_on_one_port_and_stop_together(start_server, demo_backends, command):
    ts1, ts2 = demo_backends
    args = ["--table", str(ZONES / "ts1.txt")] if command == "ts" else ["--backend", ts1.hostport, "--backend", ts2.hostport]
    server = start_server(command, *args, "--workers", "3")
    workers = worker_pids(server)
    assert len(workers) == 3
    replies = asked_from_many_ports(server, "www.ibm.com")
    assert all(r.rcode() == dns.rcode.NOERROR and r.answer[0][0].address == "129.42.38.10" for r in replies)
    assert query(server, "www.ibm.com", tcp=True).answer[0][0].address == "129.42.38.10"

    started = time.monotonic()
    assert server.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 1.0
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind((server.host, server.port))


def test_workers_with_a_port_in_use_fail_in_one_line(start_server):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        result = subprocess.run([sys.executable, "-m", "resolver", "ts", "--listen", f"127.0.0.1:{taken.getsockname()[1]}",
                                 "--table", str(ZONES / "ts1.txt"), "--workers", "2"],
                                capture_output=True, text=True, timeout=20)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "address already in use" in result.stderr
