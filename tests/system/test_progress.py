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
from resolver.client.progress import MIN_NAMES, REDRAW_SECONDS, ProgressBar, frame


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def eighty() -> int:
    return 80


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_draws_on_a_terminal_and_clears_its_line():
    stream, clock = FakeTerminal(), Clock()
    bar = ProgressBar(10_000, stream, clock, eighty)
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
    bar = ProgressBar(MIN_NAMES * 100, stream, clock, eighty)
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


def test_a_frame_fits_the_room_it_is_given():
    """The bar loses cells, then goes, then the time goes; nothing is ever wider than the room."""
    assert frame(5_120, 10_000, 2.3, 79) == "[##########          ] 5,120/10,000 names  2.3 s"
    assert frame(5_120, 10_000, 2.3, 39) == "[#####      ] 5,120/10,000 names  2.3 s"
    assert frame(5_120, 10_000, 2.3, 30) == "5,120/10,000 names  2.3 s"
    assert frame(5_120, 10_000, 2.3, 20) == "5,120/10,000 names"
    assert frame(5_120, 10_000, 2.3, 10) == "5,120/10,0"
    assert frame(5_120, None, 2.3, 79) == "5,120 names  2.3 s"
    for room in range(1, 120):
        assert len(frame(123_456, 1_000_000, 1234.5, room)) <= room


def test_a_narrower_terminal_gets_a_narrower_frame_and_a_clear_of_its_width():
    stream, clock, columns = FakeTerminal(), Clock(), [80]
    bar = ProgressBar(10_000, stream, clock, lambda: columns[0])
    bar.advance()
    columns[0] = 25
    clock.now += 1
    bar.advance()
    frames = stream.getvalue().split("\r")[1:]
    assert frames[1] == "2/10,000 names  1.0 s   "      # padded over the last frame, up to the new room
    bar.clear()
    assert stream.getvalue().endswith("\r" + " " * 24 + "\r")


def run_on_terminal(ts, tmp_path, columns: int, env_columns: bool) -> str:
    """The client on a pseudo-terminal ``columns`` wide, told so by COLUMNS or by the terminal's size."""
    import fcntl
    import struct
    import termios
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    if env_columns:
        env["COLUMNS"] = str(columns)
    else:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    try:
        names = ["www.ibm.com", "www.amazon.com", "WWW.RUTGERS.EDU"] * (MIN_NAMES // 2)
        hosts = tmp_path / "hosts.txt"
        hosts.write_text("\n".join(names) + "\n")
        proc = subprocess.Popen([sys.executable, "-m", "resolver", "client", "--server", ts.hostport, str(hosts),
                                 "--out", str(tmp_path / "out")], stderr=slave, stdout=subprocess.DEVNULL,
                                cwd=ROOT, env=env)
        os.close(slave)
        shown = read_until_closed(master)
    finally:
        os.close(master)
    assert proc.wait(30) == 0
    return shown


def test_the_bar_fits_a_narrow_terminal_on_one_line(start_server, tmp_path):
    """40 columns, by COLUMNS or by the terminal's size: every frame is at most 39 characters and is
    redrawn on the same line (no newline before the summary), where 43 would wrap onto the next."""
    ts = start_server("ts", "--table", str(ZONES / "ts1.txt"))
    for env_columns in (True, False):
        shown = run_on_terminal(ts, tmp_path, 40, env_columns)
        before, summary = shown.split("resolver client: ", 1)
        assert "\n" not in before
        _, *frames, blank, _ = before.split("\r")
        assert frames and all(0 < len(frame) <= 39 and "/300 names" in frame for frame in frames), frames
        assert blank == " " * max(map(len, frames))
        assert summary.startswith("200 resolved, 100 not found")
