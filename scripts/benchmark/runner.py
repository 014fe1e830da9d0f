"""One benchmark run, phase by phase: start the servers, check answers, measure, stop them."""
from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from resolver.ls.settings import POLICIES

from .answers import Check, check_sample
from .client_memory import ClientRun, measure_client_memory
from .common import BenchError, log, slug
from .machine import Tools, cpu_snapshot, foreign_cpus, group_cpu, rss_mib
from .measure import PerfRun, Series, one_in_flight, percentile, read_ls_metrics, run_dnsperf
from .procs import Fleet
from .targets import (Server, dnsdist_down_events, start_dnsdist, start_ls, start_nsd, start_ts,
                      supports_workers)
from .load_zones import LoadZone, write_generate_zone, write_mixed_zone, write_plain_zone, write_signed_zone
from .transfer import (PacedReader, Timed, TransferReader, TransferRound, axfr_octets, before_and_during,
                       paced_rate, secondary_seconds, transfer_alone, ts_transfer_seconds)
from .workload import ORIGIN, SplitData, hit_name, make_split, write_queries, write_zone


WORKER_CLIENTS = 8     # client sockets (dnsperf -c) for the --workers runs
WARM_LIMIT = 10.0      # seconds a warm-up pass over a learning LS may take at most
REPLICAS = ("NSD replica 1", "NSD replica 2")  # the replica group's members: NSDs that hold every name
SMALL_ZONE = 1000  # records in the size test's small zone, the yardstick for --big
TRANSFER_CLIENTS = "127.0.0.1/32"  # who may transfer from the transfer test's TS: this benchmark


def sized_label(records: int) -> str:
    """The size test's name for a TS on a zone of ``records`` names."""
    return f"TS, {records:,} records"


@dataclass
class SizeResult:
    """A TS on a zone of ``records`` names: seconds to write the zone, to print ``listening on`` and to answer
    (both from process start), resident and peak memory (MiB) over ``processes`` processes, its load runs,
    or the error that stopped it."""
    records: int
    generate_s: float
    listening_s: float | None = None
    answering_s: float | None = None
    rss_mib: float | None = None
    peak_mib: float | None = None
    processes: int = 1
    series: Series | None = None
    error: str | None = None


@dataclass
class LoadResult:
    """A TS started on one zone of the load-time test: seconds to write the zone and from process start
    to the first right answer, resident and peak memory (MiB) once it answers, or the error that stopped it."""
    label: str
    records: int
    generate_s: float
    answering_s: float | None = None
    rss_mib: float | None = None
    peak_mib: float | None = None
    error: str | None = None


