"""A real NSD on loopback, the reference the TS is compared with, and a primary or secondary of it.

:class:`Nsd` writes a config for the given zone files (and
:class:`support.replication.ServedZone` zones with their peers and TSIG
keys), starts ``nsd -d`` in the foreground on a free port (another port if it
lost that one), waits until it answers (:mod:`support.foreground`), reloads
changed zone files on :meth:`Nsd.reload` (SIGHUP) and stops it by its PID.
"""
from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Iterable

from support.foreground import HOST, ForegroundServer, PortTaken
from support.replication import Peer, ServedZone, TsigKey

ZONE_READ_WITH_ERRORS = re.compile(r"zone \S+ file \S+ read with \d+ errors")


def zone_origin(path: Path) -> str:
    """``lab.example.zone`` serves ``lab.example.``, as our TS also takes it."""
    return path.name.removesuffix(".zone") + "."


class Nsd(ForegroundServer):
    """NSD in the foreground (``nsd -d``) with a config, state and log in ``workdir``."""

    NAME = "nsd"

    def __init__(self, binary: str, workdir: Path, zone_files: Iterable[Path] = (), host: str = HOST,
                 options: Iterable[str] = (), zones: Iterable[ServedZone] = (),
                 keys: Iterable[TsigKey] = ()) -> None:
        """``zone_files`` are served as primary zones named after the file; ``zones`` say more
        (secondary zones, peers, per-zone options); ``keys`` are the TSIG keys they name.
        ``options``: more lines for the config's ``server:`` clause (``"tcp-query-count: 1"``)."""
        files = [ServedZone(zone_origin(Path(z)), Path(z)) for z in zone_files]
        super().__init__(binary, workdir, [*files, *zones], keys, host)
        self.options = list(options)

    def command(self) -> list[str]:
        return [self.binary, "-d", "-c", str(self.conf)]

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

    def reload(self) -> None:
        """SIGHUP: NSD reads again the zone files whose modification time changed, and
        sends NOTIFY to the secondaries of each zone whose serial grew."""
        assert self.proc is not None and self.proc.poll() is None, "nsd is not running"
        self.proc.send_signal(signal.SIGHUP)

    def load_errors(self) -> list[str]:
        """NSD's error lines once it has logged that a zone file read with errors, else []."""
        if not self.logfile.exists():
            return []
        errors = [line for line in self.logfile.read_text(errors="replace").splitlines() if " error: " in line]
        return errors if any(ZONE_READ_WITH_ERRORS.search(line) for line in errors) else []

    def failure(self) -> Exception | None:
        """A zone file NSD could not read, or the port lost to another process (NSD then exits)."""
        if self.proc is not None and self.proc.poll() is not None and "already in use" in self.log():
            return PortTaken(self.log())
        errors = self.load_errors()
        return RuntimeError("nsd could not load every zone:\n" + "\n".join(errors)) if errors else None


def _key(peer: Peer) -> str:
    return peer.key if peer.key is not None else "NOKEY"
