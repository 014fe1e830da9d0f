"""The transfer phase: a TS's queries/s before and while it sends a zone by AXFR (RFC 5936).

A round is two load runs of the same kind against one TS: one alone, then one
while a reader transfers the TS's zone, begun before the second run and still
reading when it ends. Two readers, each in a thread of this process:

* :class:`TransferReader`: dnspython (``dns.query.xfr``, which parses every
  message, about 50 µs a record), as a secondary reads. It runs under Linux's
  SCHED_IDLE policy, only when a CPU has nothing else to do, because on a
  machine of two CPUs its parsing takes CPU that dnsperf and the TS need, where
  a secondary is another host; it still costs them some (caches, the kernel's
  work for its socket, a CPU dnsperf would have had to itself), which the ratio includes.
* :class:`PacedReader`: the messages' framing and record counts only, read at
  a set rate until the run ends, so that a zone larger than the socket buffers
  keeps the TS sending (under TCP flow control) through the whole run while
  the reader takes next to no CPU: what the transfer costs the TS itself.

What the TS spends on a transfer its own line says (``AXFR of ZONE to ...: N
records in M messages, S s``: until its last message went to the socket, which
for a zone the kernel's socket buffers hold is milliseconds).
"""
from __future__ import annotations

import os
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import dns.exception
import dns.message
import dns.query

from .common import HOST, BenchError
from .measure import PerfRun

# The TS's line for a transfer out (resolver.ts.provide): records, messages and its seconds.
TS_TRANSFER_LINE = re.compile(r"AXFR of \S+ to \S+: serial \d+, (\d+) records in (\d+) messages, ([\d.]+) s")


class TransferReader(threading.Thread):
    """One AXFR of ``origin`` from ``HOST:port`` read by dnspython, counted as it comes.

    ``idle``: read under SCHED_IDLE (see the module's text); else at the usual priority.
    """

    def __init__(self, port: int, origin: str, timeout: float = 300.0, idle: bool = True) -> None:
        super().__init__(name="axfr-reader", daemon=True)
        self.idle = idle
        self.port = port
        self.origin = origin
        self.timeout = timeout
        self.records = 0
        self.messages = 0
        self.seconds: float | None = None       # from the request to the last message, once done
        self.error: str | None = None
        self.first = threading.Event()          # the first message has come (or the transfer failed)

    def run(self) -> None:
        if self.idle:
            os.sched_setscheduler(threading.get_native_id(), os.SCHED_IDLE, os.sched_param(0))
        started = time.monotonic()
        try:
            self.read()
            self.seconds = time.monotonic() - started
        except (OSError, dns.exception.DNSException, BenchError) as exc:
            self.error = f"AXFR from {HOST}:{self.port}: {exc or type(exc).__name__}"
        finally:
            self.first.set()

    def read(self) -> None:
        for message in dns.query.xfr(HOST, self.origin, port=self.port, timeout=self.timeout,
                                     lifetime=self.timeout, relativize=False):
            self.got(sum(len(rrset) for rrset in message.answer))

    def got(self, records: int) -> None:
        """One more message, of ``records`` records."""
        self.messages += 1
        self.records += records
        self.first.set()

    def hurry(self) -> None:
        """The measured run has ended: read the rest as fast as it comes."""

    def begin(self) -> None:
        """Start reading and wait for the first message; raises BenchError when none comes."""
        self.start()
        if not self.first.wait(self.timeout) or self.error:
            raise BenchError(self.error or f"AXFR from {HOST}:{self.port}: no message within {self.timeout:g} s")

    def finish(self) -> None:
        """Wait for the last message; raises BenchError when the transfer failed or did not end."""
        self.join(self.timeout)
        if self.error or self.seconds is None:
            raise BenchError(self.error or f"AXFR from {HOST}:{self.port}: not done within {self.timeout:g} s")


class PacedReader(TransferReader):
    """An AXFR read at ``rate`` octets a second until :meth:`hurry`, then at once: each message's
    length prefix and ANCOUNT only, until ``records`` records have come (the zone's, its SOA twice)."""

    def __init__(self, port: int, origin: str, records: int, rate: float, timeout: float = 300.0) -> None:
        super().__init__(port, origin, timeout, idle=False)
        self.expected = records
        self.rate = rate
        self.hurried = threading.Event()

    def hurry(self) -> None:
        self.hurried.set()

    def read(self) -> None:
        query = dns.message.make_query(self.origin, "AXFR").to_wire()
        with socket.create_connection((HOST, self.port), timeout=self.timeout) as sock:
            sock.sendall(struct.pack("!H", len(query)) + query)
            stream = sock.makefile("rb")
            started = time.monotonic()
            octets = 0
            while self.records < self.expected:
                prefix = stream.read(2)
                message = stream.read(struct.unpack("!H", prefix)[0]) if len(prefix) == 2 else b""
                if len(message) < 12:
                    raise BenchError(f"the connection ended after {self.records:,} records")
                self.got(struct.unpack_from("!H", message, 6)[0])
                octets += 2 + len(message)
                ahead = started + octets / self.rate - time.monotonic()
                if ahead > 0 and not self.hurried.is_set():
                    self.hurried.wait(ahead)


@dataclass
class TransferRound:
    """A load run before a transfer and one during it; the reader's count, seconds and whether the
    transfer was still going when the second run ended (``lasted``)."""

    before: PerfRun
    during: PerfRun
    records: int
    messages: int
    seconds: float
    lasted: bool

    @property
    def ratio(self) -> float:
        return self.during.qps / self.before.qps if self.before.qps else 0.0


def before_and_during(perf: Callable[[], PerfRun], reader: TransferReader) -> TransferRound:
    """``perf()`` (one load run against the TS) alone, then again while ``reader`` (not yet
    started) transfers its zone; raises BenchError when the transfer fails or does not end."""
    before = perf()
    reader.begin()
    during = perf()
    lasted = reader.is_alive()
    reader.hurry()
    reader.finish()
    assert reader.seconds is not None
    return TransferRound(before, during, reader.records, reader.messages, reader.seconds, lasted)


def transfer_alone(port: int, origin: str, timeout: float = 300.0) -> TransferReader:
    """One AXFR of ``origin`` read by dnspython at the usual priority with no load beside it, done;
    raises BenchError."""
    reader = TransferReader(port, origin, timeout, idle=False)
    reader.begin()
    reader.finish()
    return reader


def ts_transfer_seconds(log: Path) -> list[float]:
    """The seconds of each transfer out a TS logged (its output in ``log``), in order."""
    return [float(found.group(3)) for found in TS_TRANSFER_LINE.finditer(log.read_text(errors="replace"))]
