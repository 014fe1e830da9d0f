"""The servers measured: our TS and LS, NSD and dnsdist; how each is configured, started and found ready.

Readiness is always a right answer to a real query, never a sleep. Servers
that cannot pick their own port (NSD, dnsdist) get one reserved here, and a
new one if they lost the race for it.
"""
from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from resolver.net.lifecycle import LISTENING
from resolver.net.listening import ListenError
from resolver.net.workers import reserve

from .answers import ask, positive
from .common import HOST, BenchError, slug
from .machine import Tools, run_text
from .procs import Fleet, Proc
from .workload import ORIGIN



def free_port() -> int:
    """A port free for UDP and TCP right now, for servers that cannot pick their own (NSD, dnsdist)."""
    try:
        return reserve([(HOST, 0)])[0][1]
    except ListenError as exc:
        raise BenchError(str(exc)) from None


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
class Server:
    """A started DNS server: what to call it in the tables, where it listens (UDP and TCP port), its process.

    ``warms``: it needs an unmeasured warm-up pass before each measured run (an LS with
    learned routing or a cache, dnsdist with a packet cache); ``metrics_port``, the
    port of its ``/metrics`` when it serves them.
    """
    label: str
    port: int
    proc: Proc
    kind: str  # "ts", "nsd", "ls", "dnsdist"
    warms: bool = False
    metrics_port: int | None = None


def resolver_argv(*args: str) -> list[str]:
    """``python -m resolver ARGS`` with this interpreter (the project's virtualenv)."""
    return [sys.executable, "-m", "resolver", *args]


def start_resolver(fleet: Fleet, label: str, kind: str, argv: list[str], probes: list[tuple[str, str]],
                   timeout: float) -> Server:
    """Our TS or LS on ``--listen 127.0.0.1:0``: ready once it printed its port and answered every probe.

    ``timeout`` (seconds) bounds each of the two waits: a big zone takes a while to load.
    """
    proc = fleet.start(label, argv, watch=LISTENING)
    port = int(proc.wait_line(timeout).group(2))
    wait_answers(port, probes, [proc], label, timeout=timeout)
    return Server(label, port, proc, kind)


def start_ts(fleet: Fleet, label: str, zone: Path, probe: str, workers: int | None = None,
             load_timeout: float = 60.0, extra: Sequence[str] = ()) -> Server:
    """Our TS serving ``zone``; ``probe`` is a name it holds, asked until it answers (at most ``load_timeout`` s);
    ``extra``: more flags (``--allow-transfer``)."""
    argv = resolver_argv("ts", "--listen", f"{HOST}:0", "--zone", str(zone), *extra)
    if workers is not None:
        argv += ["--workers", str(workers)]
    return start_resolver(fleet, label, "ts", argv, [(probe, "A")], load_timeout)


GROUP = "replicas"       # the name of the LS's replica group, when it has one
CACHE_ENTRIES = 100_000  # the answer cache of the LS and dnsdist's packet cache, in the cache rows
METRICS_URL = re.compile(r"metrics on http://\S+:(\d+)/metrics")  # the LS's line saying where its /metrics is


def backend_name(label: str) -> str:
    """The name an LS gives the server labelled ``label`` in its logs and metrics (``--backend NAME=ADDR:PORT``)."""
    return slug(label)


def start_ls(fleet: Fleet, label: str, backends: Sequence[Server], probes: list[tuple[str, str]],
             workers: int | None = None, learn: bool = True, metrics: bool = False,
             group_policy: str | None = None, cache: bool = False) -> Server:
    """Our LS over ``backends``, each named by :func:`backend_name`; ready when every probe has been answered.

    ``learn``: learned routing, the LS's default, or ``--learn off`` (the full
    fan-out); ``metrics``: ``--metrics`` on a port the LS picks, read from its
    output into ``Server.metrics_port``; ``group_policy``: the backends form one
    replica group (``--group``) that picks a member with this policy (``--group-policy``);
    ``cache``: its answer cache on (its default), else ``--cache-size 0``, so that it is measured
    against a dnsdist that has no packet cache either.
    """
    argv = resolver_argv("ls", "--listen", f"{HOST}:0")
    names = [backend_name(backend.label) for backend in backends]
    for name, backend in zip(names, backends):
        argv += ["--backend", f"{name}={HOST}:{backend.port}"]
    if group_policy is not None:
        argv += ["--group", f"{GROUP}={','.join(names)}", "--group-policy", f"{GROUP}={group_policy}"]
    if not learn:
        argv += ["--learn", "off"]
    if not cache:
        argv += ["--cache-size", "0"]
    if metrics:
        argv += ["--metrics", f"{HOST}:0"]
    if workers is not None:
        argv += ["--workers", str(workers)]
    server = start_resolver(fleet, label, "ls", argv, probes, 20.0)
    server.warms = learn or cache
    if metrics:
        server.metrics_port = metrics_port(server.proc)
    return server


