"""A real Knot DNS on loopback, a primary or a secondary for the replication tests.

:class:`Knot` writes a config for :class:`support.replication.ServedZone`
zones (master files it serves, or zones it transfers from its primaries) and
their TSIG keys, starts ``knotd -c CONF`` in the foreground on a free port,
waits until it answers, drives it with ``knotc`` (:meth:`Knot.control`) and
stops it by its PID. A test takes the binary from
``support.tools.require_tool("knotd")``: it skips without Knot, except in CI
where it fails.
"""
from __future__ import annotations

import os
import pwd
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


class PortTaken(RuntimeError):
    """knotd could not bind the port it was given (another process took it first)."""


class Knot:
    """knotd in the foreground with its config, journal, zone copies, control socket and log in ``workdir``."""

    def __init__(self, binary: str, workdir: Path, zones: Iterable[ServedZone], keys: Iterable[TsigKey] = (),
                 host: str = HOST) -> None:
        """``zones``: what Knot serves (master files) or transfers (``file=None``); ``keys``:
        the TSIG keys their peers name. knotc is looked for beside ``binary``."""
        self.binary = binary
        self.knotc = str(Path(binary).with_name("knotc"))
        self.workdir = workdir
        self.zones = [z if z.file is None else ServedZone(z.name, Path(z.file).resolve(), z.primaries,
                                                          z.secondaries, z.options) for z in zones]
        self.keys = list(keys)
        self.host = host
        self.port = free_port(host)
        self.conf = workdir / "knot.conf"
        self.logfile = workdir / "knot.log"
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    def zone_file(self, zone: ServedZone) -> Path:
        """The master file Knot serves ``zone`` from (a secondary zone's copy is written in the workdir)."""
        return zone.file if zone.file is not None else self.workdir / f"{zone.origin}zone"

    def write_conf(self) -> None:
        w = self.workdir
        lines = [
            "server:",
            f'    rundir: "{w}"',
            f'    listen: "{self.host}@{self.port}"',
            # knotd drops to this user after binding; the one running the test owns the workdir.
            f"    user: {pwd.getpwuid(os.geteuid()).pw_name}",
            "control:",
            f'    listen: "{w / "knot.sock"}"',
            "database:",
            f'    storage: "{w}"',
            "log:",
            f'  - target: "{self.logfile}"',
            "    any: debug",
        ]
        if self.keys:
            lines.append("key:")
            for key in self.keys:
                lines += [f'  - id: "{key.name}"', f"    algorithm: {key.algorithm}", f'    secret: "{key.secret}"']
        peers = {_peer_id(p): p for z in self.zones for p in (*z.primaries, *z.secondaries)}
        if peers:
            lines.append("remote:")
            for ident, peer in peers.items():
                lines += [f"  - id: {ident}", f'    address: "{peer.host}@{peer.port or 53}"']
                lines += [f'    key: "{peer.key}"'] if peer.key else []
            lines.append("acl:")
            for ident, peer in peers.items():
                for action in ("transfer", "notify"):
                    lines += [f"  - id: {action}-{ident}", f'    address: "{peer.host}"', f"    action: {action}"]
                    lines += [f'    key: "{peer.key}"'] if peer.key else []
        lines += [
            "template:",
            "  - id: default",
            f'    storage: "{w}"',
            # Changes are kept in the journal, so Knot answers IXFR (RFC 1995) from them.
            "    journal-content: changes",
            "    semantic-checks: on",
        ]
        lines.append("zone:")
        for zone in self.zones:
            lines += [f'  - domain: "{zone.origin}"', f'    file: "{self.zone_file(zone)}"']
            if zone.file is not None:
                # Never rewrite the test's file; a reload computes the difference for IXFR.
                lines += ["    zonefile-sync: -1", "    zonefile-load: difference"]
            else:
                lines += ["    zonefile-sync: 0"]
            if zone.primaries:
                lines.append(f"    master: [{', '.join(_peer_id(p) for p in zone.primaries)}]")
            notified = [_peer_id(p) for p in zone.secondaries if p.port is not None]
            if notified:
                lines.append(f"    notify: [{', '.join(notified)}]")
            acls = ([f"notify-{_peer_id(p)}" for p in zone.primaries]
                    + [f"transfer-{_peer_id(p)}" for p in zone.secondaries])
            if acls:
                lines.append(f"    acl: [{', '.join(acls)}]")
            lines += [f"    {option}" for option in zone.options]
        self.conf.write_text("\n".join(lines) + "\n")

    def log(self) -> str:
        parts = []
        for path in (self.logfile, self.workdir / "knot.stderr"):
            if path.exists():
                parts.append(f"--- {path.name}\n{path.read_text(errors='replace')}")
        return "\n".join(parts)

    def start(self, ready_timeout: float = 10.0, attempts: int = 3) -> None:
        """Start knotd and wait until it answers an SOA query for every zone it serves from a file
        (and answers at all for a zone it transfers).

        Raises RuntimeError with its log if it exits or is not ready within
        ``ready_timeout`` seconds; a port another process took meanwhile is
        replaced by a new one (``attempts`` times).
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
        check = subprocess.run([self.knotc, "-c", str(self.conf), "conf-check"], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"knot config rejected:\n{check.stdout}{check.stderr}\n{self.conf.read_text()}")
        with open(self.workdir / "knot.stderr", "wb") as err:
            self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)],
                                         stdout=subprocess.DEVNULL, stderr=err, cwd=self.workdir)
        deadline = time.monotonic() + ready_timeout
        waiting = [(dns.message.make_query(z.origin, "SOA"), z.file is not None) for z in self.zones]
        while waiting:
            log = self.log()
            if "cannot bind" in log or "Address already in use" in log:
                self.stop()
                raise PortTaken(log)
            if self.proc.poll() is not None:
                raise RuntimeError(f"knotd exited with {self.proc.returncode}\n{log}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"knotd did not answer SOA queries within {ready_timeout} s\n{log}")
            probe, has_data = waiting[0]
            reply = exchange(probe.to_wire(), self.address, timeout=0.2, attempts=1)
            if reply is not None:
                msg = dns.message.from_wire(reply)
                if not has_data or (msg.rcode() == dns.rcode.NOERROR and msg.answer):
                    waiting.pop(0)

    def control(self, *args: str, timeout: float = 10.0) -> str:
        """Run ``knotc -c CONF ARGS`` (``"zone-reload", "lab.example."``) and return its output.

        Raises RuntimeError when knotc fails."""
        done = subprocess.run([self.knotc, "-c", str(self.conf), *args], capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"knotc {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def reload(self, zone: str | None = None) -> None:
        """Read ``zone``'s file again (every zone's when None); Knot then stores the difference
        for IXFR and sends NOTIFY to the zone's secondaries when the serial grew."""
        self.control("zone-reload", *([zone] if zone else []), "-b")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _peer_id(peer: Peer) -> str:
    return f"{peer.host.replace(':', '_')}-{peer.port}-{peer.key or 'nokey'}".replace(".", "_")
