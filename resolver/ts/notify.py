"""NOTIFY out (RFC 1996): telling secondaries that a zone changed, so they transfer it at once.

A NOTIFY is opcode NOTIFY with AA set, the zone's SOA as its question and its
current SOA record in the answer section (RFC 1996 3.7), signed with the
target's TSIG key when ``--notify`` names one (RFC 8945). It goes over UDP
and is sent again until the target answers (RFC 1996 3.6), at most
:data:`~resolver.ts.settings.NOTIFY_TRIES` times, waiting
:data:`~resolver.ts.settings.NOTIFY_TIMEOUT` seconds for each answer (NSD
tries 5 times, 15 s apart); a target that never answers is logged in one
line. A newer change of the zone replaces a NOTIFY still being retried.
"""
from __future__ import annotations

import asyncio
import logging
import struct
from typing import Mapping, Sequence

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig

from ..net.addresses import format_hostport
from .journal import serial_of
from .settings import NOTIFY_TIMEOUT, NOTIFY_TRIES, Remote

log = logging.getLogger("resolver.ts")

RR_FIXED = struct.Struct("!HHIH")
SOA, IN = dns.rdatatype.SOA, dns.rdataclass.IN


def notify_message(apex: dns.name.Name, soa: bytes, key: dns.tsig.Key | None) -> dns.message.Message:
    """The NOTIFY for zone ``apex`` whose SOA record (wire form, owner the apex) is ``soa``."""
    at = len(apex.to_wire())
    _, _, ttl, length = RR_FIXED.unpack_from(soa, at)
    message = dns.message.make_query(apex, SOA)
    message.set_opcode(dns.opcode.NOTIFY)
    message.flags = (message.flags & ~dns.flags.RD) | dns.flags.AA
    message.answer.append(dns.rrset.from_rdata(apex, ttl, dns.rdata.from_wire(IN, SOA, soa, at + 10, length)))
    if key is not None:
        message.use_tsig(key)
    return message


class Notifier:
    """Sends NOTIFY for each zone change to every target, within the event loop."""

    def __init__(self, targets: Sequence[Remote], keys: Mapping[str, dns.tsig.Key]) -> None:
        self.targets = targets
        self.keys = keys
        self.tasks: dict[tuple[dns.name.Name, Remote], asyncio.Task] = {}

    def changed(self, apex: dns.name.Name, soa: bytes) -> None:
        """Zone ``apex`` now has the SOA record ``soa`` (wire form): notify every target."""
        loop = asyncio.get_running_loop()
        for target in self.targets:
            slot = (apex, target)
            previous = self.tasks.pop(slot, None)
            if previous is not None:
                previous.cancel()
            task = self.tasks[slot] = loop.create_task(self._notify(apex, soa, target))
            task.add_done_callback(lambda done, slot=slot: self._finished(slot, done))

    def _finished(self, slot: tuple[dns.name.Name, Remote], task: asyncio.Task) -> None:
        if self.tasks.get(slot) is task:
            del self.tasks[slot]

    async def _notify(self, apex: dns.name.Name, soa: bytes, target: Remote) -> None:
        message = notify_message(apex, soa, None if target.key is None else self.keys[target.key])
        where = format_hostport(target.host, target.port)
        zone, serial = apex.to_text(), serial_of(soa)
        loop = asyncio.get_running_loop()
        problem = "no answer"
        for _ in range(NOTIFY_TRIES):
            deadline = loop.time() + NOTIFY_TIMEOUT
            try:
                reply = await dns.asyncquery.udp(message, target.host, NOTIFY_TIMEOUT, target.port)
            except dns.exception.Timeout:
                continue
            except (OSError, dns.exception.DNSException) as exc:
                problem = str(exc) or type(exc).__name__    # an ICMP error, a reply that fails its TSIG:
                await asyncio.sleep(max(0.0, deadline - loop.time()))   # tried again after the timeout
                continue
            if reply.rcode() != dns.rcode.NOERROR:
                log.warning("NOTIFY of %s serial %d to %s: answered %s", zone, serial, where,
                            dns.rcode.to_text(reply.rcode()))
            else:
                log.debug("NOTIFY of %s serial %d to %s: answered", zone, serial, where)
            return
        log.warning("NOTIFY of %s serial %d to %s: %s after %d tries of %g s", zone, serial, where, problem,
                    NOTIFY_TRIES, NOTIFY_TIMEOUT)

    def close(self) -> None:
        """Stop every NOTIFY still being sent or retried."""
        for task in self.tasks.values():
            task.cancel()
        self.tasks.clear()
