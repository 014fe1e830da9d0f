"""The machine: the external tools and their versions, facts for the report, memory and CPU use from /proc."""
from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from .common import ROOT, TOOL_PATH, BenchError


@dataclass
class Tools:
    """The paths of dnsperf, nsd and dnsdist, and each one's version for the report."""
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
    """What a short command printed (stdout then stderr), or why it could not run; at most 20 seconds."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return done.stdout + done.stderr


def first_match(text: str, pattern: str) -> str:
    """The first group of ``pattern`` in ``text``, or "?"."""
    found = re.search(pattern, text)
    return found.group(1) if found else "?"


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


def group_members(groups: Iterable[int]) -> Iterator[tuple[Path, list[str]]]:
    """Each process in one of the process ``groups``: its /proc directory and the fields of its ``stat`` after the name.

    Those fields start with the state (index 0); the process group is index 2,
    user and system CPU time (clock ticks) are 11 and 12. A process that ends
    while being read is skipped.
    """
    wanted = set(groups)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) in wanted:
                yield entry, fields
        except (OSError, ValueError, IndexError):
            continue


def rss_mib(pid: int) -> tuple[float, float, int]:
    """Resident and peak resident memory (MiB) of a process group led by ``pid``, and its process count.

    Summed over the group so that forked workers count too (shared pages then
    count once per process, so with workers this overstates).
    """
    rss = peak = 0.0
    count = 0
    for entry, _ in group_members([pid]):
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        count += 1
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak += int(line.split()[1]) / 1024
    return rss, peak, count


def group_cpu(pid: int) -> tuple[float, float]:
    """User and system CPU seconds used so far by the process group led by ``pid`` (a server and its workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    user = system = 0
    for _, fields in group_members([pid]):
        user += int(fields[11])
        system += int(fields[12])
    return user / tick, system / tick


@dataclass
class CpuSnapshot:
    """CPU seconds used so far: by the whole machine, by our servers, and by this script and its children.

    ``wall`` is a monotonic clock reading (seconds), to turn two snapshots into CPUs' worth of work.
    """
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
    servers = sum(int(fields[11]) + int(fields[12]) for _, fields in group_members(groups))
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
