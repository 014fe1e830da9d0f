"""Several hosts: an NSD primary, a chain of two TS secondaries, the LS in front, a client.

Six network namespaces of this run (:mod:`support.netns`): a switch holding
a bridge, and five hosts on it, one address each in 198.18.0.0/24, every
server on port 53 of its host's address:

- ``primary``: NSD, primary of ``topo.example.``; it sends NOTIFY to TS1 and
  lets TS1 transfer the zone;
- ``ts1``: a TS, secondary of NSD (``--secondary``) and itself a primary for
  TS2 (``--allow-transfer`` TS2's address, ``--notify`` TS2);
- ``ts2``: a TS, secondary of TS1, so that a change travels NSD -> TS1 -> TS2;
- ``ls``: the LS with TS1 and TS2 as one replica group;
- ``client``: where the queries come from (dnspython in a thread inside the
  namespace, ``dig`` and ``python -m resolver client``).

The zone's SOA refresh is far longer than any wait here, so a change that
arrives in time came by NOTIFY; its TTLs and negative TTL are 1 s, so the LS's
cache keeps nothing for long. Both TS keep their copy in a ``--zone-dir``.
"""
from __future__ import annotations

import json
import re
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from support.netns import SUBNET, Namespace, Network, network
from support.nsd import Nsd
from support.replication import Peer, ServedZone
from support.servers import Server
from support.tools import require_tool
from support.waiting import wait_until

ZONE = "topo.example."
PORT = 53
REFRESH, RETRY, EXPIRE = 3600, 1, 3600      # seconds; every wait here is far shorter than REFRESH
FIRST_SERIAL = 1
NAMES = 100                 # h0 … h99: each query while TS1 is cut off asks a name not asked before
FIRST_TRANSFER = 10.0       # seconds for a TS's first transfer at start
NOTIFY_DEADLINE = 5.0       # seconds from NSD's reload to the change answered by TS1, TS2 and the LS
LS_TIMEOUT = 2.0            # the LS's --timeout, seconds
PROBE_INTERVAL, DOWN_AFTER = 0.2, 3         # the LS marks a silent backend down after 0.6 s
FAILOVER = PROBE_INTERVAL * DOWN_AFTER + 1.0    # seconds within which the LS has marked a cut-off TS down
FAST = 0.5                  # seconds an answer may take once the LS asks only TS2
ASK_TIMEOUT = LS_TIMEOUT + 1.0                  # seconds the client waits for one reply
RUN_TIMEOUT = 15.0          # seconds for one dig or resolver client run


def www_address(serial: int) -> str:
    """``www``'s address in the zone with this serial: each change gives it a new one."""
    return f"198.19.{serial // 256 % 256}.{serial % 256}"


def host_address(i: int) -> str:
    return f"198.19.100.{i}"


def zone_text(serial: int) -> str:
    return "\n".join([
        f"$ORIGIN {ZONE}",
        "$TTL 1",
        f"@ SOA ns hostmaster {serial} {REFRESH} {RETRY} {EXPIRE} 1",
        "@ NS ns",
        "ns A 198.18.0.1",
        f"www A {www_address(serial)}",
        *(f"h{i} A {host_address(i)}" for i in range(NAMES)),
    ]) + "\n"


