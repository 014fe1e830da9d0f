"""Secondary zones: copies of zones that primaries serve, kept fresh the way NSD's xfrd keeps them.

Each ``--secondary`` zone (:class:`~resolver.ts.settings.SecondaryZone`) is a
:class:`Secondary` with one timer in the event loop:

* at start, then every SOA refresh (retry after a failure), it asks its
  primaries in turn for their SOA (UDP, TCP when truncated), the one that last
  answered or sent a NOTIFY first, as NSD and Knot do; when a primary's
  serial is greater than the copy's (RFC 1982), it transfers the zone: by
  IXFR (RFC 1995) from the copy's serial, by AXFR (RFC 5936) when it has no
  copy or when the primary refuses or fails the IXFR; a primary may also
  answer an IXFR with the whole zone, which then replaces the copy;
* a NOTIFY (RFC 1996) for the zone from one of its primaries (signed with the
  zone's TSIG key when it has one, RFC 8945) starts that check at once;
* a period longer than 10 s is drawn within 90-100 % of its length, as NSD
  jitters its timers (never later, so that no zone expires late);
* after the SOA expire time without a successful check the zone is no longer
  served: its names are SERVFAIL, as NSD answers them, until a check succeeds.

A transfer is checked as a master file is: the new zone is written as one,
``DIR/<zone>zone`` (``--zone-dir``, else a private directory), and read back
by :func:`~resolver.ts.zones.load_zone_file`, so that a zone with a CNAME and
other data, say, is refused as NSD refuses such a file. Records outside the
zone, a missing or bad TSIG, a serial that did not grow (RFC 1982), a primary
that times out or refuses: each leaves the copy serving and logs one line.
The copy's modification time is the time of the last successful check
(touched by each one): a restart serves a copy still within its expire time at
once (:func:`saved_copies`) while the primaries are asked.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import os
import random
import struct
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Awaitable, Callable, Iterable, Mapping

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdataset
import dns.rdtypes.ANY.SOA
import dns.serial
import dns.transaction
import dns.tsig
import dns.xfr
import dns.zone

from ..net.addresses import format_hostport
from ..net.listening import Sink
from ..wire import AA, FORMERR, REFUSED, Query, error_reply
from .authority import Authority
from .compiled import add_address_records
from .settings import FIRST_RETRY, SHORTEST_TIMER, SOA_QUERY_TIMEOUT, TRANSFER_IDLE_TIMEOUT, Remote, SecondaryZone, \
    TsSettings
from .tsig import failure_reply, read_signed
from .zone_checks import BESIDE_CNAME
from .zones import ZoneData, ZoneError, load_zone_file

log = logging.getLogger("resolver.ts")

Install = Callable[[ZoneData], Awaitable[None]]
Withdraw = Callable[[dns.name.Name], Awaitable[None]]
JITTERED_ABOVE = 10.0       # NSD's xfrd_set_timer jitters periods longer than this many seconds
REFUSALS_LOGGED = 100       # kinds of refused NOTIFY (sender, why) logged at INFO, the first time each
SOA, CNAME = dns.rdatatype.SOA, dns.rdatatype.CNAME
IN = dns.rdataclass.IN
NOTAUTH = dns.rcode.NOTAUTH
# What dnspython raises for a TSIG that is unknown, does not verify, or that the peer refused.
TSIG_ERRORS = (dns.message.UnknownTSIGKey, dns.tsig.PeerError, dns.tsig.BadSignature, dns.tsig.BadTime,
               dns.tsig.BadAlgorithm)


class Broken(Exception):
    """A check or transfer that failed, in one line; the copy being served stays.

    ``fallback``: after a failed IXFR, whether an AXFR may still succeed (not after a timeout).
    """

    def __init__(self, text: str, fallback: bool = True) -> None:
        super().__init__(text)
        self.fallback = fallback


@dataclasses.dataclass
class Transfer:
    """A finished inbound transfer: ``kind`` as the primary answered it (an IXFR answered with
    the whole zone is an AXFR), the zone it made, and the records its messages held."""

    kind: str
    zone: dns.zone.Zone
    records: int


def copy_path(directory: Path, name: dns.name.Name) -> Path:
    """Where zone ``name``'s last good copy lives in ``directory``: ``lab.example.zone``, as
    ``tests``' and NSD's zone files are named (``root.zone`` for the root)."""
    text = name.to_text() if name != dns.name.root else "root."
    return directory / (text.replace("/", "%2F") + "zone")


def saved_copies(directory: Path | None, zones: Iterable[SecondaryZone], now: float | None = None
                 ) -> tuple[list[ZoneData], list[dns.name.Name]]:
    """The copies in ``directory`` of ``zones`` to serve at start, and the zones without one.

    A copy is served when it loads (as a master file) and its modification time,
    the last successful check, is less than its SOA expire time before ``now``
    (seconds since the epoch; default: the current time). Each copy left out
    logs one line; its zone is then SERVFAIL until a primary transfers it.
    Raises :class:`ZoneError` for a ``directory`` that cannot be read (a file, say).
    """
    now = time.time() if now is None else now
    copies: list[ZoneData] = []
    unserved: list[dns.name.Name] = []
    for zone in zones:
        data = _saved_copy(copy_path(directory, zone.name), zone.name, now) if directory else None
        if data is None:
            unserved.append(zone.name)
        else:
            copies.append(data)
    return copies, unserved


def _saved_copy(path: Path, name: dns.name.Name, now: float) -> ZoneData | None:
    try:
        checked = path.stat().st_mtime
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ZoneError(f"--zone-dir {path.parent}: {exc.strerror}") from None
    try:
        data = load_zone_file(path, name)
    except (ZoneError, OSError) as exc:
        log.warning("zone %s: saved copy not served, waiting for a transfer: %s", name.to_text(), exc)
        return None
    soa = zone_soa(data.zone)
    if now >= checked + soa.expire:
        log.warning("zone %s: saved copy (serial %d) expired %.0f s ago, waiting for a transfer", name.to_text(),
                    soa.serial, now - checked - soa.expire)
        return None
    log.info("zone %s: saved copy loaded, serial %d, last checked %.0f s ago", name.to_text(), soa.serial,
             now - checked)
    return data


def zone_soa(zone: dns.zone.Zone) -> dns.rdtypes.ANY.SOA.SOA:
    """The SOA record at a zone's apex (every zone loaded or transferred has one)."""
    return zone.get_rdataset(zone.origin, SOA)[0]


