"""The answer cache: the race's results kept by TTL, served with the client's ID and spelling.

What is kept is what a race gave its client (:mod:`resolver.ls.race`), never one
backend's reply on its own: a positive answer (a chain the LS followed
included), an NXDOMAIN or NODATA only once every backend awaited said no (the
race decides that; this module is told the kind), and a SERVFAIL from every
backend for ``servfail_ttl`` seconds (RFC 2308 7.1). A made-up timeout answer
is never offered.

* **Key**: the question name lower-cased (RFC 4343), type and class, and what
  changes the answer: the DO and CD bits, whether the query had EDNS, and the
  size the reply may take (the UDP client's, or TCP's), since a backend fits
  its reply to it, glue left out first (:func:`cache_key`). A reply with TC set
  is not kept (RFC 2181 9), so a TCP client never gets a truncated entry.
* **TTLs**: each record's TTL (the OPT record aside, whose TTL field holds
  flags) is clamped to ``[min_ttl, max_ttl]`` when stored, one with its top bit
  set taken as 0 (RFC 2181 8), and counted down when served, in whole seconds.
  An entry lives as long as its shortest TTL. A negative entry's SOA gets the
  negative TTL, min(SOA TTL, SOA MINIMUM) clamped likewise and at most
  ``negative_ttl_max``, and is served with it counted down (RFC 2308 3 and 5);
  a negative reply without an SOA is not kept (RFC 2308 5).
* **EDNS options**: a kept reply's OPT record keeps only an extended error
  (RFC 8914); a COOKIE (the asking client's own, echoed, RFC 7873), NSID or
  padding belongs to one exchange and is dropped, so another client does not
  get a cookie that is not its own.
* **Stale** (RFC 8767): an entry past its TTL is kept ``serve_stale`` seconds more,
  for the race to fall back on when every backend fails; it is served with every
  TTL set to :data:`STALE_TTL` (RFC 8767 4) and, to an EDNS client, the extended
  error Stale Answer (RFC 8914). Once a refresh has failed, the stale answer is
  served without asking the backends again for :data:`FAILURE_RECHECK` seconds
  (RFC 8767 5's failure recheck timer). A SERVFAIL does not replace an entry
  that can still be served, fresh or stale.
* **Prefetch**: a hit in the last :data:`PREFETCH_SHARE` of an entry's lifetime
  asks once for a refresh (:meth:`AnswerCache.wants_prefetch`), as Unbound's
  ``prefetch`` does.
* **AA**: cleared when an entry is stored, so every reply served from it,
  fresh, negative or stale, says it is not authoritative (RFC 1035 6.2, RFC
  2181 5.4.1), as CoreDNS's cache, Unbound and dnsmasq say; the reply the race
  that stored it passes on to its own client keeps the backend's AA
  (:meth:`AnswerCache.first`). Its RA was set before it was stored
  (:mod:`resolver.ls.header`), so a hit changes neither bit.
* **Bounds**: at most ``entries`` entries and, when set, ``max_bytes`` octets as
  :func:`entry_size` counts them; the least recently used go first.

Times are seconds on a monotonic clock the caller passes in (``now``).
"""
from __future__ import annotations

import struct
from collections import OrderedDict

from ..wire import (AA, MAX_UDP, MIN_UDP, NOERROR, NXDOMAIN, OPTION_EDE, SERVFAIL, TC, TYPE_OPT, Query, WireError,
                    as_asked_by, at_or_below, question_name_end, skip_name)
from .rule import TYPE_CNAME, TYPE_DNAME, TYPE_SOA
from .settings import CacheSettings

