"""A backend's UDP send (resolver.net.listening.send_failed for its errors): straight to its connected socket, through
the transport only when that is full; what its TCP connection keeps of the queries it has not answered; and its pool
of UDP sockets (RFC 5452): the socket each ID leaves from and its replies count on, and the sockets replaced."""
from __future__ import annotations

import asyncio
import errno
import socket
from collections import Counter
from contextlib import asynccontextmanager
from time import monotonic
from typing import AsyncIterator

import pytest

from resolver.ls.backends import MAX_SOURCE_PORTS, Backend, deal
from resolver.ls.health import HealthMonitor
from resolver.ls.settings import ProbeSettings
from resolver.net.listening import UDP_QUEUE_BYTES
from support.recorder import PortRecorder, silent
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


# --------------------------------------------------------------------------- the pool of UDP sockets (RFC 5452)


class Heard:
    """The race and the health monitor as a backend's UDP sockets see them: what each was handed."""

    def __init__(self) -> None:
        self.replies: list[bytes] = []
        self.probe_replies: list[bytes] = []
        self.unreachable_count = 0

    def on_reply(self, backend: Backend, data: bytes) -> None:
        self.replies.append(data)

    def on_lost(self, backend: Backend, queries: list[bytes]) -> None:
        raise AssertionError("no TCP here")

    def probe_reply(self, backend: Backend, data: bytes) -> bool:
        self.probe_replies.append(data)
        return True

    def unreachable(self, backend: Backend) -> None:
        self.unreachable_count += 1


def reply(uid: int) -> bytes:
    """:func:`query`'s reply: the same message with QR set."""
    data = bytearray(query(uid))
    data[2] |= 0x80
    return bytes(data)


def ports_of(backend: Backend) -> list[int]:
    """The local port of each socket of the backend's pool, by socket number."""
    return [transport.get_extra_info("sockname")[1] for transport in backend.transports]


@asynccontextmanager
async def connected(recorder: PortRecorder, **settings) -> AsyncIterator[tuple[Backend, Heard]]:
    """A Backend (``settings`` as its own) connected to ``recorder``, what it hears, closed after the block."""
    backend, heard = Backend(0, *recorder.address, **settings), Heard()
    await backend.connect(heard, heard)
    try:
        yield backend, heard
    finally:
        backend.close()


@pytest.mark.parametrize("sockets", [1, 3, 32, 100, 256])
def test_each_socket_is_dealt_as_many_second_octets_as_the_others_give_or_take_one(sockets):
    counts = Counter(deal(sockets))
    assert set(counts) == set(range(sockets)) and max(counts.values()) - min(counts.values()) <= 1


def test_the_deal_is_drawn_anew_for_each_backend():
    assert len({deal(32) for _ in range(4)}) == 4


@pytest.mark.parametrize("sockets", [0, MAX_SOURCE_PORTS + 1])
def test_a_pool_size_out_of_range_is_refused(sockets):
    with pytest.raises(ValueError):
        Backend(0, "127.0.0.1", 53, source_ports=sockets)


def test_a_query_and_every_copy_of_it_leave_from_the_pool_socket_of_its_id():
    async def main() -> None:
        with PortRecorder(silent) as recorder:
            async with connected(recorder, source_ports=4, rotation_interval=3600) as (backend, _):
                ports = ports_of(backend)
                assert len(set(ports)) == 4
                uids = [0x1200 | octet for octet in range(256)]
                for uid in uids + uids:         # each sent again, as a retransmission sends it
                    backend.send(query(uid))
                await wait_until_async(lambda: len(recorder.queries) == 512, 5, "512 queries at the backend")
                assert [(port, request.header.id) for port, request in recorder.queries] == \
                    [(ports[backend.socket_of[uid & 0xFF]], uid) for uid in uids + uids]
    asyncio.run(main())


