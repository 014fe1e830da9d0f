"""A backend on a bad network: delay and loss, then its link down and up again.

TS1 runs in a network namespace of its own, reached over a veth pair
(198.18.77.1 here, 198.18.77.2 there; no other addresses). Between the LS and
TS1 sits a relay (:mod:`support.relay`) that delays and drops the LS's datagrams
(this kernel has no netem). TS2 is on loopback. Through delay, loss and a
link taken down and up, TS2's names keep resolving at once, misses come back
fast once TS1 is marked down, and TS1's names resolve again when its link is
back.
"""
from __future__ import annotations

import time
from typing import Iterator

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

from support import netns
from support.netns import Namespace, require_netns
from support.paths import ZONES
from support.relay import Relay
from support.servers import Server, query
from support.waiting import wait_until

HOST_SIDE, TS_SIDE = "198.18.77.1", "198.18.77.2"


@pytest.fixture
def namespace() -> Iterator[tuple[Namespace, str]]:
    """TS1's namespace, and the name of the veth end that joins it to the machine's namespace."""
    require_netns()
    with netns.namespace(netns.unique("rimp")) as ns, netns.veth_to_root(ns, HOST_SIDE, TS_SIDE) as veth:
        yield ns, veth


def resolves(server: Server, name: str, timeout: float = 3.0) -> bool:
    try:
        return query(server, name, timeout=timeout).rcode() == dns.rcode.NOERROR
    except dns.exception.Timeout:
        return False


def test_the_ls_keeps_serving_through_delay_loss_and_a_link_going_down(namespace, start_server):
    ns, veth = namespace
    ts1 = Server(["ts", "--table", str(ZONES / "ts1.txt"), "--listen", f"{TS_SIDE}:0"], prefix=ns.prefix)
    relay = Relay((TS_SIDE, ts1.port), source=HOST_SIDE, seed=7)
    try:
        ts2 = start_server("ts", "--table", str(ZONES / "ts2.txt"))
        ls = start_server("ls", "--backend", relay.hostport, "--backend", ts2.hostport, "--timeout", "1",
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
        netns.ip("link", "set", veth, "down")

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
        netns.ip("link", "set", veth, "up")
        wait_until(lambda: resolves(ls, "www.ibm.com", timeout=1.5), 5, "TS1 used again after its link came back",
                   interval=0)
        assert ls.proc.poll() is None
    finally:
        relay.stop()
        ts1.stop()
