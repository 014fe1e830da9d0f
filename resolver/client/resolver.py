"""The client: resolve a list of hostnames through a DNS server, in parallel.

Each name is asked like a stub resolver does: one query, sent again on the same
socket when no reply comes within the retry interval (doubling each time),
until the overall timeout; a truncated reply is asked again over TCP. The
overall timeout (7 s) is longer than the LS's own (5 s), so a miss the LS
answers only at its timeout still arrives.
"""
from __future__ import annotations

import asyncio
import codecs
import collections
import functools
import resource
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import AsyncIterator, BinaryIO, Callable, Iterable, Iterator

import dns.asyncbackend
import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from ..hostnames import read_hostname
from ..net.addresses import address_family
from .settings import ClientSettings

NOT_FOUND = "Error:HOST NOT FOUND"
NO_RESPONSE = "Error:NO RESPONSE"
INVALID_NAME = "Error:INVALID NAME"
INVALID = "invalid"     # the JSON status of a name that is not a domain name, never asked
NOT_FOUND_RCODES = ("NOERROR", "NXDOMAIN")      # NODATA or NXDOMAIN (the LS's default timeout answer)
FIRST_RETRY = 1.0
SPARE_FILES = 64        # open files kept free for everything but the names in flight
AHEAD = 50_000          # names taken on past the first one not yet given out (done or in flight)
CHUNK = 1 << 16         # octets of a hostfile read at a time
PAUSE = ""              # NameStream.take(): no name read yet


@dataclass(slots=True)
class Resolution:
    """What became of one hostname: records, not found (none), another rcode, no answer at all,
    or never asked because it is not a domain name (``rcode`` is then ``invalid``)."""

    hostname: str
    addresses: list[str] = field(default_factory=list)     # the records' data in presentation form
    answered: bool = True
    rdtype: str = "A"
    rcode: str = "NOERROR"

    def lines(self) -> list[str]:
        """RESOLVED.txt lines: ``hostname DATA TYPE`` per record (``hostname IP A`` for addresses)."""
        if not self.answered:
            return [f"{self.hostname} - {NO_RESPONSE}"]
        if self.rcode == INVALID:
            return [f"{self.hostname} - {INVALID_NAME}"]
        if not self.addresses:
            return [f"{self.hostname} - {self.error()}"]
        if self.rdtype == "ANY":        # each record's data already ends in its type (records_of)
            return [f"{self.hostname} {data}" for data in self.addresses]
        return [f"{self.hostname} {data} {self.rdtype}" for data in self.addresses]

    def error(self) -> str:
        """The line's error for an answer without records: HOST NOT FOUND for NXDOMAIN and NODATA
        (the assignment's line), SERVER FAILURE for SERVFAIL, ``Error:RCODE`` for any other rcode."""
        if self.rcode in NOT_FOUND_RCODES:
            return NOT_FOUND
        return "Error:SERVER FAILURE" if self.rcode == "SERVFAIL" else f"Error:{self.rcode}"

    def as_json(self) -> dict:
        """The same, for ``--format json``: status is the rcode, NO RESPONSE, or ``invalid``."""
        return {"name": self.hostname, "type": self.rdtype,
                "status": self.rcode if self.answered else "NO RESPONSE", "answers": self.addresses}


def hostnames_in(lines: Iterable[str], source: str = "HOSTFILE", warn: Callable[[str], None] = lambda _: None,
                 first: int = 1) -> Iterator[tuple[int, str]]:
    """``(line number, hostname)`` for each hostname of ``lines`` (numbered from ``first``), read as
    it is taken: a file of a million names is never held whole. One hostname a line; blank lines and
    ``#`` comments are skipped.

    A line of several words (a table line ``hostname IP A`` pasted by mistake)
    is no hostname: it is skipped, and ``warn`` gets one line naming
    ``source:LINE``; so is a line of bytes that are not UTF-8 (Latin-1), read with
    ``errors="surrogateescape"``, as :class:`NameStream` reads. A file read strictly as UTF-8
    text may raise UnicodeDecodeError while it is taken.
    """
    for number, line in enumerate(lines, first):
        name = line.split("#", 1)[0].strip()
        if len(name.split()) > 1:
            warn(f"{source}:{number}: {name!r} is several words, not a hostname; skipped")
        elif not name.isascii() and any("\udc80" <= char <= "\udcff" for char in name):
            warn(f"{source}:{number}: not UTF-8 text; skipped")
        elif name:
            yield number, name


def read_hostnames(text: str, source: str = "HOSTFILE", warn: Callable[[str], None] = lambda _: None) -> list[str]:
    """The hostnames of a whole text, as :func:`hostnames_in` finds them."""
    return [name for _, name in hostnames_in(text.splitlines(), source, warn)]


