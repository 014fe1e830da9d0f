"""The client: resolve a list of hostnames through a DNS server, in parallel.

Each name is asked like a stub resolver does: one query, sent again on the same
socket when no reply comes within the retry interval (doubling each time),
until the overall timeout; a truncated reply is asked again over TCP. The
overall timeout (7 s) is longer than the LS's own (5 s), so a miss the LS
answers only at its timeout still arrives.
"""
from __future__ import annotations

import asyncio
import resource
import socket
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import dns.asyncbackend
import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from ..hostnames import read_hostname
from ..net.addresses import address_family
from .settings import ClientSettings

NOT_FOUND = "Error:HOST NOT FOUND"
NO_RESPONSE = "Error:NO RESPONSE"
INVALID_NAME = "Error:INVALID NAME"
INVALID = "invalid"     # the JSON status of a name that is not a domain name, never asked
NOT_FOUND_RCODES = ("NOERROR", "NXDOMAIN")      # NODATA or NXDOMAIN (the LS's default timeout answer)
FIRST_RETRY = 1.0
SPARE_FILES = 64        # open files kept free for everything but the names in flight


@dataclass
class Resolution:
    """What became of one hostname: records, not found (none), another rcode, no answer at all,
    or never asked because it is not a domain name (``rcode`` is then ``invalid``)."""

    hostname: str
    addresses: list[str] = field(default_factory=list)     # the records' data in presentation form
    answered: bool = True
    rdtype: str = "A"
    rcode: str = "NOERROR"

    def lines(self) -> list[str]:
        """RESOLVED.txt lines: ``hostname DATA TYPE`` per record (``hostname IP A`` for addresses)."""
        if not self.answered:
            return [f"{self.hostname} - {NO_RESPONSE}"]
        if self.rcode == INVALID:
            return [f"{self.hostname} - {INVALID_NAME}"]
        if not self.addresses:
            return [f"{self.hostname} - {self.error()}"]
        if self.rdtype == "ANY":        # each record's data already ends in its type (records_of)
            return [f"{self.hostname} {data}" for data in self.addresses]
        return [f"{self.hostname} {data} {self.rdtype}" for data in self.addresses]

    def error(self) -> str:
        """The line's error for an answer without records: HOST NOT FOUND for NXDOMAIN and NODATA
        (the assignment's line), SERVER FAILURE for SERVFAIL, ``Error:RCODE`` for any other rcode."""
        if self.rcode in NOT_FOUND_RCODES:
            return NOT_FOUND
        return "Error:SERVER FAILURE" if self.rcode == "SERVFAIL" else f"Error:{self.rcode}"

    def as_json(self) -> dict:
        """The same, for ``--format json``: status is the rcode, NO RESPONSE, or ``invalid``."""
        return {"name": self.hostname, "type": self.rdtype,
                "status": self.rcode if self.answered else "NO RESPONSE", "answers": self.addresses}


def read_hostnames(text: str, source: str = "HOSTFILE", warn: Callable[[str], None] = lambda _: None) -> list[str]:
    """One hostname a line; blank lines and ``#`` comments are skipped.

    A line of several words (a table line ``hostname IP A`` pasted by mistake)
    is no hostname: it is skipped, and ``warn`` gets one line naming
    ``source:LINE`` (line numbers from 1).
    """
    names = []
    for number, line in enumerate(text.splitlines(), 1):
        name = line.split("#", 1)[0].strip()
        if len(name.split()) > 1:
            warn(f"{source}:{number}: {name!r} is several words, not a hostname; skipped")
        elif name:
            names.append(name)
    return names


def records_of(response: dns.message.Message, rdtype: dns.rdatatype.RdataType) -> list[str]:
    """The answer's records of the type asked, wherever a CNAME chain led, in presentation form.

    For ANY, every record of the answer, each as its data and then its type (``10.0.0.1 A``).
    """
    if rdtype != dns.rdatatype.ANY:
        return [rdata.to_text() for rrset in response.answer if rrset.rdtype == rdtype for rdata in rrset]
    return [f"{rdata.to_text()} {dns.rdatatype.to_text(rrset.rdtype)}" for rrset in response.answer
            for rdata in rrset]


def usable_concurrency(wanted: int) -> int:
    """How many names may be in flight, each holding one socket.

    The soft limit on open files is raised toward the hard one as far as
    ``wanted`` needs (1,024 is a common soft limit); past what the system
    allows, fewer names fly at once rather than failing with EMFILE.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < need:
        soft = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return max(1, min(wanted, soft - SPARE_FILES))


class Resolver:
    """Asks one server for records of one type (A unless told), a bounded number of names at a time."""

    def __init__(self, host: str, port: int, timeout: float = ClientSettings.timeout,
                 concurrency: int = ClientSettings.concurrency, rdtype: str = ClientSettings.rdtype) -> None:
        self.rdtype = dns.rdatatype.from_text(rdtype)
        self.kind = dns.rdatatype.to_text(self.rdtype)      # as the output lines spell it
        self.destination = (host, port)
        self.family = address_family(host)
        self.timeout = timeout
        self.window = asyncio.Semaphore(usable_concurrency(concurrency))
        self.backend = dns.asyncbackend.get_backend("asyncio")

    async def resolve_all(self, hostnames: Iterable[str],
                          on_done: Callable[[], None] = lambda: None) -> list[Resolution]:
        """Every name's resolution, in input order; ``on_done`` runs as each one finishes (progress)."""
        async def one(name: str) -> Resolution:
            result = await self.resolve(name)
            on_done()
            return result
        return list(await asyncio.gather(*(one(name) for name in hostnames)))

    async def resolve(self, hostname: str) -> Resolution:
        kind = self.kind
        try:
            query = dns.message.make_query(read_hostname(hostname), self.rdtype)
        except dns.exception.DNSException:      # an empty label, a label over 63 or a name over 255 octets
            return Resolution(hostname, rdtype=kind, rcode=INVALID)
        async with self.window:
            response = await self.exchange(query)
        if response is None:
            return Resolution(hostname, answered=False, rdtype=kind)
        rcode = dns.rcode.to_text(response.rcode())
        if response.rcode() != dns.rcode.NOERROR:
            return Resolution(hostname, rdtype=kind, rcode=rcode)
        return Resolution(hostname, records_of(response, self.rdtype), rdtype=kind, rcode=rcode)

    async def exchange(self, query: dns.message.Message) -> dns.message.Message | None:
        """The server's reply, or None when it never came within the timeout."""
        deadline = time.time() + self.timeout
        interval = FIRST_RETRY
        wire = query.to_wire()
        sock = await self.backend.make_socket(self.family, socket.SOCK_DGRAM)
        try:
            while time.time() < deadline:
                await dns.asyncquery.send_udp(sock, wire, self.destination)
                expiration = min(time.time() + interval, deadline)
                interval *= 2
                try:
                    # Only the server's reply to this query counts: another ID or question,
                    # a garbled packet, or a datagram from elsewhere is skipped.
                    response, _, _ = await dns.asyncquery.receive_udp(
                        sock, self.destination, expiration, ignore_unexpected=True, query=query,
                        ignore_errors=True)
                except dns.exception.Timeout:
                    continue
                if response.flags & dns.flags.TC:
                    return await self._over_tcp(query, deadline)
                return response
        finally:
            await sock.close()
        return None

    async def _over_tcp(self, query: dns.message.Message, deadline: float) -> dns.message.Message | None:
        try:
            return await dns.asyncquery.tcp(query, self.destination[0], max(0.1, deadline - time.time()),
                                            self.destination[1])
        except (OSError, dns.exception.DNSException, EOFError):
            return None
