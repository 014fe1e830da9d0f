"""The command line: flags, their checks, and main(), which runs the benchmark and prints the report."""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from resolver.net.listening import ListenError
from resolver.net.workers import reserve

ROOT = Path(__file__).resolve().parents[2]
WORKER_CLIENTS = 8     # client sockets (dnsperf -c) for the --workers runs
HOST = "127.0.0.1"
ORIGIN = "bench."
LISTENING = re.compile(r"listening on (\S+):(\d+)")
TOOL_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
SMALL_ZONE = 1000


class BenchError(Exception):
    """A step failed; the message is meant to be read as it is, in one line or a few."""


class Interrupted(Exception):
    """SIGTERM or SIGHUP arrived: unwind through the ``finally`` that stops the servers."""


def log(message: str) -> None:
    """Progress goes to stderr so that stdout holds only the report."""
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- names and files


def address_of(index: int) -> str:
    """The address of name number ``index``: derived, so every answer can be checked by arithmetic."""
    return f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"


def hit_name(index: int) -> str:
    return f"h{index:07d}.bench"


def miss_name(index: int) -> str:
    return f"m{index:07d}.bench"


def expected_address(name: str) -> str | None:
    """The address a hit name must resolve to; None for a name that exists nowhere."""
    label = name.split(".", 1)[0]
    if label.startswith("h") and label[1:].isdigit():
        return address_of(int(label[1:]))
    return None


ZONE_HEADER = (
    f"$ORIGIN {ORIGIN}\n$TTL 300\n"
    "@ IN SOA ns1.bench. hostmaster.bench. 1 3600 900 604800 60\n"
    "@ IN NS ns1\n"
    "ns1 IN A 127.0.0.1\n"
)


def write_zone(path: Path, indices: Iterable[int]) -> int:
    """A master file for ``bench.`` with one A record per index; written in chunks to stay fast at 1M."""
    count = 0
    with path.open("w") as out:
        out.write(ZONE_HEADER)
        chunk: list[str] = []
        for index in indices:
            chunk.append(f"h{index:07d} IN A {address_of(index)}\n")
            if len(chunk) >= 50000:
                out.write("".join(chunk))
                count += len(chunk)
                chunk.clear()
        out.write("".join(chunk))
        count += len(chunk)
    return count


def write_queries(path: Path, names: Sequence[str]) -> None:
    """dnsperf's input format: ``name type`` a line."""
    path.write_text("".join(f"{name} A\n" for name in names))


def mixed_queries(ts1: Sequence[str], ts2: Sequence[str], misses: Sequence[str], count: int,
                  rng: random.Random) -> list[str]:
    """The issue's mix: 45% names on TS1, 45% on TS2, 10% missing, shuffled with a fixed seed."""
    n1 = n2 = round(count * 0.45)
    queries = ([rng.choice(ts1) for _ in range(n1)] + [rng.choice(ts2) for _ in range(n2)]
               + [rng.choice(misses) for _ in range(count - n1 - n2)])
    rng.shuffle(queries)
    return queries


@dataclass
class SplitData:
    """The split-DNS zone files and query files, and which names TS1 holds."""
    ts1_zone: Path
    ts2_zone: Path
    ts1_names: frozenset[str]
    mix_file: Path
    miss_file: Path
    sample: list[str]
    sample_after: list[str]
    miss_sample: list[str]
    seconds: float


