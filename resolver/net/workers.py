"""Several worker processes serving the same addresses, for more than one core.

Each worker is a whole server with its own event loop and its own sockets,
bound with SO_REUSEPORT: the kernel spreads clients over the workers by their
address and port, so a client's queries stay with one worker and no state is
shared. The parent checks every address first, once its companion has bound
its own (so a port in use, the companion's included, is one clear error, not
one per worker), fixes port 0 to one real port, forks the workers,
passes SIGINT, SIGTERM and SIGHUP on to them, starts a new worker in place of
one that dies, and exits when they have stopped. It does so in an event loop
of its own (asyncio's: SIGCHLD tells it a worker ended), where a companion
may run beside it: with ``--metrics``, the endpoint that serves every
worker's figures (:class:`Companion`, :mod:`resolver.obs.hub`).
"""
from __future__ import annotations

import asyncio
import collections
import ctypes
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Callable, Protocol

from . import sdnotify
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
HANDLED = (*FORWARDED, signal.SIGCHLD)      # the parent's loop handles these


class Companion(Protocol):
    """What runs in the parent's event loop beside the workers, told of each fork and death.

    Each worker has a slot, 0 to ``count - 1``, which a worker started in
    place of a dead one takes over.
    """

    async def start(self) -> None:
        """Before the first fork. Raises OSError, which stops the server before any worker starts."""

    async def stop(self) -> None:
        """Once every worker has stopped."""

    def before_fork(self, slot: int) -> None:
        """In the parent, just before a worker is forked into ``slot``."""

    def in_child(self, slot: int) -> None:
        """In that worker, just after the fork, before it serves."""

    def after_fork(self, slot: int, pid: int) -> None:
        """In the parent, once worker ``pid`` runs in ``slot``."""

    def ended(self, slot: int, pid: int) -> None:
        """In the parent, once worker ``pid`` of ``slot`` has been reaped."""


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
    servers from reloaded zones). It runs in a thread, so this process's loop
    (the companion's ``/metrics``, the reaping) goes on while a large zone
    loads, and once at a time: SIGHUPs while it runs run it once more when it
    ends, as each worker's own reload does
    (:func:`resolver.net.lifecycle.serve_until_stopped`). No worker is forked meanwhile
    (a lock that thread held would stay held in the worker for good), so one
    to start in place of a dead one is forked once it has returned. Past ``limit``
    (restarts that keep failing, such as a worker that dies as soon as it
    starts) the parent stops the others with SIGTERM and, once they have
    stopped, writes one ``PROG: error:`` line and exits 1.

    SIGINT and SIGTERM are passed on to every worker and stop the server; no
    worker is started again from then on. SIGHUP is passed on (each TS worker
    reloads its zones, each LS worker its config). These signals, and SIGCHLD, are blocked around
    each fork, so one that arrives meanwhile still reaches the new worker, and the worker
    takes none of the parent's handling of them (its event loop's wakeup descriptor included).

    A ``companion`` (:class:`Companion`) starts in the parent's loop before the
    first worker, is told of every fork and reaped worker, and stops once the
    workers have. The ``listen`` addresses are checked (:func:`reserve`) once it
    has started, so one it holds (``--metrics`` on a ``--listen`` port) is a
    ListenError here rather than a worker failing to bind again and again; each
    worker runs ``serve`` with them as :func:`reserve` returns them.

    Run with ``--user``, this process is that user already, with only the
    right to bind ports below 1024 (:mod:`resolver.net.privileges`), which it
    keeps so that a worker started in place of a dead one can bind; each
    worker gives it up once bound. With ``$NOTIFY_SOCKET`` set, this process
    tells systemd READY=1 once every worker it started has said it serves
    (:class:`~resolver.net.sdnotify.WorkerReports`), STOPPING=1 on the first
    stop signal, and RELOADING=1 and READY=1 around ``on_hangup``.
    """

    def __init__(self, count: int, serve: Callable[[list[tuple[str, int]]], None], prog: str,
                 limit: RestartLimit = RestartLimit(), on_hangup: Callable[[], None] | None = None,
                 companion: Companion | None = None, listen: list[tuple[str, int]] | None = None) -> None:
        self.count = count
        self.serve = serve
        self.listen = listen or []
        self.addresses: list[tuple[str, int]] = []     # ``listen`` reserved, port 0 made a real port
        self.on_hangup = on_hangup
        self.prog = prog
        self.limit = limit
        self.companion = companion
        self.restarts = 0                       # workers started in place of dead ones
        self.running: dict[int, int] = {}       # the workers by PID: their slot
        self.stop_signals: set[int] = set()     # the stop signals received (SIGTERM when giving up)
        self.status = 0
        self.failure = ""                       # why the server gave up, written once every worker has stopped
        self._recent: collections.deque[float] = collections.deque()   # time.monotonic() of recent restarts
        self._inherited: dict[int, object] = {}  # the handlers before run(): the workers' SIGHUP, restored after
        self._stopped: asyncio.Event | None = None      # set once no worker runs, nor waits to start
        self._hangup: asyncio.Task | None = None        # on_hangup running, until it has returned
        self._again = False                             # a SIGHUP came while it ran: once more after it
        self._waiting: list[tuple[int, int, str]] = []  # (slot, PID, how it ended) of the dead workers to
                                                        # replace once on_hangup has returned
        self._reports: sdnotify.WorkerReports | None = None     # the workers' READY=1, until all have said it
        self._serving: set[int] = set()                 # PIDs of the workers that said READY=1
        self._ready = False                             # READY=1 said (every worker first started serves)

    def run(self) -> int:
        """Start the workers and supervise them until every one has stopped.

        Returns the exit status: 0 after a stop signal, 1 when the restarts
        exceeded the limit or a fork failed, else the first non-zero status a
        worker exited with while stopping. Raises OSError when the companion
        cannot start, ListenError when an address of ``listen`` cannot be bound.
        """
        self._inherited = {signum: signal.getsignal(signum) for signum in HANDLED}
        try:
            return asyncio.run(self._supervise())
        finally:
            for signum, handler in self._inherited.items():
                signal.signal(signum, handler)

    async def _supervise(self) -> int:
        loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        for signum in FORWARDED:
            loop.add_signal_handler(signum, self._forward, signum)
        loop.add_signal_handler(signal.SIGCHLD, self._reap)
        held = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})     # held until now (resolver.cli)
        try:
            if self.companion is not None:
                await self.companion.start()
            try:
                self.addresses = reserve(self.listen)
                if os.environ.get(sdnotify.NOTIFY_SOCKET):
                    self._reports = sdnotify.WorkerReports()
                    loop.add_reader(self._reports.sock, self._reported)
                if self._hangup is not None:        # a SIGHUP while the companion started
                    await asyncio.wait([self._hangup])
                try:
                    for slot in range(self.count):
                        self._start(slot)
                except OSError as exc:
                    self._give_up(f"cannot start a worker: {exc.strerror or exc}")
                if self.running:
                    await self._stopped.wait()
            finally:
                self._end_reports()
                if self.companion is not None:
                    await self.companion.stop()
            if self.failure:
                print(f"{self.prog}: error: {self.failure}", file=sys.stderr, flush=True)
            return self.status
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def _reported(self) -> None:
        """A worker's notification: once every running worker has said READY=1, so does this process."""
        assert self._reports is not None
        self._serving |= self._reports.ready()
        if self.running and self._serving >= set(self.running):
            self._end_reports()
            self._ready = True
            sdnotify.ready()

    def _end_reports(self) -> None:
        if self._reports is not None:
            asyncio.get_running_loop().remove_reader(self._reports.sock)
            self._reports.close()
            self._reports = None

    def _reap(self) -> None:
        """SIGCHLD: reap every worker that has ended."""
        for pid in list(self.running):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self._reaped(pid, os.waitstatus_to_exitcode(status))
        self._check_stopped()

    def _check_stopped(self) -> None:
        if not self.running and not self._waiting:
            assert self._stopped is not None
            self._stopped.set()

    def _forward(self, signum: int) -> None:
        if signum in STOP_SIGNALS:
            if not self.stop_signals:
                sdnotify.stopping()
            self.stop_signals.add(signum)
            self._waiting.clear()       # none starts from now on
            self._check_stopped()
        for pid in self.running:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass
        if signum == signal.SIGHUP and self.on_hangup is not None:
            if self._hangup is None:
                self._hangup = asyncio.get_running_loop().create_task(self._hang_up())
            else:
                self._again = True

    async def _hang_up(self) -> None:
        """``on_hangup`` in a thread, again while SIGHUPs came as it ran; then the workers that died
        meanwhile are replaced."""
        self._again = True
        ready = self._ready         # RELOADING=1 and READY=1 around a reload, once READY=1 was said
        if ready:
            sdnotify.reloading()
        while self._again:
            self._again = False
            try:
                await asyncio.get_running_loop().run_in_executor(None, self.on_hangup)
            except Exception as exc:    # its own errors it reports itself (a zone that fails to load)
                log.error("SIGHUP: preparing again for new workers failed: %s", exc)
        if ready:
            sdnotify.ready()
        self._hangup = None
        waiting, self._waiting = self._waiting, []
        for slot, pid, how in waiting:
            self._replace(slot, pid, how)

    def _start(self, slot: int) -> int:
        """Fork one worker into ``slot`` with the handled signals blocked, so none is handled
        before its PID is in :attr:`running`; the worker holds SIGHUP until its loop handles it.
        Raises OSError when the fork fails."""
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
        parent = os.getpid()
        try:
            if self.companion is not None:
                self.companion.before_fork(slot)
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    signal.set_wakeup_fd(-1)        # the parent's loop's: this worker's signals are its own
                    _stop_with(parent)
                    for signum in (*STOP_SIGNALS, signal.SIGCHLD):
                        signal.signal(signum, signal.SIG_DFL)
                    signal.signal(signal.SIGHUP, self._inherited[signal.SIGHUP])
                    if self.companion is not None:
                        self.companion.in_child(slot)
                    if self._reports is not None:       # the worker's READY=1 goes to this process
                        os.environ[sdnotify.NOTIFY_SOCKET] = self._reports.name
                        self._reports.close()
                    signal.pthread_sigmask(signal.SIG_SETMASK, blocked | {signal.SIGHUP})
                    code = _child(lambda: self.serve(self.addresses), self.prog)
                finally:
                    os._exit(code)
            self.running[pid] = slot
            if self.companion is not None:
                self.companion.after_fork(slot, pid)
            if self.stop_signals:   # asked to stop between the fork and the add
                os.kill(pid, next(iter(self.stop_signals)))
            return pid
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def _reaped(self, pid: int, code: int) -> None:
        """A worker ended with ``code`` (minus the signal's number when killed by one)."""
        slot = self.running.pop(pid)
        if self.companion is not None:
            self.companion.ended(slot, pid)
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
        self._recent.append(now)
        if self._hangup is not None:
            self._waiting.append((slot, pid, how))
        else:
            self._replace(slot, pid, how)

    def _replace(self, slot: int, pid: int, how: str) -> None:
        """Fork a worker into ``slot`` in place of worker ``pid``, which ``how`` ended; give up when
        the fork fails."""
        try:
            new = self._start(slot)
        except OSError as exc:
            self._give_up(f"worker {pid} {how} and no worker can start in its place: {exc.strerror or exc}")
            return
        self.restarts += 1
        log.warning("worker %d %s; started worker %d in its place (restart %d)", pid, how, new, self.restarts)

    def _give_up(self, reason: str) -> None:
        self.failure = reason
        self.status = 1
        self._forward(signal.SIGTERM)


