"""Zone transfers out: the TS as a primary (AXFR, RFC 5936; IXFR, RFC 1995; TSIG, RFC 8945).

:class:`Provider` is the server's ``transfers`` exchange
(:class:`resolver.ts.server.Exchange`). It keeps each zone it is given
(:meth:`Provider.publish`) in the compact form of :mod:`resolver.ts.journal`,
with the differences from its older serials, and answers transfer requests
from them as NSD does:

* who may transfer is ``--allow-transfer``'s (NSD's ``provide-xfr``): a client
  in one of its networks, and with a request signed by that ACL's TSIG key
  when it names one. Others get REFUSED with the extended error "Prohibited"
  (RFC 8914 4.19), as before; a zone this TS does not serve gets NOTAUTH.
  AXFR over UDP is NOTIMP.
* a request whose TSIG fails gets NOTAUTH and a TSIG record that says why
  (RFC 8945 5.2): BADKEY for a key this TS does not have, BADSIG for a wrong
  MAC (both unsigned), BADTIME, signed, with this TS's clock in its Other Data.
  Every reply to a signed request is signed, each message of a transfer too
  (RFC 8945 5.3.1, as NSD and Knot sign them).
* AXFR over TCP: the SOA, every other record once, the SOA again, as many
  records per message as fit in :data:`~resolver.ts.settings.TRANSFER_MESSAGE_OCTETS`
  (NSD's 16 KiB; a larger record goes alone); the question and OPT in the
  first message only. Records are sent uncompressed, each as written.
* IXFR (RFC 1995 4): with the current serial or a newer one, the SOA alone;
  with a serial the journal has, the differences from it; else the whole
  zone, AXFR's form. Over UDP, as NSD: the reply when it fits in one
  datagram, else the SOA alone with TC set (ask again over TCP).
* any other query signed with TSIG (a secondary's SOA query: Knot signs its
  refresh) is answered as the server answers it unsigned, and signed. The
  server hands this exchange every query its scan could not read, which a
  TSIG record makes one; an unsigned one gets FORMERR, as from the server.
* at most :data:`~resolver.ts.settings.TRANSFERS_AT_ONCE` transfers over TCP
  at once; one more is REFUSED, and the secondary retries later (RFC 1996
  3.3's refresh and retry timers); transfers asked on one connection are sent
  one after the other, never interleaved, as NSD and Knot send them, and count
  from the time they are asked. A transfer holds one message at a time:
  each is sliced out of the zone's records when the last one has gone, the
  event loop runs between two (queries are answered meanwhile), and none is
  written while the connection's write buffer is over its high-water mark
  (asyncio's flow control, :meth:`TcpConnection.drain`).

Each transfer out is logged in one line (client, zone, kind, serial, records,
messages, seconds), and counted by zone and kind (:attr:`Provider.counts`).

On a new version of a zone (:meth:`Provider.publish`): a newer serial (RFC
1982) keeps the difference for IXFR (:func:`resolver.ts.journal.advance`) and
sends NOTIFY (:mod:`resolver.ts.notify`) once the server answers from it
(:meth:`Provider.announce`), as does a zone new here (a secondary zone's first
copy); other data with a serial that did not grow is served with one warning
line, no NOTIFY and an empty journal (an old serial then gets the whole zone),
as NSD serves a zone reloaded without a new serial. At start every zone is
notified once (:meth:`Provider.start`). With ``--workers`` each worker serves
transfers from its own copy (they load the same files, so their journals
agree) and one of them sends NOTIFY; a secondary's SOA query after it may
reach a worker still reloading, which answers the old serial, and the
secondary then catches up at its next refresh.
"""
from __future__ import annotations

import asyncio
import fcntl
import ipaddress
import logging
import tempfile
import threading
import time
import weakref
from collections import Counter
from typing import Callable, Iterator, Sequence

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from ..net.listening import Sink, TcpConnection
from ..wire import (AA, CLASS_IN, EDE_NOT_SUPPORTED, EDE_PROHIBITED, FORMERR, HEADER, NOTIMP, QR, RD, REFUSED,
                    TC, TRANSFER_TYPES, TYPE_AXFR, Query, error_reply, opt_record)
from .journal import Records, Served, ZoneVersion, advance, capture, newer, same_data
from .notify import Notifier
from .sections import wire_key
from .settings import TRANSFER_MESSAGE_OCTETS, TRANSFERS_AT_ONCE, TsSettings
from .tsig import Signer, failure_reply, read_signed
from .zones import ZoneData

log = logging.getLogger("resolver.ts")

NOTAUTH = dns.rcode.NOTAUTH


