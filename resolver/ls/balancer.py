"""The LS's query handler: what happens to a client query before and after its race."""
from __future__ import annotations

import asyncio

from ..net.listening import Sink
from ..obs.querylog import QueryLog
from ..obs.stats import LsStats
from ..wire import EDE_PROHIBITED, REFUSED, TRANSFER_TYPES, Query, scan_query, transfer_refusal
from .acl import AccessList
from .backends import Backend
from .header import own_reply
from .health import HealthMonitor
from .race import Race
from .ratelimit import RateLimiter
from .settings import LsSettings


class LoadBalancer:
    """The LS's query handler: turns client queries into races, and answers itself
    malformed queries (dropped), zone transfers, and clients outside the
    allow-list or over the rate limit (REFUSED, or dropped over UDP).

    Built by :func:`resolver.ls.serve.build`, which wires its parts; it owns
    them and closes them all in :meth:`close`.
    """

    def __init__(self, backends: list[Backend], race: Race, health: HealthMonitor, acl: AccessList | None = None,
                 limiter: RateLimiter | None = None, query_log: QueryLog | None = None,
                 drain_grace: float = LsSettings.drain_grace) -> None:
        self.backends = backends
        self.race = race
        self.health = health
        self.acl = acl
        self.limiter = limiter
        self.query_log = query_log
        self.drain_grace = drain_grace
        self.draining = False

    @property
    def stats(self) -> LsStats:
        """The LS's own counters (for :mod:`resolver.obs.metrics`)."""
        return self.race.stats

    @property
    def inflight(self) -> int:
        """Races waiting for backends now."""
        return self.race.inflight

    def start_probes(self) -> None:
        """Start watching backend health; done once the LS listens, so that a failed
        start reports only its own error."""
        self.health.start()

    def handle(self, data: bytes, sink: Sink, addr: object) -> None:
        """One client query (``data``, from ``addr``, to answer through ``sink``): refused, dropped,
        answered by the LS itself, or raced across the backends."""
        stats = self.race.stats
        stats.queries[sink.stream] += 1
        if self.draining:
            stats.dropped["draining"] += 1
            return
        q = scan_query(data)
        if q is None:
            stats.dropped["malformed"] += 1
            return
        if self.acl is not None and not self.acl.allows(addr[0]):     # type: ignore[index]
            stats.refused["acl"] += 1
            self.race.reply(sink, own_reply(data, q, REFUSED, ede=EDE_PROHIBITED), addr)
            self._turned_away(sink, addr, q, "acl", REFUSED)
            return
        if self.limiter is not None and not self.limiter.allows(addr[0]):     # type: ignore[index]
            if sink.stream:         # a TCP client proved its address; it gets an answer
                stats.refused["rate-limit"] += 1
                self.race.reply(sink, own_reply(data, q, REFUSED, ede=EDE_PROHIBITED), addr)
            else:
                stats.dropped["rate-limit"] += 1
            self._turned_away(sink, addr, q, "rate-limit", REFUSED if sink.stream else None)
            return
        if q.error or q.qtype in TRANSFER_TYPES or not q.question:     # nothing to ask the backends
            rcode, ede = (q.error, None) if q.error else transfer_refusal(q, sink.stream)
            self.race.reply(sink, own_reply(data, q, rcode, ede=ede, echo=not q.bare), addr)
            return
        self.race.submit(data, q, sink, addr)

    def _turned_away(self, sink: Sink, addr: object, q: Query, why: str, rcode: int | None) -> None:
        """The query log's line for a query turned away before any race (``why``: ``acl`` or
        ``rate-limit``; ``rcode`` None: dropped, no reply), if there is a log."""
        if self.query_log is not None:
            self.query_log.write(addr, q.qname, q.qtype, why, rcode, 0.0, sink.stream)

    async def drain(self, grace: float | None = None) -> int:
        """Stop taking queries, give the races in flight ``grace`` seconds (``drain_grace`` by
        default), and answer the rest as at their deadline; returns how many were answered so.

        The spec wants every server gone within a second of SIGTERM, so the
        grace is short; queries still waiting then get the timeout answer
        rather than no answer at all.
        """
        self.draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.drain_grace if grace is None else grace)
        while self.race.pending and loop.time() < deadline:
            await asyncio.sleep(0.01)
        left = len(self.race.pending)
        self.race.answer_all()
        return left

    async def retire(self) -> None:
        """Replaced by a reload (:class:`resolver.ls.serve.Reloading`): stop probing, let the races
        in flight run out under this config, then close.

        No new query reaches it, so it waits at most the race's timeout, the
        longest a race started before the swap can wait; what is still pending
        then (a link of a CNAME chain the LS follows, started meanwhile) gets
        its answer as at its deadline. Its own probes stop at once, so a backend
        that fails meanwhile is reported once, by the new config's probes.
        """
        self.health.close()
        await self.drain(self.race.timeout)
        self.close()

    def close(self) -> None:
        """Stop probing and the race's timer, close the query log and every backend socket."""
        self.health.close()
        self.race.close()
        if self.query_log is not None:
            self.query_log.close()
        for backend in self.backends:
            backend.close()
