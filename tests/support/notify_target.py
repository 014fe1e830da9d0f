"""A secondary's NOTIFY port on loopback, for a primary's NOTIFY (RFC 1996) to reach.

:class:`NotifyTarget` binds a UDP socket, keeps every NOTIFY it receives
(parsed by dnspython, its TSIG checked against ``keyring``) and answers each
one, as a secondary does, unless told to stay silent. A thread reads the
socket; :meth:`NotifyTarget.wait_for` waits, bounded, for a count of them.
"""
from __future__ import annotations

import socket
import threading
from typing import Mapping

import dns.message
import dns.name
import dns.opcode
import dns.tsig

from support.waiting import wait_until


class NotifyTarget:
    """NOTIFYs received on ``host``, in order; answered unless ``silent``. Use it as a context manager."""

    def __init__(self, keyring: Mapping[dns.name.Name, dns.tsig.Key] | None = None, silent: bool = False,
                 host: str = "127.0.0.1") -> None:
        self.keyring = dict(keyring or {})
        self.silent = silent
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.2)
        self.host, self.port = self.sock.getsockname()
        self.received: list[dns.message.Message] = []
        self.senders: list[tuple[str, int]] = []
        self.errors: list[str] = []         # datagrams that did not parse or whose TSIG failed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    def __enter__(self) -> NotifyTarget:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, sender = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            try:
                message = dns.message.from_wire(data, keyring=self.keyring or None)
            except Exception as exc:  # noqa: BLE001 - kept for the test to report
                self.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            self.received.append(message)
            self.senders.append(sender)
            if not self.silent and message.opcode() == dns.opcode.NOTIFY:
                self.sock.sendto(dns.message.make_response(message).to_wire(), sender)

    def serials(self) -> list[int]:
        """The SOA serial each NOTIFY carried in its answer section, in order."""
        return [message.answer[0][0].serial for message in self.received]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dns.message.Message]:
        """Wait until at least ``count`` NOTIFYs have come (at most ``timeout`` s); they, in order."""
        wait_until(lambda: len(self.received) >= count, timeout,
                   f"{count} NOTIFY(s) at {self.hostport}; have {self.serials()}, errors {self.errors}")
        return self.received