STALE_TTL = 30              # seconds: the TTL of a stale answer (RFC 8767 4)
KEY_TAIL = 3                # a cache key's octets after its question: flags, and the size the reply may take
MAX_STREAM = 65535          # octets: the size a reply may take over TCP
USUAL_SIZES = (MIN_UDP, MAX_UDP, MAX_STREAM)     # a query without EDNS or 512, EDNS 1232 or more, TCP
FAILURE_RECHECK = 30        # seconds a stale answer whose refresh failed is served without asking again (RFC 8767 5)
EDE_STALE_ANSWER = 3        # the extended error a stale answer carries for an EDNS client (RFC 8914 4.4)
PREFETCH_SHARE = 0.1        # a hit in this last share of an entry's lifetime refreshes it
# What an entry takes besides its message's octets, as tracemalloc measures it (CPython 3.11,
# 100,000 entries): 424 octets for its key, its CachedAnswer, the message's bytes object, its times
# and its place in the OrderedDict, and 92 for each record whose TTL is counted down (its (offset,
# TTL) pair). An entry for a one-record A answer of 55 octets takes 570 octets.
ENTRY_OVERHEAD = 424        # octets
TTL_SLOT = 92               # octets per record whose TTL is counted down
TTL_TOP_BIT = 0x80000000    # a TTL with it set is taken as 0 (RFC 2181 8)
TYPE_RRSIG = 46
# What the answer section of a negative reply may hold: the alias chain that led to the name that
# does not exist or has no data (RFC 2308 2.1, 2.2; RFC 6604), and its signatures.
CHAIN_TYPES = (TYPE_CNAME, TYPE_DNAME, TYPE_RRSIG)
CD_BIT = 0x10               # in the fourth octet of the header
AA_BIT = AA >> 8            # in the third octet of the header

# Kinds of result the race offers (:meth:`AnswerCache.store`).
ANSWER = "answer"
NEGATIVE = "negative"
FAILURE = "servfail"

# The EDNS options a kept reply's OPT record keeps: an extended error (RFC 8914) is about the answer;
# a COOKIE (RFC 7873: the client's own, echoed), NSID or padding is about one exchange, not for others.
KEPT_OPTIONS = (OPTION_EDE,)

_HEADER_COUNTS = struct.Struct("!HHHH")     # QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT
_RR_FIXED = struct.Struct("!HHIH")          # type, class, TTL, RDLENGTH
_TTL = struct.Struct("!I")
_OPTION = struct.Struct("!HH")              # option code, length
_RDLENGTH = struct.Struct("!H")
_EDE_STALE = struct.pack("!HHH", OPTION_EDE, 2, EDE_STALE_ANSWER)


def cache_key(data: bytes, q: Query, stream: bool = False) -> bytes:
    """The key of a client query ``data`` (scanned as ``q``; ``stream``: it came over TCP): the
    name lower-cased, the type and class, one octet of flags (DO, CD, and whether it had EDNS),
    and the size the reply may take, in two octets: the UDP client's (RFC 6891 6.2.5, capped
    as :attr:`Query.udp_limit` is), or 65535 over TCP. A backend fits its reply to that size
    (leaving out glue first, then setting TC), so only a query that allows the same size gets
    the same reply."""
    flags = (1 if q.edns_do else 0) | (2 if data[3] & CD_BIT else 0) | (4 if q.edns_size >= 0 else 0)
    size = MAX_STREAM if stream else q.udp_limit
    return q.qname.lower() + q.question[-4:] + bytes((flags, size >> 8, size & 0xFF))


def key_name(key: bytes) -> bytes:
    """The question name (wire form, lower-cased) of a cache key."""
    return key[:-KEY_TAIL - 4]


def key_question(key: bytes) -> bytes:
    """The question of a cache key: the name (wire form, lower-cased), type and class."""
    return key[:-KEY_TAIL]


def entry_size(wire: bytes, records: int) -> int:
    """Octets an entry of message ``wire`` with ``records`` counted-down TTLs is counted as taking:
    what it takes in memory, within a few percent (:data:`ENTRY_OVERHEAD`)."""
    return ENTRY_OVERHEAD + len(wire) + TTL_SLOT * records


