"""A real DNS server run by a test in the foreground: what :class:`support.nsd.Nsd` and
:class:`support.knot.Knot` share.

A :class:`ForegroundServer` serves :class:`support.replication.ServedZone`
zones on a free port, with its config, state and logs in a workdir: it writes
its config (each server its own syntax), starts the binary, waits until every
zone it serves from a file answers its SOA (and a zone it transfers answers at
all), and is stopped by its PID. A port that another process took between
being picked and being bound is replaced by a new one.
"""
from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Iterable

import dns.message
import dns.rcode

from support.differential import exchange
from support.ports import free_port
from support.replication import ServedZone, TsigKey

HOST = "127.0.0.1"


class PortTaken(RuntimeError):
    """The server could not bind the port it was given (another process took it first)."""


class ForegroundServer:
    """A server binary in the foreground in ``workdir``; ``NAME`` names its files there
    (``NAME.conf``, ``NAME.log``, ``NAME.stderr``). Subclasses write the config
    (:meth:`write_conf`), give the command (:meth:`command`) and tell a failure from its log
    (:meth:`failure`)."""

    NAME = ""

    def __init__(self, binary: str, workdir: Path, zones: Iterable[ServedZone], keys: Iterable[TsigKey] = (),
                 host: str = HOST) -> None:
        self.binary = binary
        self.workdir = workdir
        self.zones = [z if z.file is None else ServedZone(z.name, Path(z.file).resolve(), z.primaries,
                                                          z.secondaries, z.options) for z in zones]
        self.keys = list(keys)
        self.host = host
        self.port = free_port(host)
        self.conf = workdir / f"{self.NAME}.conf"
        self.logfile = workdir / f"{self.NAME}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    def zone_file(self, zone: ServedZone) -> Path:
        """The master file ``zone`` is served from (a secondary zone's copy is kept in the workdir)."""
        return zone.file if zone.file is not None else self.workdir / f"{zone.origin}zone"

    def write_conf(self) -> None:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def failure(self) -> Exception | None:
        """What went wrong, from the log, while waiting for the server (None: nothing yet)."""
        return None

    def log(self) -> str:
        parts = []
        for path in (self.logfile, self.workdir / f"{self.NAME}.stderr"):
            if path.exists():
                parts.append(f"--- {path.name}\n{path.read_text(errors='replace')}")
        return "\n".join(parts)

    def start(self, ready_timeout: float = 10.0, attempts: int = 3) -> None:
        """Start the server and wait until it answers an SOA query for every zone it serves from
        a file, and answers at all for a zone it transfers.

        Raises RuntimeError with its log as soon as :meth:`failure` finds one or it
        exits, or after ``ready_timeout`` seconds; a port another process took
        meanwhile is replaced by a new one (``attempts`` times).
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
        with open(self.workdir / f"{self.NAME}.stderr", "wb") as err:
            self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=err, cwd=self.workdir)
        deadline = time.monotonic() + ready_timeout
        waiting = [(dns.message.make_query(z.origin, "SOA"), z.file is not None) for z in self.zones]
        while waiting:
            failure = self.failure()
            if failure is not None:
                self.stop()
                raise failure
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.NAME} exited with {self.proc.returncode}\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.NAME} did not answer SOA queries within {ready_timeout} s\n{self.log()}")
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
