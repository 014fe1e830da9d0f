"""--workers: several processes on one address (SO_REUSEPORT), started and stopped as one, a dead one replaced."""
from __future__ import annotations

import asyncio
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

import dns.message
import dns.query
import dns.rcode
import pytest

from resolver.net.lifecycle import LISTENING
from resolver.net.workers import RestartLimit, Workers
from support.paths import ZONES
from support.servers import query
from support.waiting import wait_until, wait_until_async


def worker_pids(server) -> set[int]:
    children = f"/proc/{server.proc.pid}/task/{server.proc.pid}/children"
    with open(children) as listing:
        return {int(pid) for pid in listing.read().split()}


def asked_from_many_ports(server, name: str, count: int = 40) -> list[dns.message.Message]:
    """Each query from a new socket, so SO_REUSEPORT spreads them over the workers."""
    return [dns.query.udp(dns.message.make_query(name, "A"), server.host, port=server.port, timeout=3)
            for _ in range(count)]


@pytest.mark.parametrize("command", ["ts", "ls"])
def test_workers_answer_on_one_port_and_stop_together(start_server, demo_backends, command):
    ts1, ts2 = demo_backends
    args = ["--table", str(ZONES / "ts1.txt")] if command == "ts" else ["--backend", ts1.hostport, "--backend", ts2.hostport]
    server = start_server(command, *args, "--workers", "3")
    workers = worker_pids(server)
    assert len(workers) == 3
    replies = asked_from_many_ports(server, "www.ibm.com")
    assert all(r.rcode() == dns.rcode.NOERROR and r.answer[0][0].address == "129.42.38.10" for r in replies)
    assert query(server, "www.ibm.com", tcp=True).answer[0][0].address == "129.42.38.10"

    started = time.monotonic()
    assert server.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 1.0
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind((server.host, server.port))


def test_each_workers_log_lines_carry_its_pid(start_server, demo_backends):
    """N workers log the same events: each line says whose, ``resolver ls[PID]:`` as NSD's do."""
    ts1, ts2 = demo_backends
    server = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport, "--workers", "2")
    server.wait_for_line(LISTENING, count=2)
    tagged = {int(match.group(1)) for line in server.lines
              if (match := re.match(r"resolver ls\[(\d+)\]: listening on ", line))}
    assert tagged == worker_pids(server)


def test_workers_with_a_port_in_use_fail_in_one_line(start_server):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        result = subprocess.run([sys.executable, "-m", "resolver", "ts", "--listen", f"127.0.0.1:{taken.getsockname()[1]}",
                                 "--table", str(ZONES / "ts1.txt"), "--workers", "2"],
                                capture_output=True, text=True, timeout=20)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "address already in use" in result.stderr


class PortsLoad:
    """A bounded stream of A queries for www.ibm.com from ``SOCKETS`` UDP sockets (so from as
    many source ports, which SO_REUSEPORT hashes over the workers), in rounds of one query per
    socket; a reply not in by ``ROUND_TIMEOUT`` seconds counts as unanswered. Runs until
    :meth:`stop`, ``MAX_QUERIES`` queries or ``MAX_SECONDS``, whichever comes first."""

    SOCKETS = 16
    ROUND_TIMEOUT = 1.0
    MAX_QUERIES = 40_000
    MAX_SECONDS = 30.0

    def __init__(self, server) -> None:
        self.address = (server.host, server.port)
        self.rounds: list[tuple[float, int]] = []     # (time.monotonic() at its start, its unanswered)
        self.answered = 0
        self.wrong = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.MAX_SECONDS)
        assert not self._thread.is_alive()

    @property
    def sent(self) -> int:
        return len(self.rounds) * self.SOCKETS

    def _run(self) -> None:
        sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(self.SOCKETS)]
        sel = selectors.DefaultSelector()
        for sock in sockets:
            sock.connect(self.address)
            sel.register(sock, selectors.EVENT_READ)
        ended = time.monotonic() + self.MAX_SECONDS
        try:
            while not self._stop.is_set() and self.sent < self.MAX_QUERIES and time.monotonic() < ended:
                self._round(sockets, sel)
        finally:
            sel.close()
            for sock in sockets:
                sock.close()

    def _round(self, sockets: list[socket.socket], sel: selectors.BaseSelector) -> None:
        started = time.monotonic()
        waiting = {}
        for sock in sockets:
            q = dns.message.make_query("www.ibm.com", "A")
            sock.send(q.to_wire())
            waiting[sock] = q
        deadline = started + self.ROUND_TIMEOUT
        while waiting and time.monotonic() < deadline:
            for key, _ in sel.select(deadline - time.monotonic()):
                try:
                    reply = dns.message.from_wire(key.fileobj.recv(4096))
                except ConnectionRefusedError:
                    continue        # an ICMP port unreachable: no socket on the port for a moment
                q = waiting.get(key.fileobj)
                if q is None or not q.is_response(reply):
                    continue        # a late reply to an earlier round
                del waiting[key.fileobj]
                self.answered += 1
                if reply.rcode() != dns.rcode.NOERROR or reply.answer[0][0].address != "129.42.38.10":
                    self.wrong += 1
        self.rounds.append((started, len(waiting)))


