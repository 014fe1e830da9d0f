"""``--metrics`` with ``--workers``: one ``/metrics`` and one status page for every worker.

The parent serves the HTTP endpoint (:mod:`resolver.obs.web`) in its own
event loop, beside its supervision of the workers
(:class:`resolver.net.workers.Workers`, to which :class:`Hub` is the
companion told of every fork and death). Each worker is forked with one end
of a socketpair and answers the parent's requests on it in its own loop
(:mod:`resolver.obs.channel`): nothing crosses per query, and the counters
stay plain integers in each worker.

* The parent asks every worker for its reading once a second, and again for
  each scrape of ``/metrics`` or ``/status.json`` (a worker silent for
  :data:`ASK_TIMEOUT` seconds counts with its last reading). The figures shown
  are the sum (:func:`resolver.obs.metrics.add`): counters and histograms
  summed over the workers; gauges summed over the live ones (races in flight,
  answers cached, learned entries, and the capacities, since each worker
  has its own cache and table); a backend is up when every worker's probes
  find it up, and its state (:meth:`~resolver.obs.metrics.LsMetrics.state`)
  down when one finds it down, else starting while one has not judged it yet;
  routes, groups and zone sizes are the lowest-numbered worker's.
* Per worker: ``resolver_workers`` (running now), ``resolver_worker_restarts_total``,
  ``resolver_worker_requests_total{worker="N"}`` (N from 0, the worker's
  slot, which a worker started in place of a dead one takes over) and
  ``resolver_worker_reading_age_seconds{worker="N"}``, how old its figures
  shown are: under a second or two while it answers, growing while it does
  not (a worker stopped, or its event loop stuck, serves no query either);
  the status JSON lists each worker's slot, PID, uptime, queries (on the LS
  also its races in flight and answers cached) and ``reading_age``, and
  ``departed_queries``, those the workers that ended had counted, so that
  ``queries`` is the sum of the two.
* A worker that dies takes its counts since its last reading (a second at
  most, :data:`ASK_TIMEOUT` more while another worker does not answer, as a
  round of readings waits for it) with it; the rest of its counters stay in the sums, so they never go
  back, and the new worker in its slot counts from zero. Only its own
  ``resolver_worker_requests_total`` series starts again from zero, which
  Prometheus's ``rate()`` takes as a counter reset.
* ``POST /cache/flush`` goes to every worker and says how many answers they
  dropped together; ``/plan`` is the lowest-numbered worker's (learned routing
  is each worker's own), its ``cached`` listing every worker's entries, each
  with its ``worker``.
"""
from __future__ import annotations

import asyncio
import os
import socket
import time
from dataclasses import dataclass
from typing import Any, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from . import channel
from .metrics import KINDS, PLAN_TYPE, ServerMetrics, Unavailable, add, total
from .web import StatusServer, open_status

POLL_INTERVAL = 1.0     # seconds between two readings of every worker
ASK_TIMEOUT = 2.0       # seconds a worker has to answer a request


@dataclass
class Worker:
    """One running worker, as the parent knows it."""

    pid: int
    line: channel.Line
    latest: dict[str, Any] | None = None     # its last reading
    read_at: float = 0.0                     # time.monotonic() when it came


