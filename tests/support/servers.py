"""Real server processes (``python -m resolver ts|ls …``) on loopback, and queries to them.

A server is started with ``--listen 127.0.0.1:0`` and prints
``listening on HOST:PORT`` on stderr once its UDP and TCP sockets are bound:
that line (:data:`resolver.net.lifecycle.LISTENING`) is the readiness signal, so nothing sleeps.
Later stderr lines are collected by a thread; a test that expects a line
waits for it (:meth:`Server.wait_for_line`) rather than reading
:attr:`Server.lines` at once.
"""
from __future__ import annotations

import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
from prometheus_client.parser import text_string_to_metric_families

from resolver.net.lifecycle import LISTENING
from support.paths import ROOT
from support.waiting import wait_until

METRICS_URL = re.compile(r"metrics on (http://\S+/)metrics")


class Server:
    """A ``python -m resolver`` server process and the addresses it listens on.

    ``args`` are the command and its flags; the constructor returns once the
    server has reported every ``--listen`` address (at most ``ready_timeout``
    seconds), else raises RuntimeError. ``prefix`` runs it under another
    command (``ip netns exec NAME``), ``python`` is the interpreter.
    """

    def __init__(self, args: list[str], ready_timeout: float = 15.0, prefix: list[str] | None = None,
                 python: str = sys.executable) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [*(prefix or []), python, "-m", "resolver", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            bufsize=0,      # unbuffered: a line read must not hide the next one from select()
            cwd=ROOT,
        )
        self.lines: list[str] = []
        self.addresses: list[tuple[str, int]] = []
        try:
            self._wait_ready(ready_timeout)
        except BaseException:       # not ready in time, or the wait interrupted: no process outlives it
            self.proc.kill()
            self.proc.wait()
            raise
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
        """The first address as ``HOST:PORT`` (``[HOST]:PORT`` for IPv6), as the flags take it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def count_lines(self, text: str | re.Pattern[str]) -> int:
        """How many stderr lines collected so far contain ``text`` (or match the pattern)."""
        if isinstance(text, re.Pattern):
            return sum(1 for line in list(self.lines) if text.search(line))
        return sum(1 for line in list(self.lines) if text in line)

    def wait_for_line(self, text: str | re.Pattern[str], count: int = 1, timeout: float = 5.0) -> None:
        """Wait (bounded) until at least ``count`` stderr lines contain ``text``.

        The lines after start-up arrive through a thread, so a line the server
        has written may not be in :attr:`lines` yet; this waits for it.
        """
        wait_until(lambda: self.count_lines(text) >= count, timeout,
                   f"{count} stderr line(s) with {text!r} from {self.args[0]}; have {self.lines[-10:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        """Send ``sig``, wait up to ``timeout`` s (then kill); returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._drain.join(1.0)
        return self.proc.returncode


def query(server: Server, name: str, rdtype: str = "A", tcp: bool = False, timeout: float = 3.0,
          **make_kw) -> dns.message.Message:
    """One dnspython query (UDP, or TCP) to a started server; ``make_kw`` go to ``make_query``."""
    q = dns.message.make_query(name, dns.rdatatype.from_text(rdtype), **make_kw)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(q, server.host, port=server.port, timeout=timeout)


def assert_still_answers(server: Server) -> None:
    """The server (a TS with the demo's ts1.txt, or an LS in front of it) answers www.ibm.com
    with its one address, over UDP and over TCP."""
    for tcp in (False, True):
        r = query(server, "www.ibm.com", tcp=tcp, timeout=2)
        assert r.rcode() == dns.rcode.NOERROR
        assert [rd.address for rrset in r.answer for rd in rrset] == ["129.42.38.10"]


def read_tcp_message(sock: socket.socket) -> bytes | None:
    """One length-prefixed DNS message from a TCP connection, or None when the server
    closed (or reset) the connection first. A socket timeout propagates."""
    def recv_exact(n: int) -> bytes | None:
        buf = b""
        while len(buf) < n:
            try:
                chunk = sock.recv(n - len(buf))
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            buf += chunk
        return buf
    prefix = recv_exact(2)
    if prefix is None:
        return None
    return recv_exact(struct.unpack("!H", prefix)[0])


def base_url(server: Server) -> str:
    """The ``http://HOST:PORT/`` a server started with ``--metrics`` serves its metrics and status page on.

    The server logs it before it reports listening, so it is among the start-up lines.
    """
    for line in server.lines:
        match = METRICS_URL.search(line)
        if match:
            return match.group(1)
    raise AssertionError(f"no metrics line in {server.lines}")


def http(url: str, method: str = "GET") -> tuple[int, str, str]:
    """One HTTP request: the status, the Content-Type and the body."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def scrape(server: Server) -> dict[tuple[str, tuple], float]:
    """Every sample of a server started with ``--metrics``: (name, sorted labels) -> value."""
    status, kind, text = http(base_url(server) + "metrics")
    assert status == 200 and kind.startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    """One sample of :func:`scrape`'s, 0 when absent."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