def test_a_reply_counts_only_on_the_socket_its_query_left_from():
    async def main() -> None:
        with PortRecorder(silent) as recorder:
            async with connected(recorder, source_ports=2, rotation_interval=3600) as (backend, heard):
                uid = 0x4242
                backend.send(query(uid))
                await wait_until_async(lambda: recorder.queries, 5, "the query at the backend")
                its_port = recorder.queries[0][0]
                other_port = next(port for port in ports_of(backend) if port != its_port)
                recorder.sock.sendto(reply(uid), ("127.0.0.1", other_port))     # the backend's address, another socket
                await wait_until_async(lambda: backend.stats.forged == 1, 5, "the reply on the other socket dropped")
                recorder.sock.sendto(reply(uid), ("127.0.0.1", its_port))
                await wait_until_async(lambda: heard.replies, 5, "the reply on its own socket")
                assert heard.replies == [reply(uid)] and backend.stats.forged == 1
    asyncio.run(main())


def test_a_probe_leaves_from_the_socket_of_its_id_and_its_reply_goes_to_the_health_monitor():
    async def main() -> None:
        with PortRecorder(silent) as recorder:
            async with connected(recorder, source_ports=4, rotation_interval=3600) as (backend, heard):
                backend.probe_id = uid = 0x0BAD
                backend.send_probe(query(uid))
                await wait_until_async(lambda: recorder.queries, 5, "the probe at the backend")
                assert recorder.queries[0][0] == ports_of(backend)[backend.socket_of[uid & 0xFF]]
                assert backend.stats.sent == 0          # a probe is not a query
                recorder.sock.sendto(reply(uid), ("127.0.0.1", recorder.queries[0][0]))
                await wait_until_async(lambda: heard.probe_replies, 5, "the probe's reply")
                assert heard.probe_replies == [reply(uid)] and heard.replies == []
    asyncio.run(main())


def test_a_probe_and_its_copies_replies_go_to_the_health_monitor_the_first_answering_the_rest_duplicates():
    """A backend slower than a third of the round answers the probe and each copy of it: the
    first reply answers the probe, the later ones are duplicates; none is the race's, none is
    forged. A reply under the probe's ID to another question is the race's."""
    async def main() -> None:
        with PortRecorder(silent) as recorder:
            backend, heard = Backend(0, *recorder.address, source_ports=4, rotation_interval=3600), Heard()
            monitor = HealthMonitor([backend], ProbeSettings(".", interval=3600))     # one probe, no copies
            await backend.connect(heard, monitor)
            try:
                backend.probe_failures = 1
                monitor.start()
                await wait_until_async(lambda: recorder.queries, 5, "the probe at the backend")
                port, probe = recorder.queries[0]
                for _ in range(3):              # its reply, and the replies to two copies
                    recorder.sock.sendto(probe.reply().pack(), ("127.0.0.1", port))
                recorder.sock.sendto(reply(probe.header.id), ("127.0.0.1", port))    # "a." A: a race's, same ID
                await wait_until_async(lambda: heard.replies, 5, "the other question's reply at the race")
                assert heard.replies == [reply(probe.header.id)]
                assert backend.probe_failures == 0 and backend.stats.duplicates == 2 and backend.stats.forged == 0
            finally:
                monitor.close()
                backend.close()
    asyncio.run(main())


def test_a_datagram_shorter_than_a_dns_header_is_dropped_as_forged_at_the_socket():
    async def main() -> None:
        with PortRecorder(silent) as recorder:
            async with connected(recorder, source_ports=1, rotation_interval=3600) as (backend, heard):
                uid = 0x0101
                backend.probe_id = uid          # not even a probe's reply goes further
                backend.send(query(uid))
                await wait_until_async(lambda: recorder.queries, 5, "the query at the backend")
                port = recorder.queries[0][0]
                for data in (b"", b"\x01", reply(uid)[:11], reply(uid)):
                    recorder.sock.sendto(data, ("127.0.0.1", port))
                await wait_until_async(lambda: heard.probe_replies, 5, "the whole reply")
                assert heard.probe_replies == [reply(uid)] and heard.replies == [] and backend.stats.forged == 3
    asyncio.run(main())