class Cursor:
    """A walk over a transfer's records (parts, each :class:`Records`), whole records at a time."""

    def __init__(self, parts: Sequence[Records]) -> None:
        self.parts = [part for part in parts if len(part)]
        self.part = 0
        self.index = 0

    @property
    def done(self) -> bool:
        """Whether every record has been taken."""
        return self.part == len(self.parts)

    def take(self, room: int) -> tuple[list[bytes], int]:
        """The next records that fit in ``room`` octets, as slices of their parts, and how many
        records; at least one record unless done, however large (it then goes alone)."""
        slices: list[bytes] = []
        count = 0
        while not self.done:
            part = self.parts[self.part]
            end = part.take(self.index, room)
            if end == self.index:
                if count:
                    break
                end += 1
            start, stop = part.start(self.index), part.ends[end - 1]
            slices.append(part.wire[start:stop])
            room -= stop - start
            count += end - self.index
            self.index = end
            if end == len(part):
                self.part, self.index = self.part + 1, 0
        return slices, count


def messages(data: bytes, q: Query, parts: Sequence[Records], signer: Signer | None,
             limit: int = TRANSFER_MESSAGE_OCTETS, flags: int = 0) -> Iterator[tuple[bytes, int]]:
    """The messages of a reply to the request ``data`` (scanned as ``q``) that carries the records of
    ``parts`` in its answer sections, each message with how many records it holds: at most ``limit``
    octets each (a record too large goes alone); the question and an OPT (when asked) in the first
    only, as NSD sends them (RFC 5936 2.2.1); signed when ``signer`` is given. ``flags``: more header flags (TC)."""
    cursor = Cursor(parts)
    first = True
    header_flags = QR | AA | (q.flags & RD) | flags
    opt = opt_record(q.edns_do) if q.edns_size >= 0 else b""
    while first or not cursor.done:
        question, extra = (q.question, opt) if first else (b"", b"")
        room = limit - 12 - len(question) - len(extra) - (signer.room if signer else 0)
        slices, count = cursor.take(room)
        header = HEADER.pack(0, header_flags, 1 if question else 0, count, 0, 1 if extra else 0)
        message = b"".join((data[:2], header[2:], question, *slices, extra))
        yield (signer.sign(message) if signer else message), count
        first = False


class Acl:
    """``--allow-transfer``: who may transfer (NSD's ``provide-xfr``)."""

    def __init__(self, settings: TsSettings) -> None:
        self.entries = [(acl.network, None if acl.key is None else settings.keys[acl.key].name)
                        for acl in settings.allow_transfer]

    def allows(self, host: str, key: dns.name.Name | None) -> bool:
        """Whether a client at ``host`` may transfer with a request signed by ``key`` (None: unsigned)."""
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        return any((network is None or address in network) and (needed is None or needed == key)
                   for network, needed in self.entries)


