"""The TS as a secondary of primaries that misbehave (RFC 5936 AXFR, 1995 IXFR, 1996 NOTIFY).

A :class:`support.xfr_primary.ScriptedPrimary` plays what no real server sends
on demand: a transfer cut short, garbled, without its SOA first or last, an
IXFR whose deletions do not apply, a connection accepted and never answered.
Each test starts a ``resolver ts --secondary`` of it on loopback and checks, by
the TS's answers and log lines and by the requests the primary saw, that the
copy being served stays until a good transfer comes, as NSD and Knot keep theirs.
"""
from __future__ import annotations

import socket
import time
from typing import Sequence

import dns.flags
import dns.message
import dns.opcode
import dns.rcode

from resolver.ts.settings import TRANSFER_IDLE_TIMEOUT
from support.servers import Server, query
from support.waiting import wait_until
from support.xfr_primary import HOLD, ScriptedPrimary

ZONE = "lab.example."
HOST = "127.0.0.1"
HOUR = 3600


def records(serial: int, *extra: str) -> list[str]:
    """ZONE at ``serial`` as absolute record lines (``www`` is 192.0.2.SERIAL), and ``extra`` ones."""
    return [f"{ZONE} 60 IN SOA ns1.{ZONE} hostmaster.{ZONE} {serial} {HOUR} {HOUR} {7 * 24 * HOUR} 60",
            f"{ZONE} 60 IN NS ns1.{ZONE}", f"ns1.{ZONE} 60 IN A 127.0.0.1", f"www.{ZONE} 60 IN A 192.0.2.{serial}",
            *extra]


def www(ts: Server) -> tuple[int, list[str]]:
    """The TS's rcode for ``www.ZONE`` A and the addresses it answers."""
    reply = query(ts, "www." + ZONE, timeout=1)
    return reply.rcode(), sorted(rd.address for rrset in reply.answer for rd in rrset)


def notify(ts: Server, source: str = HOST) -> dns.message.Message:
    """A NOTIFY for ZONE from ``source``, and the TS's reply."""
    message = dns.message.make_query(ZONE, "SOA")
    message.set_opcode(dns.opcode.NOTIFY)
    message.flags = (message.flags | dns.flags.AA) & ~dns.flags.RD
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(2)
        sock.sendto(message.to_wire(), (ts.host, ts.port))
        return dns.message.from_wire(sock.recvfrom(65535)[0])


def secondary_of(*primaries: ScriptedPrimary | str) -> Server:
    """A TS secondary of ZONE from these primaries, tried in order."""
    addresses = ",".join(p if isinstance(p, str) else p.hostport for p in primaries)
    return Server(["ts", "--secondary", f"{ZONE}={addresses}", "--listen", f"{HOST}:0"])


def hold(primary: ScriptedPrimary, request: dns.message.Message) -> Sequence[bytes]:
    return [HOLD]


def test_a_primary_that_never_answers_a_transfer_is_left_for_the_next_after_an_idle_timeout() -> None:
    """A primary that answers the SOA query, accepts the transfer's connection and then sends
    nothing is given up after TRANSFER_IDLE_TIMEOUT seconds of silence (as Knot gives up after
    its I/O timeout), with one line, and the zone comes from the next primary."""
    with ScriptedPrimary(records(1), hold) as silent, ScriptedPrimary(records(1)) as good:
        ts = secondary_of(silent, good)
        try:
            started = time.monotonic()
            wait_until(lambda: www(ts) == (dns.rcode.NOERROR, ["192.0.2.1"]), TRANSFER_IDLE_TIMEOUT + 10,
                       "the zone from the second primary", interval=0.1)
            assert time.monotonic() - started >= TRANSFER_IDLE_TIMEOUT - 0.5
            ts.wait_for_line(f"AXFR: nothing from the primary for {TRANSFER_IDLE_TIMEOUT:g} s")
            assert (silent.count("AXFR"), good.count("AXFR")) == (1, 1)
        finally:
            ts.stop()
