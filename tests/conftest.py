"""Shared fixtures: real server processes on loopback, and small query helpers.

Servers are started with ``--listen 127.0.0.1:0``; each prints
``listening on HOST:PORT`` on stderr once its UDP and TCP sockets are bound,
which is the readiness signal (no sleeps).
"""
from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import dns.message
import dns.query
import dns.rdatatype
import pytest

ROOT = Path(__file__).resolve().parent.parent
ZONES = ROOT / "zones"
IN_CI = os.environ.get("CI", "").lower() == "true"
LISTENING = re.compile(r"listening on (\[[^\]]+\]|[^\s:]+):(\d+)")


def require_tool(name: str) -> str:
    """Path of a command-line tool; skip without it, except in CI where it must exist."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is required in CI (scripts/test installs it)")
        pytest.skip(f"{name} not installed")
    return path


def require_root() -> None:
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("CI runs as root; this test needs it")
        pytest.skip("needs root")


class Server:
    """A ``python -m resolver`` server process and the address it listens on."""

    def __init__(self, args: list[str], ready_timeout: float = 15.0, prefix: list[str] | None = None) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [*(prefix or []), sys.executable, "-m", "resolver", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            bufsize=0,      # unbuffered: a line read must not hide the next one from select()
            cwd=ROOT,
        )
        self.lines: list[str] = []
        self.addresses: list[tuple[str, int]] = []
        self._wait_ready(ready_timeout)
        self._drain = threading.Thread(target=self._read_rest, daemon=True)
        self._drain.start()

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        expected = max(1, sum(1 for a in self.args if a == "--listen"))
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stderr, selectors.EVENT_READ)
        while len(self.addresses) < expected:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                self.proc.kill()
                raise RuntimeError(f"server did not report listening: {self.args} {self.lines}")
            line = self.proc.stderr.readline().decode(errors="replace")
            if not line:
                raise RuntimeError(f"server exited ({self.proc.wait()}): {self.lines}")
            self.lines.append(line.rstrip("\n"))
            m = LISTENING.search(line)
            if m:
                self.addresses.append((m.group(1).strip("[]"), int(m.group(2))))
        sel.close()

    def _read_rest(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def host(self) -> str:
        return self.addresses[0][0]

    @property
    def port(self) -> int:
        return self.addresses[0][1]

    @property
    def hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._drain.join(1.0)
        return self.proc.returncode


@pytest.fixture
def start_server() -> Iterator[Callable[..., Server]]:
    """Factory: ``start_server("ts", "--table", path)``; stops every server at teardown."""
    started: list[Server] = []

    def start(*args: str, listen: str = "127.0.0.1:0", **kw) -> Server:
        argv = list(args)
        if "--listen" not in argv:
            argv += ["--listen", listen]
        server = Server(argv, **kw)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def demo_backends(start_server) -> tuple[Server, Server]:
    """TS1 and TS2 serving the demo tables."""
    ts1 = start_server("ts", "--table", str(ZONES / "ts1.txt"))
    ts2 = start_server("ts", "--table", str(ZONES / "ts2.txt"))
    return ts1, ts2


def query(server: Server, name: str, rdtype: str = "A", tcp: bool = False, timeout: float = 3.0,
          **make_kw) -> dns.message.Message:
    """One dnspython query to a started server."""
    q = dns.message.make_query(name, dns.rdatatype.from_text(rdtype), **make_kw)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(q, server.host, port=server.port, timeout=timeout)