def newer(serial: int, than: int) -> bool:
    """Whether ``serial`` is greater than ``than`` in RFC 1982 serial number arithmetic
    (neither less, equal, nor undefined)."""
    return dns.serial.Serial(serial) > dns.serial.Serial(than)


def jittered(period: float) -> float:
    """``period`` seconds, or, above 10 s, a time drawn within 90-100 % of it, as NSD's xfrd does."""
    return period if period <= JITTERED_ABOVE else random.uniform(0.9 * period, period)


class Secondaries:
    """The TS's secondary zones, and the server's ``notifies`` exchange.

    ``install`` is awaited with each new copy's :class:`ZoneData` (it compiles
    and serves it; raises :class:`ZoneError` when it cannot); ``withdraw`` with
    the name of a zone that expired. The copies live in ``settings.zone_dir``
    (made if missing; raises :class:`ZoneError` when it cannot be), else in a
    private directory removed by :meth:`close`; :attr:`settings` is
    ``settings`` with that directory, for loading every zone again on SIGHUP.
    :attr:`transfers` counts transfers by ``(zone, kind, result)``.
    """

    def __init__(self, settings: TsSettings, install: Install, withdraw: Withdraw) -> None:
        self._private: tempfile.TemporaryDirectory | None = None
        directory = settings.zone_dir
        if directory is None:
            self._private = tempfile.TemporaryDirectory(prefix="resolver-ts-zones-")
            directory = Path(self._private.name)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ZoneError(f"--zone-dir {directory}: {exc.strerror}") from None
        self.settings = dataclasses.replace(settings, zone_dir=directory)
        self.keyring = {key.name: key for key in settings.keys.values()}
        self.transfers: Counter[tuple[str, str, str]] = Counter()
        self.refusals_logged: set[tuple[str, str]] = set()     # refused NOTIFYs logged at INFO: (sender, why)
        self.zones = {zone.name: Secondary(zone, copy_path(directory, zone.name), settings.keys, install, withdraw,
                                           self.transfers)
                      for zone in settings.secondaries}

    def start(self, authority: Authority) -> None:
        """Check every zone at once, each from the copy ``authority`` serves (if any); in the event loop."""
        for name, secondary in self.zones.items():
            secondary.start(authority.soa(name))

    async def close(self) -> None:
        """Stop every timer and check in progress, and remove the private directory if any."""
        for secondary in self.zones.values():
            await secondary.stop()
        if self._private is not None:
            self._private.cleanup()

    def handle(self, data: bytes, q: Query, sink: Sink, addr: object) -> None:
        """Answer a NOTIFY (RFC 1996) from ``addr`` and, when it is for one of these zones from
        one of its primaries, check the zone at once.

        The reply, as NSD's: NOERROR with AA and the question (signed with the
        request's TSIG key, RFC 8945 5.3); REFUSED with AA, a bare header, for a
        sender that is not a primary of the zone or did not sign with the
        zone's key; NOTAUTH for a zone this server is not secondary for (Knot's
        answer; NSD says NXDOMAIN), and for a signature that does not verify, with
        a TSIG record saying why (BADKEY, BADSIG, BADTIME: RFC 8945 5.2,
        :func:`~resolver.ts.tsig.failure_reply`); FORMERR for a message that does
        not parse or asks no SOA.
        """
        host = str(addr[0]) if isinstance(addr, tuple) else str(addr)
        message, tsig_error = read_signed(data, self.keyring)
        if tsig_error:
            level = self._level((host, f"TSIG {tsig_error}"))
            sink.send(failure_reply(data, q, tsig_error, self.keyring, host, AA, level), addr)
            return
        if message is None or not message.question or message.question[0].rdtype != SOA:
            sink.send(error_reply(data, q, FORMERR, echo=False), addr)
            return
        name = message.question[0].name
        secondary = self.zones.get(name)
        if secondary is None:
            self._refused(host, name, "not a secondary zone here")
            sink.send(error_reply(data, q, NOTAUTH, AA, echo=False), addr)
            return
        primary = secondary.notifier(host, message.keyname if message.had_tsig else None)
        if primary is None:
            self._refused(host, name, "not one of its primaries"
                          + (" with its TSIG key" if any(p.key for p in secondary.zone.primaries) else ""))
            sink.send(error_reply(data, q, REFUSED, AA, echo=False), addr)
            return
        reply = dns.message.make_response(message)
        reply.flags |= dns.flags.AA
        sink.send(reply.to_wire(), addr)
        secondary.notified(primary)


    def _level(self, refusal: tuple[str, str]) -> int:
        """The level of the line for a refused NOTIFY, ``(sender, why)``: INFO the first time (for
        :data:`REFUSALS_LOGGED` refusals at most), DEBUG after, so that a flood of them (UDP, its
        source easily forged) cannot fill the log; NSD logs none below its verbosity 2."""
        if refusal in self.refusals_logged or len(self.refusals_logged) >= REFUSALS_LOGGED:
            return logging.DEBUG
        self.refusals_logged.add(refusal)
        return logging.INFO

    def _refused(self, host: str, name: dns.name.Name, why: str) -> None:
        level = self._level((host, f"{name} {why}"))
        log.log(level, "NOTIFY from %s for %s refused: %s%s", host, name.to_text(), why,
                "; the same again is logged at debug level" if level == logging.INFO else "")


