"""The client's progress bar: drawn and cleared on a terminal, never anywhere else."""
from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import time

from support.paths import ROOT, ZONES
from resolver.client.progress import MIN_NAMES, REDRAW_SECONDS, ProgressBar


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_draws_on_a_terminal_and_clears_its_line():
    stream, clock = FakeTerminal(), Clock()
    bar = ProgressBar(10_000, stream, clock)
    for _ in range(5120):
        bar.advance()
    clock.now += 2.3
    bar.advance()
    frames = stream.getvalue().split("\r")[1:]
    assert frames == ["[                    ] 1/10,000 names  0.0 s",
                      "[##########          ] 5,121/10,000 names  2.3 s"]
    bar.clear()
    assert stream.getvalue().endswith("\r" + " " * len(frames[-1]) + "\r")


def test_redraws_at_most_once_per_interval():
    stream, clock = FakeTerminal(), Clock()
    bar = ProgressBar(MIN_NAMES * 100, stream, clock)
    for _ in range(50):
        for _ in range(100):
            bar.advance()
        clock.now += REDRAW_SECONDS / 4
    assert stream.getvalue().count("\r") == 13      # 1.25 s of names: a frame at the start and every 0.1 s


def test_writes_nothing_off_a_terminal_or_for_a_short_list():
    for stream, total in ((io.StringIO(), 10_000), (FakeTerminal(), MIN_NAMES - 1)):
        bar = ProgressBar(total, stream)
        for _ in range(total):
            bar.advance()
        bar.clear()
        assert stream.getvalue() == ""


def run_client(server, tmp_path, stderr) -> subprocess.Popen:
    names = ["www.ibm.com", "www.amazon.com", "WWW.RUTGERS.EDU"] * (MIN_NAMES // 2)
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("\n".join(names) + "\n")
    return subprocess.Popen([sys.executable, "-m", "resolver", "client", "--server", server.hostport, str(hosts),
                             "--out", str(tmp_path / "out")], stderr=stderr, stdout=subprocess.DEVNULL, cwd=ROOT)


def read_until_closed(fd: int, timeout: float = 30.0) -> str:
    """All a pseudo-terminal's master side gets until the child closes the other side."""
    chunks = []
    deadline = time.monotonic() + timeout
    while select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
        try:
            chunk = os.read(fd, 4096)
        except OSError:         # EIO: the child has exited and closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_the_client_shows_the_bar_on_a_terminal_only(start_server, tmp_path):
    ts = start_server("ts", "--table", str(ZONES / "ts1.txt"))
    master, slave = pty.openpty()
    try:
        proc = run_client(ts, tmp_path, slave)
        os.close(slave)
        shown = read_until_closed(master)
    finally:
        os.close(master)
    assert proc.wait(30) == 0
    before, summary = shown.split("resolver client: ", 1)
    _, *frames, blank, _ = before.split("\r")
    assert frames and all(frame.endswith(" s") and "/300 names" in frame for frame in frames)
    assert blank == " " * max(map(len, frames))
    assert summary.startswith("200 resolved, 100 not found")

    proc = run_client(ts, tmp_path, subprocess.PIPE)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert err.decode().splitlines() == [f"resolver client: 200 resolved, 100 not found; wrote {tmp_path / 'out'}"]
