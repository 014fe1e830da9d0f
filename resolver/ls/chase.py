"""Following a CNAME into another backend: the LS resolves an alias's target itself.

When a race ends with an open alias chain as its best reply (a backend holds
``www.corp.example CNAME web.lab.example`` but not the target), the LS asks the
same backends for the target, as a race of its own, and so on down the chain,
at most :data:`MAX_LINKS` CNAMEs in all. The client gets one reply: the whole
chain in the answer section, then the final target's records, with the final
target's rcode and authority section (RFC 6604: an NXDOMAIN at the end of a
chain is the chain's rcode). A loop, or a chain longer than that, gets SERVFAIL.
When no backend speaks for the target (the race for it ends with REFUSED,
SERVFAIL or the LS's own timeout answer, not an authoritative NXDOMAIN or a
NODATA), the client gets the chain as far as it goes: the first backend's
reply as it was when no later link was found, as a forwarder in front of that
backend alone would give it.

This is off the hot path (only aliases whose target a backend leaves open get
here), so it reads and builds messages with dnspython. A :class:`Chase` is the
sink of the races it starts: the race hands it each target's reply as it would
hand a client its reply.
"""
from __future__ import annotations

from typing import Protocol

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from ..net.listening import Sink
from ..wire import MAX_UDP, SERVFAIL, Query, error_reply, scan_query, truncated_reply

MAX_LINKS = 8
MAX_MESSAGE = 65535     # octets: dnspython would otherwise cap the reply at the client's EDNS size and raise


class Races(Protocol):
    """The race, as a chase uses it (:class:`resolver.ls.race.Race`)."""

    def submit(self, data: bytes, q: Query, sink: Sink, addr: object, link: bool = False) -> None: ...

    def reply(self, sink: Sink, out: bytes, addr: object) -> None: ...


class Chase:
    """One client query whose answer lies at the end of a CNAME chain that spans backends.

    ``data``/``q``: the client's query; ``sink``/``addr``: where its reply goes;
    ``alias``: the reply that left the chain open (any ID). :meth:`start` asks
    for the first target.
    """

    def __init__(self, races: Races, data: bytes, q: Query, sink: Sink, addr: object, alias: bytes) -> None:
        self.races = races
        self.data = data
        self.q = q
        self.sink = sink
        self.addr = addr
        self.stream = sink.stream         # the targets are asked over the client's transport
        self.query: dns.message.Message | None = None      # the client's query, parsed in start()
        self.rdtype = q.qtype
        self.chain: list[dns.rrset.RRset] = []
        self.seen: set[dns.name.Name] = set()
        self.target: dns.name.Name | None = None
        self.alias = alias
        self.aa = False
        self.first_links = 0          # the links the first reply held

    def start(self) -> None:
        """Take the open chain of the first reply, and ask for its target (SERVFAIL if either
        message cannot be read: the client always gets a reply)."""
        try:
            self.query = dns.message.from_wire(self.data)
            first = dns.message.from_wire(self.alias)
        except dns.exception.DNSException:
            self._deliver_error(SERVFAIL)
            return
        self.target = self.query.question[0].name
        self.aa = bool(first.flags & dns.flags.AA)
        self._extend(first)
        self.first_links = len(self.chain)

    def send(self, reply: bytes, addr: object) -> None:
        """The race for the current target is over: follow on, or give the client its one reply."""
        try:
            message = dns.message.from_wire(reply)
        except dns.exception.DNSException:
            self._deliver_error(SERVFAIL)
            return
        if message.flags & dns.flags.TC:
            # The link's reply did not fit (a UDP client: links go over its transport); the client
            # gets TC and asks again over TCP, where the whole chain fits.
            self._send(truncated_reply(self.data, self.q, (reply[2] << 8) | reply[3]))
            return
        if message.rcode() == dns.rcode.NOERROR and not self._answers(message) and self._cname_of(message):
            self._extend(message)
        else:
            self._finish(message)

    def _answers(self, message: dns.message.Message) -> bool:
        return any(rrset.rdtype == self.rdtype or self.rdtype == dns.rdatatype.ANY for rrset in message.answer)

    def _cname_of(self, message: dns.message.Message) -> dns.rrset.RRset | None:
        return next((rrset for rrset in message.answer
                     if rrset.rdtype == dns.rdatatype.CNAME and rrset.name == self.target), None)

    def _extend(self, message: dns.message.Message) -> None:
        """Add the reply's CNAMEs from the current target on; ask for the new end, or SERVFAIL on a loop."""
        while (cname := self._cname_of(message)) is not None:
            if self.target in self.seen or len(self.chain) >= MAX_LINKS:
                self._deliver_error(SERVFAIL)
                return
            self.seen.add(self.target)
            self.chain.append(cname)
            self.target = cname[0].target
        if self.target in self.seen:
            self._deliver_error(SERVFAIL)
            return
        query = dns.message.make_query(self.target, self.rdtype, use_edns=self.query.edns,
                                       want_dnssec=bool(self.query.ednsflags & dns.flags.DO))
        query.flags = self.query.flags
        wire = query.to_wire()
        q = scan_query(wire)
        if q is None or q.error:
            self._deliver_error(SERVFAIL)
            return
        self.races.submit(wire, q, self, None, link=True)

    def _finish(self, final: dns.message.Message) -> None:
        """The client's reply: the chain, then the final target's answer, its rcode and authority."""
        rcode = final.rcode()
        speaks = rcode == dns.rcode.NOERROR or (rcode == dns.rcode.NXDOMAIN and final.flags & dns.flags.AA)
        if not speaks and len(self.chain) == self.first_links:
            self._send(self.data[:2] + self.alias[2:])      # nobody has the target: the first reply, as it was
            return
        response = dns.message.make_response(self.query)
        if self.query.edns >= 0:
            response.use_edns(0, self.query.ednsflags & dns.flags.DO, MAX_UDP)     # DO echoed, as the backends do
        if self.aa:
            response.flags |= dns.flags.AA
        if speaks:
            response.set_rcode(rcode)
            response.answer = self.chain + [rrset for rrset in final.answer if rrset not in self.chain]
            response.authority = list(final.authority)
        else:
            response.answer = list(self.chain)          # open at its end, as far as the backends know it
        self._send(response.to_wire(max_size=MAX_MESSAGE))     # the size cap is _send's, by transport

    def _send(self, out: bytes) -> None:
        if not self.sink.stream and len(out) > self.q.udp_limit:
            out = truncated_reply(self.data, self.q, (out[2] << 8) | out[3])
        self.races.reply(self.sink, out, self.addr)

    def _deliver_error(self, rcode: int) -> None:
        self.races.reply(self.sink, error_reply(self.data, self.q, rcode), self.addr)
