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

import asyncio
from typing import Protocol

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from ..net.listening import Sink
from ..wire import MAX_UDP, SERVFAIL, Query, fit, scan_query, truncated_reply
from .header import own_reply, passed_on
from .rule import dname_above

MAX_LINKS = 8
MAX_MESSAGE = 65535     # octets: dnspython would otherwise cap the reply at the client's EDNS size and raise


class Races(Protocol):
    """The race, as a chase uses it (:class:`resolver.ls.race.Race`)."""

    draining: bool          # the LS is stopping: races still waiting get their answer now

    def submit(self, data: bytes, q: Query, sink: Sink, addr: object, link: bool = False) -> None: ...

    def reply(self, sink: Sink, out: bytes, addr: object) -> None: ...

    def log(self, sink: Sink, addr: object, q: Query, outcome: str, rcode: int, started: float) -> None: ...

    def chased(self, origin: object, out: bytes, answered: bool, spoken: bool) -> bytes | None:
        """The chain followed for the race ``origin`` ended with the reply ``out`` (whole, under the
        client's ID), ``answered`` when its last target's records are in it, ``spoken`` when a backend
        spoke for its end; the reply the client gets (as the cache will give it, when it keeps it; a
        stale answer in place of a chain nobody spoke for), or None when it wants none any more
        (the race shares it with the queries that joined it, and offers it to the cache)."""


def merged_wire(response: dns.message.Message) -> bytes:
    """A merged reply's wire form, whole (a cap by transport is the sender's), its records in the
    order the backends gave them. Raises :class:`dns.exception.TooBig` past 64 KiB."""
    return response.to_wire(max_size=MAX_MESSAGE, want_shuffle=False)


class Chain:
    """The CNAMEs followed from the name asked, and the target at their end: the chase without its I/O.

    Shared by the LS (:class:`Chase`) and ``client --explain``, which follows a
    chain the same way to predict the LS's answer. ``name`` and ``rdtype``
    are the client's question.
    """

    def __init__(self, name: dns.name.Name, rdtype: int) -> None:
        self.rdtype = rdtype
        self.links: list[dns.rrset.RRset] = []      # the CNAME RRsets, in chain order
        self.records: list[dns.rrset.RRset] = []    # those, each after the DNAME it was synthesised from, if any
        self.seen: set[dns.name.Name] = set()
        self.target = name

    def answers(self, message: dns.message.Message) -> bool:
        """Whether the reply holds records of the type asked (any record for ANY)."""
        return any(rrset.rdtype == self.rdtype or self.rdtype == dns.rdatatype.ANY for rrset in message.answer)

    def leaves_open(self, message: dns.message.Message) -> bool:
        """Whether the reply is an open alias at the target (:data:`resolver.ls.rule.ALIAS`): NOERROR
        or NXDOMAIN, a CNAME for the target, and no records of the type asked (the end of its CNAMEs
        may be on another backend, whatever this one's SOA says of it)."""
        return (message.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN) and not self.answers(message)
                and self._cname_of(message) is not None)

    def extend(self, message: dns.message.Message) -> bool:
        """Add the reply's CNAMEs from the target on; the new end is :attr:`target`. A CNAME
        synthesised from a DNAME of the reply comes after that DNAME (RFC 6672 3.1).

        Returns False when the chain loops, or would be longer than :data:`MAX_LINKS`
        CNAMEs: the LS then answers SERVFAIL.
        """
        while (cname := self._cname_of(message)) is not None:
            if self.target in self.seen or len(self.links) >= MAX_LINKS:
                return False
            self.seen.add(self.target)
            self.links.append(cname)
            dname = dname_above(message, self.target)
            self.records += [cname] if dname is None or dname in self.records else [dname, cname]
            self.target = cname[0].target
        return self.target not in self.seen

    def too_long(self, final: dns.message.Message) -> bool:
        """Whether the merged chain, with the CNAMEs of the reply for the last target, would hold
        more than :data:`MAX_LINKS` CNAMEs."""
        more = sum(1 for rrset in final.answer if rrset.rdtype == dns.rdatatype.CNAME and rrset not in self.links)
        return len(self.links) + more > MAX_LINKS

    def merged(self, query: dns.message.Message, final: dns.message.Message | None,
               aa: bool) -> dns.message.Message:
        """The client's one reply to ``query``: the chain (its DNAMEs too), then the answer, rcode and authority of
        ``final``, the reply for the last target (None: nobody speaks for it, and the chain goes as
        far as it goes). AA as the first reply had it; DO echoed, as the backends do; RA set, as on
        every reply of the LS (:mod:`resolver.ls.header`)."""
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        if query.edns >= 0:
            response.use_edns(0, query.ednsflags & dns.flags.DO, MAX_UDP)
        if aa:
            response.flags |= dns.flags.AA
        records = self.records
        if final is not None:
            response.set_rcode(final.rcode())
            response.answer = records + [rrset for rrset in final.answer if rrset not in records]
            response.authority = list(final.authority)
        else:
            response.answer = list(records)         # open at its end, as far as the backends know it
        return response

    @staticmethod
    def speaks(final: dns.message.Message) -> bool:
        """Whether the reply for the last target says what the target is: NOERROR, or an authoritative
        NXDOMAIN. Otherwise (REFUSED, SERVFAIL, the LS's own timeout answer) nobody spoke for it."""
        rcode = final.rcode()
        return rcode == dns.rcode.NOERROR or (rcode == dns.rcode.NXDOMAIN and bool(final.flags & dns.flags.AA))

    def _cname_of(self, message: dns.message.Message) -> dns.rrset.RRset | None:
        return next((rrset for rrset in message.answer
                     if rrset.rdtype == dns.rdatatype.CNAME and rrset.name == self.target), None)


