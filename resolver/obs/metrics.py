"""Prometheus metrics and the status page's JSON, read from :mod:`resolver.obs.stats` at scrape time.

The names follow CoreDNS and dnsdist: a ``resolver_`` prefix, ``_total`` on
counters, ``_seconds`` on durations, the backend's name in a ``backend``
label (CoreDNS's forward plugin says ``to``) and rcodes by name::

    resolver_ls_requests_total{proto="udp"}                 queries received
    resolver_ls_responses_total{rcode="NOERROR"}            replies sent
    resolver_ls_races_total{outcome="won"}                  how races ended (as in the query log)
    resolver_ls_inflight                                    races waiting now
    resolver_ls_dropped_total{reason="malformed"}           queries dropped without a reply
    resolver_ls_refused_total{reason="acl"}                 queries refused by the allow-list or rate limit
    resolver_backend_requests_total{backend="ts1"}          queries sent, retransmissions included (not health probes)
    resolver_backend_responses_total{backend, rcode}        replies, late ones included
    resolver_backend_wins_total{backend}                    races won
    resolver_backend_timeouts_total{backend}                races that timed out waiting for it
    resolver_backend_late_responses_total{backend}          replies after their race ended
    resolver_backend_forged_responses_total{backend}        dropped: unknown ID, other question, or unparsable
    resolver_backend_retransmissions_total{backend}         queries sent again: UDP past its RTO, TCP on a new connection
    resolver_backend_duplicate_responses_total{backend}     second replies to a query sent again
    resolver_backend_up{backend}                            1 up, 0 down (resolver.ls.health)
    resolver_backend_response_duration_seconds{backend}     histogram of replies within their race (and after a grace)
    resolver_ts_requests_total{zone, proto}                 TS queries, "none" for no zone
    resolver_ts_responses_total{zone, rcode}                TS replies

Counters only grow while a process lives; a restart sets them back to zero,
which Prometheus's ``rate()`` expects.

The servers are read through :class:`LsSource` and :class:`TsSource`, protocols
this module owns: it imports neither :mod:`resolver.ls` nor :mod:`resolver.ts`,
so their insides can change without breaking ``/metrics``.
"""
from __future__ import annotations

import time
from typing import Iterator, Protocol, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from .. import __version__
from ..wire import RCODE_NAMES
from .stats import BackendStats, LatencyHistogram, LsStats, ZoneTally

PROTOCOLS = ("udp", "tcp")


class BackendSource(Protocol):
    """One backend of the LS, as the metrics read it."""

    name: str           # the label: NAME from NAME=ADDR:PORT, else the address
    address: str        # ADDR:PORT
    up: bool            # per its health probes
    stats: BackendStats


class LsSource(Protocol):
    """The LS, as the metrics read it (:class:`resolver.ls.balancer.LoadBalancer`)."""

    @property
    def stats(self) -> LsStats: ...

    @property
    def inflight(self) -> int: ...

    @property
    def backends(self) -> Sequence[BackendSource]: ...


class TsSource(Protocol):
    """The TS, as the metrics read it (:class:`resolver.ts.server.AuthoritativeServer`)."""

    @property
    def tallies(self) -> dict[str, ZoneTally]:
        """Counters by zone name (``"none"`` for queries no zone owns)."""

    @property
    def silent_miss(self) -> bool: ...

    def zone_sizes(self) -> dict[str, int]:
        """Names in each zone served, by zone name."""


def rcode_counts(counts: list[int]) -> dict[str, int]:
    """Counts by rcode name, leaving out rcodes never seen."""
    return {RCODE_NAMES.get(rcode, str(rcode)): n for rcode, n in enumerate(counts) if n}


class ServerMetrics(Collector):
    """What the metrics endpoint and the status page read; one per server process."""

    role = ""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("resolver_build_info", "The running version and role.", labels=["version", "role"])
        info.add_metric([__version__, self.role], 1)
        yield info
        yield GaugeMetricFamily("resolver_uptime_seconds", "Seconds since the server started.",
                                value=time.monotonic() - self.started)

    def status(self) -> dict:
        """The status page's JSON: totals; the page turns two readings into rates."""
        return {"role": self.role, "version": __version__, "uptime": round(time.monotonic() - self.started, 3)}


