"""Telling systemd how a ``Type=notify`` service is doing: ``sd_notify(3)``'s protocol.

systemd names a unix datagram socket in ``$NOTIFY_SOCKET`` (a path, or an
abstract address written with a leading ``@``); each notification is one
datagram of ``KEY=VALUE`` lines. A server sends ``READY=1`` once every
address is served, ``STOPPING=1`` when asked to stop, and ``RELOADING=1``
(with ``MONOTONIC_USEC``, which ``Type=notify-reload`` wants from systemd
253 on) then ``READY=1`` around a SIGHUP reload. Without ``$NOTIFY_SOCKET``
nothing is sent.

With ``--workers`` the parent alone speaks to systemd (whose default
``NotifyAccess=main`` hears only it): each worker's ``$NOTIFY_SOCKET`` is
the parent's :class:`WorkerReports`, and the parent says READY=1 once every
worker has said it.
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
import struct
import time

log = logging.getLogger("resolver")

NOTIFY_SOCKET = "NOTIFY_SOCKET"


def address(name: str) -> str | bytes:
    """The socket address of ``$NOTIFY_SOCKET``'s value: a path, or an abstract address (``@NAME``)
    as the kernel takes it, a NUL octet first."""
    return b"\0" + name[1:].encode() if name.startswith("@") else name


def notify(*fields: str) -> bool:
    """Send ``fields`` (``KEY=VALUE`` each) as one datagram to ``$NOTIFY_SOCKET``; whether it was
    sent. A socket that cannot be reached is logged at debug level, never raised: the service
    manager's absence must not stop a server."""
    name = os.environ.get(NOTIFY_SOCKET)
    if not name:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto("\n".join(fields).encode(), address(name))
    except OSError as exc:
        log.debug("cannot notify %s: %s", name, exc.strerror or exc)
        return False
    return True


def ready() -> bool:
    """``READY=1``: every address is served."""
    return notify("READY=1")


def stopping() -> bool:
    """``STOPPING=1``: asked to stop, the server is closing."""
    return notify("STOPPING=1")


def reloading() -> bool:
    """``RELOADING=1`` with ``MONOTONIC_USEC`` (CLOCK_MONOTONIC, microseconds): a SIGHUP reload begins;
    :func:`ready` says it ended."""
    return notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")


class WorkerReports:
    """A notify socket of the parent's, for its workers (an abstract address, so no file is left
    behind, and reachable only from this network namespace).

    Credentials are passed with each datagram (SO_PASSCRED), so each says
    which process sent it, as systemd's own socket tells them apart.
    """

    def __init__(self) -> None:
        self.name = f"@resolver-{os.getpid()}-{secrets.token_hex(4)}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(address(self.name))

    def ready(self) -> set[int]:
        """The PIDs of the processes whose datagrams waiting here say READY=1 (others are read and dropped)."""
        pids: set[int] = set()
        while True:
            try:
                data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(struct.calcsize("3i")))
            except (BlockingIOError, InterruptedError):
                return pids
            if b"READY=1" in data.split(b"\n"):
                pids.update(struct.unpack_from("i", value)[0] for level, kind, value in ancillary
                            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS)

    def close(self) -> None:
        self.sock.close()