class CacheStats:
    """What the cache did, for ``/metrics`` and the status page.

    ``hits``: fresh answers served; ``misses``: lookups that found nothing
    fresh (stale ones included); ``stale``: stale answers served; ``prefetches``:
    refreshes asked for; ``evictions``: entries dropped for room; ``expired``:
    entries dropped past their TTL (and stale window); ``inserts``: entries stored;
    ``flushed``: entries dropped by a flush.
    """

    __slots__ = ("hits", "misses", "stale", "prefetches", "evictions", "expired", "inserts", "flushed")

    def __init__(self) -> None:
        self.hits = self.misses = self.stale = self.prefetches = 0
        self.evictions = self.expired = self.inserts = self.flushed = 0


class CachedAnswer:
    """One kept result: its message with ID 0, where its TTLs are and what they were when stored."""

    __slots__ = ("wire", "ttls", "stored", "expires", "stale_until", "lifetime", "prefetching", "size", "kind",
                 "opt_at", "recheck_at")

    def __init__(self, wire: bytes, ttls: tuple[tuple[int, int], ...], stored: float, lifetime: int,
                 stale_for: int, kind: str) -> None:
        self.wire = wire
        self.ttls = ttls                # (offset of a TTL field, its TTL when stored), per record
        self.stored = stored
        self.lifetime = lifetime        # seconds: the shortest TTL
        self.expires = stored + lifetime
        self.stale_until = self.expires + stale_for
        self.prefetching = False        # a refresh was asked for
        self.size = entry_size(wire, len(ttls))
        self.kind = kind
        self.opt_at = -1                # the OPT record's RDLENGTH field when the OPT is the last record
        self.recheck_at = 0.0           # a failed refresh: served stale without asking again until then

    @property
    def rcode(self) -> int:
        return self.wire[3] & 0x0F

    def fresh(self, now: float) -> bool:
        return now < self.expires

    def servable_stale(self, now: float) -> bool:
        """Whether it may still go back as a stale answer at ``now``: within its stale window and
        not flushed."""
        return now < self.stale_until

    def ttl_left(self, now: float) -> int:
        """Whole seconds until it expires (0 once it has)."""
        return max(0, int(self.expires - now))


def _records(wire: bytes) -> tuple[int, list[tuple[int, int, int, int]]]:
    """The offset past the message's one question, and every record after it: (section, offset of
    its TTL field, type, offset past it); section 0 is the answer, 1 authority, 2 additional.
    Raises WireError unless the message is one question (its name not compressed) and whole
    records that end where the message does, an OPT record among the additional ones only."""
    try:
        qdcount, ancount, nscount, arcount = _HEADER_COUNTS.unpack_from(wire, 4)
        if qdcount != 1:
            raise WireError("not one question")
        pos = question_end = question_name_end(wire) + 4
        out = []
        for index in range(ancount + nscount + arcount):
            pos = skip_name(wire, pos)
            rdtype, _, _, rdlength = _RR_FIXED.unpack_from(wire, pos)
            end = pos + 10 + rdlength
            if end > len(wire):
                raise WireError("record runs past the end")
            section = 0 if index < ancount else 1 if index < ancount + nscount else 2
            if rdtype == TYPE_OPT and section != 2:
                raise WireError("an OPT record outside the additional section")   # RFC 6891 6.1.1
            out.append((section, pos + 4, rdtype, end))
            pos = end
    except struct.error:
        raise WireError("a record runs past the end") from None
    if pos != len(wire):
        raise WireError("octets after the last record")
    return question_end, out


def _without_exchange_options(wire: bytes, records: list[tuple[int, int, int, int]]) -> bytes:
    """``wire`` with its OPT record keeping only the options of :data:`KEPT_OPTIONS` (``wire``
    itself when there is nothing to drop). ``records`` as :func:`_records` gives them. Raises
    WireError for options that run past their record."""
    for _, ttl_at, rdtype, end in records:
        if rdtype != TYPE_OPT:
            continue
        start = ttl_at + 6      # past the TTL and RDLENGTH fields
        kept = bytearray()
        pos = start
        while pos < end:
            if pos + 4 > end:
                raise WireError("an EDNS option runs past the OPT record")
            code, length = _OPTION.unpack_from(wire, pos)
            if pos + 4 + length > end:
                raise WireError("an EDNS option runs past the OPT record")
            if code in KEPT_OPTIONS:
                kept += wire[pos:pos + 4 + length]
            pos += 4 + length
        if len(kept) == end - start:
            return wire
        return wire[:start - 2] + len(kept).to_bytes(2, "big") + bytes(kept) + wire[end:]
    return wire