class Secondary:
    """One secondary zone: its copy on disk at ``path``, its timer, its checks and transfers.

    ``keys``: the TSIG keys by the names its primaries give; ``install`` and
    ``withdraw`` as :class:`Secondaries` takes them; ``transfers`` is counted in.
    """

    def __init__(self, zone: SecondaryZone, path: Path, keys: Mapping[str, dns.tsig.Key], install: Install,
                 withdraw: Withdraw, transfers: Counter[tuple[str, str, str]]) -> None:
        self.zone = zone
        self.name = zone.name.to_text()
        self.path = path
        self.keys = keys
        self.install = install
        self.withdraw = withdraw
        self.transfers = transfers
        self.soa: dns.rdtypes.ANY.SOA.SOA | None = None     # the copy's, once there is one
        self.served = False
        self.checked = 0.0          # the last successful check, in seconds since the epoch
        self.check_at = 0.0         # the next check, likewise
        self.timer: asyncio.TimerHandle | None = None
        self.checking: asyncio.Task | None = None
        self.expiring: asyncio.Task | None = None
        self.again = False          # a NOTIFY came during a check: check again after it
        self.preferred: Remote | None = None    # asked first: the primary that last answered or notified
        self.changing = asyncio.Lock()      # a new copy served, or the zone withdrawn: one at a time

    def notifier(self, host: str, keyname: dns.name.Name | None) -> Remote | None:
        """The primary of this zone a NOTIFY from ``host`` signed with ``keyname`` (None: unsigned)
        comes from, with that primary's key when it has one; None for a stranger."""
        return next((primary for primary in self.zone.primaries if _same_host(host, primary.host)
                     and (primary.key is None or keyname == self.keys[primary.key].name)), None)

    def start(self, soa: dns.rdtypes.ANY.SOA.SOA | None) -> None:
        """Begin with the copy being served (its SOA; None: no copy) and check it at once."""
        self.soa, self.served = soa, soa is not None
        if self.served:
            try:
                self.checked = self.path.stat().st_mtime
            except OSError:
                self.checked = time.time()
        self.check_at = time.time()
        self._fire()

    def notified(self, primary: Remote) -> None:
        """Check at once, or once more after the check in progress, asking ``primary`` (the one
        that sent the NOTIFY) first, as NSD's xfrd does; unless the primary that last answered
        is at the same address (a NOTIFY's source port tells nothing of the primary's port)."""
        if self.preferred is None or not _same_host(self.preferred.host, primary.host):
            self.preferred = primary
        if self.checking is not None:
            self.again = True
        else:
            self.check_at = time.time()
            self._fire()

    async def stop(self) -> None:
        """Cancel the timer and wait for the check (and expiry) in progress to end, cancelled."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        for task in (self.checking, self.expiring):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass

    # ------------------------------------------------------------------ the timer

    def _fire(self) -> None:
        """The timer's call: withdraw an expired copy, start a check that is due, and set the timer again."""
        self.timer = None
        now = time.time()
        loop = asyncio.get_running_loop()
        if self.served and self.expiring is None and now >= self._expires_at():
            self.expiring = loop.create_task(self._expire())
        if self.checking is None and now >= self.check_at:
            self.checking = loop.create_task(self._run_check())
        self._arm()

    def _arm(self) -> None:
        """The zone's one timer: at its next check (none while one runs), or when its copy
        expires if that comes first."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        times = [self._expires_at()] if self.served and self.expiring is None else []
        if self.checking is None:
            times.append(self.check_at)
        if times:
            self.timer = asyncio.get_running_loop().call_later(max(0.0, min(times) - time.time()), self._fire)

    def _expires_at(self) -> float:
        return self.checked + self.soa.expire if self.soa is not None else self.checked

    async def _run_check(self) -> None:
        try:
            ok = await self._check()
        except Exception:       # a fault of ours: logged, and the zone's timer goes on
            log.exception("zone %s: check failed", self.name)
            ok = False
        finally:
            self.checking = None
        self.check_at = time.time() + (0.0 if self.again else self._period(ok))
        self.again = False
        self._arm()

    def _period(self, ok: bool) -> float:
        """Seconds to the next check: the SOA's refresh after a success, its retry after a failure."""
        if self.soa is None:
            return FIRST_RETRY
        return jittered(max(SHORTEST_TIMER, self.soa.refresh if ok else self.soa.retry))

    async def _expire(self) -> None:
        """Withdraw the zone, unless a check succeeded while this waited for a transfer's swap."""
        try:
            async with self.changing:
                if time.time() < self._expires_at():
                    return
                self.served = False
                log.warning("zone %s expired: no successful check for %d s (SOA expire); SERVFAIL until a primary "
                            "answers", self.name, self.soa.expire if self.soa is not None else 0)
                await self.withdraw(self.zone.name)
        finally:
            self.expiring = None
            self._arm()

    # ------------------------------------------------------------------ checks and transfers

    async def _check(self) -> bool:
        """Ask each primary in turn, the one that last answered (or sent a NOTIFY) first, as NSD
        and Knot do, so that a dead primary does not hold every check up for its timeout; True
        as soon as one answered and the copy is current."""
        for primary in sorted(self.zone.primaries, key=lambda remote: remote != self.preferred):
            try:
                await self._check_with(primary)
                self.preferred = primary
                return True
            except Broken as exc:
                log.warning("zone %s: from %s: %s; %s", self.name, format_hostport(primary.host, primary.port), exc,
                            f"still serving serial {self.soa.serial}" if self.served and self.soa is not None
                            else "not served")
        return False

    async def _check_with(self, primary: Remote) -> None:
        key = self.keys[primary.key] if primary.key else None
        serial = await self._primary_serial(primary, key)
        if self.soa is not None and serial == self.soa.serial:
            self._touch()
            if not self.served:
                await self._serve_saved()
            return
        if self.soa is not None and not newer(serial, self.soa.serial):
            raise Broken(f"serial {serial} is not above ours, {self.soa.serial} (RFC 1982)")
        started = time.monotonic()
        transfer = await self._transfer(primary, key)
        soa = zone_soa(transfer.zone)
        if self.soa is not None and not newer(soa.serial, self.soa.serial):
            self.transfers[(self.name, transfer.kind, "failed")] += 1
            raise Broken(f"{transfer.kind} brought serial {soa.serial}, not above ours, {self.soa.serial} (RFC 1982)")
        fresh = self.path.with_name(self.path.name + ".new")
        try:
            data = await asyncio.get_running_loop().run_in_executor(None, _written, transfer.zone, fresh)
            async with self.changing:
                await self.install(data)
                self.soa, self.served = soa, True
                os.replace(fresh, self.path)
                self._touch()
        except (ZoneError, OSError) as exc:
            with contextlib.suppress(OSError):      # what could not be written may not be removable either
                fresh.unlink(missing_ok=True)
            self.transfers[(self.name, transfer.kind, "failed")] += 1
            why = ("refused" if isinstance(exc, ZoneError)
                   else f"not taken: its copy cannot be written in {self.path.parent}")
            raise Broken(f"{transfer.kind} of serial {soa.serial} {why}: {exc}") from None
        self.transfers[(self.name, transfer.kind, "ok")] += 1
        log.info("zone %s: serial %d by %s from %s, %d records, %.3f s", self.name, soa.serial, transfer.kind,
                 format_hostport(primary.host, primary.port), transfer.records, time.monotonic() - started)

    async def _serve_saved(self) -> None:
        """Serve the copy on disk again (it had expired; a primary still has its serial)."""
        try:
            data = await asyncio.get_running_loop().run_in_executor(None, load_zone_file, self.path, self.zone.name)
            async with self.changing:
                await self.install(data)
                self.served = True
        except (ZoneError, OSError) as exc:
            self.soa = None         # transfer it anew
            raise Broken(f"the saved copy cannot be served again: {exc}") from None
        log.info("zone %s: serving serial %d again", self.name, self.soa.serial)     # type: ignore[union-attr]

    def _touch(self) -> None:
        self.checked = time.time()
        try:
            os.utime(self.path, (self.checked, self.checked))
        except OSError as exc:
            log.warning("zone %s: cannot mark the saved copy as checked: %s", self.name, exc)

    async def _primary_serial(self, primary: Remote, key: dns.tsig.Key | None) -> int:
        """The serial of the primary's SOA for the zone. Raises :class:`Broken`."""
        query = dns.message.make_query(self.zone.name, SOA)
        query.flags &= ~dns.flags.RD
        if key is not None:
            query.use_tsig(key)
        try:
            reply = await dns.asyncquery.udp(query, primary.host, SOA_QUERY_TIMEOUT, primary.port)
            if reply.flags & dns.flags.TC:
                reply = await dns.asyncquery.tcp(query, primary.host, SOA_QUERY_TIMEOUT, primary.port)
        except dns.exception.Timeout:
            raise Broken(f"no reply to the SOA query within {SOA_QUERY_TIMEOUT:g} s") from None
        except TSIG_ERRORS as exc:
            raise Broken(f"SOA query refused: TSIG: {_describe(exc)}") from None
        except (OSError, dns.exception.DNSException) as exc:
            raise Broken(f"SOA query failed: {_describe(exc)}") from None
        if key is not None and not reply.had_tsig:
            raise Broken(f"SOA reply not signed with TSIG key {key.name}")
        if reply.rcode() != dns.rcode.NOERROR:
            raise Broken(f"SOA query answered {dns.rcode.to_text(reply.rcode())}")
        rrset = reply.get_rrset(reply.answer, self.zone.name, IN, SOA)
        if not rrset:
            raise Broken("no SOA in the reply to the SOA query")
        return rrset[0].serial

    async def _transfer(self, primary: Remote, key: dns.tsig.Key | None) -> Transfer:
        """IXFR from the copy's serial, else (no copy, or a failed IXFR) AXFR. Raises :class:`Broken`."""
        why_not_ixfr = ""
        if self.soa is not None:
            try:
                base = await asyncio.get_running_loop().run_in_executor(None, self._read_copy)
            except (OSError, ZoneError) as exc:
                why_not_ixfr = f"saved copy unreadable: {_describe(exc)}"
            else:
                try:
                    return await self._receive(primary, key, base, incremental=True)
                except Broken as exc:
                    if not exc.fallback:
                        raise
                    why_not_ixfr = f"IXFR failed: {exc}"
        try:
            return await self._receive(primary, key, dns.zone.Zone(self.zone.name, relativize=False),
                                       incremental=False)
        except Broken as exc:
            raise Broken(f"{exc}{'; ' + why_not_ixfr if why_not_ixfr else ''}") from None

    def _read_copy(self) -> dns.zone.Zone:
        """The copy on disk as a dnspython zone, the base of an IXFR: read by our own master-file
        reader (ten times faster than dnspython's), its address records put back."""
        data = load_zone_file(self.path, self.zone.name)
        for key, records in data.addresses.items():
            add_address_records(data.zone, key, records, str(self.path))
        return data.zone

    async def _receive(self, primary: Remote, key: dns.tsig.Key | None, zone: dns.zone.Zone,
                       incremental: bool) -> Transfer:
        """One transfer over TCP into ``zone``, through dnspython's :class:`dns.xfr.Inbound`
        (which applies an IXFR's differences, or the whole zone when the primary sends it).
        The primary may take as long as the zone needs, but no more than
        :data:`~resolver.ts.settings.TRANSFER_IDLE_TIMEOUT` seconds to connect or between two
        reads (NSD's xfrd and Knot bound a transfer's idle time, not its length). Raises :class:`Broken`."""
        kind = "IXFR" if incremental else "AXFR"
        query, serial = dns.xfr.make_query(zone, serial=0 if incremental else None)
        if key is not None:
            query.use_tsig(key)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(primary.host, primary.port),
                                                    TRANSFER_IDLE_TIMEOUT)
            try:
                wire = query.to_wire()
                writer.write(struct.pack("!H", len(wire)) + wire)
                transfer = await _messages(reader, query, key, zone, serial, kind)
            finally:
                writer.close()
        except asyncio.TimeoutError:
            self.transfers[(self.name, kind, "failed")] += 1
            raise Broken(f"{kind}: nothing from the primary for {TRANSFER_IDLE_TIMEOUT:g} s", fallback=False) from None
        except Broken:
            self.transfers[(self.name, kind, "failed")] += 1
            raise
        except (OSError, asyncio.IncompleteReadError) as exc:
            self.transfers[(self.name, kind, "failed")] += 1
            raise Broken(f"{kind} connection failed: {_describe(exc)}", fallback=False) from None
        except TSIG_ERRORS as exc:
            self.transfers[(self.name, kind, "failed")] += 1
            raise Broken(f"{kind} refused: TSIG: {_describe(exc)}", fallback=False) from None
        except dns.xfr.TransferError as exc:
            self.transfers[(self.name, kind, "failed")] += 1
            raise Broken(f"{kind} answered {dns.rcode.to_text(exc.rcode)}") from None
        except (dns.exception.DNSException, KeyError, ValueError) as exc:
            self.transfers[(self.name, kind, "failed")] += 1
            raise Broken(f"bad {kind}: {_describe(exc)}") from None
        return transfer