@dataclass
class Topology:
    """The hosts, the servers on them, and the serial the primary's zone file has now."""

    net: Network
    primary: Namespace
    ts1_host: Namespace
    ts2_host: Namespace
    ls_host: Namespace
    client: Namespace
    zone_file: Path
    work: Path
    nsd: Nsd
    ts1: Server | None = None
    ts2: Server | None = None
    ls: Server | None = None
    serial: int = FIRST_SERIAL

    def start_ts1(self) -> None:
        self.ts1 = Server(["ts", "--listen", f"{self.ts1_host.address}:{PORT}",
                           "--secondary", f"{ZONE}={self.primary.address}:{PORT}",
                           "--allow-transfer", f"{self.ts2_host.address}/32",
                           "--notify", f"{self.ts2_host.address}:{PORT}",
                           "--zone-dir", str(self.work / "ts1")], prefix=self.ts1_host.prefix)

    def start_ts2(self) -> None:
        self.ts2 = Server(["ts", "--listen", f"{self.ts2_host.address}:{PORT}",
                           "--secondary", f"{ZONE}={self.ts1_host.address}:{PORT}",
                           "--zone-dir", str(self.work / "ts2")], prefix=self.ts2_host.prefix)

    def restart(self, label: str) -> None:
        """Stop TS ``label`` (``ts1``, ``ts2``) and start it again with the same flags."""
        getattr(self, label).stop()
        getattr(self, f"start_{label}")()

    def start_ls(self) -> None:
        self.ls = Server(["ls", "--listen", f"{self.ls_host.address}:{PORT}",
                          "--backend", f"ts1={self.ts1_host.address}:{PORT}",
                          "--backend", f"ts2={self.ts2_host.address}:{PORT}",
                          "--group", "replicas=ts1,ts2", "--probe-name", ZONE, "--allow", SUBNET,
                          "--timeout", str(LS_TIMEOUT), "--probe-interval", str(PROBE_INTERVAL),
                          "--down-after", str(DOWN_AFTER)], prefix=self.ls_host.prefix)

    def stop(self) -> None:
        for server in (self.ls, self.ts2, self.ts1):
            if server is not None:
                server.stop()
        self.nsd.stop()

    def change_zone(self) -> int:
        """A new zone file with the next serial on the primary, NSD told to reload it (SIGHUP: it
        sends NOTIFY to TS1); the new serial."""
        self.serial += 1
        self.zone_file.write_text(zone_text(self.serial))
        self.nsd.reload()
        return self.serial

    def ask(self, server: Namespace, name: str, rdtype: str = "A",
            timeout: float = ASK_TIMEOUT) -> dns.message.Message | None:
        """One UDP query from the client host to ``server``'s port 53; None without a reply in ``timeout`` s."""
        q = dns.message.make_query(name, rdtype)
        try:
            return self.client.call(dns.query.udp, q, server.address, port=PORT, timeout=timeout)
        except dns.exception.Timeout:
            return None

    def serial_of(self, server: Namespace) -> int | None:
        """The zone's SOA serial as ``server`` answers it now, None without one."""
        reply = self.ask(server, ZONE, "SOA", timeout=1.0)
        if reply is None or reply.rcode() != dns.rcode.NOERROR or not reply.answer:
            return None
        return reply.answer[0][0].serial

    def wait(self, condition: Callable[[], object], timeout: float, what: str) -> float:
        """:func:`wait_until` (polling every 50 ms), failing with the servers' logs as they are then."""
        try:
            return wait_until(condition, timeout, what, interval=0.05)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.logs()}") from None

    def logs(self) -> str:
        parts = [self.nsd.log()]
        for label, server in (("TS1", self.ts1), ("TS2", self.ts2), ("LS", self.ls)):
            if server is not None:
                state = server.proc.poll()
                parts.append(f"--- {label} ({'running' if state is None else f'exited {state}'}):\n"
                             + "\n".join(server.lines[-20:]))
        return "\n".join(parts)


def addresses(reply: dns.message.Message | None) -> list[str]:
    """The A addresses of a NOERROR reply; [] for anything else."""
    if reply is None or reply.rcode() != dns.rcode.NOERROR:
        return []
    return sorted(rd.address for rrset in reply.answer if rrset.rdtype == dns.rdatatype.A for rd in rrset)


def marked(ls: Server, backend: str, state: str) -> int:
    """How many times the LS has logged ``backend`` going ``state`` (up, down)."""
    return ls.count_lines(re.compile(rf"backend {backend} is {state}\b"))


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """The five hosts with their servers running, both TS holding the zone's first serial."""
    nsd_binary = require_tool("nsd")
    require_tool("dig")
    work = tmp_path_factory.mktemp("topology")
    with ExitStack() as stack:
        net = stack.enter_context(network("rtopo"))
        primary, ts1_host, ts2_host, ls_host, client = (
            net.add(label) for label in ("primary", "ts1", "ts2", "ls", "client"))
        zone_file = work / "primary" / f"{ZONE}zone"
        zone_file.parent.mkdir()
        zone_file.write_text(zone_text(FIRST_SERIAL))
        served = ServedZone(ZONE, zone_file, secondaries=(Peer(ts1_host.address, PORT),))
        nsd = primary.call(Nsd, nsd_binary, zone_file.parent, zones=[served], host=primary.address)
        nsd.port = PORT
        topo = Topology(net, primary, ts1_host, ts2_host, ls_host, client, zone_file, work, nsd)
        stack.callback(topo.stop)
        primary.call(nsd.start)
        topo.start_ts1()
        topo.start_ts2()
        topo.start_ls()
        for host in (ts1_host, ts2_host):
            topo.wait(lambda: topo.serial_of(host) == FIRST_SERIAL, FIRST_TRANSFER,
                      f"the first transfer to {host.name}")
        yield topo


