"""sd_notify: a server tells ``$NOTIFY_SOCKET`` READY=1 once it answers, RELOADING=1 and READY=1
around a SIGHUP reload, and STOPPING=1 on SIGTERM, as a ``Type=notify`` unit wants.

The test is systemd: it binds a unix datagram socket of its own and names it
in ``NOTIFY_SOCKET`` (a path, or an abstract ``@`` address), and starts the
server on a port it picks. When READY=1 comes, the server (each worker of
``--workers 2``) must have written its ``listening on`` line already, which
it does once bound, and queries (a single try each, no retry) must be
answered at once, from several source ports, which the kernel spreads over
the workers; nothing else comes (a worker's own notifications stop at its parent).
"""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import dns.message
import dns.query
import dns.rcode
import pytest

from support.paths import ROOT, ZONES
from support.ports import HOST, free_port
from support.servers import Server

WAIT = 15.0         # seconds for a notification to come
SOURCE_PORTS = 8    # queries right after READY=1, each from a new source port


@pytest.fixture
def backend() -> Iterator[Server]:
    """The LS's backend (a TS), started before ``NOTIFY_SOCKET`` is set: it tells nobody."""
    server = Server(["ts", "--listen", "127.0.0.1:0", "--table", str(ZONES / "ts1.txt")])
    yield server
    server.stop()


@pytest.fixture(params=["path", "abstract"])
def notify_socket(request, backend: Server, tmp_path: Path, monkeypatch) -> Iterator[socket.socket]:
    """The socket systemd would hold, named in ``NOTIFY_SOCKET`` for the servers started meanwhile
    (after ``backend``)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if request.param == "path":
        name = str(tmp_path / "notify")
        sock.bind(name)
    else:
        name = f"@resolver-test-{os.getpid()}-{secrets.token_hex(4)}"
        sock.bind(b"\0" + name[1:].encode())
    sock.settimeout(WAIT)
    monkeypatch.setenv("NOTIFY_SOCKET", name)
    try:
        yield sock
    finally:
        sock.close()


def fields(sock: socket.socket) -> dict[str, str]:
    """The next notification's ``KEY=VALUE`` lines."""
    return dict(line.split("=", 1) for line in sock.recv(4096).decode().splitlines())


def written_so_far(server: subprocess.Popen) -> str:
    """What the server has written to stderr until now, read without waiting for more."""
    assert server.stderr is not None
    os.set_blocking(server.stderr.fileno(), False)
    chunks = []
    while True:
        try:
            chunk = os.read(server.stderr.fileno(), 65536)
        except BlockingIOError:
            return b"".join(chunks).decode()
        if not chunk:
            return b"".join(chunks).decode()
        chunks.append(chunk)


def answers_at_once(port: int) -> None:
    for _ in range(SOURCE_PORTS):
        reply = dns.query.udp(dns.message.make_query("www.ibm.com", "A"), HOST, port=port, timeout=1.0)
        assert reply.rcode() == dns.rcode.NOERROR
        assert [rd.address for rrset in reply.answer for rd in rrset] == ["129.42.38.10"]


def start(kind: str, workers: int, backend: Server, port: int) -> subprocess.Popen:
    args = ["ts", "--table", str(ZONES / "ts1.txt")] if kind == "ts" else ["ls", "--backend", backend.hostport]
    return subprocess.Popen([sys.executable, "-m", "resolver", *args, "--listen", f"{HOST}:{port}",
                             "--workers", str(workers)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


@pytest.mark.parametrize("kind, workers", [("ts", 1), ("ts", 2), ("ls", 1), ("ls", 2)])
def test_ready_once_answering_reloading_around_sighup_stopping_on_sigterm(notify_socket, backend, kind, workers):
    port = free_port()
    server = start(kind, workers, backend, port)
    try:
        assert fields(notify_socket) == {"READY": "1"}
        assert written_so_far(server).count(f"listening on {HOST}:{port}") == workers
        answers_at_once(port)

        server.send_signal(signal.SIGHUP)
        reloading = fields(notify_socket)
        assert reloading.keys() == {"RELOADING", "MONOTONIC_USEC"} and reloading["RELOADING"] == "1"
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        assert 0 <= now - int(reloading["MONOTONIC_USEC"]) < WAIT * 1_000_000
        assert fields(notify_socket) == {"READY": "1"}
        answers_at_once(port)

        server.send_signal(signal.SIGTERM)
        assert fields(notify_socket) == {"STOPPING": "1"}
        assert server.wait(WAIT) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        server.stderr.close()
    notify_socket.settimeout(0)
    with pytest.raises(BlockingIOError):
        notify_socket.recv(4096)        # nothing more: no worker's own notification reached systemd

