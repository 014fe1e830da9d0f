"""Several worker processes serving the same addresses, for more than one core.

Each worker is a whole server with its own event loop and its own sockets,
bound with SO_REUSEPORT: the kernel spreads clients over the workers by their
address and port, so a client's queries stay with one worker and no state is
shared. The parent checks every address first (so a port in use is one clear
error, not one per worker), fixes port 0 to one real port, forks the workers,
passes SIGINT, SIGTERM and SIGHUP on to them, starts a new worker in place of
one that dies, and exits when they have stopped.
"""
from __future__ import annotations

import collections
import ctypes
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Callable

from .addresses import ipv4_on_port
from .listening import bind_pair

def reserve(addresses: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Check that every address can be shared by the workers, bound as they will bind it (IPv6
    only beside IPv4 on the same port); port 0 becomes a free port. Raises ListenError."""
    reserved = []
    for host, port in addresses:
        udp, tcp = bind_pair(host, port, reuse_port=True, v6only=ipv4_on_port(port, addresses))
        reserved.append((host, udp.getsockname()[1]))
        udp.close()
        tcp.close()
    return reserved


log = logging.getLogger("resolver")

PR_SET_PDEATHSIG = 1        # prctl(2): the signal a process gets when its parent dies (Linux)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
FORWARDED = (*STOP_SIGNALS, signal.SIGHUP)


@dataclass(frozen=True)
class RestartLimit:
    """How often dead workers are started again before the server gives up, as systemd's
    ``StartLimitBurst`` and ``StartLimitIntervalSec`` (whose defaults these are): at most
    ``burst`` restarts within any ``interval`` seconds; the next death inside it stops the server."""

    burst: int = 5
    interval: float = 10.0


class Workers:
    """``count`` forked processes each running ``serve``, kept at ``count`` until asked to stop.

    A worker that ends while the server is not stopping (killed by a signal, or
    exiting with any status, 0 included, since a worker only returns when asked
    to stop) is reaped and a new one forked from this process in its place,
    with one warning line on stderr: the dead worker's PID, how it ended, the
    new PID and the running count of restarts (:attr:`restarts`). The new
    worker runs the same ``serve``, so it binds the same addresses (with
    SO_REUSEPORT) and shares whatever the parent prepared before forking (the
    TS's compiled zones) copy-on-write; ``on_hangup``, which runs in this
    process on every SIGHUP once it is passed on, may prepare them again (the
    TS loads its zones again, and the LS reads its config again, so a worker
    started later begins with the last ones that loaded, as NSD forks its
    servers from reloaded zones). Past ``limit``
    (restarts that keep failing, such as a worker that dies as soon as it
    starts) the parent stops the others with SIGTERM and, once they have
    stopped, writes one ``PROG: error:`` line and exits 1.

    SIGINT and SIGTERM are passed on to every worker and stop the server; no
    worker is started again from then on. SIGHUP is passed on (each TS worker
    reloads its zones, each LS worker its config). These three signals are blocked around each fork, so
    one that arrives meanwhile still reaches the new worker.
    """

    def __init__(self, count: int, serve: Callable[[], None], prog: str,
                 limit: RestartLimit = RestartLimit(), on_hangup: Callable[[], None] | None = None) -> None:
        self.count = count
        self.serve = serve
        self.on_hangup = on_hangup
        self.prog = prog
        self.limit = limit
        self.restarts = 0                       # workers started in place of dead ones
        self.running: set[int] = set()
        self.stop_signals: set[int] = set()     # the stop signals received (SIGTERM when giving up)
        self.status = 0
        self.failure = ""                       # why the server gave up, written once every worker has stopped
        self._recent: collections.deque[float] = collections.deque()   # time.monotonic() of recent restarts
        self._inherited: dict[int, object] = {}  # the handlers before run(): the workers' SIGHUP, restored after

    def run(self) -> int:
        """Start the workers and supervise them until every one has stopped.

        Returns the exit status: 0 after a stop signal, 1 when the restarts
        exceeded the limit or a fork failed, else the first non-zero status a
        worker exited with while stopping.
        """
        self._inherited = {signum: signal.signal(signum, self._forward) for signum in FORWARDED}
        held = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})     # held until now (resolver.cli)
        try:
            try:
                for _ in range(self.count):
                    self._start()
            except OSError as exc:
                self._give_up(f"cannot start a worker: {exc.strerror or exc}")
            while self.running:
                pid, status = os.wait()
                self._reaped(pid, os.waitstatus_to_exitcode(status))
            if self.failure:
                print(f"{self.prog}: error: {self.failure}", file=sys.stderr, flush=True)
            return self.status
        finally:
            for signum, handler in self._inherited.items():
                signal.signal(signum, handler)
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def _forward(self, signum: int, frame: object) -> None:
        if signum in STOP_SIGNALS:
            self.stop_signals.add(signum)
        for pid in self.running:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass
        if signum == signal.SIGHUP and self.on_hangup is not None:
            self.on_hangup()

    def _start(self) -> int:
        """Fork one worker with the forwarded signals blocked, so none is handled before
        its PID is in :attr:`running`; the worker holds SIGHUP until its loop handles it.
        Raises OSError when the fork fails."""
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
        parent = os.getpid()
        try:
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    _stop_with(parent)
                    for signum in STOP_SIGNALS:
                        signal.signal(signum, signal.SIG_DFL)
                    signal.signal(signal.SIGHUP, self._inherited[signal.SIGHUP])
                    signal.pthread_sigmask(signal.SIG_SETMASK, blocked | {signal.SIGHUP})
                    code = _child(self.serve, self.prog)
                finally:
                    os._exit(code)
            self.running.add(pid)
            if self.stop_signals:   # asked to stop between the fork and the add
                os.kill(pid, next(iter(self.stop_signals)))
            return pid
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def _reaped(self, pid: int, code: int) -> None:
        """A worker ended with ``code`` (minus the signal's number when killed by one)."""
        self.running.discard(pid)
        how = f"was killed by {_signal_name(-code)}" if code < 0 else f"exited with status {code}"
        if self.stop_signals:
            if code < 0 and -code in self.stop_signals:
                code = 0        # a worker still starting up when asked to stop: a normal stop
            if code and not self.status:
                self.status = code if code > 0 else 1
            return
        now = time.monotonic()
        while self._recent and now - self._recent[0] > self.limit.interval:
            self._recent.popleft()
        if len(self._recent) >= self.limit.burst:
            self._give_up(f"worker {pid} {how} after {len(self._recent)} restarts within "
                          f"{self.limit.interval:g} s: giving up")
            return
        try:
            new = self._start()
        except OSError as exc:
            self._give_up(f"worker {pid} {how} and no worker can start in its place: {exc.strerror or exc}")
            return
        self._recent.append(now)
        self.restarts += 1
        log.warning("worker %d %s; started worker %d in its place (restart %d)", pid, how, new, self.restarts)

    def _give_up(self, reason: str) -> None:
        self.failure = reason
        self.status = 1
        self._forward(signal.SIGTERM, None)


def run_workers(count: int, serve: Callable[[], None], prog: str,
                on_hangup: Callable[[], None] | None = None) -> int:
    """Run ``serve`` in ``count`` forked processes until SIGINT or SIGTERM, starting a new
    one in place of one that dies, and ``on_hangup`` here on SIGHUP (see :class:`Workers`);
    returns the exit status."""
    return Workers(count, serve, prog, on_hangup=on_hangup).run()


def _stop_with(parent: int) -> None:
    """Have the kernel send this worker SIGTERM when ``parent`` dies (PR_SET_PDEATHSIG, Linux), so a
    parent killed with SIGKILL leaves no workers serving on its addresses beside a new server's, as
    SO_REUSEPORT would let them; a worker whose parent is gone already stops at once. Elsewhere
    (no prctl) a worker outlives a parent killed that way."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:      # a real-time signal other than SIGRTMIN and SIGRTMAX
        return f"signal {signum}"


def _child(serve: Callable[[], None], prog: str) -> int:
    try:
        serve()
        return 0
    except Exception as exc:  # a worker reports its own failure in one line, like the parent would
        print(f"{prog}: error: worker {os.getpid()}: {exc}", file=sys.stderr)
        return 1
    finally:
        sys.stderr.flush()