def run_workers(count: int, listen: list[tuple[str, int]], serve: Callable[[list[tuple[str, int]]], None], prog: str,
                on_hangup: Callable[[], None] | None = None, companion: Companion | None = None) -> int:
    """Run ``serve`` on the ``listen`` addresses (port 0 made one real port) in ``count`` forked
    processes until SIGINT or SIGTERM, starting a new one in place of one that dies, and
    ``on_hangup`` here on SIGHUP, with ``companion`` beside them (see :class:`Workers`); returns
    the exit status. Raises OSError when the companion cannot start, ListenError when an address
    cannot be bound."""
    return Workers(count, serve, prog, on_hangup=on_hangup, companion=companion, listen=listen).run()


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


def tag_log_lines(prog: str) -> None:
    """Make this worker's log lines say which worker wrote them, ``resolver ls[4242]: …`` (its PID,
    as NSD's and syslog's ``nsd[4242]:``): each of N workers logs the same events (listening, a
    backend up), which read as one line repeated without it."""
    for handler in logging.getLogger().handlers:
        handler.setFormatter(logging.Formatter(f"{prog}[{os.getpid()}]: %(message)s"))


def _child(serve: Callable[[], None], prog: str) -> int:
    tag_log_lines(prog)
    try:
        serve()
        return 0
    except Exception as exc:  # a worker reports its own failure in one line, like the parent would
        print(f"{prog}: error: worker {os.getpid()}: {exc}", file=sys.stderr)
        return 1
    finally:
        sys.stderr.flush()
