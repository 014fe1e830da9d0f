"""Ctrl-C (SIGINT) or SIGTERM during a long client run: the lines of every name done are written,
in input order, stderr says how many names were left, the status is 128 + the signal. (Names done
behind an unfinished one are kept too: tests/unit/test_client_order.py.)"""
from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from typing import Iterator

import pytest

from support.fakes import FakeBackend, by_name, nxdomain, silent
from support.paths import ROOT, ZONES
from support.waiting import wait_until

DONE = ["www.ibm.com", "gone1.example", "WWW.RUTGERS.EDU", "gone2.example", "www.ibm.com"]
DONE_LINES = ["www.ibm.com 129.42.38.10 A", "gone1.example - Error:HOST NOT FOUND",
              "WWW.RUTGERS.EDU 128.6.46.111 A", "gone2.example - Error:HOST NOT FOUND",
              "www.ibm.com 129.42.38.10 A"]
LATER = ["slow.example"] + [f"after{i}.example" for i in range(20)]


@contextlib.contextmanager
def client(*argv: str, stdout: int = subprocess.DEVNULL) -> Iterator[subprocess.Popen]:
    """``resolver client ARGV…`` with its standard input a pipe this test writes (left open) and its
    standard error read; killed by its PID at the end if still running, its pipes closed."""
    proc = subprocess.Popen([sys.executable, "-m", "resolver", "client", *argv], stdin=subprocess.PIPE,
                            stdout=stdout, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize("signum,form,source", [(signal.SIGINT, "text", "file"), (signal.SIGTERM, "json", "file"),
                                                (signal.SIGINT, "text", "stdin"), (signal.SIGHUP, "text", "file")])
def test_a_stopped_run_writes_the_names_done_and_says_how_many_were_left(start_server, tmp_path, signum, form,
                                                                          source):
    """An LS over TS1 and a backend that never answers slow.example (and NXDOMAIN to the rest): the
    LS waits its 30 s timeout for that name. One name at a time, so when that backend sees the query
    for slow.example every name before it is done; the signal then comes while it is in flight.
    Names from standard input, still open: the count is of the names read, and the run still ends."""
    ts = start_server("ts", "--table", str(ZONES / "ts1.txt"))
    with FakeBackend(by_name({"slow.example": silent}, nxdomain())) as fake:
        ls = start_server("ls", "--backend", ts.hostport, "--backend", fake.hostport, "--timeout", "30")
        hosts = tmp_path / "hosts.txt"
        hosts.write_text("\n".join(DONE + LATER) + "\n")
        out = tmp_path / "RESOLVED.txt"
        with client("--server", ls.hostport, str(hosts) if source == "file" else "-", "--out", str(out),
                    "--concurrency", "1", "--timeout", "60", "--format", form) as run:
            if source == "stdin":
                run.stdin.write(hosts.read_text())
                run.stdin.flush()
            wait_until(lambda: any(str(q.q.qname) == "slow.example." for q in fake.seen), timeout=20,
                       what="the query for slow.example")
            run.send_signal(signum)
            run.wait(10)             # without closing its standard input
            err = run.stderr.read()
    assert run.returncode == 128 + signum, err
    if form == "text":
        assert out.read_text().splitlines() == DONE_LINES
    else:
        assert [entry["name"] for entry in json.loads(out.read_text())] == DONE
    left = ("21 of 26 names left unresolved" if source == "file" else
            "21 names read and left unresolved, the rest of the input not read")
    assert err.splitlines() == [f"resolver client: 3 resolved, 2 not found; wrote {out}",
                                f"resolver client: interrupted ({signum.name}): {left}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["RESOLVED.txt", "hosts.txt"]


def test_a_stop_while_standard_input_is_idle_ends_the_run_at_once_and_a_second_changes_nothing(start_server):
    """Names from a pipe whose writer has gone quiet: SIGTERM (then SIGINT on its heels) ends the run
    at once, the name done written and counted; before, the run waited for the pipe to close, and a
    second Ctrl-C lost everything and left the temporary file."""
    ts = start_server("ts", "--table", str(ZONES / "ts1.txt"))
    with client("--server", ts.hostport, "-", "--out", "-", stdout=subprocess.PIPE) as run:
        run.stdin.write("www.ibm.com\n")
        run.stdin.flush()
        assert run.stdout.readline() == "www.ibm.com 129.42.38.10 A\n"      # done, and its line out
        run.send_signal(signal.SIGTERM)
        run.send_signal(signal.SIGINT)
        assert run.wait(5) == 128 + signal.SIGTERM       # the input still open
        err = run.stderr.read()
    assert err.splitlines()[-1] == ("resolver client: interrupted (SIGTERM): 0 names read and left unresolved, "
                                    "the rest of the input not read")