def metrics_port(proc: Proc) -> int:
    """The port of the ``/metrics`` an LS said it serves, from its output (it says so before it listens)."""
    for line in proc.lines:
        found = METRICS_URL.search(line)
        if found:
            return int(found.group(1))
    raise BenchError(f"{proc.name} did not say where its metrics are:\n{proc.tail()}")


def start_on_free_port(fleet: Fleet, label: str, kind: str, argv: list[str], conf: Path,
                       render: Callable[[int], str], probes: list[tuple[str, str]],
                       own_log: Path | None = None) -> Server:
    """A server that reads its port from ``conf``: pick a free port, write ``render(port)`` there, start ``argv``.

    Between the pick and the bind another process may take the port; then the
    server says "already in use" (on its output or in ``own_log``) and the
    whole start is tried again on another port, three times at most.
    """
    conf.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        port = free_port()
        conf.write_text(render(port))
        proc = fleet.start(label, argv)
        try:
            wait_answers(port, probes, [proc], label)
            return Server(label, port, proc, kind)
        except BenchError as exc:
            fleet.stop(proc)
            logged = own_log.read_text(errors="replace") if own_log is not None and own_log.exists() else ""
            if "already in use" not in logged + proc.tail(50):
                raise BenchError(f"{exc}\n{logged[-2000:]}" if logged else str(exc)) from None
    raise BenchError(f"{label}: no free port after 3 tries")


def nsd_conf(workdir: Path, port: int, zone: Path, primary: int | None = None) -> str:
    """A private NSD: no privilege drop, no database, no remote control, state in ``workdir``.

    ``rrl-ratelimit: 0``: Debian's NSD limits responses per client network to
    200/s by default, which would throttle a benchmark from one address.
    ``primary``: the zone is a secondary one, transferred from that port of
    :data:`HOST` without TSIG (``zone`` is then where NSD keeps its copy).
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
        *([f"    request-xfr: {HOST}@{primary} NOKEY"] if primary is not None else []),
        "",
    ])


def start_nsd(fleet: Fleet, tools: Tools, label: str, workdir: Path, zone: Path, probe: str) -> Server:
    """NSD in the foreground serving ``zone``, its configuration and state in ``workdir``."""
    conf = workdir / "nsd.conf"
    return start_on_free_port(fleet, label, "nsd", [tools.nsd, "-d", "-c", str(conf)], conf,
                              lambda port: nsd_conf(workdir, port, zone), [(probe, "A")], workdir / "nsd.log")


def dnsdist_conf(port: int, backends: Sequence[Server], cache: bool = False) -> str:
    """dnsdist with the same backends as the LS, round robin, no console, no security polling;
    with ``cache``, a packet cache of :data:`CACHE_ENTRIES` entries in front of them.

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
    if cache:
        lines += [f"pc = newPacketCache({CACHE_ENTRIES})", 'getPool(""):setCache(pc)']
    for i, backend in enumerate(backends, 1):
        lines.append(f'newServer({{address="{HOST}:{backend.port}", name="backend{i}", '
                     f'checkName="{ORIGIN}", checkType="SOA", mustResolve=true}})')
    return "\n".join(lines) + "\n"


def start_dnsdist(fleet: Fleet, tools: Tools, label: str, workdir: Path, backends: Sequence[Server],
                  probes: list[tuple[str, str]], cache: bool = False) -> Server:
    """dnsdist in the foreground (``--supervised``) over ``backends``, its configuration in ``workdir``;
    ``cache``: with a packet cache (:func:`dnsdist_conf`)."""
    conf = workdir / "dnsdist.conf"
    server = start_on_free_port(fleet, label, "dnsdist",
                                [tools.dnsdist, "--supervised", "--disable-syslog", "-C", str(conf)], conf,
                                lambda port: dnsdist_conf(port, backends, cache), probes)
    server.warms = cache
    return server


def dnsdist_down_events(server: Server) -> list[str]:
    """Lines where dnsdist marked a backend down (its health check failed): it then stops using it."""
    return [line for line in server.proc.lines if "as 'down'" in line]


def supports_workers(command: str) -> bool:
    """Whether ``resolver ts|ls`` has ``--workers`` yet: another change is adding it."""
    return "--workers" in run_text(resolver_argv(command, "--help"))