class NameStream:
    """The hostnames of a binary stream (a file, or a pipe whose writer takes its time), read a chunk at
    a time by a thread, so that the event loop never waits on input: names keep being asked and lines
    written while the input is idle. At most one chunk is read ahead of the names taken.

    Lines are numbered and parsed as :func:`hostnames_in` does (UTF-8; ``warn`` as there);
    :meth:`take` raises the OSError met while reading.
    """

    def __init__(self, stream: BinaryIO, source: str = "HOSTFILE",
                 warn: Callable[[str], None] = lambda _: None) -> None:
        self.stream = stream
        self.source = source
        self.warn = warn
        self.names: collections.deque[str] = collections.deque()
        self.lines = 0                  # lines read so far
        self.found = 0                  # hostnames among them
        self.partial = ""               # the start of a line whose end is not read yet
        # a byte-order mark first is dropped; bytes that are not UTF-8 stay, escaped, for hostnames_in to skip
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="surrogateescape")
        self.reading = False
        self.ended = False
        self.error: Exception | None = None
        self.wake: Callable[[], None] = lambda: None       # called when a chunk has come

    def take(self) -> str | None:
        """The next hostname; :data:`PAUSE` when none has been read yet (``wake`` runs when one may
        have been); None at the end of the input."""
        if self.names:
            return self.names.popleft()
        if self.error is not None:
            raise self.error
        if self.ended:
            return None
        if not self.reading:
            self.reading = True
            threading.Thread(target=self._read, args=(asyncio.get_running_loop(),), daemon=True).start()
        return PAUSE

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        # A daemon thread, not the loop's executor: a read blocked on an idle pipe must not hold up the
        # end of the run (asyncio.run waits for its executor's threads).
        try:
            chunk, error = self.stream.read1(CHUNK), None
        except OSError as exc:
            chunk, error = b"", exc
        try:
            loop.call_soon_threadsafe(self._arrived, chunk, error)
        except RuntimeError:        # the run is over (interrupted) and its loop closed
            pass

    def _arrived(self, chunk: bytes, error: OSError | None) -> None:
        self.reading = False
        try:
            if error is not None:
                raise error
            lines = (self.partial + self.decoder.decode(chunk, final=not chunk)).split("\n")
        except OSError as exc:
            self.error = exc
        else:
            self.partial = lines.pop() if chunk else ""
            self.ended = not chunk
            before = len(self.names)
            self.names.extend(name for _, name in hostnames_in(lines, self.source, self.warn, self.lines + 1))
            self.found += len(self.names) - before
            self.lines += len(lines)
        self.wake()


@dataclass
class Tally:
    """What became of the names so far, by kind, for the summary line."""

    resolved: int = 0
    not_found: int = 0       # NXDOMAIN or NODATA
    failed: int = 0          # another rcode: SERVFAIL, REFUSED, ...
    invalid: int = 0         # not domain names, never asked
    unanswered: int = 0

    @property
    def total(self) -> int:
        return self.resolved + self.not_found + self.failed + self.invalid + self.unanswered

    def add(self, result: Resolution) -> None:
        if not result.answered:
            self.unanswered += 1
        elif result.addresses:
            self.resolved += 1
        elif result.rcode == INVALID:
            self.invalid += 1
        elif result.rcode in NOT_FOUND_RCODES:
            self.not_found += 1
        else:
            self.failed += 1


def records_of(response: dns.message.Message, rdtype: dns.rdatatype.RdataType) -> list[str]:
    """The answer's records of the type asked, wherever a CNAME chain led, in presentation form.

    For ANY, every record of the answer, each as its data and then its type (``10.0.0.1 A``).
    """
    if rdtype != dns.rdatatype.ANY:
        return [rdata.to_text() for rrset in response.answer if rrset.rdtype == rdtype for rdata in rrset]
    return [f"{rdata.to_text()} {dns.rdatatype.to_text(rrset.rdtype)}" for rrset in response.answer
            for rdata in rrset]