@dataclass
class Results:
    """Everything measured, for the report."""
    split: SplitData | None = None
    checks: dict[str, Check] = field(default_factory=dict)
    load: dict[str, Series] = field(default_factory=dict)
    low: dict[str, Series] = field(default_factory=dict)
    low_miss: dict[str, Series] = field(default_factory=dict)
    workers: dict[str, dict[int, Series]] = field(default_factory=dict)
    workers_note: str = ""
    groups: dict[str, Series] = field(default_factory=dict)      # the LS over a replica group, by policy
    sizes: list[SizeResult] = field(default_factory=list)
    loads: dict[str, LoadResult] = field(default_factory=dict)     # by kind: signed, generate, plain, mixed
    transfers: list[TransferRound] = field(default_factory=list)         # the transfer phase's paced rounds
    parsed_transfers: list[TransferRound] = field(default_factory=list)  # and those with dnspython reading
    transfer_octets: int | None = None         # the AXFR's octets, which the paced rounds read over a run
    transfer_alone: Timed | None = None        # dnspython's read with no load beside it
    secondary: Timed | None = None             # NSD as a secondary: from its start to its SOA answer
    client: ClientRun | None = None            # the client-memory phase's run
    health: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Bench:
    """One benchmark run: the servers it started, the files it wrote, what it measured."""

    def __init__(self, args: argparse.Namespace, tools: Tools, workdir: Path) -> None:
        self.args = args
        self.tools = tools
        self.workdir = workdir
        self.fleet = Fleet(workdir)
        self.results = Results()
        self.perf_count = 0

    # -- helpers

    def dnsperf(self, target: Server, queries: Path, outstanding: int, duration: float, verbose: bool,
                clients: int = 1, passes: int | None = None) -> PerfRun:
        """:func:`run_dnsperf` against ``target``, its output in a numbered file of the work directory,
        removed once read (-v output is tens of MB per run; the figures are in the run returned)."""
        self.perf_count += 1
        out = self.workdir / f"dnsperf-{self.perf_count:03d}.out"
        run = run_dnsperf(self.tools.dnsperf, target.label, target.port, queries, duration,
                          outstanding, verbose, out, clients, passes)
        out.unlink()
        return run

    def perf(self, target: Server, queries: Path, outstanding: int, duration: float, clients: int = 1,
             warm: Path | None = None) -> PerfRun:
        """One measured run: dnsperf with ``outstanding`` queries in flight, or the one-in-flight client for 1.

        A target that learns or caches first goes once through ``warm`` (when given), unmeasured;
        an LS with metrics has its upstream counters read before and after.
        """
        if warm is not None and target.warms:
            self.warm_up(target, warm, clients)
        port = target.metrics_port
        counters = read_ls_metrics(port) if port is not None else None
        before = cpu_snapshot(p.pid for p in self.fleet.procs)
        user, system = group_cpu(target.proc.pid)
        if outstanding == 1:
            run = one_in_flight(target.port, queries, duration)
        else:
            run = self.dnsperf(target, queries, outstanding, duration, not self.args.no_p99, clients)
        run.foreign_cpus = foreign_cpus(before, cpu_snapshot(p.pid for p in self.fleet.procs))
        after_user, after_system = group_cpu(target.proc.pid)
        run.cpu_user, run.cpu_system = after_user - user, after_system - system
        if port is not None and counters is not None:
            run.upstream = read_ls_metrics(port) - counters
        p99 = percentile(run.latency_us, 0.99)
        per_query = run.upstream.per_query if run.upstream is not None else None
        log(f"  {target.label:<38} {run.qps:>10,.0f} q/s  lost {run.lost:<5} avg {run.avg_latency * 1000:6.3f} ms"
            + (f"  p99 {p99:6.3f} ms" if p99 is not None else "")
            + (f"  upstream/query {per_query:.3f}" if per_query is not None else "")
            + (f"  (other load {run.foreign_cpus:.2f} CPUs)" if run.foreign_cpus >= 0.1 else ""))
        return run

    def warm_up(self, target: Server, queries: Path, clients: int) -> None:
        """Teach a learning LS the owners: dnsperf once through ``queries`` (each name of the mix once),
        ``-q 100``, at most :data:`WARM_LIMIT` seconds; not measured."""
        run = self.dnsperf(target, queries, 100, WARM_LIMIT, False, clients, passes=1)
        log(f"  {target.label:<38} warm-up: {run.completed:,} of {run.sent:,} queries answered")

    def alternate(self, targets: Sequence[Server], queries: Path, outstanding: int, duration: float,
                  into: dict[str, Series], rounds: int, clients: int = 1, warm: Path | None = None) -> None:
        """Every target once per round, the order rotated each round so no target always goes first;
        ``warm``: the warm-up file for learning LSes (:meth:`perf`)."""
        for label in (t.label for t in targets):
            into.setdefault(label, Series(label))
        how = "one query in flight" if outstanding == 1 else f"dnsperf -q {outstanding}"
        for r in range(rounds):
            log(f"round {r + 1}/{rounds} ({queries.name}, {how}, {duration:g} s each)")
            shift = r % len(targets)
            for target in list(targets[shift:]) + list(targets[:shift]):
                into[target.label].runs.append(self.perf(target, queries, outstanding, duration, clients, warm))

    # -- phases

    def run(self) -> Results:
        """The phases asked for (``--phases``), in order; each stops its servers before the next starts."""
        if "split" in self.args.phases:
            self.run_split()
        if "sizes" in self.args.phases and self.args.big:
            self.measure_sizes()
        if "loads" in self.args.phases:
            self.measure_loads()
        if "transfer" in self.args.phases and self.args.transfer_records:
            self.measure_transfer()
        if "client-memory" in self.args.phases and self.args.client_names:
            self.results.client = measure_client_memory(self.fleet, self.workdir, self.args.client_names,
                                                        self.args.seed)
        return self.results

    def run_split(self) -> None:
        """The split-DNS phases: answers checked, load and low-load runs, replica groups, workers."""
        args, res = self.args, self.results
        log(f"generating split zones: {args.names:,} names, {args.queries:,} queries per file")
        split = res.split = make_split(self.workdir, args.names, args.queries, args.sample, args.seed)
        log(f"  done in {split.seconds:.1f} s")
        (ts1, ts2, nsd1, nsd2), frontends = self.start_split_servers(split)
        self.check_answers([ts1, nsd1], lambda n: n in split.ts1_names, split.sample)
        self.check_answers([ts2, nsd2], lambda n: n not in split.ts1_names, split.sample)
        self.check_answers(frontends, lambda n: True, split.sample)
        self.measure_split([ts1, nsd1], frontends, split)
        self.measure_groups(split)
        self.measure_workers(split, (nsd1, nsd2), self.probes())
        self.fleet.stop_all()

    @staticmethod
    def probes() -> list[tuple[str, str]]:
        """One name on each side of the split: a frontend that answers both reaches both backends."""
        return [(hit_name(0), "A"), (hit_name(1), "A")]

    def start_split_servers(self, split: SplitData) -> tuple[tuple[Server, Server, Server, Server], list[Server]]:
        """TS1, TS2, NSD1, NSD2 on the split zones, then over each pair asked for: the LS (learned routing,
        its default), the LS with ``--learn off`` (the full fan-out) and dnsdist, none caching; over the NSDs
        also the LS with its answer cache and dnsdist with a packet cache. Each LS serves metrics."""
        ts1 = start_ts(self.fleet, "TS1 (ours)", split.ts1_zone, hit_name(0))
        ts2 = start_ts(self.fleet, "TS2 (ours)", split.ts2_zone, hit_name(1))
        nsd1 = start_nsd(self.fleet, self.tools, "NSD1", self.workdir / "nsd1", split.ts1_zone, hit_name(0))
        nsd2 = start_nsd(self.fleet, self.tools, "NSD2", self.workdir / "nsd2", split.ts2_zone, hit_name(1))
        frontends: list[Server] = []
        pairs = {"nsd": (nsd1, nsd2), "ts": (ts1, ts2)}
        for kind in self.args.frontends_over:
            pair = pairs[kind]
            over = "NSD1+NSD2" if kind == "nsd" else "TS1+TS2"
            frontends.append(start_ls(self.fleet, f"LS → {over}", pair, self.probes(), metrics=True))
            frontends.append(start_ls(self.fleet, f"LS --learn off → {over}", pair, self.probes(),
                                      learn=False, metrics=True))
            frontends.append(start_dnsdist(self.fleet, self.tools, f"dnsdist → {over}",
                                           self.workdir / f"dnsdist-{kind}", pair, self.probes()))
            if kind == "nsd":
                frontends.append(start_ls(self.fleet, f"LS (cache) → {over}", pair, self.probes(), metrics=True,
                                          cache=True))
                frontends.append(start_dnsdist(self.fleet, self.tools, f"dnsdist (packet cache) → {over}",
                                               self.workdir / f"dnsdist-{kind}-cache", pair, self.probes(),
                                               cache=True))
        log("started: " + ", ".join(f"{s.label} :{s.port}" for s in [ts1, ts2, nsd1, nsd2, *frontends]))
        return (ts1, ts2, nsd1, nsd2), frontends

    def measure_split(self, backends: list[Server], frontends: list[Server], split: SplitData) -> None:
        """Load runs in alternation, then low-load runs, then the answers checked again after all that load."""
        args, res = self.args, self.results
        targets = [*backends, *frontends]
        self.alternate(targets, split.mix_file, 100, args.duration, res.load, args.rounds, warm=split.warm_file)
        low = min(args.duration, args.low_duration)
        self.alternate(targets, split.mix_file, 1, low, res.low, 1)
        self.alternate(frontends, split.miss_file, 1, low, res.low_miss, 1)
        for server in backends:  # TS1 and NSD1: their own names right, the rest NXDOMAIN
            res.checks[server.label].add(check_sample(server.port, split.sample_after,
                                                      lambda n: n in split.ts1_names))
        for server in frontends:
            after = check_sample(server.port, split.sample_after, lambda n: True)
            res.checks[server.label].add(after)
            if server.kind == "dnsdist":
                res.health[server.label] = dnsdist_down_events(server)
            else:
                res.checks[f"{server.label}, misses only"] = check_sample(server.port, split.miss_sample, lambda n: True)

    def measure_groups(self, split: SplitData) -> None:
        """The LS over one replica group of two NSDs that each hold every name, once per policy.

        One LS at a time, each checked on the sample before and after one
        ``--group-duration`` run of the mix; skipped when that is 0. The
        backends' counters in the LS's metrics give each member's share.
        """
        args, res = self.args, self.results
        if not args.group_duration:
            return
        zone = self.workdir / "all.bench.zone"
        write_zone(zone, range(args.names))
        replicas = [start_nsd(self.fleet, self.tools, label, self.workdir / slug(label), zone, hit_name(0))
                    for label in REPLICAS]
        for policy in POLICIES:
            ls = start_ls(self.fleet, f"LS → replica group, {policy}", replicas, self.probes(), metrics=True,
                          group_policy=policy)
            self.check_answers([ls], lambda n: True, split.sample)
            res.groups[policy] = Series(ls.label, [self.perf(ls, split.mix_file, 100, args.group_duration)])
            res.checks[ls.label].add(check_sample(ls.port, split.sample_after, lambda n: True))
            self.fleet.stop(ls.proc)
        for replica in replicas:
            self.fleet.stop(replica.proc)

    def check_answers(self, servers: Sequence[Server], holds: Callable[[str], bool], sample: list[str]) -> None:
        for server in servers:
            check = check_sample(server.port, sample, holds)
            self.results.checks[server.label] = check
            log(f"  sample through {server.label}: {check.cell()} right"
                + (f"; e.g. {'; '.join(check.wrong)}" if check.wrong else ""))

    def measure_workers(self, split: SplitData, nsd_pair: tuple[Server, Server],
                        probes: list[tuple[str, str]]) -> None:
        """TS and LS throughput for each ``--workers`` value the product accepts (skipped when it has none).

        The TS is measured alone on TS1's zone, the LS in front of the NSD pair,
        so that its backends are not what limits it. A count the product
        rejects, or a server that fails to start, is noted and skipped.
        """
        res, counts = self.results, self.args.workers
        if not counts:
            res.workers_note = "Not measured (`--workers ''`)."
            return
        for command in ("ts", "ls"):
            if not supports_workers(command):
                res.workers_note += f"`resolver {command}` has no `--workers` yet: skipped. "
                log(f"workers: resolver {command} has no --workers yet; skipped")
                continue
            servers: list[tuple[int, Server]] = []
            for n in counts:
                try:
                    if command == "ts":
                        server = start_ts(self.fleet, f"TS1 --workers {n}", split.ts1_zone, hit_name(0), workers=n)
                    else:
                        server = start_ls(self.fleet, f"LS → NSD1+NSD2 --workers {n}", nsd_pair, probes, workers=n)
                except BenchError as exc:
                    first = str(exc).splitlines()
                    note = f"`resolver {command} --workers {n}` failed to start: {first[0]} {first[-1].strip()}"
                    res.workers_note += note + " "
                    log(note)
                    continue
                servers.append((n, server))
            if not servers:
                continue
            series: dict[str, Series] = {}
            # Several client sockets: SO_REUSEPORT spreads clients by address and port,
            # so the single socket of ``dnsperf -c 1`` would always reach one worker.
            self.alternate([s for _, s in servers], split.mix_file, 100, self.args.duration, series,
                           self.args.rounds, clients=WORKER_CLIENTS, warm=split.warm_file)
            res.workers[command] = {n: series[s.label] for n, s in servers}
            for _, server in servers:
                self.fleet.stop(server.proc)

    def measure_sizes(self) -> None:
        """Load time, memory and queries/s of a TS on a small and on a big zone (only existing names asked)."""
        args, res = self.args, self.results
        rng = random.Random(args.seed + 1)
        started_servers: list[tuple[Server, Path]] = []
        for records in sorted({SMALL_ZONE, args.big}):
            started = time.monotonic()
            zone = self.workdir / f"size-{records}.bench.zone"
            write_zone(zone, range(records))
            queries = self.workdir / f"size-{records}.queries"
            write_queries(queries, [hit_name(rng.randrange(records)) for _ in range(args.queries)])
            result = SizeResult(records, time.monotonic() - started)
            res.sizes.append(result)
            log(f"zone of {records:,} records written in {result.generate_s:.1f} s; starting a TS on it")
            try:
                started_servers.append((self.start_sized_ts(zone, records, result), queries))
            except BenchError as exc:
                result.error = str(exc).splitlines()[0]
                log(f"  {result.error}")
        series: dict[str, Series] = {}
        for r in range(args.rounds):
            log(f"round {r + 1}/{args.rounds} (size test, -q 100, {args.duration:g} s each)")
            for server, queries in (started_servers if r % 2 == 0 else started_servers[::-1]):
                series.setdefault(server.label, Series(server.label)).runs.append(
                    self.perf(server, queries, 100, args.duration))
        for result in res.sizes:
            result.series = series.get(sized_label(result.records))
        for server, _ in started_servers:
            self.fleet.stop(server.proc)

    def start_sized_ts(self, zone: Path, records: int, result: SizeResult) -> Server:
        """Start a TS on a zone of ``records`` names, timing its start and reading its memory once it answers."""
        server = start_ts(self.fleet, sized_label(records), zone, hit_name(records - 1),
                          load_timeout=self.args.load_timeout)
        proc = server.proc
        assert proc.match_time is not None
        result.listening_s = proc.match_time - proc.started
        result.answering_s = time.monotonic() - proc.started
        result.rss_mib, result.peak_mib, result.processes = rss_mib(proc.pid)
        log(f"  listening after {result.listening_s:.1f} s, answering after {result.answering_s:.1f} s, "
            f"RSS {result.rss_mib:.0f} MiB (peak {result.peak_mib:.0f} MiB)")
        return server

    def measure_loads(self) -> None:
        """Load time and memory of a TS on each zone of the load-time test, one TS at a time.

        The signed zone (``--signed-names``), the ``$GENERATE`` zone (``--generate``), and
        with ``--big`` records the plain-address zone and the mixed-type zone, back to back
        so that the two see the same machine. A zone whose TS fails is noted and skipped.
        """
        args, writers = self.args, []
        if args.signed_names:
            writers.append(("signed", lambda path: write_signed_zone(path, args.signed_names, args.seed)))
        if args.generate:
            writers.append(("generate", lambda path: write_generate_zone(path, args.generate)))
        if args.big:
            writers.append(("plain", lambda path: write_plain_zone(path, args.big)))
            writers.append(("mixed", lambda path: write_mixed_zone(path, args.big)))
        for kind, write in writers:
            started = time.monotonic()
            zone = write(self.workdir / f"load-{kind}.bench.zone")
            result = self.results.loads[kind] = LoadResult(zone.label, zone.records, time.monotonic() - started)
            log(f"load test: {zone.label} ({zone.records:,} records) written in {result.generate_s:.1f} s")
            self.time_load(zone, result)
            zone.path.unlink()

    def time_load(self, zone: LoadZone, result: LoadResult) -> None:
        """Start a TS on ``zone``, time it from process start to its first right answer, read its
        memory, and stop it; a failure goes into ``result.error``."""
        try:
            server = start_ts(self.fleet, f"TS on {zone.label}", zone.path, zone.probe,
                              load_timeout=self.args.load_timeout)
        except BenchError as exc:
            result.error = str(exc).splitlines()[0]
            log(f"  {result.error}")
            return
        result.answering_s = time.monotonic() - server.proc.started
        result.rss_mib, result.peak_mib, _ = rss_mib(server.proc.pid)
        log(f"  answering after {result.answering_s:.2f} s, RSS {result.rss_mib:.0f} MiB "
            f"(peak {result.peak_mib:.0f} MiB)")
        self.fleet.stop(server.proc)

    def measure_transfer(self) -> None:
        """Queries/s of a TS before and while it sends its zone of ``--transfer-records`` records by
        AXFR (:mod:`benchmark.transfer`): ``--rounds`` rounds, each of two before/during pairs of
        ``-q 100`` runs, one with a :class:`PacedReader` reading the transfer over more than a run (the
        target), one with dnspython reading it; then NSD's time to transfer it as a secondary."""
        args, res = self.args, self.results
        records = args.transfer_records
        zone, queries = self.workdir / "transfer.bench.zone", self.workdir / "transfer.queries"
        write_zone(zone, range(records))
        rng = random.Random(args.seed + 2)
        write_queries(queries, [hit_name(rng.randrange(records)) for _ in range(args.queries)])
        log(f"transfer test: a TS on {records:,} records, --allow-transfer {TRANSFER_CLIENTS}")
        server = start_ts(self.fleet, f"TS, {records:,} records, transfers allowed", zone, hit_name(records - 1),
                          load_timeout=args.load_timeout, extra=("--allow-transfer", TRANSFER_CLIENTS))
        port = server.port
        alone = res.transfer_alone = transfer_alone(port, ORIGIN)
        log(f"  AXFR alone: {alone.records:,} records read by dnspython in {alone.seconds:.2f} s")
        octets = res.transfer_octets = axfr_octets(port, ORIGIN, alone.records)
        rate = paced_rate(octets, args.duration)

        def perf() -> PerfRun:
            return self.perf(server, queries, 100, args.duration)

        for r in range(args.rounds):
            log(f"round {r + 1}/{args.rounds} (before, then during an AXFR, -q 100, {args.duration:g} s each; "
                f"read at {rate / 1000:,.0f} kB/s, then by dnspython)")
            for how, rounds, reader in (("paced", res.transfers, PacedReader(port, ORIGIN, alone.records, rate)),
                                        ("dnspython", res.parsed_transfers, TransferReader(port, ORIGIN))):
                done = before_and_during(perf, reader)
                rounds.append(done)
                log(f"  AXFR read ({how}) in {done.seconds:.2f} s; during / before {done.ratio:.2f}"
                    + ("" if done.lasted else " (ended before the run did)"))
        res.secondary = Timed(alone.records, secondary_seconds(self.fleet, self.tools.nsd,
                                                               self.workdir / "nsd-secondary", port))
        log(f"  NSD as a secondary: answering the zone's SOA {res.secondary.seconds:.2f} s after its start")
        self.fleet.stop(server.proc)
        # The TS's lines, in the order of the transfers: alone, the octets' count, the rounds', NSD's.
        busy = iter(ts_transfer_seconds(server.proc.logfile))
        alone.ts_seconds = next(busy, None)
        next(busy, None)
        for paced, parsed in zip(res.transfers, res.parsed_transfers):
            paced.ts_seconds, parsed.ts_seconds = next(busy, None), next(busy, None)
        res.secondary.ts_seconds = next(busy, None)
