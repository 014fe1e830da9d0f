"""A SIGHUP that comes while a reload runs is not lost: the reload runs once more when it ends, so
the files as they are after the last SIGHUP are served, as NSD serves them (it reloads again); the
second SIGHUP was dropped, and the change it was sent for never served.

The TS's table is a FIFO, so a load waits, in ``open``, until the test writes the table's
text: the first reload is then under way, for certain, when the second SIGHUP comes.
"""
from __future__ import annotations

import errno
import os
import signal
import threading
from pathlib import Path

import dns.rcode

from support.servers import Server, query
from support.waiting import wait_until

WAIT = 10.0     # seconds for any one step


def feed(fifo: Path, text: str) -> None:
    """Write ``text`` to the FIFO once the server opens it to read (a load), and close it."""
    fd = -1

    def opened() -> bool:
        nonlocal fd
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:        # ENXIO: no reader yet
                raise
            return False
        return True
    wait_until(opened, WAIT, f"a load opening {fifo}")
    os.set_blocking(fd, True)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def loading(server: Server) -> bool:
    """Whether a thread of the server waits in ``open`` of a FIFO with no writer yet: a load under way."""
    tasks = f"/proc/{server.proc.pid}/task"
    return any(Path(tasks, task, "wchan").read_text() == "wait_for_partner" for task in os.listdir(tasks))


def table(*names: str) -> str:
    return "".join(f"{name} 192.0.2.{i + 1} A\n" for i, name in enumerate(names))


def test_a_sighup_while_a_reload_runs_runs_it_once_more(start_server, tmp_path):
    fifo = tmp_path / "table.fifo"
    os.mkfifo(fifo)
    first = threading.Thread(target=feed, args=(fifo, table("v0.example")), daemon=True)
    first.start()
    ts = start_server("ts", "--table", str(fifo))
    first.join(WAIT)
    assert query(ts, "v0.example").rcode() == dns.rcode.NOERROR
    ts.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: loading(ts), WAIT, "the first reload waiting for the table")
    ts.proc.send_signal(signal.SIGHUP)          # while it waits
    for _ in range(2):      # answered: the server's loop has turned, and taken the signal
        assert query(ts, "v0.example").rcode() == dns.rcode.NOERROR
    feed(fifo, table("v0.example", "v1.example"))
    ts.wait_for_line("reloaded", timeout=WAIT)
    wait_until(lambda: loading(ts), WAIT, "a second reload, for the SIGHUP that came during the first")
    feed(fifo, table("v0.example", "v1.example", "v2.example"))
    ts.wait_for_line("reloaded", count=2, timeout=WAIT)
    assert query(ts, "v2.example").rcode() == dns.rcode.NOERROR
