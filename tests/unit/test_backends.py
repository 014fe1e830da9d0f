"""A backend's UDP send (resolver.net.listening.send_failed for its errors): straight to its connected socket, through
the transport only when that is full."""
from __future__ import annotations

from resolver.ls.backends import Backend


class Transport:
    def __init__(self) -> None:
        self.queued: list[bytes] = []

    def sendto(self, data: bytes) -> None:
        self.queued.append(data)

    def is_closing(self) -> bool:
        return False


def backend_sending(outcome: BaseException | None) -> tuple[Backend, Transport, list[BaseException]]:
    backend, transport, errors = Backend(0, "127.0.0.1", 53), Transport(), []

    def send(data: bytes) -> int:
        if outcome is not None:
            raise outcome
        return len(data)
    backend.transport, backend._send = transport, send
    backend.error_received = errors.append
    return backend, transport, errors


def test_a_full_socket_buffer_leaves_the_query_to_the_transport_queue():
    backend, transport, errors = backend_sending(BlockingIOError())
    backend.send(b"query")
    assert transport.queued == [b"query"] and not errors and backend.stats.sent == 1


def test_a_sent_query_does_not_touch_the_transport():
    backend, transport, errors = backend_sending(None)
    backend.send(b"query")
    assert transport.queued == [] and not errors


def test_an_error_on_send_is_reported_as_asyncio_would_report_it():
    refused = ConnectionRefusedError()
    backend, transport, errors = backend_sending(refused)
    backend.send(b"query")
    assert errors == [refused] and transport.queued == []
