"""Several worker processes serving the same addresses, for more than one core.

Each worker is a whole server with its own event loop and its own sockets,
bound with SO_REUSEPORT: the kernel spreads clients over the workers by their
address and port, so a client's queries stay with one worker and no state is
shared. The parent checks every address first (so a port in use is one clear
error, not one per worker), fixes port 0 to one real port, forks the workers,
passes SIGINT, SIGTERM and SIGHUP on to them, and exits when they have.
"""
from __future__ import annotations

import os
import signal
import sys
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


def run_workers(count: int, serve: Callable[[], None], prog: str) -> int:
    """Run ``serve`` in ``count`` forked processes; the exit status is the worst of theirs."""
    children: list[int] = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            os._exit(_child(serve, prog))
        children.append(pid)

    stop_signals: set[int] = set()

    def forward(signum: int, frame: object) -> None:
        if signum != signal.SIGHUP:
            stop_signals.add(signum)
        for child in children:
            try:
                os.kill(child, signum)
            except ProcessLookupError:
                pass

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    worst = 0
    running = set(children)
    while running:
        pid, status = os.wait()
        running.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        if code < 0 and -code in stop_signals:
            code = 0            # a worker still starting up when asked to stop: a normal stop
        if code != 0 and not worst:
            worst = code if code > 0 else 1
            forward(signal.SIGTERM, None)   # one worker failed: stop the others too
    return worst


def _child(serve: Callable[[], None], prog: str) -> int:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        serve()
        return 0
    except Exception as exc:  # a worker reports its own failure in one line, like the parent would
        print(f"{prog}: error: worker {os.getpid()}: {exc}", file=sys.stderr)
        return 1
    finally:
        sys.stderr.flush()