class Hub(ServerMetrics):
    """The parent's metrics for its workers at ``address``: their readings summed, and the HTTP
    endpoint that shows them (see the module's docstring)."""

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__()
        self.address = address
        self.workers: dict[int, Worker] = {}    # the running workers by slot
        self.departed: dict[str, Any] = {}      # the counters of the workers that ended, at their last reading
        self.restarts = 0                       # workers started in a slot another had
        self._slots: set[int] = set()           # the slots a worker has had
        self._pair: tuple[socket.socket, socket.socket] | None = None   # made for the next fork
        self._server: StatusServer | None = None
        self._polling: asyncio.Task | None = None

    # The companion of resolver.net.workers.Workers.

    async def start(self) -> None:
        """Serve HTTP at the address and start reading the workers. Raises OSError when the
        address cannot be bound."""
        self._server = await open_status(self, self.address)
        self._polling = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        """Stop serving and reading, and close every line."""
        if self._server is not None:
            self._server.close()
        if self._polling is not None:
            self._polling.cancel()
            await asyncio.wait([self._polling])
        for worker in self.workers.values():
            worker.line.close()
        self._close_pair()

    def before_fork(self, slot: int) -> None:
        """Make the socketpair for the worker about to be forked into ``slot``."""
        self._close_pair()      # one a failed fork left
        self._pair = socket.socketpair()

    def in_child(self, slot: int) -> None:
        """In the worker just forked: keep its end of the line, and let go of every socket of the
        parent's: the HTTP listener and connections, the other workers' lines. Those the parent's
        event loop holds are pointed at /dev/null rather than closed, so the parent's objects, which
        this process inherits and never uses, can never close a number it has reused; and a
        connection the parent closes ends at once, held open by no worker."""
        assert self._pair is not None
        ours, theirs = self._pair
        ours.close()
        held = [*(self._server.fds() if self._server is not None else ()),
                *(worker.line.fd for worker in self.workers.values())]
        null = os.open(os.devnull, os.O_RDWR)
        try:
            for fd in held:
                os.dup2(null, fd)
        finally:
            os.close(null)
        channel.adopt(theirs)

    def after_fork(self, slot: int, pid: int) -> None:
        """In the parent: worker ``pid`` runs in ``slot``; start its line."""
        assert self._pair is not None
        ours, theirs = self._pair
        self._pair = None
        theirs.close()
        if slot in self._slots:
            self.restarts += 1
        self._slots.add(slot)
        self.workers[slot] = Worker(pid, channel.Line(ours))

    def ended(self, slot: int, pid: int) -> None:
        """Worker ``pid`` of ``slot`` has been reaped: its last reading's counters stay in the sums
        (an answer it sent that comes later is dropped with its record)."""
        worker = self.workers.pop(slot)
        worker.line.close()
        if worker.latest is not None:
            self.departed = add(self.departed, worker.latest["counters"])

    def _close_pair(self) -> None:
        if self._pair is not None:
            for end in self._pair:
                end.close()
            self._pair = None

    # Reading the workers.

    async def _poll(self) -> None:
        while True:
            await self._read_all()
            await asyncio.sleep(POLL_INTERVAL)

    async def _read_all(self) -> None:
        """Every worker's reading now, each kept as it comes (so one that answered and then died
        leaves it to the sums); one that does not answer within :data:`ASK_TIMEOUT` keeps its last."""
        async def read(worker: Worker) -> None:
            try:
                worker.latest = await worker.line.ask("reading", ASK_TIMEOUT)
            except (asyncio.TimeoutError, channel.Gone):
                return
            worker.read_at = time.monotonic()
        await asyncio.gather(*(read(worker) for worker in self.workers.values()))

    async def _ask_all(self, op: str, **fields: Any) -> tuple[dict[int, tuple[Worker, Any]], list[int]]:
        """Ask every worker at once: the workers that answered and their answers, by slot, and the
        slots of those that did not answer within :data:`ASK_TIMEOUT` (a worker whose line closed,
        as it died or stops, is in neither). Raises ValueError or NoCache as a worker's metrics did."""
        asked = sorted(self.workers.items())
        answers = await asyncio.gather(*(worker.line.ask(op, ASK_TIMEOUT, **fields) for _, worker in asked),
                                       return_exceptions=True)
        for answer in answers:
            if isinstance(answer, BaseException) and not isinstance(answer, (asyncio.TimeoutError, channel.Gone)):
                raise answer
        return ({slot: (worker, answer) for (slot, worker), answer in zip(asked, answers)
                 if not isinstance(answer, BaseException)},
                [slot for (slot, _), answer in zip(asked, answers) if isinstance(answer, asyncio.TimeoutError)])

    def _read(self) -> list[tuple[int, Worker, dict[str, Any]]]:
        """The running workers that have a reading, by slot, with it."""
        return [(slot, worker, worker.latest) for slot, worker in sorted(self.workers.items())
                if worker.latest is not None]

    async def refresh(self) -> None:
        await self._read_all()
        if not self._read():
            raise Unavailable("no worker has answered yet: try again in a moment")

    def figures(self) -> dict[str, Any]:
        """The workers' readings summed, with those of the workers that ended (see the module's docstring)."""
        return total([reading for _, _, reading in self._read()], self.departed)

    def collect(self) -> Iterator[Metric]:
        yield from super().collect()
        yield GaugeMetricFamily("resolver_workers", "Worker processes running now (--workers).",
                                value=len(self.workers))
        yield CounterMetricFamily("resolver_worker_restarts", "Workers started in place of one that died.",
                                  value=self.restarts)
        requests = CounterMetricFamily("resolver_worker_requests", "Queries received by the worker in each slot "
                                       "(from 0), counted from zero again by a worker started in place of a dead one.",
                                       labels=["worker"])
        age = GaugeMetricFamily("resolver_worker_reading_age_seconds", "Seconds since the figures shown for the "
                                "worker in each slot were read: under a second or two while it answers the parent, "
                                "growing while it does not (stopped, or its event loop stuck).", labels=["worker"])
        now = time.monotonic()
        for slot, worker, reading in self._read():
            requests.add_metric([str(slot)], KINDS[reading["role"]].queries(reading))
            age.add_metric([str(slot)], round(now - worker.read_at, 3))
        yield requests
        yield age

    def status(self) -> dict:
        status, now = super().status(), time.monotonic()
        kind = KINDS[status["role"]]
        return {**status, "restarts": self.restarts,
                "departed_queries": kind.queries({"counters": self.departed}) if self.departed else 0,
                "workers": [{"worker": slot, "pid": worker.pid, "uptime": reading["uptime"],
                             "reading_age": round(now - worker.read_at, 3), **kind.per_worker(reading)}
                            for slot, worker, reading in self._read()]}

    async def plan(self, name: str, rdtype: str = PLAN_TYPE) -> dict[str, Any] | None:
        """The lowest-numbered worker's plan, with every worker's cached answers for ``name`` and
        ``rdtype`` in ``cached``, each with its ``worker``; ``worker`` says whose routing it is.
        Raises ValueError as the workers do, :class:`Unavailable` when none answered."""
        plans, _ = await self._ask_all("plan", name=name, type=rdtype)
        if not plans:
            raise Unavailable("no worker answered: try again in a moment")
        slot, (_, plan) = min(plans.items())
        if plan is None:
            return None
        return {**plan, "worker": slot, "cached": [{**entry, "worker": each} for each, (_, its) in sorted(plans.items())
                                                   for entry in its["cached"]]}

    async def flush(self, name: str | None) -> int:
        """Have every worker flush (see :meth:`resolver.obs.metrics.LsMetrics.flush`); returns the
        answers they dropped together. Raises ValueError and NoCache as the workers do, and
        :class:`Unavailable` when a running worker did not answer (the others have flushed); a
        worker that died meanwhile is left out, as the one started in its place begins empty."""
        flushed, silent = await self._ask_all("flush", name=name)
        dropped = sum(n for _, n in flushed.values())
        if silent:
            raise Unavailable(f"worker {', '.join(map(str, silent))} did not answer within {ASK_TIMEOUT:g} s; "
                              f"the others dropped {dropped} answers: try again")
        return dropped
