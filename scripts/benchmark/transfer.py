"""The transfer phase: a TS's queries/s before and while it sends a zone by AXFR (RFC 5936).

A round is two load runs of the same kind against one TS: one alone, then one
while a reader transfers the TS's zone, begun before the second run and still
reading when it ends (:func:`before_and_during`). Two readers, each in a
thread of this process:

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
  :func:`paced_rate` makes its read last longer than a run.

A real secondary, NSD, times the transfer as one (:func:`secondary_seconds`).

What the TS spends on a transfer its own line says (``AXFR of ZONE to ...: N
records in M messages, S s``: until its last message went to the socket, which
for a zone the kernel's socket buffers hold is milliseconds).
"""
from __future__ import annotations

import math
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
from .procs import Fleet
from .targets import nsd_conf, start_on_free_port
from .workload import ORIGIN

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

    def read_through(self) -> None:
        """The whole transfer, read here and now (:meth:`begin` then :meth:`finish`)."""
        self.begin()
        self.finish()


class PacedReader(TransferReader):
    """An AXFR read at ``rate`` octets a second (``math.inf``: at once) until :meth:`hurry`, then at
    once: each message's length prefix and ANCOUNT only, until ``records`` records have come (the
    zone's, its SOA twice). ``octets``: what it has read, length prefixes included."""

    def __init__(self, port: int, origin: str, records: int, rate: float, timeout: float = 300.0) -> None:
        super().__init__(port, origin, timeout, idle=False)
        self.expected = records
        self.rate = rate
        self.octets = 0
        self.hurried = threading.Event()

    def hurry(self) -> None:
        self.hurried.set()

    def read(self) -> None:
        query = dns.message.make_query(self.origin, "AXFR").to_wire()
        with socket.create_connection((HOST, self.port), timeout=self.timeout) as sock:
            sock.sendall(struct.pack("!H", len(query)) + query)
            stream = sock.makefile("rb")
            started = time.monotonic()
            while self.records < self.expected:
                prefix = stream.read(2)
                message = stream.read(struct.unpack("!H", prefix)[0]) if len(prefix) == 2 else b""
                if len(message) < 12:
                    raise BenchError(f"the connection ended after {self.records:,} records")
                self.got(struct.unpack_from("!H", message, 6)[0])
                self.octets += 2 + len(message)
                ahead = started + self.octets / self.rate - time.monotonic()
                if ahead > 0 and not self.hurried.is_set():
                    self.hurried.wait(ahead)


PACE_MARGIN = 1.5   # a paced read lasts this many times a load run


def paced_rate(octets: int, run_seconds: float) -> float:
    """Octets a second at which a :class:`PacedReader` reads a transfer of ``octets`` octets in
    :data:`PACE_MARGIN` times ``run_seconds``, so that it is still reading when the run ends."""
    return octets / (run_seconds * PACE_MARGIN)


@dataclass
class TransferRound:
    """A load run before a transfer and one during it; the reader's count, seconds and whether the
    transfer was still going when the second run ended (``lasted``); ``ts_seconds``: the TS's own
    for it, from its line (:func:`ts_transfer_seconds`), once read."""

    before: PerfRun
    during: PerfRun
    records: int
    messages: int
    seconds: float
    lasted: bool
    ts_seconds: float | None = None

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


@dataclass
class Timed:
    """A transfer of ``records`` records with no load beside it: its ``seconds`` as the reader saw
    them, and the TS's own (``ts_seconds``, from its line) once read."""

    records: int
    seconds: float
    ts_seconds: float | None = None


def transfer_alone(port: int, origin: str, timeout: float = 300.0) -> Timed:
    """One AXFR of ``origin`` read by dnspython at the usual priority with no load beside it;
    raises BenchError."""
    reader = TransferReader(port, origin, timeout, idle=False)
    reader.read_through()
    assert reader.seconds is not None
    return Timed(reader.records, reader.seconds)


def axfr_octets(port: int, origin: str, records: int, timeout: float = 300.0) -> int:
    """The octets of an AXFR of ``origin`` of ``records`` records (its messages and their length
    prefixes), read at once by framing only; raises BenchError."""
    reader = PacedReader(port, origin, records, math.inf, timeout)
    reader.read_through()
    return reader.octets


def secondary_seconds(fleet: Fleet, nsd: str, workdir: Path, primary: int) -> float:
    """Seconds from the start of NSD (binary ``nsd``, state in ``workdir``) as a secondary of
    the TS on ``primary`` for the zone :data:`ORIGIN` until it answers that zone's SOA; NSD is
    stopped then. NSD has no copy at its start, so it asks for an AXFR at once and answers
    SERVFAIL until the transfer is in: its first SOA is the TS's serial. Raises BenchError when
    it does not answer within 20 s."""
    conf = workdir / "nsd.conf"
    server = start_on_free_port(fleet, "NSD, secondary of the TS", "nsd", [nsd, "-d", "-c", str(conf)], conf,
                                lambda port: nsd_conf(workdir, port, workdir / "copy.zone", primary),
                                [(ORIGIN, "SOA")], workdir / "nsd.log")
    seconds = time.monotonic() - server.proc.started
    fleet.stop(server.proc)
    return seconds


def ts_transfer_seconds(log: Path) -> list[float]:
    """The seconds of each transfer out a TS logged (its output in ``log``), in order."""
    return [float(found.group(3)) for found in TS_TRANSFER_LINE.finditer(log.read_text(errors="replace"))]
