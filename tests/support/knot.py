"""A real Knot DNS on loopback, a primary or a secondary for the replication tests.

:class:`Knot` writes a config for :class:`support.replication.ServedZone`
zones (master files it serves, or zones it transfers from its primaries) and
their TSIG keys, starts ``knotd -c CONF`` in the foreground on a free port,
waits until it answers (:mod:`support.foreground`), drives it with ``knotc``
(:meth:`Knot.control`) and stops it by its PID. A test takes the binary from
``support.tools.require_tool("knotd")``: it skips without Knot, except in CI
where it fails.
"""
from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path
from typing import Iterable

from support.foreground import HOST, ForegroundServer, PortTaken
from support.replication import Peer, ServedZone, TsigKey


class Knot(ForegroundServer):
    """knotd in the foreground with its config, journal, zone copies, control socket and log in ``workdir``."""

    NAME = "knot"

    def __init__(self, binary: str, workdir: Path, zones: Iterable[ServedZone], keys: Iterable[TsigKey] = (),
                 host: str = HOST) -> None:
        """``zones``: what Knot serves (master files) or transfers (``file=None``); ``keys``:
        the TSIG keys their peers name. knotc is looked for beside ``binary``."""
        super().__init__(binary, workdir, zones, keys, host)
        self.knotc = str(Path(binary).with_name("knotc"))

    def command(self) -> list[str]:
        return [self.binary, "-c", str(self.conf)]

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

    def _start(self, ready_timeout: float) -> None:
        self.write_conf()
        check = subprocess.run([self.knotc, "-c", str(self.conf), "conf-check"], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"knot config rejected:\n{check.stdout}{check.stderr}\n{self.conf.read_text()}")
        super()._start(ready_timeout)

    def failure(self) -> Exception | None:
        """The port lost to another process (knotd logs it and serves on without it)."""
        log = self.log()
        return PortTaken(log) if "cannot bind" in log or "Address already in use" in log else None

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


def _peer_id(peer: Peer) -> str:
    return f"{peer.host.replace(':', '_')}-{peer.port}-{peer.key or 'nokey'}".replace(".", "_")