def usable_concurrency(wanted: int) -> int:
    """How many names may be in flight, each holding one socket.

    The soft limit on open files is raised toward the hard one as far as
    ``wanted`` needs (1,024 is a common soft limit); past what the system
    allows, fewer names fly at once rather than failing with EMFILE.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < need:
        soft = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return max(1, min(wanted, soft - SPARE_FILES))


class Resolver:
    """Asks one server for records of one type (A unless told), a bounded number of names at a time."""

    def __init__(self, host: str, port: int, timeout: float = ClientSettings.timeout,
                 concurrency: int = ClientSettings.concurrency, rdtype: str = ClientSettings.rdtype) -> None:
        self.rdtype = dns.rdatatype.from_text(rdtype)
        self.kind = dns.rdatatype.to_text(self.rdtype)      # as the output lines spell it
        self.destination = (host, port)
        self.family = address_family(host)
        self.timeout = timeout
        self.concurrency = usable_concurrency(concurrency)
        self.backend = dns.asyncbackend.get_backend("asyncio")

    async def resolve_all(self, hostnames: Iterable[str],
                          on_done: Callable[[], None] = lambda: None) -> list[Resolution]:
        """Every name's resolution, in input order; ``on_done`` runs as each one finishes (progress)."""
        return [result async for result in self.resolve_in_order(hostnames, on_done)]

    async def resolve_in_order(self, hostnames: Iterable[str] | NameStream,
                               on_done: Callable[[], None] = lambda: None,
                               on_stop: Callable[[Resolution], None] = lambda _: None) -> AsyncIterator[Resolution]:
        """Each name's resolution, in input order, given out as soon as it and every name before it are done.

        ``hostnames`` (never an empty name; a :class:`NameStream` does not
        block the loop on input) is read only as names are taken on: at most
        the concurrency in flight, and at most :data:`AHEAD` past the first one
        not given out yet, so that memory does not grow with the number of names;
        a name slower than the :data:`AHEAD` after it holds the next ones back
        until it is done. ``on_done`` runs as each name finishes (progress).
        An error raised by a name's resolution (an OSError such as ENETUNREACH)
        is raised here, in its turn. When the iteration is cancelled (Ctrl-C),
        ``on_stop`` is given, in input order, each name done but held back behind
        one still unfinished, so that no finished name is lost; the names in flight
        are dropped.
        """
        wake = asyncio.Event()
        if isinstance(hostnames, NameStream):
            take, hostnames.wake = hostnames.take, wake.set
        else:
            take = functools.partial(next, iter(hostnames), None)
        done: dict[int, asyncio.Task[Resolution]] = {}
        flying: set[asyncio.Task[Resolution]] = set()
        taken = given = 0
        more = True

        def finished(index: int, task: asyncio.Task[Resolution]) -> None:
            flying.discard(task)
            if not task.cancelled():
                done[index] = task
                on_done()
            wake.set()
        try:
            while True:
                wake.clear()        # before looking, so that a name finishing meanwhile still wakes the wait
                while more and len(flying) < self.concurrency and taken - given < AHEAD:
                    name = take()
                    if name is None:
                        more = False
                    if not name:        # the end, or a pause until a chunk of the input comes
                        break
                    task = asyncio.ensure_future(self.resolve(name))
                    task.add_done_callback(functools.partial(finished, taken))
                    flying.add(task)
                    taken += 1
                ready = given in done
                while given in done:
                    result = done.pop(given).result()
                    given += 1
                    yield result
                if not more and given == taken:
                    return
                if not ready:       # else take on more first: the names given out made room
                    await wake.wait()
        except asyncio.CancelledError:
            for index in sorted(done):
                if done[index].exception() is None:
                    on_stop(done[index].result())
            raise
        finally:
            for task in flying:
                task.cancel()

    async def resolve(self, hostname: str) -> Resolution:
        kind = self.kind
        try:
            query = dns.message.make_query(read_hostname(hostname), self.rdtype)
        except dns.exception.DNSException:      # an empty label, a label over 63 or a name over 255 octets
            return Resolution(hostname, rdtype=kind, rcode=INVALID)
        response = await self.exchange(query)
        if response is None:
            return Resolution(hostname, answered=False, rdtype=kind)
        rcode = dns.rcode.to_text(response.rcode())
        if response.rcode() != dns.rcode.NOERROR:
            return Resolution(hostname, rdtype=kind, rcode=rcode)
        return Resolution(hostname, records_of(response, self.rdtype), rdtype=kind, rcode=rcode)

    async def exchange(self, query: dns.message.Message) -> dns.message.Message | None:
        """The server's reply, or None when it never came within the timeout."""
        deadline = time.time() + self.timeout
        interval = FIRST_RETRY
        wire = query.to_wire()
        sock = await self.backend.make_socket(self.family, socket.SOCK_DGRAM)
        try:
            while time.time() < deadline:
                await dns.asyncquery.send_udp(sock, wire, self.destination)
                expiration = min(time.time() + interval, deadline)
                interval *= 2
                try:
                    # Only the server's reply to this query counts: another ID or question,
                    # a garbled packet, or a datagram from elsewhere is skipped.
                    response, _, _ = await dns.asyncquery.receive_udp(
                        sock, self.destination, expiration, ignore_unexpected=True, query=query,
                        ignore_errors=True)
                except dns.exception.Timeout:
                    continue
                if response.flags & dns.flags.TC:
                    return await self._over_tcp(query, deadline)
                return response
        finally:
            await sock.close()
        return None

    async def _over_tcp(self, query: dns.message.Message, deadline: float) -> dns.message.Message | None:
        try:
            return await dns.asyncquery.tcp(query, self.destination[0], max(0.1, deadline - time.time()),
                                            self.destination[1])
        except (OSError, dns.exception.DNSException, EOFError):
            return None