class SenderLock:
    """Which one of several forked workers sends NOTIFY: the one holding a POSIX record lock on a file
    the parent opened before forking (:func:`fcntl.lockf`; such a lock belongs to one process and is
    released when it dies, so the worker started in place of the sender takes it over)."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()

    def take(self) -> bool:
        """Whether this process holds the lock now (taken without waiting, kept until it exits)."""
        try:
            fcntl.lockf(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True


class Provider:
    """The TS as a primary: zone transfers out and NOTIFY (see the module's text).

    ``shared``: this object is made before forking ``--workers``, each of which
    serves transfers from its own copy; only one of them sends NOTIFY (:class:`SenderLock`).
    """

    def __init__(self, settings: TsSettings, shared: bool = False) -> None:
        self.settings = settings
        self.acl = Acl(settings)
        self.keyring = {key.name: key for key in settings.keys.values()}
        self.zones: dict[bytes, Served] = {}
        self.counts: Counter[tuple[str, str]] = Counter()     # transfers out, by zone and kind (axfr, ixfr)
        self.active = 0         # transfers over TCP accepted and not done (those waiting their turn too)
        # Each connection's turn to send a transfer (see _stream), dropped with the connection.
        self._turns: weakref.WeakKeyDictionary[TcpConnection, asyncio.Lock] = weakref.WeakKeyDictionary()
        self.tasks: set[asyncio.Task] = set()
        self.notifier: Notifier | None = None
        self.lock = SenderLock() if shared and settings.notify else None
        self._pending: dict[bytes, ZoneVersion] = {}     # zones changed, to be announced
        self._reply: Callable[[bytes, bool], bytes | None] | None = None      # see answer_with()
        self._guard = threading.Lock()      # publish() may run in a thread, while the loop announces

    # -- zones in ------------------------------------------------------------------------------------

    def publish(self, data: ZoneData) -> None:
        """Take a zone's new version (at start, after a reload, after a transfer in), before it is
        compiled; may run in a thread of its own. A zone new here, or with a newer serial, is
        notified at the next :meth:`announce`. Raises ValueError for a zone without one SOA."""
        version = capture(data)
        key = wire_key(version.apex)
        served = self.zones.get(key)
        if served is None or newer(version.serial, served.version.serial):
            self.zones[key] = Served(version) if served is None else advance(served, version)
            with self._guard:
                self._pending[key] = version
        elif not same_data(served.version, version):
            log.warning("zone %s changed but its serial %d did not grow: served without NOTIFY, and IXFR from "
                        "an older serial gets the whole zone", version.apex.to_text(), version.serial)
            self.zones[key] = Served(version)
        else:
            self.zones[key] = Served(version, served.journal)

    def withdraw(self, apex: dns.name.Name) -> None:
        """Stop transferring a zone (an expired secondary): its requests get NOTAUTH from now on."""
        key = wire_key(apex)
        self.zones.pop(key, None)
        with self._guard:
            self._pending.pop(key, None)

    # -- NOTIFY ----------------------------------------------------------------------------------------

    def start(self) -> None:
        """In the event loop, once the server answers: send NOTIFY for every zone served, so a secondary
        that missed a change while this TS was down catches up, and from now on for every change
        :meth:`announce`\\ d. Nothing without ``--notify``, and with workers nothing in all but one."""
        if not self.settings.notify or (self.lock is not None and not self.lock.take()):
            return
        self.notifier = Notifier(self.settings.notify, self.settings.keys)
        with self._guard:
            self._pending = {key: served.version for key, served in self.zones.items()}
        self.announce()

    def announce(self) -> None:
        """Send NOTIFY for the zones published new, or with a newer serial, since the last call: call
        it once the server answers from their new versions (after swapping in the new
        :class:`Authority`), so that the SOA query a NOTIFY brings finds the new serial."""
        with self._guard:
            pending, self._pending = self._pending, {}
        if self.notifier is not None:
            for version in pending.values():
                self.notifier.changed(version.apex, version.soa.wire)

    async def close(self) -> None:
        """Stop every transfer in progress and every NOTIFY still being sent."""
        for task in list(self.tasks):
            task.cancel()
        if self.notifier is not None:
            self.notifier.close()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    # -- requests --------------------------------------------------------------------------------------

    def handle(self, data: bytes, q: Query, sink: Sink, addr: object) -> None:
        """A request for AXFR or IXFR (opcode QUERY), over UDP or TCP: answered now, or streamed;
        or another query the server could not read, answered here when it is signed with TSIG."""
        request, tsig_error = read_signed(data, self.keyring)
        if tsig_error:
            sink.send(failure_reply(data, q, tsig_error, self.keyring, addr[0]), addr)     # type: ignore[index]
            return
        transfer = q.qtype in TRANSFER_TYPES
        if request is None or not (transfer or request.had_tsig):
            sink.send(error_reply(data, q, FORMERR, echo=False), addr)     # as the server answers it
            return
        signer = Signer(request.keyring, request) if request.had_tsig else None
        if not transfer:
            self._signed_query(request, signer, sink, addr)     # type: ignore[arg-type]
            return
        reply = self._refusal(data, q, request, addr, sink.stream)
        if reply is not None:
            sink.send(signer.sign(reply) if signer else reply, addr)
            return
        served = self.zones[q.qname.lower()]
        kind, parts, serial = self._content(q, request, served)
        if not sink.stream:
            reply, records = self._datagram(data, q, parts, served, signer)
            sink.send(reply, addr)
            self._log(addr, served, kind, serial, records, 1, 0.0)
            return
        if len(parts) > 1 and self.active >= TRANSFERS_AT_ONCE:
            log.warning("%s of %s refused to %s: %d transfers in progress already", kind,
                        served.version.apex.to_text(), addr[0], self.active)     # type: ignore[index]
            refused = error_reply(data, q, REFUSED)
            sink.send(signer.sign(refused) if signer else refused, addr)
            return
        self.active += 1
        task = asyncio.get_running_loop().create_task(
            self._stream(sink, addr, messages(data, q, parts, signer), served, kind, serial))   # type: ignore[arg-type]
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def answer_with(self, reply: Callable[[bytes, bool], bytes | None]) -> None:
        """Have signed queries other than transfers answered by ``reply(query, stream)``
        (:meth:`AuthoritativeServer.reply`), unsigned, before this signs the answer."""
        self._reply = reply

    def _signed_query(self, request: dns.message.Message, signer: Signer, sink: Sink, addr: object) -> None:
        """A query signed with TSIG (a secondary's SOA query, RFC 1996 3.11's refresh, or any other):
        answered as the server answers it unsigned, then signed (RFC 8945 5.3)."""
        request.tsig = None
        reply = self._reply(request.to_wire(), sink.stream) if self._reply is not None else None
        if reply is not None:
            sink.send(signer.sign(reply), addr)

    def _refusal(self, data: bytes, q: Query, request: dns.message.Message, addr: object,
                 stream: bool) -> bytes | None:
        """The reply to a request this TS does not transfer for, None for one it does: the server's
        own refusals first (other classes, AXFR over UDP), then the ACL, then the zone."""
        if q.error and q.error != FORMERR:       # BADVERS; FORMERR: scan_query's, for the TSIG record
            return error_reply(data, q, q.error, echo=not q.bare)
        if q.qclass != CLASS_IN:
            return error_reply(data, q, REFUSED, ede=EDE_NOT_SUPPORTED)
        if q.qtype == TYPE_AXFR and not stream:
            return error_reply(data, q, NOTIMP)
        if not self.acl.allows(addr[0], request.keyname):      # type: ignore[index]
            log.info("%s of %s refused to %s: not allowed (--allow-transfer)", dns.rdatatype.to_text(q.qtype),
                     request.question[0].name if request.question else "?", addr[0])  # type: ignore[index]
            return error_reply(data, q, REFUSED, ede=EDE_PROHIBITED)
        if q.qname.lower() not in self.zones:
            return error_reply(data, q, NOTAUTH)
        if q.qtype != TYPE_AXFR and not any(rrset.rdtype == dns.rdatatype.SOA for rrset in request.authority):
            return error_reply(data, q, FORMERR)       # an IXFR request without its SOA (RFC 1995 3), as NSD
        return None

    @staticmethod
    def _content(q: Query, request: dns.message.Message, served: Served) -> tuple[str, list[Records], int]:
        """What a transfer sends: its kind, its parts (records in order), and the serial it ends at."""
        version = served.version
        whole = [version.soa, version.records, version.soa]
        if q.qtype == TYPE_AXFR:
            return "AXFR", whole, version.serial
        serial = next(rrset[0].serial for rrset in request.authority if rrset.rdtype == dns.rdatatype.SOA)
        if not newer(version.serial, serial):
            return "IXFR (up to date)", [version.soa], version.serial
        steps = served.since(serial)
        if steps is None:
            return f"IXFR from {serial} (whole zone)", whole, version.serial
        parts = [version.soa]
        for step in steps:
            parts += [step.old_soa, step.deleted, step.new_soa, step.added]
        return f"IXFR from {serial}", [*parts, version.soa], version.serial

    @staticmethod
    def _datagram(data: bytes, q: Query, parts: list[Records], served: Served,
                  signer: Signer | None) -> tuple[bytes, int]:
        """An IXFR's reply over UDP and how many records it holds, as NSD sends it: the whole reply
        when it fits in one datagram, else the SOA alone with TC set (RFC 1995 2: ask again over TCP)."""
        replies = messages(data, q, parts, signer, q.udp_limit)
        first = next(replies)
        if len(first[0]) <= q.udp_limit and next(replies, None) is None:
            return first
        return next(messages(data, q, [served.version.soa], signer, q.udp_limit, TC))

    async def _stream(self, connection: TcpConnection, addr: object, replies: Iterator[tuple[bytes, int]],
                      served: Served, kind: str, serial: int) -> None:
        """Send a transfer's messages one by one, the loop running between two, none while the
        connection's write buffer is full; the last through ``send``, which ends the request.
        Transfers asked on one connection are sent one after the other, never interleaved, as
        NSD and Knot send them (a client reads a transfer's messages back to back)."""
        records = sent = 0
        try:
            async with self._turns.setdefault(connection, asyncio.Lock()):
                started = time.monotonic()
                previous, held = b"", 0
                for message, count in replies:
                    if previous:
                        connection.send_more(previous)
                        records, sent = records + held, sent + 1
                        if not await connection.drain():
                            log.info("%s of %s to %s: the connection closed after %d records in %d messages", kind,
                                     served.version.apex.to_text(), addr[0], records, sent)  # type: ignore[index]
                            return
                        await asyncio.sleep(0)
                    previous, held = message, count
                connection.send(previous, addr)
                self._log(addr, served, kind, serial, records + held, sent + 1, time.monotonic() - started)
        finally:
            self.active -= 1

    def _log(self, addr: object, served: Served, kind: str, serial: int, records: int, sent: int,
             seconds: float) -> None:
        zone = served.version.apex.to_text()
        self.counts[(zone, "axfr" if kind == "AXFR" else "ixfr")] += 1
        log.info("%s of %s to %s: serial %d, %d records in %d messages, %.3f s", kind, zone,
                 addr[0], serial, records, sent, seconds)     # type: ignore[index]