class LsMetrics(ServerMetrics):
    """The LS's counters, its races and each backend."""

    role = "ls"

    def __init__(self, source: LsSource) -> None:
        self.source = source
        super().__init__()

    def collect(self) -> Iterator[Metric]:
        yield from super().collect()
        stats = self.source.stats
        yield counter("resolver_ls_requests", "Queries received, by transport.", ["proto"],
                      {(proto,): n for proto, n in zip(PROTOCOLS, stats.queries)})
        yield counter("resolver_ls_responses", "Replies sent, by rcode.", ["rcode"],
                      {(rcode,): n for rcode, n in rcode_counts(stats.replies).items()})
        yield counter("resolver_ls_races", "Races ended, by outcome.", ["outcome"],
                      {(outcome,): n for outcome, n in stats.outcomes.items()})
        yield counter("resolver_ls_dropped", "Queries dropped without a reply, by reason.", ["reason"],
                      {(reason,): n for reason, n in stats.dropped.items()})
        yield counter("resolver_ls_refused", "Queries refused (allow-list, rate limit).", ["reason"],
                      {(reason,): n for reason, n in stats.refused.items()})
        yield GaugeMetricFamily("resolver_ls_inflight", "Races waiting for backends now.", value=self.source.inflight)
        yield from self._backend_metrics()

    def _backend_metrics(self) -> Iterator[Metric]:
        backends = self.source.backends
        label = ["backend"]
        yield counter("resolver_backend_requests", "Client queries sent to a backend, retransmissions included.", label,
                      {(b.name,): b.stats.sent for b in backends})
        yield counter("resolver_backend_responses", "Replies from a backend, by rcode.", label + ["rcode"],
                      {(b.name, rcode): n for b in backends for rcode, n in rcode_counts(b.stats.replies).items()})
        yield counter("resolver_backend_wins", "Races a backend's reply won.", label,
                      {(b.name,): b.stats.wins for b in backends})
        yield counter("resolver_backend_timeouts", "Races that timed out waiting for a backend.", label,
                      {(b.name,): b.stats.timeouts for b in backends})
        yield counter("resolver_backend_late_responses", "Replies that came after their race ended.", label,
                      {(b.name,): b.stats.late for b in backends})
        yield counter("resolver_backend_forged_responses",
                      "Replies dropped: an ID no race sent, another question, or sections that do not parse.", label,
                      {(b.name,): b.stats.forged for b in backends})
        yield counter("resolver_backend_retransmissions",
                      "Queries sent to a backend again: over UDP as it had not replied within its retransmission "
                      "timeout, over TCP as the connection they were written on ended.",
                      label, {(b.name,): b.stats.retransmissions for b in backends})
        yield counter("resolver_backend_duplicate_responses", "Second replies to a query sent to a backend again.",
                      label, {(b.name,): b.stats.duplicates for b in backends})
        up = GaugeMetricFamily("resolver_backend_up", "1 when the backend answers health probes.", labels=label)
        for b in backends:
            up.add_metric([b.name], 1 if b.up else 0)
        yield up
        latency = HistogramMetricFamily("resolver_backend_response_duration_seconds",
                                        "Time from a query to a backend's reply, within the race or after its "
                                        "NODATA grace.", labels=label)
        for b in backends:
            latency.add_metric([b.name], b.stats.latency.cumulative(), b.stats.latency.sum)
        yield latency

    def status(self) -> dict:
        stats = self.source.stats
        return {**super().status(), "queries": sum(stats.queries), "inflight": self.source.inflight,
                "replies": rcode_counts(stats.replies), "outcomes": dict(stats.outcomes),
                "dropped": dict(stats.dropped), "refused": dict(stats.refused),
                "backends": [{"name": b.name, "address": b.address, "up": b.up, "sent": b.stats.sent,
                              "wins": b.stats.wins, "timeouts": b.stats.timeouts, "late": b.stats.late,
                              "forged": b.stats.forged, "retransmissions": b.stats.retransmissions,
                              "duplicates": b.stats.duplicates, "replies": rcode_counts(b.stats.replies),
                              **latency_summary(b.stats.latency)} for b in self.source.backends]}


class TsMetrics(ServerMetrics):
    """The TS's counters, by zone."""

    role = "ts"

    def __init__(self, source: TsSource) -> None:
        self.source = source
        super().__init__()

    def collect(self) -> Iterator[Metric]:
        yield from super().collect()
        tallies = self.source.tallies
        yield counter("resolver_ts_requests", "Queries received, by zone and transport.", ["zone", "proto"],
                      {(zone, proto): tally.requests(tcp) for zone, tally in tallies.items()
                       for tcp, proto in enumerate(PROTOCOLS)})
        yield counter("resolver_ts_responses", "Replies sent, by zone and rcode.", ["zone", "rcode"],
                      {(zone, rcode): n for zone, tally in tallies.items()
                       for rcode, n in rcode_counts(tally.replies()).items()})
        names = GaugeMetricFamily("resolver_ts_zone_names", "Names in each zone served.", labels=["zone"])
        for zone, size in self.source.zone_sizes().items():
            names.add_metric([zone], size)
        yield names

    def status(self) -> dict:
        tallies = self.source.tallies
        sizes = self.source.zone_sizes()
        zones = [{"zone": zone, "names": sizes.get(zone), "queries": tally.requests(False) + tally.requests(True),
                  "replies": rcode_counts(tally.replies())}
                 for zone, tally in sorted(tallies.items(), key=lambda item: item[0] == "none")]
        zones += [{"zone": zone, "names": size, "queries": 0, "replies": {}}
                  for zone, size in sizes.items() if zone not in tallies]
        return {**super().status(), "queries": sum(z["queries"] for z in zones),
                "silent_miss": self.source.silent_miss, "zones": zones}


def counter(name: str, documentation: str, labels: list[str], values: dict[tuple[str, ...], int]) -> Metric:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for label_values, value in values.items():
        family.add_metric(list(label_values), value)
    return family


def latency_summary(histogram: LatencyHistogram) -> dict:
    """Count and sum, for the status page's average over each refresh."""
    return {"latency_count": histogram.count, "latency_sum": round(histogram.sum, 6)}
