"""Learned routing: which backends answer a name, or own its zone, so they are asked first.

A full fan-out sends every query to every backend; for split DNS, where each
name lives on one backend, that multiplies the load (the "unsocial amount of
queries" Unbound's and CoreDNS's maintainers refuse fan-out for). So the LS
remembers, in bounded memory:

* **names**: the unit (a backend, or a replica group, :mod:`resolver.ls.groups`)
  whose positive answer for a name won its race, until that answer's TTL runs
  out (the TTL of the answer section's first record);
* **zones**: the units that sent a negative answer (NXDOMAIN, NODATA) with a
  zone's SOA in the authority section (RFC 2308 3), so are authoritative for
  that zone, until that SOA's TTL runs out; and the units that answered a
  name below a zone learned so, since they hold names there too (a backend
  that never says no for a zone, such as one that holds a wildcard for it,
  would otherwise wait behind the owners of a zone above it: a table server's
  NXDOMAIN names the root zone).

The race (:mod:`resolver.ls.race`) asks a name's owners first, or failing
that the owners of the longest zone learned above it, and the other backends
only when an owner says no (at once) or stays silent past its retransmission
timeout (the *hedge*, :mod:`resolver.ls.retransmit`). The client's answer is
that of the full fan-out: a positive answer wins either way, and a "no" from
an owner is weighed with every other backend's, as without learning. A name
that moved to another backend is found by the first query after the move:
the old owner says no, the others are asked at once, and the new owner is
learned.

Entries are kept in one LRU of ``size`` entries (names and zones together),
each kept at most ``max_ttl`` seconds; a lookup of a name moves it to the
young end, and an entry found expired is dropped. Names are compared in wire
form, lower-cased (RFC 4343).
"""
from __future__ import annotations

import struct
from collections import OrderedDict

from ..wire import WireError, skip_name

TYPE_SOA = 6
_COUNTS = struct.Struct("!HH")          # ANCOUNT, NSCOUNT
_TTL = struct.Struct("!I")
_TYPE = struct.Struct("!H")
MAX_POINTERS = 127                      # compression pointers followed in one name at most


def read_name(data: bytes, pos: int) -> bytes:
    """The name at ``pos`` of message ``data`` in wire form, uncompressed and lower-cased.
    Raises :class:`~resolver.wire.WireError` for a name that runs past the end or loops."""
    out = bytearray()
    pointers = 0
    try:
        while True:
            length = data[pos]
            if length >= 0xC0:
                pointers += 1
                if pointers > MAX_POINTERS:
                    raise WireError("compression pointers loop")
                pos = (length & 0x3F) << 8 | data[pos + 1]
                continue
            out += data[pos:pos + length + 1]
            if not length:
                return bytes(out).lower()
            pos += length + 1
    except IndexError:
        raise WireError("name runs past the end") from None


def answer_ttl(reply: bytes, question_end: int) -> int:
    """The TTL, in seconds, of the first record of ``reply``'s answer section, which starts at
    ``question_end``. Raises :class:`~resolver.wire.WireError` when there is none to read."""
    try:
        return _TTL.unpack_from(reply, skip_name(reply, question_end) + 4)[0]
    except struct.error:
        raise WireError("no answer record") from None


def negative_zone(reply: bytes, question_end: int) -> tuple[bytes, int] | None:
    """The zone a negative ``reply`` speaks for: the owner of the SOA record in its authority
    section (RFC 2308 3), in wire form lower-cased, and that record's TTL in seconds; None
    without one. Raises :class:`~resolver.wire.WireError` when the sections do not parse."""
    try:
        ancount, nscount = _COUNTS.unpack_from(reply, 6)
        pos = question_end
        for index in range(ancount + nscount):
            owner = pos
            pos = skip_name(reply, pos)
            rdtype = _TYPE.unpack_from(reply, pos)[0]
            if index >= ancount and rdtype == TYPE_SOA:
                return read_name(reply, owner), _TTL.unpack_from(reply, pos + 4)[0]
            pos += 10 + _TYPE.unpack_from(reply, pos + 8)[0]
    except struct.error:
        raise WireError("a record runs past the end") from None
    return None


