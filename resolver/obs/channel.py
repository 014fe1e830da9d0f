"""The line between a worker and its parent when ``--metrics`` goes with ``--workers``.

Each worker is forked with one end of a Unix socketpair the parent made just
before the fork (:class:`resolver.obs.hub.Hub`). The parent asks; the worker
answers in its own event loop, between queries, as one process answers a
scrape: nothing crosses the line per query. Each message is one line of
JSON. A request is ``{"id": N, "op": "reading"}`` (the worker's
:meth:`~resolver.obs.metrics.ServerMetrics.reading`), ``{"id": N, "op":
"flush", "name": NAME or null}`` or ``{"id": N, "op": "plan", "name": NAME,
"type": TYPE}``; its answer ``{"id": N, "ok": VALUE}``, or ``{"id": N,
"error": "ValueError" or "NoCache", "message": TEXT}`` for what the metrics
raised. The worker answers in order; the parent matches answers to requests
by ``id``, so one that comes after its request timed out is dropped. A
worker that is not reading (stopped, or its loop stuck) is sent at most
:data:`MAX_UNANSWERED` requests: it has no more to catch up on once it runs
again, and the parent holds no more for it.
"""
from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

from .metrics import NoCache, ServerMetrics

MAX_LINE = 16 << 20         # octets: a reading of an LS with a thousand backends takes about 1 MiB
MAX_UNANSWERED = 100        # requests sent to a worker and not answered yet, at most (more than the
                            # HTTP endpoint's connections at once, resolver.obs.web.MAX_CONNECTIONS)
ERRORS: dict[str, type[Exception]] = {"ValueError": ValueError, "NoCache": NoCache}

_worker_end: socket.socket | None = None


class Gone(ConnectionError):
    """The worker's end of the line is closed: it died or is stopping."""


def adopt(sock: socket.socket) -> None:
    """In a worker just forked: ``sock`` is its end of the line to its parent
    (:meth:`resolver.obs.hub.Hub.in_child`)."""
    global _worker_end
    _worker_end = sock


def worker_end() -> socket.socket | None:
    """This process's end of the line to its parent; None unless it is a worker forked with one."""
    return _worker_end


def encode(message: dict[str, Any]) -> bytes:
    """One message as its line: compact JSON and a newline."""
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


async def answer(sock: socket.socket, metrics: ServerMetrics) -> None:
    """Answer the parent's requests on ``sock`` from ``metrics``, in order, until the parent
    closes its end (or the task is cancelled)."""
    reader, writer = await asyncio.open_connection(sock=sock, limit=MAX_LINE)
    try:
        while line := await reader.readline():
            writer.write(encode(await respond(metrics, json.loads(line))))
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def respond(metrics: ServerMetrics, request: dict[str, Any]) -> dict[str, Any]:
    """The answer to one request (see the module's docstring)."""
    op = request["op"]
    try:
        if op == "reading":
            value: Any = metrics.reading()
        elif op == "flush":
            value = await metrics.flush(request["name"])
        else:
            value = await metrics.plan(request["name"], request["type"])
    except (ValueError, NoCache) as exc:
        return {"id": request["id"], "error": type(exc).__name__, "message": str(exc)}
    return {"id": request["id"], "ok": value}


class Line:
    """The parent's end of one worker's line: sends requests and matches the answers to them.

    Made in the parent's event loop right after the fork, from the parent's end
    of the socketpair; reading starts at once and ends when the worker's end
    closes, failing what is still asked with :class:`Gone`.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.fd = sock.fileno()
        self._sent = 0                      # requests sent, so the next one's id
        self._answered = 0                  # answers read (they come in order: ids 0 to this less 1)
        self._asked: dict[int, asyncio.Future] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._opened = asyncio.Event()      # set once the line is open, or closed before it was
        self._reading = asyncio.get_running_loop().create_task(self._read(sock))

    async def _read(self, sock: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=sock, limit=MAX_LINE)
        except BaseException:       # closed before it opened
            sock.close()
            raise
        self._writer = writer
        self._opened.set()
        try:
            while line := await reader.readline():
                reply = json.loads(line)
                self._answered = reply["id"] + 1
                asked = self._asked.pop(reply["id"], None)
                if asked is not None and not asked.done():
                    asked.set_result(reply)
        except ConnectionError:
            pass
        finally:
            writer.close()
            for asked in self._asked.values():
                if not asked.done():
                    asked.set_exception(Gone("the worker's line closed"))
            self._asked.clear()

    async def ask(self, op: str, timeout: float, **fields: Any) -> Any:
        """Send request ``op`` with ``fields`` and return the answer's value. Raises :class:`Gone`
        when the worker's end is closed, TimeoutError (asyncio's) when no answer comes within
        ``timeout`` seconds, or at once, sending nothing, when :data:`MAX_UNANSWERED` requests are
        still unanswered, and ValueError or :class:`NoCache` when the worker's metrics raised it."""
        await asyncio.wait_for(self._opened.wait(), timeout)
        writer = self._writer
        if writer is None or writer.is_closing() or self._reading.done():
            raise Gone("the worker's line closed")
        if self._sent - self._answered >= MAX_UNANSWERED:
            raise asyncio.TimeoutError(f"the worker has {MAX_UNANSWERED} requests unanswered")
        ident, self._sent = self._sent, self._sent + 1
        asked = self._asked[ident] = asyncio.get_running_loop().create_future()
        writer.write(encode({"id": ident, "op": op, **fields}))
        try:
            reply = await asyncio.wait_for(asked, timeout)
        finally:
            self._asked.pop(ident, None)
        if "error" in reply:
            raise ERRORS[reply["error"]](reply["message"])
        return reply["ok"]

    def close(self) -> None:
        """Stop reading and close the parent's end."""
        self._reading.cancel()
        self._opened.set()