async def _receive_all(reader: asyncio.StreamReader, into: asyncio.Queue) -> None:
    """Put a transfer's messages (RFC 5936 2.2: on TCP, each after its length) into ``into`` as
    they come, however long applying them takes: Knot ends a transfer whose client leaves it
    unable to send for its tcp-io-timeout (500 ms), and applying a large zone runs slower than a
    primary sends. Then, instead of a message, the error that ended the stream: TimeoutError
    after :data:`~resolver.ts.settings.TRANSFER_IDLE_TIMEOUT` seconds without a message
    (a task's own timer: ``asyncio.timeout`` is Python 3.11's), else the stream's own."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    idle = [False]

    def silent() -> None:
        idle[0] = True
        task.cancel()       # type: ignore[union-attr]

    timer = loop.call_later(TRANSFER_IDLE_TIMEOUT, silent)
    try:
        while True:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            into.put_nowait(await reader.readexactly(length))
            timer.cancel()
            timer = loop.call_later(TRANSFER_IDLE_TIMEOUT, silent)
    except asyncio.CancelledError:
        if not idle[0]:
            raise               # the transfer is over
        into.put_nowait(TimeoutError())
    except (OSError, asyncio.IncompleteReadError) as exc:
        into.put_nowait(exc)
    finally:
        timer.cancel()


async def _messages(reader: asyncio.StreamReader, query: dns.message.Message, key: dns.tsig.Key | None,
                    zone: dns.zone.Zone, serial: int | None, kind: str) -> Transfer:
    """Apply a transfer's messages, read by :func:`_receive_all`, to ``zone``, each checked for
    its TSIG (the first and last must be signed, RFC 8945 5.3.1) and for records outside the
    zone, which :class:`dns.xfr.Inbound` would silently drop. Runs in the event loop, a message
    at a time (tens of milliseconds for one of 16 KiB), queries answered between two.
    Raises what ended the stream (TimeoutError, OSError, asyncio.IncompleteReadError) and
    what dnspython raises for a message."""
    rdtype = dns.rdatatype.IXFR if kind == "IXFR" else dns.rdatatype.AXFR
    records = 0
    tsig_ctx = None
    received: asyncio.Queue[bytes | BaseException] = asyncio.Queue()
    receiving = asyncio.get_running_loop().create_task(_receive_all(reader, received))
    try:
        with dns.xfr.Inbound(zone, rdtype, serial, transaction_setup=_checked) as inbound:
            done = False
            first = True
            while not done:
                wire = await received.get()
                if isinstance(wire, BaseException):
                    raise wire
                message = dns.message.from_wire(wire, keyring=query.keyring,
                                                request_mac=query.mac, xfr=True, origin=zone.from_wire_origin(),
                                                tsig_ctx=tsig_ctx, multi=True, one_rr_per_rrset=kind == "IXFR")
                tsig_ctx = message.tsig_ctx
                if message.rcode() != dns.rcode.NOERROR:
                    raise dns.xfr.TransferError(message.rcode())
                if first and key is not None and not message.had_tsig:
                    raise Broken(f"{kind} reply not signed with TSIG key {key.name}", fallback=False)
                first = False
                for rrset in message.answer:
                    if not rrset.name.is_subdomain(zone.origin):
                        raise Broken(f"{kind} holds {rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}, "
                                     "outside the zone", fallback=False)
                    records += len(rrset)
                done = inbound.process_message(message)
                # The messages may be there already, and taking them never yields: let the
                # queries waiting meanwhile (and the reading) in between two messages.
                await asyncio.sleep(0)
            return Transfer("IXFR" if inbound.incremental else "AXFR", zone, records)
    finally:
        receiving.cancel()


def _checked(txn: dns.transaction.Transaction) -> None:
    txn.check_put_rdataset(_not_beside_cname)


def _not_beside_cname(txn: dns.transaction.Transaction, name: dns.name.Name, rdataset: dns.rdataset.Rdataset) -> None:
    """Refuse a CNAME and other data at one name (RFC 1034 3.6.2), as a master file is refused:
    a dnspython zone would keep one and silently drop the other."""
    node = txn.get_node(name)
    if node is None:
        return
    types = {rds.rdtype for rds in node}
    clash = (not types <= BESIDE_CNAME) if rdataset.rdtype == CNAME else (rdataset.rdtype not in BESIDE_CNAME
                                                                          and CNAME in types)
    if clash:
        raise Broken(f"{name} has a CNAME and other data (RFC 1034 3.6.2)", fallback=False)


def _written(zone: dns.zone.Zone, path: Path) -> ZoneData:
    """Write ``zone`` as a master file at ``path`` and read it back with every check a zone file
    gets. Raises :class:`ZoneError` (the file is then left for the caller to remove)."""
    zone.to_file(str(path), relativize=False)
    return load_zone_file(path, zone.origin)


def _same_host(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
