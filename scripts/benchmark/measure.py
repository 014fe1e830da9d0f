"""Measured runs: dnsperf under load, the one-query-in-flight client at low load, and their sums.

Units: queries/s, latencies in seconds as dnsperf gives them (``avg_latency``)
or in whole microseconds (``latency_us`` histograms); tables show ms.
"""
from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import dns.message
import dns.rdatatype
from prometheus_client.parser import text_string_to_metric_families

from .common import HOST, BenchError


@dataclass
class Upstream:
    """An LS's counters from its ``/metrics``: client queries received and queries sent to each backend.

    ``client``: ``resolver_ls_requests_total`` (UDP and TCP); ``sent``:
    ``resolver_backend_requests_total`` by backend name (retransmissions
    included, health probes not); ``resent``: ``resolver_backend_retransmissions_total``
    by backend name. Either totals read at one moment or, by subtraction, what
    happened between two readings.
    """
    client: int = 0
    sent: Counter[str] = field(default_factory=Counter)
    resent: Counter[str] = field(default_factory=Counter)

    def __sub__(self, before: Upstream) -> Upstream:
        sent, resent = Counter(self.sent), Counter(self.resent)
        sent.subtract(before.sent)
        resent.subtract(before.resent)
        return Upstream(self.client - before.client, sent, resent)

    def __add__(self, other: Upstream) -> Upstream:
        return Upstream(self.client + other.client, self.sent + other.sent, self.resent + other.resent)

    @property
    def queries(self) -> int:
        """Upstream queries: everything sent to backends, less retransmissions of the same query."""
        return sum(self.sent.values()) - sum(self.resent.values())

    @property
    def per_query(self) -> float | None:
        """Upstream queries per client query; None when no client query came."""
        return self.queries / self.client if self.client else None

    def shares(self) -> dict[str, float]:
        """Each backend's share (0 to 100) of everything sent to the backends, by backend name."""
        total = sum(self.sent.values())
        return {name: 100.0 * n / total for name, n in sorted(self.sent.items())} if total else {}


UPSTREAM_SAMPLES = {"resolver_ls_requests_total": "client", "resolver_backend_requests_total": "sent",
                    "resolver_backend_retransmissions_total": "resent"}


def parse_ls_metrics(text: str) -> Upstream:
    """The :class:`Upstream` counters in the Prometheus text exposition ``text`` of an LS's ``/metrics``."""
    counts = Upstream()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            kind = UPSTREAM_SAMPLES.get(sample.name)
            if kind == "client":
                counts.client += int(sample.value)
            elif kind is not None:
                getattr(counts, kind)[sample.labels["backend"]] += int(sample.value)
    return counts


def read_ls_metrics(port: int, timeout: float = 5.0) -> Upstream:
    """GET ``/metrics`` from an LS's metrics port (``--metrics``) on loopback, at most ``timeout`` seconds.

    Raises :class:`BenchError` when it does not answer with the metrics.
    """
    url = f"http://{HOST}:{port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return parse_ls_metrics(reply.read().decode())
    except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
        raise BenchError(f"could not read {url}: {exc}") from None


@dataclass
class PerfRun:
    """One dnsperf run, as dnsperf reported it, plus per-query latencies from its -v lines.

    ``qps`` in queries/s, ``avg_latency`` in seconds, ``latency_us`` counts
    answers by latency in whole microseconds, ``rcodes`` answers by RCODE name;
    ``foreign_cpus``: CPUs' worth of work by other processes during the run;
    ``upstream``: for an LS with metrics, its counters' change over the run;
    ``cpu_user``, ``cpu_system``: CPU seconds the target itself used during the run.
    """
    sent: int = 0
    completed: int = 0
    lost: int = 0
    qps: float = 0.0
    avg_latency: float = 0.0
    rcodes: Counter[str] = field(default_factory=Counter)
    latency_us: Counter[int] = field(default_factory=Counter)
    foreign_cpus: float = 0.0
    upstream: Upstream | None = None
    cpu_user: float = 0.0
    cpu_system: float = 0.0