def test_a_change_on_the_nsd_primary_reaches_both_ts_and_the_client_through_the_ls_by_notify(topology):
    """A new zone file on NSD, reloaded: within seconds TS1 (NOTIFY from NSD) and TS2 (NOTIFY from
    TS1) hold the new serial, and dnspython, dig and the resolver client get the new address
    through the LS."""
    topo = topology
    serial = topo.change_zone()
    expected = [www_address(serial)]
    name = "www." + ZONE
    took = topo.wait(lambda: addresses(topo.ask(topo.ls_host, name, timeout=1.0)) == expected, NOTIFY_DEADLINE,
                     f"serial {serial} answered through the LS")
    # The LS asks one member of the group: both must have the change, TS2 through TS1's NOTIFY
    # (the SOA refresh, REFRESH, is far off).
    topo.wait(lambda: topo.serial_of(topo.ts1_host) == serial and topo.serial_of(topo.ts2_host) == serial,
              NOTIFY_DEADLINE - took, f"serial {serial} on TS1 and TS2")
    for host in (topo.ts1_host, topo.ts2_host):
        assert addresses(topo.ask(host, name)) == expected, topo.logs()

    dig = topo.client.run("dig", f"@{topo.ls_host.address}", "+short", "+time=2", "+tries=1", name, "A",
                          timeout=RUN_TIMEOUT)
    assert dig.returncode == 0 and dig.stdout.split() == expected, (dig.stdout, dig.stderr)

    hosts, out = topo.work / "client-hosts.txt", topo.work / "client-out.json"
    hosts.write_text(f"{name}\n")
    done = topo.client.run(sys.executable, "-m", "resolver", "client", "--server", f"{topo.ls_host.address}:{PORT}",
                           "--format", "json", "--out", str(out), str(hosts), timeout=RUN_TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text()) == [{"name": name, "type": "A", "status": "NOERROR", "answers": expected}]


def test_with_ts1_cut_off_the_ls_serves_on_from_ts2(topology):
    """TS1's port on the switch goes down: every query through the LS is still answered right
    (TS2 asked in TS1's place), TS1 is marked down within the failover time, and from then on
    answers come at once."""
    topo = topology
    names = iter(range(NAMES))

    def answered_right() -> float:
        """One name not asked before, through the LS: its address must come back; the seconds it took."""
        i = next(names)
        started = time.monotonic()
        reply = topo.ask(topo.ls_host, f"h{i}.{ZONE}")
        assert addresses(reply) == [host_address(i)], f"h{i}: {reply}\n{topo.logs()}"
        return time.monotonic() - started

    downs, ups = marked(topo.ls, "ts1", "down"), marked(topo.ls, "ts1", "up")

    def marked_down() -> bool:
        """Whether the LS has marked TS1 down, after one more name answered right meanwhile."""
        answered_right()
        return marked(topo.ls, "ts1", "down") > downs

    with topo.net.cut(topo.ts1_host):
        topo.wait(marked_down, FAILOVER, "TS1 marked down")
        took = [answered_right() for _ in range(20)]
        assert max(took) < FAST, (took, topo.logs())
        assert topo.ls.proc.poll() is None and topo.ts2.proc.poll() is None, topo.logs()
    topo.wait(lambda: marked(topo.ls, "ts1", "up") > ups, FAILOVER, "TS1 marked up again")


@pytest.mark.parametrize("label,primary", [("ts2", "ts1"), ("ts1", "primary")])
def test_a_ts_restarted_while_its_primary_is_cut_off_serves_its_saved_copy_at_once(topology, label, primary):
    """A TS restarts with its primary (TS1 for TS2, NSD for TS1) unreachable: its first answer,
    to one query sent once as soon as it listens, is from the copy it had."""
    topo = topology
    host = topo.net.hosts[label]
    topo.wait(lambda: topo.serial_of(host) == topo.serial, NOTIFY_DEADLINE, f"{label} holding serial {topo.serial}")
    expected = [www_address(topo.serial)]
    with topo.net.cut(topo.net.hosts[primary]):
        topo.restart(label)
        assert addresses(topo.ask(host, "www." + ZONE, timeout=1.0)) == expected, topo.logs()
        assert topo.serial_of(host) == topo.serial, topo.logs()
        # The LS may have marked the TS down while it restarted (port unreachable): once its
        # probes find it back, the LS answers from it.
        topo.wait(lambda: addresses(topo.ask(topo.ls_host, "www." + ZONE, timeout=1.0)) == expected, FAILOVER,
                  f"the LS answering from the restarted {label}")
