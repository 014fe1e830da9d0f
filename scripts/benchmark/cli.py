"""The command line: flags, their checks, and main(), which runs the benchmark and prints the report."""
from __future__ import annotations

import argparse
import datetime
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

from .common import BenchError, Interrupted, log
from .machine import find_tools, machine_facts
from .report import render, write_report
from .runner import Bench


PROG = os.environ.get("BENCH_PROG", "python scripts/benchmark")  # scripts/bench sets BENCH_PROG=scripts/bench


def worker_counts(text: str) -> list[int]:
    """``--workers``: "1,2,4" to [1, 2, 4]; "" to [] (skip that phase); each count at least 1."""
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"a comma-separated list of numbers, not {text!r}") from None
    if any(c < 1 for c in counts):
        raise argparse.ArgumentTypeError("worker counts must be at least 1")
    return counts


def choice_list(choices: Sequence[str]) -> Callable[[str], list[str]]:
    """A flag's type: "a,b" to ["a", "b"], at least one, each one of ``choices``."""
    def parse(text: str) -> list[str]:
        chosen = [part.strip() for part in text.split(",") if part.strip()]
        if not chosen or any(c not in choices for c in chosen):
            raise argparse.ArgumentTypeError(f"a comma-separated list of: {', '.join(choices)}")
        return chosen
    return parse


# ``--frontends-over``: the backend pairs the LS and dnsdist are put in front of.
frontend_kinds = choice_list(("nsd", "ts"))
PHASES = ("split", "sizes", "loads", "transfer", "client-memory")
phase_names = choice_list(PHASES)       # ``--phases``


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The flags (``sys.argv[1:]`` when ``argv`` is None); a bad value stops with the usage and exit status 2."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Benchmark our TS and LS against NSD and dnsdist on loopback, for split DNS.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--names", metavar="N", type=int, default=10000, help="A records in the split zone (half on each TS)")
    parser.add_argument("--queries", metavar="N", type=int, default=100000, help="lines in each dnsperf query file")
    parser.add_argument("--duration", metavar="SECONDS", type=float, default=10.0, help="seconds per dnsperf run under load")
    parser.add_argument("--low-duration", metavar="SECONDS", type=float, default=5.0, help="seconds per low-load run (one query in flight)")
    parser.add_argument("--group-duration", metavar="SECONDS", type=float, default=5.0,
                        help="seconds of the one dnsperf run of the LS over a replica group, for each "
                             "policy; 0 skips them")
    parser.add_argument("--rounds", metavar="N", type=int, default=2, help="rounds of alternation over all targets")
    parser.add_argument("--big", metavar="N", type=int, default=1000000, help="records in the big zone; 0 skips the size test")
    parser.add_argument("--signed-names", metavar="N", type=int, default=7000,
                        help="names of the load test's signed zone (each with A, RRSIG and NSEC3); 0 skips it")
    parser.add_argument("--generate", metavar="N", type=int, default=50000,
                        help="records of the load test's '$GENERATE 1-N' zone; 0 skips it")
    parser.add_argument("--phases", type=phase_names, default=",".join(PHASES), metavar="PHASES",
                        help="what to run, comma-separated: split (the split-DNS throughput, latency, replica "
                             "group and --workers runs), sizes (queries/s on a small and a --big zone), loads (load "
                             "time and memory: signed, $GENERATE, and plain and mixed-type zones of --big records), "
                             "transfer (queries/s of a TS before and during an AXFR of --transfer-records records, read "
                             "paced over the run and by dnspython, and NSD's time to transfer it as a secondary), "
                             "client-memory (the client's peak memory and names/s on --client-names names through "
                             "an LS over a table TS)")
    parser.add_argument("--transfer-records", metavar="N", type=int, default=100000,
                        help="records of the transfer test's zone; 0 skips it")
    parser.add_argument("--client-names", metavar="N", type=int, default=1_000_000,
                        help="names of the client-memory phase's hostfile; 0 skips it")
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
    if (args.signed_names < 0 or args.generate < 0 or args.group_duration < 0 or args.transfer_records < 0
            or args.client_names < 0):
        parser.error("need --signed-names >= 0, --generate >= 0, --group-duration >= 0, --transfer-records >= 0 "
                     "and --client-names >= 0")
    return args


def raise_interrupted(signum: int, _frame: object) -> None:
    """SIGTERM and SIGHUP unwind like Ctrl-C, through the ``finally`` that stops every server."""
    raise Interrupted(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the report on stdout (progress on stderr). Exit status 0, 1 on error, 130 interrupted."""
    args = parse_args(argv)
    command = " ".join([PROG,
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

