"""The client-memory phase: our client on a long hostfile, its peak memory and its rate.

A TS serves a table of :data:`TABLE_NAMES` names and an LS stands in front of
it, as in the assignment. The client (``resolver client``, its defaults)
resolves ``--client-names`` names through the LS, half of them in the table
(each table name asked over and over) and half found nowhere (NXDOMAIN), in
a shuffled order fixed by the seed. Its peak resident memory is the kernel's
own count for the process (``ru_maxrss`` from :func:`os.wait4`, which
includes every moment of the run), its rate the names over the wall time
from start to exit.
"""
from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .common import HOST, ROOT, log
from .procs import Fleet
from .targets import resolver_argv, start_ls, start_resolver
from .workload import address_of, hit_name, miss_name

TABLE_NAMES = 10_000        # names in the TS's table
GOAL_MB = 500               # the goal: a million names in under 500 MB (10^6 octets) at the peak
SECONDS_PER_NAME = 0.01     # the run is stopped past this per name (100 names/s), a minute at least


@dataclass
class ClientRun:
    """One client run: names asked, lines written, seconds from start to exit, peak RSS in octets,
    its exit status, or the error that stopped it."""
    names: int
    lines: int = 0
    seconds: float = 0.0
    peak_octets: int = 0
    status: int | None = None
    error: str | None = None

    @property
    def rate(self) -> float:
        """Names per second over the whole run."""
        return self.names / self.seconds if self.seconds else 0.0

    @property
    def peak_mb(self) -> float:
        return self.peak_octets / 1e6


def write_hostfile(path: Path, names: int, seed: int) -> None:
    """``names`` lines: even positions a table name, odd ones a name found nowhere, shuffled by ``seed``
    in blocks of 100,000 (a whole million shuffled at once would take the benchmark 100 MB)."""
    rng = random.Random(seed)
    with path.open("w") as out:
        for start in range(0, names, 100_000):
            block = [hit_name(rng.randrange(TABLE_NAMES)) if i % 2 == 0 else miss_name(i)
                     for i in range(start, min(names, start + 100_000))]
            rng.shuffle(block)
            out.write("\n".join(block) + "\n")


def run_client(argv: list[str], names: int, out: Path, log_path: Path) -> ClientRun:
    """Run the client to its end (stopped past :data:`SECONDS_PER_NAME` a name), reaping it with
    :func:`os.wait4` for its peak RSS; the lines of ``out`` are counted afterwards."""
    run = ClientRun(names)
    limit = max(60.0, names * SECONDS_PER_NAME)
    started = time.monotonic()
    with log_path.open("w") as err:
        # Its own session, so that Ctrl-C in the terminal reaches only the benchmark, which kills it.
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT,
                                start_new_session=True)
    timer = threading.Timer(limit, proc.kill)
    timer.start()
    reaped = None
    try:
        reaped = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
        if reaped is None:      # the benchmark was interrupted first
            proc.kill()
            proc.wait()
    _, status, usage = reaped
    proc.returncode = run.status = os.waitstatus_to_exitcode(status)       # reaped here, not by Popen
    run.seconds = time.monotonic() - started
    run.peak_octets = usage.ru_maxrss * 1024          # Linux counts it in KiB
    if run.status != 0:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
        run.error = (f"client exited with {run.status} after {run.seconds:.0f} s (limit {limit:.0f} s): "
                     + " / ".join(tail))
    if out.exists():
        with out.open("rb") as lines:
            run.lines = sum(1 for _ in lines)
    return run


def measure_client_memory(fleet: Fleet, workdir: Path, names: int, seed: int) -> ClientRun:
    """Start the TS and the LS, run the client on ``names`` names through them, stop both."""
    table, hosts, out = workdir / "client.table", workdir / "client.hosts", workdir / "client.RESOLVED.txt"
    table.write_text("".join(f"{hit_name(i)} {address_of(i)} A\n" for i in range(TABLE_NAMES)))
    write_hostfile(hosts, names, seed)
    probes = [(hit_name(0), "A")]
    ts = start_resolver(fleet, "TS (table)", "ts", resolver_argv("ts", "--listen", f"{HOST}:0", "--table",
                                                                  str(table)), probes, 20.0)
    ls = start_ls(fleet, "LS → TS (table)", [ts], probes, cache=True)
    log(f"client memory: {names:,} names through the LS (half of them in a table of {TABLE_NAMES:,}, half "
        "found nowhere)")
    argv = [sys.executable, "-m", "resolver", "client", "--server", f"{HOST}:{ls.port}", str(hosts),
            "--out", str(out)]
    try:
        run = run_client(argv, names, out, workdir / "client.log")
    finally:
        fleet.stop(ls.proc)
        fleet.stop(ts.proc)
    if run.error is None and run.lines < names:
        run.error = f"{run.lines:,} lines written for {names:,} names"
    log(f"  {run.seconds:.1f} s, {run.rate:,.0f} names/s, peak RSS {run.peak_mb:.0f} MB"
        + (f"; {run.error}" if run.error else ""))
    return run
