"""A server's life: the event loop, listening until SIGINT or SIGTERM, SIGHUP, and draining."""
from __future__ import annotations

import asyncio
import logging
import re
import signal
from typing import Awaitable, Callable, Iterable

from . import sdnotify
from .addresses import ipv4_on_port
from .listening import Handler, ListenOptions, listen
from .privileges import settle

log = logging.getLogger("resolver")

# A server says ``listening on HOST:PORT (udp+tcp)`` on stderr once each address is bound, with the
# port it got for port 0: the readiness signal that scripts and tests read with this pattern.
LISTENING = re.compile(r"listening on (\[[^\]]+\]|[^\s:]+):(\d+)")


def run(main) -> int:
    """Run a coroutine on uvloop when it is installed, else on the standard loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


async def serve_until_stopped(addresses: Iterable[tuple[str, int]], handler: Handler,
                              ready: Callable[[], None] = lambda: None,
                              options: ListenOptions = ListenOptions(),
                              on_hangup: Callable[[], Awaitable[None]] | None = None,
                              drain: Callable[[], Awaitable[None]] | None = None) -> None:
    """Listen on every address until SIGINT or SIGTERM, then close every socket.

    ``ready`` runs once every address is bound, so that start-up messages
    appear only for a server that really started. SIGHUP runs ``on_hangup``
    (one at a time: SIGHUPs while it runs run it once more when it ends, as
    NSD reloads again, so the files as they are after the last SIGHUP are the
    ones served); without one it is logged and ignored. A SIGHUP held
    (blocked) until the handler is in runs it then. After the stop
    signal, ``drain`` runs while the sockets can still send replies. An IPv6
    address takes IPv6 only when an IPv4 address is listened on the same port
    (:func:`~resolver.net.addresses.ipv4_on_port`); else ``[::]`` serves IPv4 too.

    Once every address is bound, a process not running as root gives up the
    capability that bound them (:func:`~resolver.net.privileges.settle`). It
    tells the service manager (:mod:`~resolver.net.sdnotify`, when
    ``$NOTIFY_SOCKET`` is set) READY=1 once ``ready`` has run, RELOADING=1
    and READY=1 around each ``on_hangup``, and STOPPING=1 on the stop signal.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    hangups: set[asyncio.Task] = set()
    again = False           # a SIGHUP came while on_hangup ran
    serving = False         # READY=1 said

    async def reloading() -> None:
        assert on_hangup is not None
        announced = serving    # a reload before READY=1 (a SIGHUP held during start-up) is not announced
        if announced:
            sdnotify.reloading()
        try:
            await on_hangup()
        finally:
            if announced:
                sdnotify.ready()

    def reload() -> None:
        task = loop.create_task(reloading())
        hangups.add(task)
        task.add_done_callback(reloaded)

    def reloaded(task: asyncio.Task) -> None:
        nonlocal again
        hangups.discard(task)
        if again and not stop.is_set():
            again = False
            reload()

    def hangup() -> None:
        nonlocal again
        if on_hangup is None:
            log.info("SIGHUP: nothing to reload")
        elif hangups:
            again = True
        else:
            reload()
    loop.add_signal_handler(signal.SIGHUP, hangup)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})    # held until now (resolver.cli)
    listeners = []
    try:
        addresses = list(addresses)
        for host, port in addresses:
            listener = await listen(host, port, handler, options, v6only=ipv4_on_port(port, addresses))
            listeners.append(listener)
            log.info("listening on %s (udp+tcp)", listener)
        settle()
        ready()
        sdnotify.ready()
        serving = True
        await stop.wait()
        sdnotify.stopping()
        if drain is not None:
            await drain()
    finally:
        for listener in listeners:
            listener.close()