def shareable(reply: bytes) -> bytes:
    """``reply`` as any client may get it: its OPT record without the options of one exchange
    (:data:`KEPT_OPTIONS`), for queries that share another's race; ``reply`` itself when its
    sections do not parse."""
    try:
        return _without_exchange_options(reply, _records(reply)[1])
    except WireError:
        return reply


def _soa_minimum(wire: bytes, start: int, end: int) -> int:
    """The MINIMUM field of the SOA whose RDATA is ``wire[start:end]``, in seconds (0 for one with
    its top bit set, as a TTL). Raises WireError unless that RDATA is two names and five 32-bit
    numbers (RFC 1035 3.3.13)."""
    pos = skip_name(wire, skip_name(wire, start))
    if pos + 20 != end:
        raise WireError("SOA RDATA is not two names and five numbers")
    minimum = _TTL.unpack_from(wire, end - 4)[0]
    return 0 if minimum & TTL_TOP_BIT else minimum


class AnswerCache:
    """Results of races by :func:`cache_key`, in an LRU bounded by ``settings`` (:class:`CacheSettings`)."""

    def __init__(self, settings: CacheSettings) -> None:
        """Raises ValueError unless ``settings.entries`` is at least 1 (0 means no cache: make none)."""
        if settings.entries < 1:
            raise ValueError("the answer cache needs room for one entry at least")
        self.settings = settings
        self.stats = CacheStats()
        self.bytes = 0
        self._entries: OrderedDict[bytes, CachedAnswer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: bytes, now: float) -> CachedAnswer | None:
        """The entry for ``key``, fresh or stale, moved to the young end; None (a miss) when there is
        none, or it is past its stale window (then dropped). A stale one counts as a miss."""
        entry = self._entries.get(key)
        if entry is not None:
            if now < entry.expires:
                self._entries.move_to_end(key)
                self.stats.hits += 1
                return entry
            if now >= entry.stale_until:
                self._drop(key, entry)
                self.stats.expired += 1
                entry = None
        self.stats.misses += 1
        return entry

    def peek(self, key: bytes, now: float) -> CachedAnswer | None:
        """The entry for ``key`` if fresh or stale, without counting or moving it."""
        entry = self._entries.get(key)
        return entry if entry is not None and now < entry.stale_until else None

    def holding(self, question: bytes, now: float) -> list[tuple[bytes, CachedAnswer]]:
        """The keys and entries, fresh or stale, for ``question`` (name in wire form lower-cased, type
        and class: :func:`key_question`), for every combination of flags and the sizes of
        :data:`USUAL_SIZES`; nothing is counted or moved. (A key for another UDP size is not looked
        for: that would mean reading every entry.)"""
        found = []
        for flags in range(8):
            for size in USUAL_SIZES:
                key = question + bytes((flags, size >> 8, size & 0xFF))
                entry = self.peek(key, now)
                if entry is not None:
                    found.append((key, entry))
        return found

    def wants_prefetch(self, entry: CachedAnswer, now: float) -> bool:
        """Whether a hit on ``entry`` at ``now`` should refresh it: a fresh positive or negative entry
        in the last :data:`PREFETCH_SHARE` of its lifetime, not asked to already. Asks once. A stale
        entry is not refreshed in the background: the race for it is its refresh."""
        left = entry.expires - now
        if (not self.settings.prefetch or entry.prefetching or entry.kind == FAILURE
                or left > entry.lifetime * PREFETCH_SHARE or left <= 0):
            return False
        entry.prefetching = True
        self.stats.prefetches += 1
        return True

    @staticmethod
    def refresh_failed(entry: CachedAnswer, now: float) -> None:
        """The race to refresh the stale ``entry`` failed at ``now``: it is served stale without
        asking the backends again for :data:`FAILURE_RECHECK` seconds (RFC 8767 5)."""
        entry.recheck_at = now + FAILURE_RECHECK

    def serve(self, entry: CachedAnswer, data: bytes, q: Query, now: float, stale: bool = False) -> bytes:
        """``entry`` as the reply to the client query ``data`` (scanned as ``q``): its ID, RD bit and
        spelling of the question, TTLs counted down to ``now``; or with ``stale`` :data:`STALE_TTL` each
        and, for a client that sent EDNS, the extended error Stale Answer (RFC 8914 4.4).
        Not cut to the client's size: the caller applies the UDP limit as to a fresh answer."""
        out = bytearray(as_asked_by(entry.wire, data, q))
        pack = _TTL.pack_into
        if stale:
            self.stats.stale += 1
            for offset, _ in entry.ttls:
                pack(out, offset, STALE_TTL)
            if entry.opt_at >= 0:       # an EDNS client: say it is stale (RFC 8914 4.4)
                out += _EDE_STALE
                length = entry.opt_at
                _RDLENGTH.pack_into(out, length, _RDLENGTH.unpack_from(out, length)[0] + len(_EDE_STALE))
        else:
            elapsed = int(now - entry.stored)
            for offset, ttl in entry.ttls:
                pack(out, offset, ttl - elapsed if ttl > elapsed else 0)
        return bytes(out)

    def first(self, entry: CachedAnswer, data: bytes, q: Query, now: float, reply: bytes) -> bytes:
        """``entry``, just stored from ``reply``, as the reply to the client query ``data`` (scanned as
        ``q``) whose race gave ``reply``: as :meth:`serve` gives it, but with ``reply``'s AA bit, since
        it is the backend's reply passed on, not one from the cache."""
        out = self.serve(entry, data, q, now)
        return out[:2] + bytes((out[2] | AA_BIT,)) + out[3:] if reply[2] & AA_BIT else out

    def store(self, key: bytes, reply: bytes, kind: str, now: float) -> CachedAnswer | None:
        """Keep ``reply`` (the whole message a race gave its client) under ``key`` as ``kind`` from
        ``now``: :data:`ANSWER` (NOERROR with answer records), :data:`NEGATIVE` (NXDOMAIN or NODATA
        with an SOA in its authority section, after an alias chain at most) or :data:`FAILURE`
        (SERVFAIL), with AA cleared. Returns the entry, or None when it is not kept: not of its kind, TC set (RFC
        2181 9), sections that do not parse, a question other than the key's, a lifetime of 0
        seconds, larger than ``max_bytes`` alone, or a failure while the entry there can still be
        served, fresh or stale (a failed refresh must not lose the answer RFC 8767 keeps for it).
        When it is not kept, the entry there stays."""
        if len(reply) < 12 or reply[2] << 8 & TC:
            return None
        settings = self.settings
        try:
            question_end, records = _records(reply)
            kept = _without_exchange_options(reply, records)
            if kept is not reply:
                reply = kept
                question_end, records = _records(reply)
            if reply[12:question_end - 4].lower() + reply[question_end - 4:question_end] != key_question(key):
                return None
            if kind == FAILURE:
                if reply[3] & 0x0F != SERVFAIL:
                    return None
                lifetime, ttls = settings.servfail_ttl, ()
                wire = reply
            else:
                qtype = reply[question_end - 4] << 8 | reply[question_end - 3]
                made = self._clamped(reply, records, kind == NEGATIVE, qtype)
                if made is None:
                    return None
                wire, ttls, lifetime = made
        except WireError:
            return None
        if lifetime <= 0:
            return None
        old = self._entries.get(key)
        if old is not None and kind == FAILURE and now < old.stale_until:
            return None
        wire = b"\x00\x00" + bytes((wire[2] & ~AA_BIT,)) + bytes(wire[3:])     # not authoritative (RFC 2181 5.4.1)
        entry = CachedAnswer(wire, ttls, now, lifetime, settings.serve_stale if kind != FAILURE else 0, kind)
        if records and records[-1][2] == TYPE_OPT:
            entry.opt_at = records[-1][1] + 4
        if settings.max_bytes is not None and entry.size > settings.max_bytes:
            return None
        if old is not None:
            self._drop(key, old)
        self._entries[key] = entry
        self.bytes += entry.size
        self.stats.inserts += 1
        self._make_room()
        return entry

    def _clamped(self, reply: bytes, records: list[tuple[int, int, int, int]], negative: bool,
                 qtype: int) -> tuple[bytearray, tuple[tuple[int, int], ...], int] | None:
        """``reply`` (to a question of type ``qtype``) with every TTL clamped to ``[min_ttl,
        max_ttl]``, their offsets and values, and the entry's lifetime. A negative reply's first
        SOA in the authority section gets its negative TTL, min(SOA TTL, MINIMUM) clamped and at
        most ``negative_ttl_max`` (RFC 2308 5). None when the reply is not of its kind (see
        :meth:`store`). Raises WireError for an SOA whose RDATA does not parse."""
        rcode = reply[3] & 0x0F
        if negative:
            if rcode != NOERROR and rcode != NXDOMAIN:
                return None
        elif rcode != NOERROR or not (reply[6] or reply[7]):
            return None     # an answer is a NOERROR with answer records
        settings = self.settings
        low, high = settings.min_ttl, settings.max_ttl
        wire = bytearray(reply)
        ttls = []
        soa = None
        for section, offset, rdtype, end in records:
            if rdtype == TYPE_OPT:
                continue
            ttl = _TTL.unpack_from(wire, offset)[0]
            if ttl & TTL_TOP_BIT:
                ttl = 0
            if negative and section == 1 and rdtype == TYPE_SOA and soa is None:
                ttl = min(ttl, _soa_minimum(wire, offset + 6, end))
                ttl = soa = min(max(ttl, low), high, settings.negative_ttl_max)
            elif negative and section == 0 and (rdtype == qtype or rdtype not in CHAIN_TYPES):
                return None     # it answers the question
            else:
                ttl = min(max(ttl, low), high)
            _TTL.pack_into(wire, offset, ttl)
            ttls.append((offset, ttl))
        if negative and soa is None:
            return None
        return wire, tuple(ttls), min(ttl for _, ttl in ttls)

    def _make_room(self) -> None:
        """Drop the least recently used entries while over either bound."""
        limit, max_bytes = self.settings.entries, self.settings.max_bytes
        entries = self._entries
        while len(entries) > limit or (max_bytes is not None and self.bytes > max_bytes):
            _, entry = entries.popitem(last=False)
            self.bytes -= entry.size
            self.stats.evictions += 1

    def _drop(self, key: bytes, entry: CachedAnswer) -> None:
        del self._entries[key]
        self.bytes -= entry.size

    def flush(self, name: bytes | None = None) -> int:
        """Drop every entry (``name`` None), or those for ``name`` (wire form, any letter case) and the
        names below it, label by label; returns how many were dropped. A dropped entry a race still
        holds as its stale answer is not served any more (:meth:`CachedAnswer.servable_stale`).
        Keys that do not hold the name's octets at all are passed over without a closer look, so a
        flush of one name in a million entries takes tens of milliseconds."""
        if name is None:
            doomed = list(self._entries.values())
            self._entries.clear()
            self.bytes = 0
        else:
            zone = name.lower()
            keys = [key for key in self._entries if zone in key and at_or_below(key_name(key), zone)]
            doomed = [self._entries[key] for key in keys]
            for key, entry in zip(keys, doomed):
                self._drop(key, entry)
        for entry in doomed:
            entry.stale_until = float("-inf")
        self.stats.flushed += len(doomed)
        return len(doomed)
