"""A backend on a bad network: delay and loss, then its link down and up again.

TS1 runs in a network namespace of its own, reached over a veth pair
(198.18.77.1 here, 198.18.77.2 there; no other addresses). Between the LS and
TS1 sits a small UDP relay in this test that delays and drops datagrams
(this kernel has no netem). TS2 is on loopback. Through delay, loss and a
link taken down and up, TS2's names keep resolving at once, misses come back
fast once TS1 is marked down, and TS1's names resolve again when its link is
back.
"""
from __future__ import annotations

import heapq
import os
import random
import selectors
import socket
import subprocess
import threading
import time

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

from support.paths import ZONES
from support.servers import Server, query
from support.tools import require_root, require_tool
from support.waiting import wait_until

HOST_SIDE, TS_SIDE = "198.18.77.1", "198.18.77.2"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


class Relay(threading.Thread):
    """UDP relay: datagrams from the LS go to the TS after ``delay`` s, a ``loss`` share dropped."""

    def __init__(self, target: tuple[str, int]) -> None:
        super().__init__(daemon=True)
        self.target = target
        self.delay = 0.0
        self.loss = 0.0
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind((HOST_SIDE, 0))
        self.client: tuple[str, int] | None = None
        self.queue: list[tuple[float, int, bytes]] = []
        self.random = random.Random(7)
        self.running = True

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.front.getsockname()[1]}"

    def run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.front, selectors.EVENT_READ, "front")
        selector.register(self.back, selectors.EVENT_READ, "back")
        count = 0
        while self.running:
            wait = max(0.0, self.queue[0][0] - time.monotonic()) if self.queue else 0.05
            for key, _ in selector.select(min(wait, 0.05)):
                data, addr = key.fileobj.recvfrom(65535)
                if key.data == "front":
                    self.client = addr
                    if self.random.random() >= self.loss:
                        count += 1
                        heapq.heappush(self.queue, (time.monotonic() + self.delay, count, data))
                elif self.client is not None:
                    self.front.sendto(data, self.client)
            while self.queue and self.queue[0][0] <= time.monotonic():
                try:
                    self.back.sendto(heapq.heappop(self.queue)[2], self.target)
                except OSError:
                    pass        # the link is down: the datagram is lost, as on a real network

    def stop(self) -> None:
        self.running = False
        self.join(2)
        self.front.close()
        self.back.close()


@pytest.fixture
def namespace():
    require_root()
    require_tool("ip")
    name, veth = f"rimp{os.getpid()}", f"vimp{os.getpid() % 100000}"
    ip("netns", "add", name)
    try:
        ip("link", "add", veth, "type", "veth", "peer", "name", veth + "p")
        ip("link", "set", veth + "p", "netns", name)
        ip("addr", "add", f"{HOST_SIDE}/30", "dev", veth)
        ip("link", "set", veth, "up")
        ip("netns", "exec", name, "ip", "addr", "add", f"{TS_SIDE}/30", "dev", veth + "p")
        ip("netns", "exec", name, "ip", "link", "set", veth + "p", "up")
        ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield name, veth
    finally:
        subprocess.run(["ip", "link", "del", veth], capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def resolves(server: Server, name: str, timeout: float = 3.0) -> bool:
    try:
        return query(server, name, timeout=timeout).rcode() == dns.rcode.NOERROR
    except dns.exception.Timeout:
        return False


def test_the_ls_keeps_serving_through_delay_loss_and_a_link_going_down(namespace, start_server):
    name, veth = namespace
    ts1 = Server(["ts", "--table", str(ZONES / "ts1.txt"), "--listen", f"{TS_SIDE}:0"],
                 prefix=["ip", "netns", "exec", name])
    relay = Relay((TS_SIDE, ts1.port))
    relay.start()
    try:
        ts2 = start_server("ts", "--table", str(ZONES / "ts2.txt"))
        ls = start_server("ls", "--backend", relay.address, "--backend", ts2.hostport, "--timeout", "1",
                          "--probe-interval", "0.2", "--down-after", "3")
        assert resolves(ls, "www.ibm.com") and resolves(ls, "www.google.com")

        # 30 ms each way and 20% loss: TS2's names stay fast, most of TS1's still resolve.
        relay.delay, relay.loss = 0.03, 0.2
        started = time.monotonic()
        assert all(resolves(ls, "www.google.com") for _ in range(30))
        assert time.monotonic() - started < 3.0
        assert sum(resolves(ls, "www.ibm.com") for _ in range(30)) >= 15

        # The link goes down: TS1 is marked down, misses no longer wait for the timeout.
        relay.delay, relay.loss = 0.0, 0.0
        ip("link", "set", veth, "down")

        def marked_down() -> bool:
            """Whether the LS has logged TS1 down; if not, one more miss to hurry it along."""
            if ls.count_lines("is down"):
                return True
            query(ls, "www.amazon.com", timeout=3)
            return False
        wait_until(marked_down, 5, "TS1 marked down", interval=0)
        started = time.monotonic()
        assert query(ls, "www.amazon.com", timeout=3).rcode() == dns.rcode.NXDOMAIN
        assert time.monotonic() - started < 0.5
        assert resolves(ls, "www.google.com")

        # And up again: TS1's names resolve again without a restart.
        ip("link", "set", veth, "up")
        wait_until(lambda: resolves(ls, "www.ibm.com", timeout=1.5), 5, "TS1 used again after its link came back",
                   interval=0)
        assert ls.proc.poll() is None
    finally:
        relay.stop()
        ts1.stop()
