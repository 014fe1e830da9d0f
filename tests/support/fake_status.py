"""A stand-in for an LS's ``--metrics`` address that serves one ``/plan`` JSON, for ``client --explain
--status`` to read: a plan the real LS gives only in states a test cannot set up at will.

:class:`FakeStatus` listens on 127.0.0.1 port 0 from a thread of its own until the ``with``
block ends, answers ``GET /plan?name=NAME`` with its plan (``name`` set to NAME as the LS sets it,
absolute) and records each query string; every other request gets 404.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import dns.name


class FakeStatus:
    """Serves ``plan`` on ``/plan``; :attr:`hostport` is its address, :attr:`asked` each query string's fields."""

    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.asked: list[dict[str, list[str]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:       # noqa: N802 (http.server's name)
                url = urlsplit(self.path)
                fields = parse_qs(url.query)
                names = fields.get("name")
                if url.path != "/plan" or not names:
                    self.send_error(404)
                    return
                fake.asked.append(fields)
                body = json.dumps({**fake.plan, "name": dns.name.from_text(names[0]).to_text()}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:     # quiet: no line per request on stderr
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def hostport(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def __enter__(self) -> FakeStatus:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
