"""support.servers.Server leaves no process behind when it cannot hand one over: a wait for a
server to listen that is interrupted (Ctrl-C, or SIGTERM as support.netns turns it into Ctrl-C,
while a fixture starts a server) stops the process it started."""
from __future__ import annotations

import subprocess

import pytest

from support.paths import ZONES
from support.servers import Server


def test_a_server_whose_wait_to_listen_is_interrupted_is_stopped(monkeypatch):
    started: list[subprocess.Popen] = []

    def interrupted(self: Server, timeout: float) -> None:
        started.append(self.proc)
        raise KeyboardInterrupt

    monkeypatch.setattr(Server, "_wait_ready", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Server(["ts", "--listen", "127.0.0.1:0", "--table", str(ZONES / "ts1.txt")])
    (proc,) = started
    try:
        assert proc.poll() is not None, "the server outlived the interrupted wait"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
