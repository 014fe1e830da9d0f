"""A backend's UDP send (resolver.net.listening.send_failed for its errors): straight to its connected socket, through
the transport only when that is full; and what its TCP connection keeps of the queries it has not answered."""
from __future__ import annotations

import asyncio
from time import monotonic

from resolver.ls.backends import Backend
from resolver.net.listening import UDP_QUEUE_BYTES
from support.waiting import wait_until_async


class Transport:
    def __init__(self) -> None:
        self.queued: list[bytes] = []

    def sendto(self, data: bytes) -> None:
        self.queued.append(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return sum(len(data) for data in self.queued)


def backend_sending(outcome: BaseException | None) -> tuple[Backend, Transport, list[BaseException]]:
    backend, transport, errors = Backend(0, "127.0.0.1", 53, source_ports=1), Transport(), []

    def send(data: bytes) -> int:
        if outcome is not None:
            raise outcome
        return len(data)
    backend.transports, backend._send_of = [transport], [send] * 256
    backend.error_received = errors.append
    return backend, transport, errors


def test_a_full_socket_buffer_leaves_the_query_to_the_transport_queue():
    backend, transport, errors = backend_sending(BlockingIOError())
    backend.send(b"query")
    assert transport.queued == [b"query"] and not errors and backend.stats.sent == 1


def test_a_full_transport_queue_drops_the_query_as_a_full_buffer_would():
    backend, transport, errors = backend_sending(BlockingIOError())
    transport.queued.append(bytes(UDP_QUEUE_BYTES))
    backend.send(b"query")
    assert transport.queued == [bytes(UDP_QUEUE_BYTES)] and not errors and backend.stats.sent == 1


def test_a_sent_query_does_not_touch_the_transport():
    backend, transport, errors = backend_sending(None)
    backend.send(b"query")
    assert transport.queued == [] and not errors


def test_an_error_on_send_is_reported_as_asyncio_would_report_it():
    refused = ConnectionRefusedError()
    backend, transport, errors = backend_sending(refused)
    backend.send(b"query")
    assert errors == [refused] and transport.queued == []


class Recorder:
    """The race as a backend's TCP connection sees it: the replies and the queries given up."""

    def __init__(self) -> None:
        self.replies: list[bytes] = []
        self.lost: list[bytes] = []

    def on_reply(self, backend: Backend, data: bytes) -> None:
        self.replies.append(data)

    def on_lost(self, backend: Backend, queries: list[bytes]) -> None:
        self.lost.extend(queries)


class Upstream:
    """A TCP server on loopback that reads what it is sent and never answers; with ``hang_up``
    it closes each connection as soon as data arrives."""

    def __init__(self, hang_up: bool) -> None:
        self.hang_up = hang_up
        self.connections = 0
        self.received = b""
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> "Upstream":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        while data := await reader.read(4096):
            self.received += data
            if self.hang_up:
                break
        writer.close()

    def backend(self, timeout: float) -> tuple[Backend, Recorder]:
        backend = Backend(0, "127.0.0.1", self.server.sockets[0].getsockname()[1], timeout=timeout)
        backend.replies = recorder = Recorder()
        return backend, recorder


def query(uid: int) -> bytes:
    return uid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01"


def test_a_backend_that_never_answers_keeps_only_the_queries_younger_than_the_timeout():
    async def main() -> None:
        async with Upstream(hang_up=False) as upstream:
            backend, _ = upstream.backend(timeout=1.0)
            backend.connection().send(query(1), monotonic() - 2.0, 0)     # its race timed out
            backend.send_stream(query(2))
            assert list(backend.stream.unanswered) == [2]
            backend.close()
    asyncio.run(main())


def test_a_query_lost_after_its_race_timed_out_is_neither_asked_again_nor_given_up():
    async def main() -> None:
        async with Upstream(hang_up=True) as upstream:
            backend, recorder = upstream.backend(timeout=1.0)
            stream = backend.connection()
            stream.send(query(1), monotonic() - 2.0, 0)
            await wait_until_async(lambda: stream.transport is not None and stream.transport.is_closing(), 5,
                                   "the upstream closing the connection")
            await wait_until_async(lambda: backend.stream is None, 5, "the connection forgotten")
            assert upstream.connections == 1 and recorder.lost == []
            backend.close()
    asyncio.run(main())


def test_a_closed_backend_neither_asks_again_nor_gives_up_its_unanswered_queries():
    async def main() -> None:
        async with Upstream(hang_up=False) as upstream:
            backend, recorder = upstream.backend(timeout=5.0)
            backend.send_stream(query(1))
            await wait_until_async(lambda: upstream.received, 5, "the query at the upstream")
            stream = backend.stream
            backend.close()
            await wait_until_async(lambda: not stream.unanswered, 5, "the connection lost")
            assert backend.stream is None and recorder.lost == [] and upstream.connections == 1
    asyncio.run(main())
