"""A real NSD on loopback, the reference the TS is compared with, and a primary or secondary of it.

:class:`Nsd` writes a config for the given zone files (and
:class:`support.replication.ServedZone` zones with their peers and TSIG
keys), starts ``nsd -d`` in the foreground on a free port (another port if it
lost that one), waits until it answers, reloads changed zone files on
:meth:`Nsd.reload` (SIGHUP) and stops it by its PID.
"""
from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterable

import dns.message
import dns.rcode

from support.differential import exchange
from support.ports import free_port
from support.replication import Peer, ServedZone, TsigKey

HOST = "127.0.0.1"
ZONE_READ_WITH_ERRORS = re.compile(r"zone \S+ file \S+ read with \d+ errors")


def zone_origin(path: Path) -> str:
    """``lab.example.zone`` serves ``lab.example.``, as our TS also takes it."""
    return path.name.removesuffix(".zone") + "."


class PortTaken(RuntimeError):
    """NSD could not bind the port it was given (another process took it first)."""


class Nsd:
    """NSD in the foreground (``nsd -d``) with a config, state and log in ``workdir``."""

    def __init__(self, binary: str, workdir: Path, zone_files: Iterable[Path] = (), host: str = HOST,
                 options: Iterable[str] = (), zones: Iterable[ServedZone] = (),
                 keys: Iterable[TsigKey] = ()) -> None:
        """``zone_files`` are served as primary zones named after the file; ``zones`` say more
        (secondary zones, peers, per-zone options); ``keys`` are the TSIG keys they name.
        ``options``: more lines for the config's ``server:`` clause (``"tcp-query-count: 1"``)."""
        self.binary = binary
        self.workdir = workdir
        self.zones = [ServedZone(zone_origin(Path(z)), Path(z).resolve()) for z in zone_files]
        self.zones += [z if z.file is None else ServedZone(z.name, Path(z.file).resolve(), z.primaries,
                                                           z.secondaries, z.options) for z in zones]
        self.keys = list(keys)
        self.host = host
        self.options = list(options)
        self.port = free_port(host)
        self.conf = workdir / "nsd.conf"
        self.logfile = workdir / "nsd.log"
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    def write_conf(self) -> None:
        w = self.workdir
        lines = [
            "server:",
            f"    ip-address: {self.host}",
            f"    port: {self.port}",
            "    do-ip4: yes",
            "    do-ip6: no",
            '    username: ""',
            '    chroot: ""',
            '    database: ""',
            f'    zonesdir: "{w}"',
            f'    pidfile: "{w / "nsd.pid"}"',
            f'    xfrdfile: "{w / "xfrd.state"}"',
            f'    zonelistfile: "{w / "zone.list"}"',
            f'    xfrdir: "{w}"',
            f'    logfile: "{self.logfile}"',
            "    server-count: 1",
            "    verbosity: 2",
            # Debian builds NSD with response rate limiting (200 qps by default):
            # the tests send thousands of queries from one address, so turn it off.
            "    rrl-ratelimit: 0",
            "    rrl-whitelist-ratelimit: 0",
            *(f"    {option}" for option in self.options),
            "remote-control:",
            "    control-enable: no",
        ]
        for key in self.keys:
            lines += ["key:", f'    name: "{key.name}"', f"    algorithm: {key.algorithm}",
                      f'    secret: "{key.secret}"']
        for zone in self.zones:
            lines += ["zone:", f'    name: "{zone.origin}"', f'    zonefile: "{self.zone_file(zone)}"']
            lines += [f"    request-xfr: {p.host}@{p.port} {_key(p)}" for p in zone.primaries]
            lines += [f"    allow-notify: {p.host} {_key(p)}" for p in zone.primaries]
            lines += [f"    provide-xfr: {p.host} {_key(p)}" for p in zone.secondaries]
            lines += [f"    notify: {p.host}@{p.port} {_key(p)}" for p in zone.secondaries if p.port is not None]
            if zone.secondaries and zone.file is not None:
                # IXFR out of the differences between a zone file and its reloaded version.
                lines += ["    store-ixfr: yes", "    create-ixfr: yes"]
            lines += [f"    {option}" for option in zone.options]
        self.conf.write_text("\n".join(lines) + "\n")

    def zone_file(self, zone: ServedZone) -> Path:
        """The master file NSD reads ``zone`` from (a secondary zone's copy is kept in the workdir)."""
        return zone.file if zone.file is not None else self.workdir / f"{zone.origin}zone"

    def reload(self) -> None:
        """SIGHUP: NSD reads again the zone files whose modification time changed, and
        sends NOTIFY to the secondaries of each zone whose serial grew."""
        assert self.proc is not None and self.proc.poll() is None, "nsd is not running"
        self.proc.send_signal(signal.SIGHUP)

    def log(self) -> str:
        parts = []
        for path in (self.logfile, self.workdir / "nsd.stderr"):
            if path.exists():
                parts.append(f"--- {path.name}\n{path.read_text(errors='replace')}")
        return "\n".join(parts)

    def load_errors(self) -> list[str]:
        """NSD's error lines once it has logged that a zone file read with errors, else []."""
        if not self.logfile.exists():
            return []
        errors = [line for line in self.logfile.read_text(errors="replace").splitlines() if " error: " in line]
        return errors if any(ZONE_READ_WITH_ERRORS.search(line) for line in errors) else []

    def start(self, ready_timeout: float = 10.0, attempts: int = 3) -> None:
        """Start NSD and wait until it answers an SOA query for every zone.

        Raises RuntimeError with NSD's error lines as soon as it logs one (a zone
        it could not read), or with its log after ``ready_timeout`` seconds.
        The port was free when picked; if NSD exits at once because another
        process took it meanwhile, a new port is picked (``attempts`` times).
        """
        for attempt in range(attempts):
            try:
                return self._start(ready_timeout)
            except PortTaken:
                if attempt == attempts - 1:
                    raise
                self.port = free_port(self.host)

    def _start(self, ready_timeout: float) -> None:
        self.write_conf()
        with open(self.workdir / "nsd.stderr", "wb") as err:
            self.proc = subprocess.Popen([self.binary, "-d", "-c", str(self.conf)],
                                         stdout=subprocess.DEVNULL, stderr=err, cwd=self.workdir)
        deadline = time.monotonic() + ready_timeout
        # A primary zone is ready when it answers its SOA; a secondary zone may still
        # be empty (SERVFAIL) but NSD answers for it.
        waiting = [(dns.message.make_query(z.origin, "SOA"), z.file is not None) for z in self.zones]
        while waiting:
            if self.proc.poll() is not None:
                log = self.log()
                if "already in use" in log:
                    raise PortTaken(log)
                raise RuntimeError(f"nsd exited with {self.proc.returncode}\n{log}")
            errors = self.load_errors()
            if errors:
                self.stop()
                raise RuntimeError("nsd could not load every zone:\n" + "\n".join(errors))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nsd did not answer SOA queries within {ready_timeout} s\n{self.log()}")
            probe, has_data = waiting[0]
            reply = exchange(probe.to_wire(), self.address, timeout=0.2, attempts=1)
            if reply is not None:
                msg = dns.message.from_wire(reply)
                if not has_data or (msg.rcode() == dns.rcode.NOERROR and msg.answer):
                    waiting.pop(0)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _key(peer: Peer) -> str:
    return peer.key if peer.key is not None else "NOKEY"