def test_a_killed_worker_is_replaced_while_the_others_answer(start_server, demo_backends):
    ts1, ts2 = demo_backends
    server = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport, "--workers", "2")
    server.wait_for_line(LISTENING, count=2)        # both workers are serving
    workers = worker_pids(server)
    load = PortsLoad(server)
    try:
        wait_until(lambda: load.answered >= 1000, 15, "1,000 answers before the kill")
        killed = min(workers)
        os.kill(killed, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_until(lambda: worker_pids(server) - workers, 5, "a new worker")
        replaced_at = time.monotonic()
        answered = load.answered
        wait_until(lambda: load.answered >= answered + 1000, 15, "1,000 answers after the new worker started")
    finally:
        load.stop()
    (new,) = worker_pids(server) - workers
    assert worker_pids(server) == workers - {killed} | {new}
    server.wait_for_line(re.compile(rf"worker {killed} was killed by SIGKILL; started worker {new} in its place "
                                    r"\(restart 1\)$"))
    # Only queries the kernel had already put on the killed worker's socket are lost: those of
    # the rounds under way between the kill and its reaping, at most a round's worth (one per
    # socket) since each round waits for every reply or its timeout. After that, none.
    unanswered = load.sent - load.answered
    late = [lost for started, lost in load.rounds if started >= replaced_at and lost]
    print(f"\n{load.sent} queries, {load.answered} answered, {unanswered} unanswered; "
          f"new worker after {(replaced_at - killed_at) * 1000:.1f} ms")
    assert load.wrong == 0
    assert unanswered <= PortsLoad.SOCKETS and not late

    started = time.monotonic()
    assert server.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 1.0
    assert server.count_lines("in its place") == 1      # none started again while stopping
    for pid in workers | {new}:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_workers_that_keep_dying_stop_the_server_in_one_line(start_server):
    server = start_server("ts", "--table", str(ZONES / "ts1.txt"), "--workers", "2")
    limit = RestartLimit()
    killed: set[int] = set()

    def kill_new_workers() -> bool:
        """SIGKILL every worker not killed yet; true once the parent has exited."""
        try:
            fresh = worker_pids(server) - killed
        except FileNotFoundError:
            return True
        for pid in fresh:
            os.kill(pid, signal.SIGKILL)
        killed.update(fresh)
        assert len(killed) <= 2 + limit.burst + 1, "the parent did not give up"
        return server.proc.poll() is not None
    wait_until(kill_new_workers, limit.interval, "the parent giving up")
    assert server.stop() == 1
    assert server.count_lines("in its place (restart ") == limit.burst
    assert server.count_lines(f"(restart {limit.burst})") == 1
    assert server.count_lines("error:") == 1
    assert re.fullmatch(rf"resolver ts: error: worker \d+ was killed by SIGKILL after {limit.burst} restarts within "
                        rf"{limit.interval:g} s: giving up", server.lines[-1])
    for pid in killed:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_the_restart_count_and_its_limit_in_process():
    """Workers whose serve fails at once: each is started again, up to the limit, and the count is kept."""
    def fail(addresses: list[tuple[str, int]]) -> None:
        raise RuntimeError("no zones today")

    term_before = signal.getsignal(signal.SIGTERM)
    workers = Workers(2, fail, "resolver test", RestartLimit(burst=3, interval=60.0))
    assert workers.run() == 1
    assert workers.restarts == 3 and not workers.running
    assert re.fullmatch(r"worker \d+ exited with status 1 after 3 restarts within 60 s: giving up", workers.failure)
    assert signal.getsignal(signal.SIGTERM) is term_before


def idle(addresses: list[tuple[str, int]]) -> None:
    """A worker that serves nothing: it waits for the signal that stops it."""
    while True:
        signal.pause()


def test_sighup_in_the_parent_runs_beside_its_loop_and_a_dead_worker_is_replaced_after_it():
    """``on_hangup`` (the TS loading every zone again) runs in a thread: the parent's loop, where
    ``/metrics`` is served, reaps a worker killed meanwhile, and forks its replacement only once
    ``on_hangup`` has returned (a fork beside that thread could copy a lock it holds). A second
    SIGHUP while it runs runs it once more after it, as a worker's reload does."""
    events: list[tuple] = []
    loading, release = threading.Event(), threading.Event()

    def on_hangup() -> None:
        loading.set()
        events.append(("reloaded", release.wait(10)))      # False: the loop never got to release it

    class Observer:
        """The companion: records forks and deaths, and drives the test from the parent's loop."""

        async def start(self) -> None:
            self.driving = asyncio.get_running_loop().create_task(self.drive())

        async def drive(self) -> None:
            try:
                await wait_until_async(lambda: len(workers.running) == 2, 5, "two workers")
                os.kill(os.getpid(), signal.SIGHUP)
                await wait_until_async(loading.is_set, 5, "on_hangup called")
                os.kill(os.getpid(), signal.SIGHUP)     # handled before the SIGCHLD of the kill below
                os.kill(min(workers.running), signal.SIGKILL)
                await wait_until_async(lambda: ("ended", 0) in events or ("ended", 1) in events, 5, "the reaping")
                events.append(("released",))
                release.set()
                await wait_until_async(lambda: workers.restarts == 1, 5, "the replacement")
            except AssertionError as exc:
                events.append(("failed", str(exc)))
            finally:
                release.set()
                os.kill(os.getpid(), signal.SIGTERM)

        async def stop(self) -> None:
            await asyncio.wait([self.driving])

        def before_fork(self, slot: int) -> None:
            pass

        def in_child(self, slot: int) -> None:
            pass

        def after_fork(self, slot: int, pid: int) -> None:
            events.append(("forked", slot))

        def ended(self, slot: int, pid: int) -> None:
            events.append(("ended", slot))

    workers = Workers(2, idle, "resolver test", on_hangup=on_hangup, companion=Observer())
    assert workers.run() == 0
    killed = events[2][1]
    assert events[:7] == [("forked", 0), ("forked", 1), ("ended", killed), ("released",), ("reloaded", True),
                          ("reloaded", True), ("forked", killed)], events
    assert sorted(events[7:]) == [("ended", 0), ("ended", 1)], events      # stopped


def gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie nobody has reaped yet counts as exited)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return any(line.startswith("State:") and "Z" in line.split()[1] for line in status)
    except FileNotFoundError:
        return True


def test_workers_stop_when_their_parent_is_killed(start_server, demo_backends):
    """SIGKILL to the parent, which cannot pass anything on: the kernel sends each worker SIGTERM
    (PR_SET_PDEATHSIG), so none goes on serving the port beside a server started after it."""
    ts1, ts2 = demo_backends
    server = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport, "--workers", "2")
    server.wait_for_line(LISTENING, count=2)
    workers = worker_pids(server)
    assert len(workers) == 2
    server.proc.kill()
    server.proc.wait(5)
    try:
        wait_until(lambda: all(gone(pid) for pid in workers), 5, "the workers gone")
    finally:
        for pid in workers:     # the test's own workers, by PID, should they have outlived it
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
