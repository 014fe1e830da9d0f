"""Backends: the authoritative servers behind the LS, one connected UDP socket each.

A connected socket receives datagrams only from the backend's own address and
port (the kernel filters the rest), which is the first check against forged
replies; the race does the others (ID and question).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from .transport import enlarge_buffers, format_hostport

log = logging.getLogger("resolver.ls")


class Backend(asyncio.DatagramProtocol):
    """One upstream server, reached over UDP, and over TCP when a reply is truncated."""

    def __init__(self, index: int, host: str, port: int) -> None:
        self.index = index
        self.host = host
        self.port = port
        self.transport: asyncio.DatagramTransport | None = None
        self.on_reply: Callable[["Backend", bytes], None] = lambda backend, data: None
        self.errors = 0

    def __str__(self) -> str:
        return format_hostport(self.host, self.port)

    async def connect(self, on_reply: Callable[["Backend", bytes], None]) -> None:
        self.on_reply = on_reply
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, remote_addr=(self.host, self.port))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        enlarge_buffers(transport.get_extra_info("socket"))

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.on_reply(self, data)

    def error_received(self, exc: Exception) -> None:
        # An ICMP error (port unreachable: the backend is down) surfaces here.
        self.errors += 1
        log.debug("backend %s: %s", self, exc)

    def send(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.sendto(data)

    async def query_tcp(self, data: bytes, timeout: float) -> bytes:
        """One query over a fresh TCP connection (RFC 7766), for truncated replies."""
        async def exchange() -> bytes:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            try:
                writer.write(len(data).to_bytes(2, "big") + data)
                length = int.from_bytes(await reader.readexactly(2), "big")
                return await reader.readexactly(length)
            finally:
                writer.close()
        return await asyncio.wait_for(exchange(), timeout)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