def test_port_unreachable_on_any_socket_of_the_pool_reaches_the_health_monitor():
    async def main() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gone:
            gone.bind(("127.0.0.1", 0))
            address = gone.getsockname()
        backend, heard = Backend(0, *address, source_ports=4, rotation_interval=3600), Heard()
        await backend.connect(heard, heard)
        try:
            for number in range(4):             # a query on each socket in turn, nothing listening
                octet = backend.socket_of.index(number)
                backend.send(query(0x3300 | octet))
                await wait_until_async(lambda: heard.unreachable_count == number + 1, 5,
                                       f"port unreachable on socket {number}")
        finally:
            backend.close()
    asyncio.run(main())


def test_sockets_are_replaced_in_turn_by_new_ports_and_a_replaced_one_still_delivers():
    async def main() -> None:
        with PortRecorder(silent) as recorder:
            async with connected(recorder, source_ports=4, rotation_interval=0.01, timeout=60) as (backend, heard):
                first = ports_of(backend)
                uid = 0x5151
                backend.send(query(uid))
                await wait_until_async(lambda: recorder.queries, 5, "the query at the backend")
                await wait_until_async(lambda: backend.stats.rotations >= 4, 5, "every socket replaced")
                assert not set(first) & set(ports_of(backend))
                recorder.sock.sendto(reply(uid), ("127.0.0.1", recorder.queries[0][0]))    # a late reply
                await wait_until_async(lambda: heard.replies, 5, "the late reply through the replaced socket")
                assert heard.replies == [reply(uid)] and backend.stats.forged == 0
    asyncio.run(main())


def test_a_replaced_socket_is_closed_once_the_timeout_has_passed():
    async def main() -> None:
        with PortRecorder(silent) as recorder:
            async with connected(recorder, source_ports=2, rotation_interval=0.01, timeout=1.0) as (backend, _):
                first = list(backend.transports)
                await wait_until_async(lambda: backend.stats.rotations >= 2, 5, "both sockets replaced")
                assert not any(transport.is_closing() for transport in first)     # still open for late replies
                await wait_until_async(lambda: all(transport.is_closing() for transport in first), 5,
                                       "the replaced sockets closed")
                assert not any(transport.is_closing() for transport in backend.transports)
    asyncio.run(main())


def test_closing_closes_every_socket_those_replaced_included():
    async def main() -> None:
        with PortRecorder(silent) as recorder:
            async with connected(recorder, source_ports=2, rotation_interval=0.01, timeout=60) as (backend, _):
                first = list(backend.transports)
                await wait_until_async(lambda: backend.stats.rotations >= 2, 5, "both sockets replaced")
                now = list(backend.transports)
                backend.close()
                assert all(transport.is_closing() for transport in first + now)
                backend.send(query(1))          # a query after the close goes nowhere, raising nothing
                await asyncio.sleep(0)          # the replacing task sees its cancellation
                assert asyncio.all_tasks() == {asyncio.current_task()}
    asyncio.run(main())


def test_a_socket_that_cannot_be_opened_leaves_the_old_one_in_place_with_one_warning(caplog):
    async def main() -> None:
        with PortRecorder() as recorder:
            attempts = []

            async def out_of_files(number: int):
                attempts.append(number)
                raise OSError(errno.EMFILE, "Too many open files")
            async with connected(recorder, source_ports=2, rotation_interval=0.01) as (backend, heard):
                pool = list(backend.transports)
                backend._open = out_of_files
                await wait_until_async(lambda: len(attempts) >= 3, 5, "three attempts to replace a socket")
                assert attempts[:3] == [0, 0, 0] and backend.stats.rotations == 0
                assert backend.transports == pool and not any(transport.is_closing() for transport in pool)
                backend.send(query(7))
                await wait_until_async(lambda: heard.replies, 5, "the answer through the old socket")
                del backend._open          # files to spare again
                await wait_until_async(lambda: backend.stats.rotations >= 1, 5, "a socket replaced")
        warnings = [record for record in caplog.records if "source ports" in record.getMessage()]
        assert len(warnings) == 1 and "Too many open files" in warnings[0].getMessage()
    asyncio.run(main())
