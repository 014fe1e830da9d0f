"""resolver.net.sdnotify: datagrams to ``$NOTIFY_SOCKET`` (a path or an abstract ``@`` address), nothing
without it, never an exception for a socket nobody holds; a parent's socket for its workers tells
who said READY=1."""
from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

import pytest

from resolver.net import sdnotify


def bound(name: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sdnotify.address(name))
    sock.settimeout(5.0)
    return sock


@pytest.mark.parametrize("kind", ["path", "abstract"])
def test_ready_goes_to_the_socket_named(kind, tmp_path: Path, monkeypatch):
    name = str(tmp_path / "notify") if kind == "path" else f"@resolver-unit-{os.getpid()}-{secrets.token_hex(4)}"
    with bound(name) as sock:
        monkeypatch.setenv("NOTIFY_SOCKET", name)
        assert sdnotify.ready()
        assert sock.recv(4096) == b"READY=1"
        assert sdnotify.stopping()
        assert sock.recv(4096) == b"STOPPING=1"


def test_an_abstract_address_is_a_nul_octet_and_the_name():
    assert sdnotify.address("@some/name") == b"\0some/name"
    assert sdnotify.address("/run/systemd/notify") == "/run/systemd/notify"


def test_without_notify_socket_nothing_is_sent(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not sdnotify.ready()


def test_a_socket_nobody_holds_is_not_an_error(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert not sdnotify.stopping()


def test_worker_reports_name_the_processes_that_said_ready(monkeypatch):
    reports = sdnotify.WorkerReports()
    try:
        assert reports.name.startswith("@")
        monkeypatch.setenv("NOTIFY_SOCKET", reports.name)
        assert sdnotify.reloading()       # read and dropped: not READY=1
        assert sdnotify.ready()
        assert reports.ready() == {os.getpid()}
        assert reports.ready() == set()   # nothing waits any more
    finally:
        reports.close()
