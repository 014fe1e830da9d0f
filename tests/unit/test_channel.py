"""The line between a worker and its parent (resolver.obs.channel) over a real socketpair, the
test playing the worker: a worker that stops reading is sent a bounded number of requests."""
from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest

from resolver.obs.channel import MAX_UNANSWERED, Line


def requests_waiting(sock: socket.socket) -> list[dict]:
    """The requests the parent has written to the worker's end and nobody has read yet."""
    data = b""
    while True:
        try:
            data += sock.recv(1 << 20)
        except BlockingIOError:
            return [json.loads(line) for line in data.splitlines()]


def test_a_worker_that_does_not_read_is_sent_at_most_max_unanswered_requests():
    async def main() -> None:
        ours, theirs = socket.socketpair()
        theirs.setblocking(False)
        line = Line(ours)
        for _ in range(MAX_UNANSWERED):
            with pytest.raises(asyncio.TimeoutError):
                await line.ask("reading", 0.001)
        started = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):       # at once, and nothing more is sent
            await line.ask("reading", 5.0)
        assert time.monotonic() - started < 1.0
        waiting = requests_waiting(theirs)
        assert [request["id"] for request in waiting] == list(range(MAX_UNANSWERED))
        # The worker runs again and answers the last one: the next request is sent and answered.
        theirs.sendall(json.dumps({"id": MAX_UNANSWERED - 1, "ok": "old"}).encode() + b"\n")
        asking = asyncio.ensure_future(line.ask("reading", 5.0))
        for _ in range(100):
            if (sent := requests_waiting(theirs)):
                break
            await asyncio.sleep(0.01)
        assert [request["id"] for request in sent] == [MAX_UNANSWERED]
        theirs.sendall(json.dumps({"id": MAX_UNANSWERED, "ok": "fresh"}).encode() + b"\n")
        assert await asking == "fresh"
        line.close()
        theirs.close()
    asyncio.run(main())