class LearnedOwners:
    """Owners of names and zones, as unit masks (one bit per backend index), in an LRU.

    ``size``: entries at most (names and zones together); ``max_ttl``: seconds
    an entry is kept at most. Times are ``time.perf_counter()``'s, in seconds
    (the race's clock for reply times).
    """

    def __init__(self, size: int, max_ttl: int) -> None:
        """Raises ValueError unless ``size`` is at least 1."""
        if size < 1:
            raise ValueError("the learned routing table needs room for one entry at least")
        self.size = size
        self.max_ttl = max_ttl
        # A name's key is its wire form; a zone's is that in a 1-tuple. Values: (mask, expires at).
        self._entries: OrderedDict[bytes | tuple[bytes], tuple[int, float]] = OrderedDict()
        self.zones = 0              # zone entries among them

    def __len__(self) -> int:
        return len(self._entries)

    def owners(self, qname: bytes, now: float) -> int:
        """The mask of the units to ask first for ``qname`` (wire form, lower-cased) at ``now``: its
        own owner, else the owners of the longest zone learned at or above it; 0 when none is known."""
        named, zoned = self.lookup(qname, now)
        return named or zoned

    def lookup(self, qname: bytes, now: float) -> tuple[int, int]:
        """``(the name's owner, 0)`` when ``qname`` (wire form, lower-cased) is known at ``now``, else
        ``(0, the owners of the longest zone learned at or above it)``, 0 for what is not known."""
        named = self._fresh(qname, now)
        if named or not self.zones:
            return named, 0
        zone = self._longest_zone(qname, now)
        return 0, self._entries[zone][0] if zone is not None else 0

    def _longest_zone(self, qname: bytes, now: float) -> tuple[bytes] | None:
        """The key of the longest zone learned at or above ``qname`` that has not expired at ``now``
        (made the most recently used), or None."""
        pos = 0
        while True:
            key = (qname[pos:],)
            if self._fresh(key, now):
                return key
            length = qname[pos]
            if not length:
                return None
            pos += length + 1

    def _fresh(self, key: bytes | tuple[bytes], now: float) -> int:
        """The mask kept under ``key`` unless it has expired at ``now`` (then it is dropped); 0 without one.
        A lookup makes the entry the most recently used."""
        entries = self._entries
        entry = entries.get(key)
        if entry is None:
            return 0
        if entry[1] > now:
            entries.move_to_end(key)
            return entry[0]
        self._drop(key)
        return 0

    def answered(self, qname: bytes, unit: int, reply: bytes, question_end: int, now: float) -> None:
        """``unit``'s positive ``reply`` (its question ends at ``question_end``) won the race for
        ``qname`` at ``now``: it owns the name for the answer's TTL. Raises
        :class:`~resolver.wire.WireError` when the answer's first record cannot be read."""
        entry = self._entries.get(qname)
        if entry is not None and entry[0] == unit and entry[1] > now:
            return
        ttl = min(answer_ttl(reply, question_end), self.max_ttl)
        if ttl:
            self._put(qname, unit, now + ttl)
            if self.zones:
                self._join_zone(qname, unit, now)

    def _join_zone(self, qname: bytes, unit: int, now: float) -> None:
        """``unit`` answered ``qname``: it joins the owners of the longest zone learned at or above it."""
        zone = self._longest_zone(qname, now)
        if zone is not None:
            owners, expires = self._entries[zone]
            self._entries[zone] = (owners | unit, expires)

    def denied(self, unit: int, reply: bytes, question_end: int, now: float) -> None:
        """``unit`` sent the negative ``reply`` at ``now``: with its zone's SOA, it owns that zone
        too, for the SOA's TTL. Raises :class:`~resolver.wire.WireError` for sections that do not parse."""
        found = negative_zone(reply, question_end)
        if found is None:
            return
        zone, ttl = found
        key = (zone,)
        entry = self._entries.get(key)
        ttl = min(ttl, self.max_ttl)
        if entry is not None and entry[0] & unit == unit and entry[1] > now:
            return
        if ttl:
            self._put(key, (entry[0] if entry is not None and entry[1] > now else 0) | unit, now + ttl)

    def forget(self, qname: bytes, unit: int) -> None:
        """``unit`` said the name ``qname`` (wire form, lower-cased) does not exist: if it was learned
        as the name's owner, the name is forgotten. Another unit's NXDOMAIN says nothing of the owner's
        (the race asks the others after the owner said NODATA for another type)."""
        entry = self._entries.get(qname)
        if entry is not None and entry[0] & unit:
            self._drop(qname)

    def _put(self, key: bytes | tuple[bytes], mask: int, expires: float) -> None:
        """Keep ``mask`` under ``key`` until ``expires``, as the most recently used entry; the least
        recently used go while there are more than :attr:`size`."""
        entries = self._entries
        if isinstance(key, tuple) and key not in entries:
            self.zones += 1
        entries[key] = (mask, expires)
        entries.move_to_end(key)
        while len(entries) > self.size:
            self._drop(next(iter(entries)))

    def _drop(self, key: bytes | tuple[bytes]) -> None:
        del self._entries[key]
        if isinstance(key, tuple):
            self.zones -= 1
