"""Names of a zone's data that are cheap to look up.

dnspython hashes a :class:`dns.name.Name` with a Python loop over every
character, each time it is looked up in a dict or a set, and compares two
names a label at a time in lower case. Compiling a zone looks names up a few
times per answer: for a zone of a million records those loops were a sixth of
its load. :class:`ZoneName` is the same name with its hash worked out once,
and compared to a name of the same labels without the loop.
"""
from __future__ import annotations

from typing import Iterable

import dns.name


class ZoneName(dns.name.Name):
    """A :class:`dns.name.Name` whose hash and lower-case wire form (``to_digestable()``) are
    computed once, the first time each is needed.

    It equals, and hashes as, the ``Name`` of the same labels in any letter
    case (RFC 4343), so the two are interchangeable as dict keys. Names that
    dnspython derives from it (``parent()``, ``copy``) are plain ``Name``\\ s.
    A suffix made by :func:`suffixes` gets its wire form from the name's.
    """

    __slots__ = ("_hash", "_key")

    def __init__(self, labels: Iterable[bytes | str]) -> None:
        super().__init__(labels)
        object.__setattr__(self, "_hash", None)
        object.__setattr__(self, "_key", None)

    @classmethod
    def from_checked(cls, labels: tuple[bytes, ...], key: bytes | None = None) -> ZoneName:
        """The name of ``labels`` already checked (as dnspython checks them: at most 63 bytes each,
        255 in all, only the last one empty), whose lower-case wire form is ``key`` when known;
        made without dnspython's checks."""
        name = object.__new__(cls)
        object.__setattr__(name, "labels", labels)
        object.__setattr__(name, "_hash", None)
        object.__setattr__(name, "_key", key)
        return name

    def __hash__(self) -> int:
        value = self._hash
        if value is None:
            value = dns.name.Name.__hash__(self)
            object.__setattr__(self, "_hash", value)
        return value

    def to_digestable(self, origin: dns.name.Name | None = None) -> bytes:
        """The lower-case wire form (RFC 4034 6.2), kept once worked out (compiling asks for it again and again)."""
        key = self._key
        if key is None:
            key = super().to_wire(None, None, origin, True)
            if self.is_absolute():
                object.__setattr__(self, "_key", key)
        return key      # type: ignore[return-value]

    def to_wire(self, file=None, compress=None, origin=None, canonicalize=False):  # type: ignore[no-untyped-def]
        """dnspython's ``to_wire``; the lower-case form (a record's hash, RFC 4034 6.2) from the one kept."""
        if not canonicalize or compress is not None or not self.is_absolute():
            return super().to_wire(file, compress, origin, canonicalize)
        if file is None:
            return self.to_digestable()
        file.write(self.to_digestable())
        return None

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(other) in _PLAIN:
            labels, others = self.labels, other.labels      # type: ignore[attr-defined]
            if labels == others:
                return True
            if len(labels) != len(others):
                return False
            # dnspython's hash makes names of one length collide often (h0000010 and h0000009):
            # their lower-case wire forms, kept, tell them apart.
            if labels[-1] == b"" and others[-1] == b"":
                return self.to_digestable() == other.to_digestable()     # type: ignore[attr-defined]
            return self.fullcompare(other)[1] == 0                      # type: ignore[attr-defined]
        # Another kind of name (a wildcard's QuestionName equals only itself) decides for itself.
        return NotImplemented if isinstance(other, dns.name.Name) else False

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __reduce__(self) -> tuple[type[ZoneName], tuple[tuple[bytes, ...]]]:
        return ZoneName, (self.labels,)


_PLAIN = (dns.name.Name, ZoneName)


def name_from_wire(wire: bytes) -> ZoneName:
    """The name of an uncompressed wire form of a checked name (as the master file reader writes
    owners, as the compact address table keeps them), made without dnspython's checks."""
    labels = []
    pos = 0
    while wire[pos]:
        labels.append(wire[pos + 1:pos + 1 + wire[pos]])
        pos += wire[pos] + 1
    labels.append(b"")
    return ZoneName.from_checked(tuple(labels), wire.lower())


def suffixes(name: dns.name.Name) -> list[ZoneName]:
    """Every suffix of an absolute name but the root, longest (the name itself) first, each
    knowing its lower-case wire form. The name's parents are remembered, by their labels: the
    names of a zone share a few (the apex for one)."""
    labels = name.labels
    if len(labels) < 2:
        return []
    first = name if type(name) is ZoneName else ZoneName.from_checked(labels, name.to_digestable())
    return [first, *_parents(labels[1:], first.to_digestable()[len(labels[0]) + 1:])]


_PARENTS: dict[tuple[bytes, ...], tuple[ZoneName, ...]] = {}
_PARENTS_KEPT = 50000       # parents remembered at once


def _parents(labels: tuple[bytes, ...], key: bytes) -> tuple[ZoneName, ...]:
    """The suffixes of the name of ``labels`` (whose lower-case wire form is ``key``) but the root."""
    held = _PARENTS.get(labels)
    if held is None:
        found = []
        pos = 0
        for i in range(len(labels) - 1):
            found.append(ZoneName.from_checked(labels[i:], key[pos:]))
            pos += len(labels[i]) + 1
        if len(_PARENTS) >= _PARENTS_KEPT:
            _PARENTS.clear()
        held = _PARENTS[labels] = tuple(found)
    return held


def zone_name(name: dns.name.Name) -> ZoneName:
    """``name`` as a :class:`ZoneName` (itself when it is one)."""
    return name if isinstance(name, ZoneName) else ZoneName(name.labels)