STAT_PATTERNS = {
    "sent": re.compile(r"Queries sent:\s+(\d+)"),
    "completed": re.compile(r"Queries completed:\s+(\d+)"),
    "lost": re.compile(r"Queries lost:\s+(\d+)"),
    "qps": re.compile(r"Queries per second:\s+([\d.]+)"),
    "avg_latency": re.compile(r"Average Latency \(s\):\s+([\d.]+)"),
}


def parse_dnsperf(lines: Iterable[str], source: str = "dnsperf") -> PerfRun:
    """dnsperf's closing statistics, and with -v one ``> RCODE name type seconds`` line per answer.

    dnsperf 2.10 has no latency histogram or percentile option; its -v lines
    carry each answer's latency in seconds to the microsecond, which gives an
    exact p99. ``lines`` may be an open file (a -v output is tens of MB);
    ``source`` names it in the error raised when a figure is missing.
    """
    run = PerfRun()
    latencies: Counter[int] = Counter()
    tail: list[str] = []
    for line in lines:
        if line.startswith("> "):
            try:
                latencies[round(float(line.rsplit(" ", 1)[1]) * 1e6)] += 1
            except ValueError:
                pass
        else:
            tail.append(line)
    text = "".join(tail)
    for key, pattern in STAT_PATTERNS.items():
        found = pattern.search(text)
        if found is None:
            raise BenchError(f"dnsperf output has no '{key}' figure ({source}):\n{text[-1500:]}")
        setattr(run, key, float(found.group(1)) if key in ("qps", "avg_latency") else int(found.group(1)))
    codes = re.search(r"Response codes:[ \t]*(.*)", text)  # empty when every query was lost
    if codes:
        for code, count in re.findall(r"([A-Z]+) (\d+)", codes.group(1)):
            run.rcodes[code] += int(count)
    run.latency_us = latencies
    return run


def run_dnsperf(dnsperf: str, label: str, port: int, queries: Path, duration: float,
                outstanding: int, verbose: bool, out: Path, clients: int = 1, passes: int | None = None) -> PerfRun:
    """``dnsperf -c CLIENTS -T 1 -q N -l DURATION`` (seconds) against one target; its output goes to ``out``, then is parsed.

    ``dnsperf`` is the program's path; ``label`` names the target in errors;
    ``passes``: with it, ``-n PASSES`` too, so dnsperf stops after going
    through ``queries`` that many times or after ``duration``, whichever comes first.
    """
    argv = [dnsperf, "-s", HOST, "-p", str(port), "-d", str(queries), "-c", str(clients), "-T", "1",
            "-q", str(outstanding), "-l", f"{duration:g}"]
    if passes is not None:
        argv += ["-n", str(passes)]
    if verbose:
        argv.append("-v")
    with out.open("wb") as sink:
        popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        try:
            code = popen.wait(duration + 60)
        finally:
            if popen.poll() is None:
                os.killpg(popen.pid, signal.SIGKILL)
                popen.wait()
    if code != 0:
        raise BenchError(f"dnsperf against {label} exited with {code}: {shlex.join(argv)}\n"
                         + out.read_text(errors="replace")[-1500:])
    with out.open("r", errors="replace") as handle:
        return parse_dnsperf(handle, str(out))


RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def one_in_flight(port: int, queries: Path, duration: float, timeout: float = 1.0) -> PerfRun:
    """Queries strictly one at a time for ``duration`` seconds, each timed from send to reply.

    Why not ``dnsperf -q 1``: dnsperf 2.10 with one query outstanding idles
    between queries (30 to 4,000 queries/s against a server answering in
    30 us, differing from run to run), which leaves too few and too uneven
    samples for a p99. This loop sends the next query as soon as the reply is
    in. Queries are packed beforehand; per query it only patches the ID, so
    the client's own cost is a few microseconds, the same for every target.
    """
    names = [line.split()[0] for line in queries.read_text().splitlines()[:20000] if line.strip()]
    wires = [dns.message.make_query(name, dns.rdatatype.A).to_wire()[2:] for name in names]
    run = PerfRun()
    latencies: Counter[int] = Counter()
    rcodes: Counter[str] = Counter()
    total_ns = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((HOST, port))
        sock.settimeout(timeout)
        started = time.perf_counter()
        deadline = started + duration
        index = 0
        while time.perf_counter() < deadline:
            qid = (index & 0xFFFF).to_bytes(2, "big")
            wire = qid + wires[index % len(wires)]
            index += 1
            sent_ns = time.perf_counter_ns()
            sock.send(wire)
            run.sent += 1
            try:
                while True:  # a late reply to an earlier, timed-out query is skipped
                    reply = sock.recv(4096)
                    if reply[:2] == qid:
                        break
            except (socket.timeout, ConnectionRefusedError):
                run.lost += 1
                continue
            elapsed = time.perf_counter_ns() - sent_ns
            total_ns += elapsed
            latencies[round(elapsed / 1000)] += 1
            rcodes[RCODE_NAMES.get(reply[3] & 0x0F, str(reply[3] & 0x0F))] += 1
        wall = time.perf_counter() - started
    run.completed = run.sent - run.lost
    run.qps = run.completed / wall if wall else 0.0
    run.avg_latency = total_ns / 1e9 / run.completed if run.completed else 0.0
    run.latency_us, run.rcodes = latencies, rcodes
    return run


@dataclass
class Series:
    """Every dnsperf run against one target, summed up the way the tables need."""
    label: str
    runs: list[PerfRun] = field(default_factory=list)

    @property
    def qps(self) -> float:
        """Queries/s: the mean of the runs' rates."""
        return sum(r.qps for r in self.runs) / len(self.runs) if self.runs else 0.0

    @property
    def lost(self) -> int:
        return sum(r.lost for r in self.runs)

    @property
    def sent(self) -> int:
        return sum(r.sent for r in self.runs)

    @property
    def avg_ms(self) -> float:
        """Mean latency (ms) over every completed query of every run."""
        done = sum(r.completed for r in self.runs)
        return 1000 * sum(r.avg_latency * r.completed for r in self.runs) / done if done else 0.0

    def percentile_ms(self, fraction: float) -> float | None:
        """The ``fraction`` (0.99 for p99) latency in ms over all runs together; None without -v data."""
        merged: Counter[int] = Counter()
        for run in self.runs:
            merged.update(run.latency_us)
        return percentile(merged, fraction)

    @property
    def foreign_cpus(self) -> float:
        """The most CPU that other processes took during any one of these runs."""
        return max((r.foreign_cpus for r in self.runs), default=0.0)

    @property
    def cpu_us_per_query(self) -> tuple[float, float] | None:
        """The target's user and system CPU time per answered query (microseconds) over all runs; None without answers."""
        done = sum(r.completed for r in self.runs)
        if not done:
            return None
        return (1e6 * sum(r.cpu_user for r in self.runs) / done, 1e6 * sum(r.cpu_system for r in self.runs) / done)

    @property
    def upstream(self) -> Upstream | None:
        """The LS's counters summed over the runs that have them; None when none has."""
        counted = [r.upstream for r in self.runs if r.upstream is not None]
        return sum(counted[1:], counted[0]) if counted else None

    def rcode_percent(self, code: str) -> float:
        """The share (0 to 100) of all answers that had RCODE ``code`` (a name such as ``NXDOMAIN``)."""
        total = sum(sum(r.rcodes.values()) for r in self.runs)
        return 100.0 * sum(r.rcodes.get(code, 0) for r in self.runs) / total if total else 0.0


def percentile(latency_us: Counter[int], fraction: float) -> float | None:
    """The latency (ms) below which ``fraction`` of the answers came; None without -v data."""
    total = sum(latency_us.values())
    if not total:
        return None
    rank, seen = fraction * total, 0
    for micros in sorted(latency_us):
        seen += latency_us[micros]
        if seen >= rank:
            return micros / 1000
    return max(latency_us) / 1000