class Chase:
    """One client query whose answer lies at the end of a CNAME chain that spans backends.

    ``data``/``q``: the client's query; ``sink``/``addr``: where its reply goes;
    ``alias``: the reply that left the chain open (any ID); ``logged``: the
    outcome for the query log's line, written when the client's reply goes,
    and when the client's query arrived (perf_counter()); ``deadline``: the
    client query's deadline (the event loop's clock), by which the client gets
    the chain as far as it goes, however many links are still out, so that
    following a chain never keeps a client past the LS's ``--timeout``.
    ``origin``: the race whose best reply was ``alias``, told the result (:meth:`Races.chased`).
    :meth:`start` asks for the first target.
    """

    def __init__(self, races: Races, data: bytes, q: Query, sink: Sink, addr: object, alias: bytes,
                 logged: tuple[str, float], deadline: float, origin: object = None) -> None:
        self.races = races
        self.origin = origin
        self.data = data
        self.q = q
        self.sink = sink
        self.addr = addr
        self.stream = sink.stream         # the targets are asked over the client's transport
        self.query: dns.message.Message | None = None      # the client's query, parsed in start()
        self.chain: Chain | None = None                     # made in start()
        self.alias = alias
        self.logged = logged
        self.aa = False
        self.first_links = 0          # the links the first reply held
        self.deadline = deadline
        self.timer: asyncio.TimerHandle | None = None     # the deadline's, from start() until the reply goes
        self.done = False               # the client has its reply: later links are not wanted

    def start(self) -> None:
        """Take the open chain of the first reply, and ask for its target (SERVFAIL if either
        message cannot be read: the client always gets a reply)."""
        try:
            self.query = dns.message.from_wire(self.data)
            first = dns.message.from_wire(self.alias)
        except dns.exception.DNSException:
            self._deliver_error(SERVFAIL)
            return
        self.chain = Chain(self.query.question[0].name, self.q.qtype)
        self.aa = bool(first.flags & dns.flags.AA)
        if not self.chain.extend(first):
            self._deliver_error(SERVFAIL)
            return
        self.first_links = len(self.chain.links)
        self.timer = asyncio.get_running_loop().call_at(self.deadline, self._finish, None)
        self._ask()

    def send(self, reply: bytes, addr: object) -> None:
        """The race for the current target is over: follow on, or give the client its one reply."""
        if self.done:
            return          # the deadline came first: the client has the chain as far as it went
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
        if self.chain.leaves_open(message):
            self._extend(message)
        else:
            self._finish(message)

    def _extend(self, message: dns.message.Message) -> None:
        """Add the reply's CNAMEs from the current target on; ask for the new end, or SERVFAIL on a loop."""
        if self.chain.extend(message):
            self._ask()
        else:
            self._deliver_error(SERVFAIL)

    def _ask(self) -> None:
        """Race the chain's current end across the backends, over the client's transport."""
        if self.races.draining:         # the LS is stopping: no new race would be answered
            self._finish(None)
            return
        query = dns.message.make_query(self.chain.target, self.q.qtype, use_edns=self.query.edns,
                                       want_dnssec=bool(self.query.ednsflags & dns.flags.DO))
        query.flags = self.query.flags
        wire = query.to_wire()
        q = scan_query(wire)
        if q is None or q.error:
            self._deliver_error(SERVFAIL)
            return
        self.races.submit(wire, q, self, self.addr, link=True)     # the client's address, for the query log

    def _finish(self, final: dns.message.Message | None) -> None:
        """The client's reply: the chain, then the final target's answer, its rcode and authority;
        or, when nobody speaks for the target (``final`` None: the LS is stopping, or the client's
        deadline came), the chain as far as it goes."""
        speaks = final is not None and self.chain.speaks(final)
        if not speaks and len(self.chain.links) == self.first_links:
            self._send(passed_on(self.data, self.alias), spoken=False)    # nobody has the target: the first reply
            return
        if final is not None and self.chain.too_long(final):
            self._deliver_error(SERVFAIL)
            return
        response = self.chain.merged(self.query, final if speaks else None, self.aa)
        try:
            out = merged_wire(response)
        except dns.exception.TooBig:        # over 64 KiB: no transport carries it, as NSD then sets TC
            out = truncated_reply(self.data, self.q, response.flags | (response.rcode() & 0xF))
        self._send(out, answered=final is not None and self.chain.answers(final), spoken=speaks)

    def _send(self, out: bytes, answered: bool = False, spoken: bool = True) -> None:
        """The client's one reply, truncated for a UDP client it does not fit, and its query log line;
        ``answered``: it ends in the last target's records; ``spoken``: a backend spoke for the chain's
        end (an answer, NODATA, an authoritative NXDOMAIN), so it is no failure to fall back from."""
        self.done = True
        if self.timer is not None:
            self.timer.cancel()
        shared = self.races.chased(self.origin, out, answered, spoken)
        if shared is None:
            return
        out = fit(shared, self.data, self.q, self.sink.stream)
        outcome, started = self.logged
        self.races.log(self.sink, self.addr, self.q, outcome, out[3] & 0x0F, started)
        self.races.reply(self.sink, out, self.addr)

    def _deliver_error(self, rcode: int) -> None:
        self._send(own_reply(self.data, self.q, rcode), spoken=False)