def make_split(workdir: Path, names: int, queries: int, sample: int, seed: int) -> SplitData:
    """TS1 gets the even-numbered names and TS2 the odd ones; misses are names neither holds."""
    started = time.monotonic()
    rng = random.Random(seed)
    even, odd = range(0, names, 2), range(1, names, 2)
    ts1_zone, ts2_zone = workdir / "ts1.bench.zone", workdir / "ts2.bench.zone"
    write_zone(ts1_zone, even)
    write_zone(ts2_zone, odd)
    ts1 = [hit_name(i) for i in even]
    ts2 = [hit_name(i) for i in odd]
    misses = [miss_name(i) for i in range(max(1, names // 10))]
    mix = mixed_queries(ts1, ts2, misses, queries, rng)
    mix_file, miss_file = workdir / "mix.queries", workdir / "miss.queries"
    write_queries(mix_file, mix)
    miss_queries = [rng.choice(misses) for _ in range(queries)]
    write_queries(miss_file, miss_queries)
    return SplitData(ts1_zone, ts2_zone, frozenset(ts1), mix_file, miss_file,
                     mix[:sample], mix[-sample:] if sample else [], miss_queries[:max(1, sample // 10)],
                     time.monotonic() - started)


# --------------------------------------------------------------------------- processes


class Proc:
    """A process in its own process group; its output goes to a log file and is watched for a pattern.

    Its own group, so that stopping it also stops any workers it forks, and so
    that Ctrl-C in the terminal reaches only this script, which then stops
    everything in order.
    """

    def __init__(self, name: str, argv: list[str], logfile: Path, watch: re.Pattern[str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.logfile = logfile
        self.watch = watch
        self.match: re.Match[str] | None = None
        self.match_time: float | None = None
        self.matched = threading.Event()
        self.lines: deque[str] = deque(maxlen=500)
        self.started = time.monotonic()
        env = dict(os.environ, PATH=TOOL_PATH)
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True)
        self._reader = threading.Thread(target=self._read, name=f"read-{name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        with self.logfile.open("w") as out:
            for raw in self.popen.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                out.write(line + "\n")
                out.flush()
                self.lines.append(line)
                if self.watch is not None and not self.matched.is_set():
                    found = self.watch.search(line)
                    if found:
                        self.match, self.match_time = found, time.monotonic()
                        self.matched.set()
        self.matched.set()  # the output ended: wake any waiter, which then sees no match

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 8) -> str:
        return "\n".join(list(self.lines)[-lines:])

    def wait_line(self, timeout: float) -> re.Match[str]:
        """The watched line, or an error naming what the process said instead."""
        if not self.matched.wait(timeout) or self.match is None:
            state = "still running" if self.alive() else f"exited with {self.popen.poll()}"
            raise BenchError(f"{self.name} did not print the expected line within {timeout:g} s ({state}):\n"
                             f"  {shlex.join(self.argv)}\n{self.tail()}")
        return self.match

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM to the whole group, then SIGKILL if it has not gone within ``timeout``."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.popen.poll() is not None:
                break
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                continue
        try:  # members of the group that outlived its leader
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.popen.wait()
        self._reader.join(2.0)


class Fleet:
    """Every process this run started, so that one ``finally`` can stop them all."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: list[Proc] = []
        self.counter = 0

    def start(self, name: str, argv: list[str], watch: re.Pattern[str] | None = None) -> Proc:
        self.counter += 1
        slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")
        proc = Proc(name, argv, self.logdir / f"{self.counter:02d}-{slug}.log", watch)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        while self.procs:
            self.stop(self.procs[-1])


def free_port() -> int:
    """A port free for UDP and TCP right now, for servers that cannot pick their own (NSD, dnsdist)."""
    try:
        return reserve([(HOST, 0)])[0][1]
    except ListenError as exc:
        raise BenchError(str(exc)) from None


# --------------------------------------------------------------------------- DNS


def ask(port: int, name: str, rdtype: str = "A", timeout: float = 1.0) -> dns.message.Message | None:
    """One UDP query; None when nothing (or garbage) came back in time."""
    query = dns.message.make_query(name, dns.rdatatype.from_text(rdtype))
    try:
        return dns.query.udp(query, HOST, port=port, timeout=timeout)
    except (dns.exception.DNSException, OSError):
        return None


def a_addresses(reply: dns.message.Message, name: str) -> set[str]:
    return {rdata.address for rrset in reply.answer
            if rrset.rdtype == dns.rdatatype.A and rrset.name.to_text().rstrip(".").lower() == name.lower()
            for rdata in rrset}


def positive(reply: dns.message.Message | None, name: str, rdtype: str) -> bool:
    return (reply is not None and reply.rcode() == dns.rcode.NOERROR
            and any(rrset.rdtype == dns.rdatatype.from_text(rdtype) for rrset in reply.answer))


def wait_answers(port: int, probes: list[tuple[str, str]], procs: Sequence[Proc], what: str,
                 timeout: float = 20.0) -> float:
    """Poll with real queries until every (name, type) probe has had a positive answer once.

    This, not a sleep, is how readiness is decided: a server is ready when it
    answers. For dnsdist (round robin) one probe per backend shows that both
    backends are up. Bounded by ``timeout``; a dead process ends it at once.
    """
    started = time.monotonic()
    waiting = list(probes)
    while waiting:
        for proc in procs:
            if not proc.alive():
                raise BenchError(f"{proc.name} exited with {proc.popen.poll()} before answering:\n{proc.tail()}")
        if time.monotonic() - started > timeout:
            raise BenchError(f"{what} did not answer {waiting} within {timeout:g} s:\n"
                             + "\n".join(p.tail() for p in procs))
        name, rdtype = waiting[0]
        if positive(ask(port, name, rdtype, timeout=0.2), name, rdtype):
            waiting.pop(0)
    return time.monotonic() - started


@dataclass
class Check:
    """How many sampled answers were right, and a few of the wrong ones, word for word."""
    correct: int = 0
    total: int = 0
    wrong: list[str] = field(default_factory=list)

    @property
    def percent(self) -> float:
        return 100.0 * self.correct / self.total if self.total else 0.0

    def cell(self) -> str:
        return f"{self.correct}/{self.total} ({self.percent:.1f}%)"

    def add(self, other: Check) -> None:
        self.correct += other.correct
        self.total += other.total
        self.wrong = (self.wrong + other.wrong)[:3]


def check_sample(port: int, names: Sequence[str], holds: Callable[[str], bool]) -> Check:
    """Each name in turn: a name the target holds must get NOERROR with exactly its address, others NXDOMAIN.

    One query in flight at a time, with two tries, so that a wrong answer is a
    wrong answer and not a dropped datagram under load.
    """
    check = Check()
    for name in names:
        reply = ask(port, name) or ask(port, name, timeout=2.0)
        address = expected_address(name)
        want = address if address is not None and holds(name) else None
        if reply is None:
            verdict = "no answer"
        elif want is None:
            verdict = "" if reply.rcode() == dns.rcode.NXDOMAIN else \
                f"{dns.rcode.to_text(reply.rcode())} {sorted(a_addresses(reply, name))}, want NXDOMAIN"
        else:
            got = a_addresses(reply, name)
            verdict = "" if reply.rcode() == dns.rcode.NOERROR and got == {want} else \
                f"{dns.rcode.to_text(reply.rcode())} {sorted(got)}, want NOERROR [{want}]"
        check.total += 1
        if verdict:
            if len(check.wrong) < 3:
                check.wrong.append(f"{name}: {verdict}")
        else:
            check.correct += 1
    return check


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    """A started DNS server: what to call it in the tables, where it listens, its process."""
    label: str
    port: int
    proc: Proc
    kind: str  # "ts", "nsd", "ls", "dnsdist"


def resolver_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "resolver", *args]


def start_ts(fleet: Fleet, label: str, zone: Path, probe: str, workers: int | None = None,
             load_timeout: float = 60.0) -> Server:
    """Our TS on a free port (``--listen 127.0.0.1:0``); ready once it printed its port and answered."""
    argv = resolver_argv("ts", "--listen", f"{HOST}:0", "--zone", str(zone))
    if workers is not None:
        argv += ["--workers", str(workers)]
    proc = fleet.start(label, argv, watch=LISTENING)
    port = int(proc.wait_line(load_timeout).group(2))
    wait_answers(port, [(probe, "A")], [proc], label, timeout=load_timeout)
    return Server(label, port, proc, "ts")


def start_ls(fleet: Fleet, label: str, backends: Sequence[Server], probes: list[tuple[str, str]],
             workers: int | None = None) -> Server:
    argv = resolver_argv("ls", "--listen", f"{HOST}:0")
    for backend in backends:
        argv += ["--backend", f"{HOST}:{backend.port}"]
    if workers is not None:
        argv += ["--workers", str(workers)]
    proc = fleet.start(label, argv, watch=LISTENING)
    port = int(proc.wait_line(20.0).group(2))
    wait_answers(port, probes, [proc], label)
    return Server(label, port, proc, "ls")


def nsd_conf(workdir: Path, port: int, zone: Path) -> str:
    """A private NSD: no privilege drop, no database, no remote control, state in ``workdir``.

    ``rrl-ratelimit: 0``: Debian's NSD limits responses per client network to
    200/s by default, which would throttle a benchmark from one address.
    """
    return "\n".join([
        "server:",
        f"    ip-address: {HOST}",
        f"    port: {port}",
        "    do-ip4: yes",
        "    do-ip6: no",
        '    username: ""',
        '    chroot: ""',
        '    database: ""',
        f'    zonesdir: "{workdir}"',
        f'    pidfile: "{workdir / "nsd.pid"}"',
        f'    xfrdfile: "{workdir / "xfrd.state"}"',
        f'    zonelistfile: "{workdir / "zone.list"}"',
        f'    xfrdir: "{workdir}"',
        f'    logfile: "{workdir / "nsd.log"}"',
        "    server-count: 1",
        "    verbosity: 1",
        "    rrl-ratelimit: 0",
        "    rrl-whitelist-ratelimit: 0",
        "remote-control:",
        "    control-enable: no",
        "zone:",
        f'    name: "{ORIGIN}"',
        f'    zonefile: "{zone}"',
        "",
    ])


def start_nsd(fleet: Fleet, tools: Tools, label: str, workdir: Path, zone: Path, probe: str) -> Server:
    """NSD in the foreground; the port is picked here, and picked again if NSD lost the race for it."""
    workdir.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        port = free_port()
        conf = workdir / "nsd.conf"
        conf.write_text(nsd_conf(workdir, port, zone))
        proc = fleet.start(label, [tools.nsd, "-d", "-c", str(conf)])
        try:
            wait_answers(port, [(probe, "A")], [proc], label)
            return Server(label, port, proc, "nsd")
        except BenchError:
            nsd_log = (workdir / "nsd.log").read_text(errors="replace") if (workdir / "nsd.log").exists() else ""
            fleet.stop(proc)
            if "already in use" not in nsd_log + proc.tail(50):
                raise BenchError(f"{label} did not start:\n{proc.tail()}\n{nsd_log[-2000:]}")
    raise BenchError(f"{label}: no free port after 3 tries")


def dnsdist_conf(port: int, backends: Sequence[Server]) -> str:
    """dnsdist with the same backends as the LS, round robin, no console, no security polling.

    The health check asks the zone's SOA and must get NOERROR (mustResolve),
    rather than dnsdist's default ``a.root-servers.net.``, which these
    authoritative backends REFUSE: dnsdist would accept REFUSED as healthy,
    but then the check would say nothing about the zone being served.
    Round robin so that each backend gets half the queries, as dnsdist would
    spread load over equal backends.
    """
    lines = [
        f'setLocal("{HOST}:{port}")',
        'setSecurityPollSuffix("")',
        "setServerPolicy(roundrobin)",
    ]
    for i, backend in enumerate(backends, 1):
        lines.append(f'newServer({{address="{HOST}:{backend.port}", name="backend{i}", '
                     f'checkName="{ORIGIN}", checkType="SOA", mustResolve=true}})')
    return "\n".join(lines) + "\n"


def start_dnsdist(fleet: Fleet, tools: Tools, label: str, workdir: Path, backends: Sequence[Server],
                  probes: list[tuple[str, str]]) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        port = free_port()
        conf = workdir / "dnsdist.conf"
        conf.write_text(dnsdist_conf(port, backends))
        proc = fleet.start(label, [tools.dnsdist, "--supervised", "--disable-syslog", "-C", str(conf)])
        try:
            wait_answers(port, probes, [proc], label)
            return Server(label, port, proc, "dnsdist")
        except BenchError:
            fleet.stop(proc)
            if "Address already in use" not in proc.tail(50):
                raise
    raise BenchError(f"{label}: no free port after 3 tries")


def dnsdist_down_events(server: Server) -> list[str]:
    """Lines where dnsdist marked a backend down (its health check failed): it then stops using it."""
    return [line for line in server.proc.lines if "as 'down'" in line]


# --------------------------------------------------------------------------- dnsperf


@dataclass
class PerfRun:
    """One dnsperf run, as dnsperf reported it, plus per-query latencies from its -v lines."""
    sent: int = 0
    completed: int = 0
    lost: int = 0
    qps: float = 0.0
    avg_latency: float = 0.0
    rcodes: Counter[str] = field(default_factory=Counter)
    latency_us: Counter[int] = field(default_factory=Counter)
    foreign_cpus: float = 0.0


STAT_PATTERNS = {
    "sent": re.compile(r"Queries sent:\s+(\d+)"),
    "completed": re.compile(r"Queries completed:\s+(\d+)"),
    "lost": re.compile(r"Queries lost:\s+(\d+)"),
    "qps": re.compile(r"Queries per second:\s+([\d.]+)"),
    "avg_latency": re.compile(r"Average Latency \(s\):\s+([\d.]+)"),
}


def parse_dnsperf(path: Path) -> PerfRun:
    """dnsperf's closing statistics, and with -v one ``> RCODE name type seconds`` line per answer.

    dnsperf 2.10 has no latency histogram or percentile option; its -v lines
    carry each answer's latency in microseconds, which gives an exact p99.
    """
    run = PerfRun()
    latencies: Counter[int] = Counter()
    tail: list[str] = []
    with path.open("r", errors="replace") as handle:
        for line in handle:
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
            raise BenchError(f"dnsperf output has no '{key}' figure ({path}):\n{text[-1500:]}")
        setattr(run, key, float(found.group(1)) if key in ("qps", "avg_latency") else int(found.group(1)))
    codes = re.search(r"Response codes:\s+(.*)", text)
    if codes:
        for code, count in re.findall(r"([A-Z]+) (\d+)", codes.group(1)):
            run.rcodes[code] += int(count)
    run.latency_us = latencies
    return run


def run_dnsperf(fleet: Fleet, tools: Tools, label: str, port: int, queries: Path, duration: float,
                outstanding: int, verbose: bool, out: Path, clients: int = 1) -> PerfRun:
    """``dnsperf -c CLIENTS -T 1 -q N -l DURATION`` against one target; its output goes to a file, then is parsed."""
    argv = [tools.dnsperf, "-s", HOST, "-p", str(port), "-d", str(queries), "-c", str(clients), "-T", "1",
            "-q", str(outstanding), "-l", f"{duration:g}"]
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
    return parse_dnsperf(out)


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
        return sum(r.qps for r in self.runs) / len(self.runs) if self.runs else 0.0

    @property
    def lost(self) -> int:
        return sum(r.lost for r in self.runs)

    @property
    def sent(self) -> int:
        return sum(r.sent for r in self.runs)

    @property
    def avg_ms(self) -> float:
        done = sum(r.completed for r in self.runs)
        return 1000 * sum(r.avg_latency * r.completed for r in self.runs) / done if done else 0.0

    def percentile_ms(self, fraction: float) -> float | None:
        merged: Counter[int] = Counter()
        for run in self.runs:
            merged.update(run.latency_us)
        return percentile(merged, fraction)

    @property
    def foreign_cpus(self) -> float:
        """The most CPU that other processes took during any one of these runs."""
        return max((r.foreign_cpus for r in self.runs), default=0.0)

    def rcode_percent(self, code: str) -> float:
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


# --------------------------------------------------------------------------- tools and machine


@dataclass
class Tools:
    dnsperf: str
    nsd: str
    dnsdist: str
    versions: dict[str, str]


def find_tools() -> Tools:
    """The three external programs, or one error naming every one that is missing."""
    found = {name: shutil.which(name, path=TOOL_PATH) for name in ("dnsperf", "nsd", "dnsdist")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise BenchError(f"missing: {' '.join(missing)} (Debian packages: {' '.join(missing)}; "
                         "scripts/bench installs them when run as root)")
    paths = {name: path or "" for name, path in found.items()}
    versions = {
        "dnsperf": first_match(run_text([paths["dnsperf"], "-h"]), r"Version (\S+)"),
        "nsd": first_match(run_text([paths["nsd"], "-v"]), r"NSD version (\S+)"),
        "dnsdist": first_match(run_text([paths["dnsdist"], "--version"]), r"dnsdist (\S+)"),
    }
    return Tools(paths["dnsperf"], paths["nsd"], paths["dnsdist"], versions)


def run_text(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return done.stdout + done.stderr


def first_match(text: str, pattern: str) -> str:
    found = re.search(pattern, text)
    return found.group(1) if found else "?"


def supports_workers(command: str) -> bool:
    """Whether ``resolver ts|ls`` has ``--workers`` yet: another change is adding it."""
    return "--workers" in run_text(resolver_argv(command, "--help"))


def machine_facts() -> dict[str, str]:
    """What a reader needs to compare two entries of BENCHMARKS.md."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = run_text(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]).strip() or "?"
    dirty = run_text(["git", "-C", str(ROOT), "status", "--porcelain", "--", "resolver"]).strip()
    return {
        "kernel": f"{platform.system()} {platform.release()}",
        "cpus": str(len(os.sched_getaffinity(0))),
        "cpu model": model,
        "python": platform.python_version(),
        "commit": commit + (" (with uncommitted changes in resolver/)" if dirty else ""),
    }


def rss_mib(pid: int) -> tuple[float, float, int]:
    """Resident and peak resident memory (MiB) of a process group led by ``pid``, and its process count.

    Summed over the group so that forked workers count too (shared pages then
    count once per process, so with workers this overstates).
    """
    rss = peak = 0.0
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            pgid = int(stat.rsplit(")", 1)[1].split()[2])
            if pgid != pid:
                continue
            status = (entry / "status").read_text()
        except (OSError, ValueError, IndexError):
            continue
        count += 1
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak += int(line.split()[1]) / 1024
    return rss, peak, count


@dataclass
class CpuSnapshot:
    """CPU seconds used so far: by the whole machine, by our servers, and by this script and its children."""
    wall: float
    machine: float
    servers: float
    ours: float


def cpu_snapshot(groups: Iterable[int]) -> CpuSnapshot:
    """Read the machine's busy time (/proc/stat) and our processes' CPU time.

    Why: the machine may be shared (another session's test suite, say). What
    the machine spent beyond our servers, dnsperf and this script during a run
    is load from elsewhere, and the report shows it, so that a disturbed run
    can be told from a slow server.
    """
    tick = os.sysconf("SC_CLK_TCK")
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)  # minus idle and iowait
    wanted = set(groups)
    servers = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(stat[2]) in wanted:
            servers += int(stat[11]) + int(stat[12])
    me = os.times()
    ours = me.user + me.system + me.children_user + me.children_system
    return CpuSnapshot(time.monotonic(), busy / tick, servers / tick, ours)


def foreign_cpus(before: CpuSnapshot, after: CpuSnapshot) -> float:
    """CPUs' worth of work done by processes other than ours between two snapshots."""
    wall = after.wall - before.wall
    if wall <= 0:
        return 0.0
    other = (after.machine - before.machine) - (after.servers - before.servers) - (after.ours - before.ours)
    return max(0.0, other / wall)


# --------------------------------------------------------------------------- the run


def sized_label(records: int) -> str:
    return f"TS, {records:,} records"


@dataclass
class SizeResult:
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
class Results:
    """Everything measured, for the report."""
    split: SplitData | None = None
    checks: dict[str, Check] = field(default_factory=dict)
    load: dict[str, Series] = field(default_factory=dict)
    low: dict[str, Series] = field(default_factory=dict)
    low_miss: dict[str, Series] = field(default_factory=dict)
    workers: dict[str, dict[int, Series]] = field(default_factory=dict)
    workers_note: str = ""
    sizes: list[SizeResult] = field(default_factory=list)
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

    def perf(self, target: Server, queries: Path, outstanding: int, duration: float, clients: int = 1) -> PerfRun:
        """One measured run: dnsperf with ``outstanding`` queries in flight, or the one-in-flight client for 1."""
        before = cpu_snapshot(p.pid for p in self.fleet.procs)
        if outstanding == 1:
            run = one_in_flight(target.port, queries, duration)
        else:
            self.perf_count += 1
            out = self.workdir / f"dnsperf-{self.perf_count:03d}.out"
            run = run_dnsperf(self.fleet, self.tools, target.label, target.port, queries, duration,
                              outstanding, not self.args.no_p99, out, clients)
            out.unlink()  # -v output is tens of MB per run; the figures are in ``run``
        run.foreign_cpus = foreign_cpus(before, cpu_snapshot(p.pid for p in self.fleet.procs))
        p99 = percentile(run.latency_us, 0.99)
        log(f"  {target.label:<30} {run.qps:>10,.0f} q/s  lost {run.lost:<5} avg {run.avg_latency * 1000:6.3f} ms"
            + (f"  p99 {p99:6.3f} ms" if p99 is not None else "")
            + (f"  (other load {run.foreign_cpus:.2f} CPUs)" if run.foreign_cpus >= 0.1 else ""))
        return run

    def alternate(self, targets: Sequence[Server], queries: Path, outstanding: int, duration: float,
                  into: dict[str, Series], rounds: int, clients: int = 1) -> None:
        """Every target once per round, the order rotated each round so no target always goes first."""
        for label in (t.label for t in targets):
            into.setdefault(label, Series(label))
        how = "one query in flight" if outstanding == 1 else f"dnsperf -q {outstanding}"
        for r in range(rounds):
            log(f"round {r + 1}/{rounds} ({queries.name}, {how}, {duration:g} s each)")
            shift = r % len(targets)
            for target in list(targets[shift:]) + list(targets[:shift]):
                into[target.label].runs.append(self.perf(target, queries, outstanding, duration, clients))

    # -- phases

    def run(self) -> Results:
        """All phases in order; the split-DNS servers are stopped before the size test loads its big zone."""
        args, res = self.args, self.results
        log(f"generating split zones: {args.names:,} names, {args.queries:,} queries per file")
        split = res.split = make_split(self.workdir, args.names, args.queries, args.sample, args.seed)
        log(f"  done in {split.seconds:.1f} s")
        (ts1, ts2, nsd1, nsd2), frontends = self.start_split_servers(split)
        self.check_answers([ts1, nsd1], lambda n: n in split.ts1_names, split.sample)
        self.check_answers([ts2, nsd2], lambda n: n not in split.ts1_names, split.sample)
        self.check_answers(frontends, lambda n: True, split.sample)
        self.measure_split([ts1, nsd1], frontends, split)
        self.measure_workers(split, (nsd1, nsd2), self.probes())
        self.fleet.stop_all()
        if args.big:
            self.measure_sizes()
        return res

    @staticmethod
    def probes() -> list[tuple[str, str]]:
        """One name on each side of the split: a frontend that answers both reaches both backends."""
        return [(hit_name(0), "A"), (hit_name(1), "A")]

    def start_split_servers(self, split: SplitData) -> tuple[tuple[Server, Server, Server, Server], list[Server]]:
        """TS1, TS2, NSD1, NSD2 on the split zones, then the LS and dnsdist over each pair asked for."""
        ts1 = start_ts(self.fleet, "TS1 (ours)", split.ts1_zone, hit_name(0))
        ts2 = start_ts(self.fleet, "TS2 (ours)", split.ts2_zone, hit_name(1))
        nsd1 = start_nsd(self.fleet, self.tools, "NSD1", self.workdir / "nsd1", split.ts1_zone, hit_name(0))
        nsd2 = start_nsd(self.fleet, self.tools, "NSD2", self.workdir / "nsd2", split.ts2_zone, hit_name(1))
        frontends: list[Server] = []
        pairs = {"nsd": (nsd1, nsd2), "ts": (ts1, ts2)}
        for kind in self.args.frontends_over:
            pair = pairs[kind]
            over = "NSD1+NSD2" if kind == "nsd" else "TS1+TS2"
            frontends.append(start_ls(self.fleet, f"LS → {over}", pair, self.probes()))
            frontends.append(start_dnsdist(self.fleet, self.tools, f"dnsdist → {over}",
                                           self.workdir / f"dnsdist-{kind}", pair, self.probes()))
        log("started: " + ", ".join(f"{s.label} :{s.port}" for s in [ts1, ts2, nsd1, nsd2, *frontends]))
        return (ts1, ts2, nsd1, nsd2), frontends

    def measure_split(self, backends: list[Server], frontends: list[Server], split: SplitData) -> None:
        """Load runs in alternation, then low-load runs, then the answers checked again after all that load."""
        args, res = self.args, self.results
        targets = [*backends, *frontends]
        self.alternate(targets, split.mix_file, 100, args.duration, res.load, args.rounds)
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
                           self.args.rounds, clients=WORKER_CLIENTS)
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
        label = sized_label(records)
        argv = resolver_argv("ts", "--listen", f"{HOST}:0", "--zone", str(zone))
        proc = self.fleet.start(label, argv, watch=LISTENING)
        port = int(proc.wait_line(self.args.load_timeout).group(2))
        assert proc.match_time is not None
        result.listening_s = proc.match_time - proc.started
        wait_answers(port, [(hit_name(records - 1), "A")], [proc], label, timeout=self.args.load_timeout)
        result.answering_s = time.monotonic() - proc.started
        result.rss_mib, result.peak_mib, result.processes = rss_mib(proc.pid)
        log(f"  listening after {result.listening_s:.1f} s, answering after {result.answering_s:.1f} s, "
            f"RSS {result.rss_mib:.0f} MiB (peak {result.peak_mib:.0f} MiB)")
        return Server(label, port, proc, "ts")


# --------------------------------------------------------------------------- report


def fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "**FAIL**")


def ratio(a: Series | None, b: Series | None) -> float | None:
    return a.qps / b.qps if a and b and b.qps else None


def throughput_table(res: Results) -> list[str]:
    lines = ["| target | queries/s | per round | lost | avg ms | p99 ms | NOERROR | sample right | other load |",
             "|---|---:|---|---:|---:|---:|---:|---|---:|"]
    for label, series in res.load.items():
        check = res.checks.get(label)
        each = " / ".join(f"{r.qps:,.0f}" for r in series.runs)
        lines.append(f"| {label} | {series.qps:,.0f} | {each} | {series.lost} | {series.avg_ms:.3f} | "
                     f"{fmt_ms(series.percentile_ms(0.99))} | {series.rcode_percent('NOERROR'):.1f}% | "
                     f"{check.cell() if check else 'n/a'} | {series.foreign_cpus:.2f} |")
    return lines


def targets_table(res: Results, args: argparse.Namespace) -> list[str]:
    """The issue's targets, each with the measured value and PASS/FAIL."""
    load = res.load
    rows: list[tuple[str, str, str, bool | None]] = []
    for over in ("NSD1+NSD2", "TS1+TS2"):
        ls, dd = load.get(f"LS → {over}"), load.get(f"dnsdist → {over}")
        r = ratio(ls, dd)
        if r is not None:
            rows.append((f"LS / dnsdist queries/s (over {over})", f"{r:.2f}", ">= 0.8", r >= 0.8))
        check = res.checks.get(f"LS → {over}")
        if check:
            rows.append((f"LS answers right (over {over})", f"{check.percent:.1f}%", "100%",
                         check.correct == check.total))
    r = ratio(load.get("TS1 (ours)"), load.get("NSD1"))
    if r is not None:
        rows.append(("TS / NSD queries/s", f"{r:.2f}", ">= 0.5", r >= 0.5))
    ours = [s for label, s in load.items() if not label.startswith(("NSD", "dnsdist"))]
    lost = sum(s.lost for s in ours)
    rows.append(("queries lost by TS and LS (all -q 100 runs)", f"{lost} of {sum(s.sent for s in ours):,}",
                 "0", lost == 0))
    for label, series in res.low_miss.items():
        if label.startswith("LS"):
            p99 = series.percentile_ms(0.99)
            rows.append((f"p99 of a miss at low load, {label}", f"{fmt_ms(p99)} ms", "< 2 ms",
                         None if p99 is None else p99 < 2.0))
    big = next((s for s in res.sizes if s.records == args.big), None)
    small = next((s for s in res.sizes if s.records == SMALL_ZONE), None)
    if big is not None:
        name = f"{args.big:,}-record zone"
        if big.error:
            rows.append((f"{name} loads", big.error, "<= 60 s", False))
        else:
            rows.append((f"{name}: load time (start to first answer)", f"{big.answering_s:.1f} s", "<= 60 s",
                         (big.answering_s or 0) <= 60))
            rows.append((f"{name}: resident memory", f"{(big.rss_mib or 0) / 1024:.2f} GiB "
                         f"(peak {(big.peak_mib or 0) / 1024:.2f})", "<= 1.5 GiB",
                         max(big.rss_mib or 0, big.peak_mib or 0) <= 1536))
            r = ratio(big.series, small.series if small else None)
            if r is not None:
                rows.append((f"{name}: queries/s vs {SMALL_ZONE:,}-record zone", f"{r:.2f}", ">= 0.9", r >= 0.9))
    lines = ["| target | measured | goal | |", "|---|---|---|---|"]
    lines += [f"| {name} | {value} | {goal} | {verdict(ok)} |" for name, value, goal, ok in rows]
    return lines


def low_load_table(res: Results) -> list[str]:
    """Latency at one query in flight, and what each frontend adds over a direct query to its backend."""
    direct = {"NSD1+NSD2": res.low.get("NSD1"), "TS1+TS2": res.low.get("TS1 (ours)")}
    lines = ["| target | queries | queries/s | avg ms | p99 ms | added avg ms | added p99 ms | answers | other load |",
             "|---|---|---:|---:|---:|---:|---:|---|---:|"]
    for kind, table in (("mix", res.low), ("misses only", res.low_miss)):
        for label, series in table.items():
            base = next((d for over, d in direct.items() if label.endswith(over)), None)
            p99, base_p99 = series.percentile_ms(0.99), base.percentile_ms(0.99) if base else None
            added = f"{series.avg_ms - base.avg_ms:+.3f}" if base else ""
            added99 = f"{p99 - base_p99:+.3f}" if base and p99 is not None and base_p99 is not None else ""
            codes = ", ".join(f"{c} {series.rcode_percent(c):.0f}%" for c in ("NOERROR", "NXDOMAIN", "SERVFAIL")
                              if series.rcode_percent(c) > 0)
            lines.append(f"| {label} | {kind} | {series.qps:,.0f} | {series.avg_ms:.3f} | {fmt_ms(p99)} | "
                         f"{added} | {added99} | {codes} | {series.foreign_cpus:.2f} |")
    return lines


def size_table(res: Results) -> list[str]:
    lines = ["| zone | generated in | listening after | answering after | RSS MiB (peak) | queries/s | lost | "
             "avg ms | p99 ms | other load |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in res.sizes:
        if s.error:
            lines.append(f"| {s.records:,} | {s.generate_s:.1f} s | {s.error} | | | | | | | |")
            continue
        q = s.series
        lines.append(f"| {s.records:,} | {s.generate_s:.1f} s | {s.listening_s:.2f} s | {s.answering_s:.2f} s | "
                     f"{s.rss_mib:.0f} ({s.peak_mib:.0f})"
                     + (f" over {s.processes} processes" if s.processes > 1 else "") + " | "
                     + (f"{q.qps:,.0f} | {q.lost} | {q.avg_ms:.3f} | {fmt_ms(q.percentile_ms(0.99))} | "
                        f"{q.foreign_cpus:.2f} |" if q else "n/a | | | | |"))
    return lines


def workers_table(res: Results) -> list[str]:
    lines = ["| server | workers | queries/s | per round | vs 1 worker | lost | avg ms | p99 ms | other load |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    for command, by_count in res.workers.items():
        base = by_count.get(1)
        for count, series in by_count.items():
            r = ratio(series, base)
            each = " / ".join(f"{run.qps:,.0f}" for run in series.runs)
            lines.append(f"| {'TS1' if command == 'ts' else 'LS → NSD1+NSD2'} | {count} | {series.qps:,.0f} | "
                         f"{each} | {'' if r is None else f'{r:.2f}x'} | {series.lost} | {series.avg_ms:.3f} | "
                         f"{fmt_ms(series.percentile_ms(0.99))} | {series.foreign_cpus:.2f} |")
    return lines


def render(res: Results, args: argparse.Namespace, tools: Tools, facts: dict[str, str], command: str,
           when: datetime.datetime) -> str:
    """The whole report as markdown: what ran where, then the tables."""
    p99_how = ("p99 from the per-query latencies of `dnsperf -v` (which costs dnsperf a few % of its rate, "
               "the same for every target)" if not args.no_p99 else "no p99 (--no-p99)")
    out = [
        f"## {when:%Y-%m-%d %H:%M} UTC",
        "",
        f"- command: `{command}`",
        f"- machine: {facts['kernel']}, {facts['cpus']} CPUs ({facts['cpu model']}), Python {facts['python']}",
        f"- tools: dnsperf {tools.versions['dnsperf']}, NSD {tools.versions['nsd']}, "
        f"dnsdist {tools.versions['dnsdist']}; resolver at {facts['commit']}",
        f"- zone `bench.`: {args.names:,} A records, TS1/NSD1 hold the even-numbered names, TS2/NSD2 the odd "
        f"ones; queries: 45% TS1 names, 45% TS2 names, 10% missing, shuffled (seed {args.seed})",
        f"- load: `dnsperf -c 1 -T 1 -q 100 -l {args.duration:g}`, all targets in alternation, "
        f"{args.rounds} round(s), {p99_how}; low load: one query in flight for "
        f"{min(args.duration, args.low_duration):g} s per target (a Python UDP client timing each query: "
        "`dnsperf -q 1` idles between queries in this version)",
        "- dnsdist: round robin over the same two backends as the LS, health check `bench. SOA` "
        "(must be NOERROR); TS1 and NSD1 alone are asked the same mix, so about half their answers "
        "are NXDOMAIN by design",
        "",
        "### Throughput",
        "",
        *throughput_table(res),
        "",
        "`NOERROR` is the share of all dnsperf answers that were NOERROR: 90% is right for a frontend "
        "(everything but the 10% misses). `sample right`: "
        f"{args.sample} queries before the load runs and {args.sample} others after them, one at a time "
        "with dnspython; hits must carry the right address, "
        "misses NXDOMAIN (for TS1/NSD1 alone: their own names right, the rest NXDOMAIN). "
        "`other load`: CPUs' worth of work done by processes other than this benchmark's during the "
        "busiest of that target's runs (the machine has "
        f"{facts['cpus']} CPUs; above about 0.1 the figures of that row are disturbed).",
        "",
        "### Targets",
        "",
        *targets_table(res, args),
        "",
        "### Latency at low load (one query in flight)",
        "",
        *low_load_table(res),
        "",
        "`added`: the frontend's figure minus that of one backend of its pair asked directly (same mix); "
        "`misses only`: every backend answers NXDOMAIN.",
        "",
    ]
    if res.sizes:
        out += ["### Zone size (one TS, only existing names asked, `-q 100`)", "", *size_table(res), "",
                "`listening after`: process start to its `listening on` line; `answering after`: to the first "
                "right answer for the zone's last name; RSS is VmRSS after loading, peak is VmHWM.", ""]
    out += ["### Workers", ""]
    out += [f"Workers: `dnsperf -c {WORKER_CLIENTS} -T 1 -q 100` (several client sockets, which SO_REUSEPORT "
            "spreads over the workers).", "", *workers_table(res), ""] if res.workers else []
    if res.workers_note:
        out += [res.workers_note.strip(), ""]
    wrong = {label: c for label, c in res.checks.items() if c.wrong}
    if res.health and not any(res.health.values()):
        res.notes.append("dnsdist's health checks kept every backend up through all runs (no 'down' events).")
    if wrong or res.health or res.notes:
        out += ["### Notes", ""]
        for label, check in wrong.items():
            why = (" (expected for split DNS: dnsdist asks one backend per query, so a name on the other "
                   "backend comes back NXDOMAIN)" if label.startswith("dnsdist") else "")
            out.append(f"- {label}: {check.cell()} right{why}; e.g. " + "; ".join(check.wrong))
        for label, events in res.health.items():
            if events:
                out.append(f"- {label}: health check marked a backend down {len(events)} time(s): {events[0]}")
        out += [f"- {note}" for note in res.notes]
        out.append("")
    return "\n".join(out)


BENCHMARKS_HEADER = """# Benchmarks

Our TS against NSD on the same zone files, and our LS against dnsdist in front
of the same backends, for split DNS (each name on one backend only, NXDOMAIN on
the other), all on loopback with dnsperf. Each entry below was appended by

    scripts/bench --write BENCHMARKS.md

which, as root, installs dnsperf, nsd and dnsdist when they are missing, and
takes about six minutes with its defaults (`scripts/bench --help` for the
flags). Newest entries at the end.

"""


def write_report(path: Path, text: str) -> None:
    """Append a dated section; the file gets a short header the first time."""
    existing = path.read_text() if path.exists() else BENCHMARKS_HEADER
    path.write_text(existing.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n")


# --------------------------------------------------------------------------- command line


def worker_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"a comma-separated list of numbers, not {text!r}") from None
    if any(c < 1 for c in counts):
        raise argparse.ArgumentTypeError("worker counts must be at least 1")
    return counts


def frontend_kinds(text: str) -> list[str]:
    kinds = [part.strip() for part in text.split(",") if part.strip()]
    if not kinds or any(k not in ("nsd", "ts") for k in kinds):
        raise argparse.ArgumentTypeError("a comma-separated list of: nsd, ts")
    return kinds


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=os.environ.get("BENCH_PROG", "scripts/bench.py"),
        description="Benchmark our TS and LS against NSD and dnsdist on loopback, for split DNS.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--names", metavar="N", type=int, default=10000, help="A records in the split zone (half on each TS)")
    parser.add_argument("--queries", metavar="N", type=int, default=100000, help="lines in each dnsperf query file")
    parser.add_argument("--duration", metavar="SECONDS", type=float, default=10.0, help="seconds per dnsperf run under load")
    parser.add_argument("--low-duration", metavar="SECONDS", type=float, default=5.0, help="seconds per low-load run (one query in flight)")
    parser.add_argument("--rounds", metavar="N", type=int, default=2, help="rounds of alternation over all targets")
    parser.add_argument("--big", metavar="N", type=int, default=1000000, help="records in the big zone; 0 skips the size test")
    parser.add_argument("--load-timeout", metavar="SECONDS", type=float, default=300.0, help="seconds a TS may take to load the big zone")
    parser.add_argument("--workers", type=worker_counts, default="1,2", metavar="N,N",
                        help="worker counts to compare for ts and ls, comma-separated (skipped when the "
                             "product has no --workers); '' skips")
    parser.add_argument("--frontends-over", type=frontend_kinds, default="nsd,ts", metavar="KINDS",
                        help="backend pairs the LS and dnsdist are measured over: nsd, ts or both")
    parser.add_argument("--sample", metavar="N", type=int, default=300, help="answers checked with dnspython per target")
    parser.add_argument("--seed", metavar="N", type=int, default=1, help="seed for the query mix")
    parser.add_argument("--no-p99", action="store_true",
                        help="run dnsperf without -v (a few %% faster, but no p99)")
    parser.add_argument("--write", type=Path, metavar="FILE", help="append the report to FILE (e.g. BENCHMARKS.md)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (zones, configs, logs)")
    args = parser.parse_args(argv)
    if args.names < 2 or args.queries < 10 or args.duration <= 0 or args.rounds < 1 or args.big < 0:
        parser.error("need --names >= 2, --queries >= 10, --duration > 0, --rounds >= 1, --big >= 0")
    return args


def raise_interrupted(signum: int, _frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = " ".join([os.environ.get("BENCH_PROG", "scripts/bench.py"),
                        *(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))])
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, raise_interrupted)
    # Ctrl-C must stop the run even when started from a shell that ignores SIGINT for background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        tools = find_tools()
    except BenchError as exc:
        log(f"bench: {exc}")
        return 1
    when = datetime.datetime.now(datetime.timezone.utc)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="dns-bench-"))
    bench = Bench(args, tools, workdir)
    try:
        results = bench.run()
    except BenchError as exc:
        log(f"bench: error: {exc}")
        return 1
    except (KeyboardInterrupt, Interrupted) as exc:
        log(f"bench: interrupted ({str(exc) or 'SIGINT'}); stopping everything")
        return 130
    finally:
        bench.fleet.stop_all()
        if args.keep:
            log(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report = render(results, args, tools, machine_facts(), command, when)
    print(report)
    log(f"bench: finished in {time.monotonic() - started:.0f} s")
    if args.write:
        write_report(args.write, report)
        log(f"bench: appended to {args.write}")
    return 0

