"""The TS: an authoritative server answering from compiled zones."""
from __future__ import annotations

import asyncio
import logging
from typing import Callable, Iterable

from .authority import Authority, render
from .transport import ListenOptions, Sink, serve_until_stopped
from .zones import ZoneError
from .wire import CLASS_IN, EDE_NOT_SUPPORTED, REFUSED, Query, error_reply, scan_query, transfer_refusal

log = logging.getLogger("resolver.ts")
TCP_LIMIT = 65535


class AuthoritativeServer:
    """Answers queries from an :class:`Authority`, whatever the transport.

    With ``silent_miss`` it behaves like the assignment's TS: it replies only
    when it has a positive answer and stays silent otherwise.
    """

    def __init__(self, authority: Authority, silent_miss: bool = False) -> None:
        self.authority = authority
        self.silent_miss = silent_miss

    def handle(self, data: bytes, sink: Sink, addr: object) -> None:
        reply = self.reply(data, sink.stream)
        if reply is not None:
            sink.send(reply, addr)

    def reply(self, data: bytes, stream: bool = False) -> bytes | None:
        """The reply to one query, sized for UDP or for a stream (TCP)."""
        q = scan_query(data)
        if q is None:
            return None
        rcode, ede = (q.error, None) if q.error else self._refusal(q, stream)
        if rcode or not q.question:
            # Like NSD, a bare header for other opcodes.
            return None if self.silent_miss else error_reply(data, q, rcode, ede=ede, echo=not q.opcode)
        answer = self.authority.lookup(q.qname.lower(), q.question[-4:-2])
        if self.silent_miss and not answer.positive:
            return None
        return render(data, q, answer, TCP_LIMIT if stream else q.udp_limit)

    @staticmethod
    def _refusal(q: Query, stream: bool) -> tuple[int, int | None]:
        """Questions not answered from the zones: other classes (REFUSED, "not
        supported", as NSD with ``hide-version``) and zone transfers."""
        if not q.question:
            return 0, None
        if q.qclass != CLASS_IN:
            return REFUSED, EDE_NOT_SUPPORTED
        return transfer_refusal(q, stream)


async def serve(addresses: Iterable[tuple[str, int]], authority: Authority, silent_miss: bool,
                options: ListenOptions, reload: Callable[[], Authority] | None = None) -> None:
    """Answer on every address until SIGINT or SIGTERM."""
    server = AuthoritativeServer(authority, silent_miss)

    def ready() -> None:
        for zone in server.authority.zones.values():
            log.info("serving zone %s (%d names)%s", zone.apex.to_text(), zone.size,
                     ", silent on misses" if silent_miss else "")
    async def hangup() -> None:
        """SIGHUP: load and compile the zones again while the old ones serve, then swap."""
        if reload is None:
            return
        try:
            fresh = await asyncio.get_running_loop().run_in_executor(None, reload)
        except ZoneError as exc:
            log.error("reload failed, still serving the old zones: %s", exc)
            return
        server.authority = fresh
        log.info("reloaded: %s", ", ".join(f"{z.apex.to_text()} ({z.size} names)" for z in fresh.zones.values()))
    await serve_until_stopped(addresses, server.handle, ready, options, hangup)
    log.info("stopped")
