"""The TS's query handler: one query in, one reply (or, with ``--silent-miss``, none) out."""
from __future__ import annotations

import time
from typing import Protocol

from ..net.listening import Sink
from ..obs.querylog import QueryLog
from ..obs.stats import NO_REPLY, ZoneTally
from ..wire import (CLASS_IN, EDE_NOT_SUPPORTED, REFUSED, TRANSFER_TYPES, Query, error_reply, scan_query,
                    transfer_refusal)
from .authority import Authority, render
from .sections import Answer

TCP_LIMIT = 65535
SLOTS = ZoneTally.SLOTS     # a tally's offset for TCP queries
OPCODE_NOTIFY = 4           # RFC 1996


class Exchange(Protocol):
    """A part of the TS that answers some requests itself, off the query path: zone transfers
    out (AXFR and IXFR, RFC 5936 and 1995) and NOTIFY in (RFC 1996). It replies through
    ``sink``, with as many messages as it needs, now or later, or not at all."""

    def handle(self, data: bytes, q: Query, sink: Sink, addr: object) -> None: ...


class AuthoritativeServer:
    """Answers queries from an :class:`Authority`, whatever the transport.

    With ``silent_miss`` it behaves like the assignment's TS: it stays silent
    unless it has the name, replying only with answers and with NODATA for a
    name it holds with other types (so a glibc AAAA lookup through the LS need
    not wait for the LS's timeout); NXDOMAIN, referrals and refusals get no reply.

    Every query is counted in its zone's :class:`ZoneTally` (``tallies``, by
    zone name, kept across reloads); queries outside every zone, and those not
    asked of a zone at all (malformed, other classes, transfers), count under
    ``"none"``. An answer remembers its zone's tally after its first use, so
    counting costs one increment per query.

    Requests for a zone transfer go to ``transfers`` and NOTIFY messages to
    ``notifies`` when given (:class:`Exchange`); without them they are refused
    as NSD refuses them. Either test is made only for requests the zones do not
    answer, so neither costs a query anything.
    """

    def __init__(self, authority: Authority, silent_miss: bool = False, query_log: QueryLog | None = None,
                 transfers: Exchange | None = None, notifies: Exchange | None = None) -> None:
        self.authority = authority
        self.silent_miss = silent_miss
        self.query_log = query_log
        self.transfers = transfers
        self.notifies = notifies
        self.tallies: dict[str, ZoneTally] = {"none": ZoneTally()}

    def zone_sizes(self) -> dict[str, int]:
        """Names in each zone served, by zone name (for :mod:`resolver.obs.metrics`)."""
        return {zone.apex.to_text(): zone.size for zone in self.authority.zones.values()}

    def handle(self, data: bytes, sink: Sink, addr: object) -> None:
        """Answer one query from a client at ``addr`` through ``sink`` (no reply when silent)."""
        if self.query_log is not None:
            self._handle_logged(data, sink, addr)
            return
        q = scan_query(data)
        reply = self._reply(data, q, sink.stream)
        if reply is not None:
            sink.send(reply, addr)
        elif q is not None:
            self._exchange(data, q, sink, addr)

    def _exchange_for(self, q: Query) -> Exchange | None:
        """The :class:`Exchange` that takes a request the zones do not answer, if any. A query the
        scan could not read goes to ``transfers`` too: it may be one signed with TSIG (RFC 8945, a
        secondary's SOA query), which that exchange checks, has answered and signs."""
        if q.opcode == OPCODE_NOTIFY:
            return self.notifies
        if q.opcode == 0 and (q.qtype in TRANSFER_TYPES or q.bare):
            return self.transfers
        return None

    def _exchange(self, data: bytes, q: Query, sink: Sink, addr: object) -> None:
        exchange = self._exchange_for(q)
        if exchange is not None:
            exchange.handle(data, q, sink, addr)

    def reply(self, data: bytes, stream: bool = False) -> bytes | None:
        """The reply to one query, sized for UDP or for a stream (TCP)."""
        return self._reply(data, scan_query(data), stream)

    def _reply(self, data: bytes, q: Query | None, stream: bool) -> bytes | None:
        offset = SLOTS if stream else 0
        if q is None:
            self.tallies["none"].counts[NO_REPLY + offset] += 1
            return None
        rcode, ede = (q.error, None) if q.error else self._refusal(q, stream)
        if rcode or not q.question:
            if self._exchange_for(q) is not None:
                return None         # see handle()
            self.tallies["none"].counts[(NO_REPLY if self.silent_miss else rcode) + offset] += 1
            # Like NSD, a bare header for other opcodes.
            return None if self.silent_miss else error_reply(data, q, rcode, ede=ede, echo=not (q.opcode or q.bare))
        qname = q.qname.lower()
        answer = self.authority.lookup(qname, q.question[-4:-2])
        counts = answer.tally or self._counts_for(answer, qname)
        if self.silent_miss and not answer.holds_name:
            counts[NO_REPLY + offset] += 1
            return None
        counts[(answer.flags & 0x0F) + offset] += 1
        return render(data, q, answer, TCP_LIMIT if stream else q.udp_limit)

    def _counts_for(self, answer: Answer, qname_lower: bytes) -> list[int]:
        """The counts of the zone an answer came from, remembered on the answer (not for refusals,
        which no zone owns)."""
        zone = self.authority.zone_for(qname_lower)
        if zone is None:
            return self.tallies["none"].counts
        counts = answer.tally = self.tallies.setdefault(zone.apex.to_text(), ZoneTally()).counts
        return counts

    def _handle_logged(self, data: bytes, sink: Sink, addr: object) -> None:
        """:meth:`handle` with a query log line: ``answered`` and the rcode, or ``silent`` (no reply)."""
        started = time.perf_counter()
        q = scan_query(data)
        reply = self._reply(data, q, sink.stream)
        if reply is not None:
            sink.send(reply, addr)
        elif q is not None:
            self._exchange(data, q, sink, addr)
        took = time.perf_counter() - started
        qname, qtype = (q.qname, q.qtype) if q is not None else (b"", 0)
        outcome, rcode = ("silent", None) if reply is None else ("answered", reply[3] & 0x0F)
        self.query_log.write(addr, qname, qtype, outcome, rcode, took, sink.stream)     # type: ignore[union-attr]

    @staticmethod
    def _refusal(q: Query, stream: bool) -> tuple[int, int | None]:
        """Questions not answered from the zones: other classes (REFUSED, "not
        supported", as NSD with ``hide-version``) and zone transfers."""
        if not q.question:
            return 0, None
        if q.qclass != CLASS_IN:
            return REFUSED, EDE_NOT_SUPPORTED
        return transfer_refusal(q, stream)
