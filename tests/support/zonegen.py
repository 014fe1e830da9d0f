"""Seeded random zones, and the questions to ask of them, for the random differential against NSD.

:func:`generate_zone` builds one small zone from a seed and an index with
:class:`random.Random` alone, so ``(seed, index)`` gives the same zone on any
machine, whatever the origin it is served under. Each zone mixes the shapes
where authoritative servers go wrong:

* empty non-terminals (owners two and three labels deep);
* wildcards (RFC 4592): with data, owned by an empty non-terminal
  (``host.*.w`` makes ``*.w`` exist), with names below them, with a sibling that
  stops them, and at the apex;
* CNAME chains (RFC 1034 3.6.2, 4.3.2) ending in data, in a missing name, in an
  empty non-terminal, in a wildcard, in a delegation or out of the zone, and loops;
* delegations (zone cuts) with glue, without glue, with a sibling name server
  or one a wildcard answers for, with occluded data below the cut and with DS at the cut;
* MX, SRV and NS targets in the zone (with addresses, missing, covered by a
  wildcard, below a cut, below a DNAME) and out of it;
* DNAMEs (RFC 6672) to the apex, a host, a wildcard's parent, a cut, an empty
  non-terminal, a CNAME, another DNAME, themselves, a missing name or out of
  the zone, or in a cycle of two whose names grow at each turn, with the
  names below them that map onto the target's names;
* owners spelled in mixed case, with escapes (``\\.``, ``\\DDD``), relative,
  absolute, ``@``, or inherited from the line before.

Every zone is one NSD loads: the apex has an SOA and NS records, no name
holds a CNAME beside other data, a name holds one DNAME and nothing lies below
it, nothing is outside the zone, an RRset has one TTL, and NS records sit only
at the apex and at cuts. :meth:`Zone.questions`
is the query matrix: every owner, its parents and a child, names a wildcard
covers, every target, and missing names.

Run ``python tests/support/zonegen.py SEED INDEX [ORIGIN]`` to print one zone.
"""
from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field, replace
from typing import Iterable

import dns.name

OUTSIDE = dns.name.from_text("example.net.")    # out-of-zone targets: served by neither server
QUERY_TYPES = ("A", "AAAA", "MX", "NS", "SOA", "CNAME", "DNAME", "TXT", "SRV", "ANY", "DS")
TTLS = (300, 3600, 86400)
# Labels are drawn from small pools, so that names share parents and empty
# non-terminals appear; escaped spellings stand for the labels noted beside them.
LABELS = ("a", "b", "c", "www", "mail", "host", "sub", "deep", "x-1", "Mixed")
ESCAPED_LABELS = (
    r"a\.b",        # a dot inside a label
    r"\065lpha",    # "Alpha", a letter as \DDD
    r"sp\032ce",    # a space
    r"\200hi",      # a byte above 127
    r"back\\s",     # a backslash
    r"\(p\)",       # characters escaped with \X
)
SERVICE = ("_sip._tcp", "_xmpp._tcp", "_ldap._udp")


@dataclass
class Record:
    """One line of a master file: ``owner`` relative to the origin (as spelled, ``@`` for the apex)."""

    owner: str
    rtype: str
    rdata: str
    ttl: int


@dataclass
class Zone:
    """A generated zone: its records (the SOA first) and the names worth asking about.

    ``names`` and ``targets`` hold names relative to the origin in presentation
    form, so the zone text and the questions follow the origin it is served under.
    """

    seed: int
    index: int
    records: list[Record]
    names: set[str] = field(default_factory=set)         # owners and the names that matter beside them
    covered: set[str] = field(default_factory=set)       # names only a wildcard answers for
    default_ttl: int = 3600                              # the $TTL line
    shapes: set[str] = field(default_factory=set)        # what the builder put in (see SHAPES)

    def text(self, origin: str) -> str:
        """The master file for ``origin`` (absolute, e.g. ``z1.random.test.``).

        ``$ORIGIN`` and ``$TTL`` lead; the SOA is the first record. Owners are
        written relative, absolute, as ``@``, or left blank to inherit the
        owner of the line before; a TTL equal to ``$TTL`` and the class are
        left out now and then.
        """
        rng = random.Random(f"{self.seed}:{self.index}:layout")
        lines = [f"; random zone, seed {self.seed}, index {self.index}", f"$ORIGIN {origin}",
                 f"$TTL {self.default_ttl}"]
        previous = None
        for record in self.records:
            ttl = [] if record.ttl == self.default_ttl and rng.random() < 0.5 else [str(record.ttl)]
            klass = ["IN"] if rng.random() < 0.8 else []
            owner = self._owner_text(record.owner, previous, origin, rng)
            lines.append(" ".join([owner, *ttl, *klass, record.rtype, record.rdata]))
            previous = record.owner
        return "\n".join(lines) + "\n"

    @staticmethod
    def _owner_text(owner: str, previous: str | None, origin: str, rng: random.Random) -> str:
        roll = rng.random()
        if owner == previous and roll < 0.3:
            return "   "        # inherited from the line before
        if owner == "@":
            return "@" if roll < 0.7 else origin
        return f"{owner}.{origin}" if roll < 0.2 else owner

    def removable(self) -> list[int]:
        """Positions of the records a smaller zone may drop: all but the SOA and the first apex NS."""
        first_ns = next(i for i, r in enumerate(self.records) if r.owner == "@" and r.rtype == "NS")
        return [i for i in range(1, len(self.records)) if i != first_ns]

    def without(self, positions: Iterable[int]) -> Zone:
        """This zone less the records at ``positions`` (from :meth:`removable`)."""
        dropped = set(positions)
        return replace(self, records=[r for i, r in enumerate(self.records) if i not in dropped])

    def questions(self, origin: str) -> list[tuple[str, str]]:
        """The query matrix: (absolute name, type) for every name worth asking and every type.

        Each name in :attr:`names` and :attr:`covered`, each parent up to the
        apex, a child of each, and missing names beside the apex; a third of the
        names are spelled in another letter case.
        """
        apex = dns.name.from_text(origin)
        relative = {dns.name.from_text(n, apex) for n in self.names | self.covered if n != "@"}
        relative |= {dns.name.from_text(n, apex) for n in ("nosuch", "deep.nosuch", "*")}
        asked: set[dns.name.Name] = {apex}
        for name in relative:
            asked.add(dns.name.from_text("kid", name))
            while name != apex and name.is_subdomain(apex):
                asked.add(name)
                name = name.parent()
        rng = random.Random(f"{self.seed}:{self.index}:questions")
        spelled = [_respell(name, rng) if rng.random() < 0.33 else name.to_text() for name in sorted(asked)]
        return [(name, qtype) for name in spelled for qtype in QUERY_TYPES]


def _respell(name: dns.name.Name, rng: random.Random) -> str:
    """``name`` in presentation form with the letter case of each ASCII letter flipped at random."""
    labels = [bytes(c ^ 0x20 if chr(c).isalpha() and c < 128 and rng.random() < 0.5 else c for c in label)
              for label in name.labels]
    return dns.name.Name(labels).to_text()


class _Builder:
    """Grows one zone's records while keeping it valid (see the module's list of rules)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.records: list[Record] = []
        self.data: dict[dns.name.Name, set[str]] = {}    # owner -> types it holds
        self.spelling: dict[dns.name.Name, str] = {}
        self.ttls: dict[tuple[dns.name.Name, str], int] = {}
        self.cuts: set[dns.name.Name] = set()
        self.wildcard_parents: set[dns.name.Name] = set()
        self.dnames: set[dns.name.Name] = set()           # DNAME owners: nothing may go below them
        self.hosts: list[dns.name.Name] = []              # names with addresses, outside cuts
        self.names: set[str] = set()
        self.covered: set[str] = set()
        self.serial = rng.randrange(1, 2**31)
        self.shapes: set[str] = set()

    # ------------------------------------------------------------------ names

    def label(self) -> str:
        """A label from the pools: sometimes escaped, sometimes in another letter case."""
        if self.rng.random() < 0.08:
            return self.rng.choice(ESCAPED_LABELS)
        label = self.rng.choice(LABELS)
        if self.rng.random() < 0.2:
            label = "".join(c.upper() if self.rng.random() < 0.5 else c.lower() for c in label)
        return label

    def new_name(self, depth: int | None = None, under: dns.name.Name = dns.name.empty) -> dns.name.Name:
        """A name ``depth`` labels below ``under`` (relative names; 1 to 3 labels by default)."""
        depth = depth or self.rng.choice((1, 1, 2, 2, 3))
        text = ".".join(self.label() for _ in range(depth))
        name = dns.name.from_text(text, None)
        spelled = text if under == dns.name.empty else f"{text}.{self.spell(under)}"
        name = name.concatenate(under) if under != dns.name.empty else name
        self.spelling.setdefault(name, spelled)
        return name

    def spell(self, name: dns.name.Name) -> str:
        """How ``name`` is written: as first spelled, or (now and then) in another letter case."""
        if name == dns.name.empty:
            return "@"
        spelled = self.spelling.setdefault(name, name.to_text())
        if self.rng.random() < 0.1:
            return "".join(c.swapcase() if c.isalpha() and self.rng.random() < 0.5 else c for c in spelled)
        return spelled

    def below_cut(self, name: dns.name.Name) -> bool:
        """Whether ``name`` is at or below a zone cut."""
        return any(name == cut or name.is_subdomain(cut) for cut in self.cuts)

    def fits(self, name: dns.name.Name, rtype: str) -> bool:
        """Whether ``rtype`` may join the data at ``name``: no CNAME beside other data (RFC 1034 3.6.2),
        one DNAME a name and nothing below one (RFC 6672 2.4)."""
        if any(name.is_subdomain(owner) and name != owner for owner in self.dnames):
            return False
        held = self.data.get(name, set())
        if rtype == "CNAME":
            return name != dns.name.empty and not held
        return "CNAME" not in held and not (rtype == "DNAME" and "DNAME" in held)

    def may_hold(self, name: dns.name.Name, rtype: str) -> bool:
        """Whether ``rtype`` may be added at ``name`` as authoritative data: :meth:`fits`, outside cuts."""
        return not self.below_cut(name) and self.fits(name, rtype)

    def free_name(self, rtype: str, **kw) -> dns.name.Name | None:
        """A new (or reused) name that may hold ``rtype``; None after a few tries."""
        for _ in range(8):
            name = self.new_name(**kw)
            if self.may_hold(name, rtype):
                return name
        return None

    # ------------------------------------------------------------------ records

    def add(self, name: dns.name.Name, rtype: str, rdata: str) -> None:
        """One record; an RRset keeps the TTL of its first record (NSD warns about mixed TTLs).

        Raises AssertionError for a CNAME beside other data: a bug of this generator, which NSD
        would refuse the zone for.
        """
        held = self.data.get(name, set())
        assert held <= {"CNAME"} if rtype == "CNAME" else "CNAME" not in held, f"{rtype} beside {held} at {name}"
        ttl = self.ttls.setdefault((name, rtype), self.rng.choice(TTLS))
        owner = self.spell(name)
        self.records.append(Record(owner, rtype, rdata, ttl))
        if "\\" in owner:
            self.shapes.add("an escaped owner")
        if owner != owner.lower():
            self.shapes.add("a mixed-case owner")
        self.data.setdefault(name, set()).add(rtype)
        self.names.add(name.to_text())

    def address(self, name: dns.name.Name) -> None:
        """An A and/or AAAA record at ``name``."""
        n = self.rng.randrange(1, 255)
        kinds = self.rng.choice((("A",), ("A",), ("AAAA",), ("A", "AAAA")))
        for kind in kinds:
            self.add(name, kind, f"192.0.2.{n}" if kind == "A" else f"2001:db8::{n:x}")
        if not self.below_cut(name) and not name.is_wild():
            self.hosts.append(name)

    def some_data(self, name: dns.name.Name) -> None:
        """Addresses, text, or both."""
        roll = self.rng.random()
        if roll < 0.7:
            self.address(name)
        if roll > 0.5:
            strings = " ".join(f'"{self.rng.choice(("text", "semi;colon", "two words", "q"))}{i}"'
                               for i in range(self.rng.choice((1, 1, 2))))
            self.add(name, "TXT", strings)

    # ------------------------------------------------------------------ shapes

    def apex(self) -> None:
        """SOA (NSD's negative TTL is min(SOA TTL, MINIMUM)) and NS, in the zone and out of it."""
        self.add(dns.name.empty, "SOA", f"ns1 hostmaster {self.serial} 7200 900 1209600 "
                                        f"{self.rng.choice((60, 300, 3600))}")
        ns1 = dns.name.from_text("ns1", None)
        self.add(dns.name.empty, "NS", "ns1")
        self.address(ns1)
        if self.rng.random() < 0.5:
            self.add(dns.name.empty, "NS", f"ns{self.rng.randrange(9)}.{OUTSIDE}")
        if self.rng.random() < 0.3:
            self.some_data(dns.name.empty)

    def plain(self) -> None:
        """A name with data, often two or three labels deep (its parents are empty non-terminals)."""
        name = self.free_name("A")
        if name is not None:
            self.some_data(name)

    def wildcard(self) -> None:
        """A wildcard with data, an empty-non-terminal wildcard, names below it, a stopping sibling."""
        parent = dns.name.empty if self.rng.random() < 0.1 else self.free_name("A", depth=self.rng.choice((1, 2)))
        if parent is None or self.below_cut(parent):
            return
        star = dns.name.from_text("*", None).concatenate(parent)
        self.spelling.setdefault(star, "*" if parent == dns.name.empty else f"*.{self.spell(parent)}")
        shape = self.rng.choice(("a wildcard with data", "a wildcard with data", "a wildcard at an empty non-terminal",
                                 "a wildcard with data and names below", "a wildcard CNAME"))
        if shape in ("a wildcard with data", "a wildcard with data and names below") and self.fits(star, "A"):
            self.some_data(star)
            if self.rng.random() < 0.4:
                self.add(star, "MX", f"10 {self.target('MX')}")
        if shape == "a wildcard CNAME" and self.may_hold(star, "CNAME"):
            self.add(star, "CNAME", self.target("CNAME"))
        below = self.new_name(1, star)
        if shape in ("a wildcard at an empty non-terminal", "a wildcard with data and names below") \
                and self.fits(below, "A"):
            self.some_data(below)
        self.shapes.add(shape if parent != dns.name.empty else "a wildcard at the apex")
        self.names.add(star.to_text())
        self.wildcard_parents.add(parent)
        sibling = self.new_name(1, parent)
        if self.rng.random() < 0.5 and self.fits(sibling, "A"):
            self.some_data(sibling)                     # names below it are not covered
            self.shapes.add("a wildcard with a sibling")
        for covered in ("foo", "a.b", "Kid"):
            self.covered.add(dns.name.from_text(covered, parent).to_text())

    def cname_chain(self) -> None:
        """One to four CNAMEs in a row, ending anywhere a target may end, or looping."""
        chain = [self.free_name("CNAME") for _ in range(self.rng.choice((1, 1, 2, 3, 4)))]
        chain = [name for name in dict.fromkeys(chain) if name is not None]
        if not chain:
            return
        # Reserve every link first, so that the target chosen below never lands on one of them.
        for name in chain:
            self.data.setdefault(name, set()).add("CNAME")
        for name, nxt in zip(chain, chain[1:]):
            self.add(name, "CNAME", self.spell(nxt))
        if len(chain) > 1:
            self.shapes.add("a CNAME chain")
        if self.rng.random() < 0.15:
            self.shapes.add("a CNAME loop")
            self.add(chain[-1], "CNAME", self.spell(self.rng.choice(chain)))
        else:
            self.add(chain[-1], "CNAME", self.target("CNAME"))

    def delegation(self) -> None:
        """A zone cut: glue below it, a name server elsewhere, occluded data, DS at the cut."""
        cut = self.free_name("NS", depth=self.rng.choice((1, 1, 2)))
        if cut is None or cut.is_wild() or self.data.get(cut):
            return
        servers = []
        for _ in range(self.rng.choice((1, 2, 2, 3))):
            kind = self.rng.choice(("glue", "glue", "no glue", "sibling", "wildcard-covered", "outside"))
            if kind in ("glue", "no glue"):
                server = self.new_name(1, cut)
                servers.append((kind if self.fits(server, "A") else "no glue", server))
            elif kind == "sibling" and self.hosts:
                servers.append((kind, self.rng.choice(self.hosts)))
            elif kind == "wildcard-covered" and self.wildcard_parents:
                servers.append((kind, self.new_name(1, self.rng.choice(sorted(self.wildcard_parents)))))
            else:
                servers.append(("outside", dns.name.from_text(f"ns{self.rng.randrange(9)}", OUTSIDE)))
        self.cuts.add(cut)
        for kind, server in dict.fromkeys(servers):
            self.shapes.add(f"a delegation, name server {kind}")
            self.add(cut, "NS", self.spell(server) if kind != "outside" else server.to_text())
            if kind == "glue":
                self.address(server)
            self.names.add(server.to_text())
        occluded = self.new_name(1, cut)
        if self.rng.random() < 0.3 and self.fits(occluded, "A"):
            self.some_data(occluded)
            self.shapes.add("occluded data below a cut")
        if self.rng.random() < 0.3:
            self.shapes.add("DS at a cut")
            digest = "".join(self.rng.choice("0123456789abcdef") for _ in range(64))
            self.add(cut, "DS", f"{self.rng.randrange(65536)} 13 2 {digest}")

    def dname(self) -> None:
        """A DNAME at a name with nothing below it (not a cut), and the names below it that map onto
        names at its target, with a few that map onto nothing."""
        name = self.free_name("DNAME", depth=self.rng.choice((1, 1, 2)))
        if name is None or name in self.cuts or any(held.is_subdomain(name) and held != name for held in self.data):
            return
        kind = self.rng.choice([kind for kind in DNAME_TARGETS if self._dname_target_fits(kind)])
        self.dnames.add(name)
        target = self._dname_target(kind, name)
        if target is None and kind != "a name out of the zone":
            self.dnames.discard(name)
            return
        self.add(name, "DNAME", self.spell(target) if target is not None else f"{self.label()}.{OUTSIDE}")
        self.shapes.add(f"a DNAME to {kind}")
        mapped = [held for held in sorted(self.data) if target is not None and _strictly_below(held, target)]
        for below in ["foo", "a.b", "Kid", *(self._relative(held, target) for held in mapped[:3])]:
            self.covered.add(dns.name.from_text(below, name).to_text())

    def _dname_target_fits(self, kind: str) -> bool:
        return {"a host": bool(self.hosts), "a wildcard's parent": bool(self.wildcard_parents),
                "a cut": bool(self.cuts), "an empty non-terminal": bool(self._empty_non_terminals()),
                "a CNAME": bool(self._cname_owners()), "another DNAME": bool(self.dnames)}.get(kind, True)

    def _dname_target(self, kind: str, owner: dns.name.Name) -> dns.name.Name | None:
        """Where a DNAME at ``owner`` points (see :data:`DNAME_TARGETS`); None for out of the zone."""
        choices = {"a host": self.hosts, "a wildcard's parent": sorted(self.wildcard_parents),
                   "a cut": sorted(self.cuts), "an empty non-terminal": self._empty_non_terminals(),
                   "a CNAME": self._cname_owners(), "another DNAME": sorted(self.dnames - {owner})}
        if kind in choices:
            return self.rng.choice(choices[kind])
        if kind == "the apex":
            return dns.name.empty
        if kind == "itself":
            return owner
        if kind == "a missing name":
            return self.new_name(self.rng.choice((1, 2)))
        if kind == "a growing cycle":       # owner -> x.other, other -> owner: a.owner, a.x.owner, ...
            other = self.free_name("DNAME", depth=1)
            if (other is None or other == owner or other in self.cuts or _strictly_below(owner, other)
                    or any(_strictly_below(held, other) for held in self.data)):
                return None
            self.add(other, "DNAME", self.spell(owner))
            self.dnames.add(other)
            return self.new_name(1, other)
        return None

    @staticmethod
    def _relative(name: dns.name.Name, base: dns.name.Name) -> str:
        """``name`` (below ``base``; both relative to the origin) relative to ``base``, as text."""
        return dns.name.Name(name.labels[:len(name) - len(base)]).to_text()

    def mail(self) -> None:
        """MX records at a name with data or a new one, targets anywhere."""
        name = self.free_name("MX", depth=self.rng.choice((1, 2)))
        if name is None:
            return
        for preference in range(self.rng.choice((1, 2, 3))):
            self.add(name, "MX", f"{10 * (preference + 1)} {self.target('MX')}")

    def service(self) -> None:
        """SRV records under ``_service._proto`` (empty non-terminals above them)."""
        owner = dns.name.from_text(self.rng.choice(SERVICE), None)
        if self.rng.random() < 0.5:
            base = self.free_name("SRV", depth=1)
            owner = owner.concatenate(base) if base is not None else owner
        if not self.may_hold(owner, "SRV"):
            return
        self.shapes.add("SRV records")
        for priority in range(self.rng.choice((1, 2))):
            self.add(owner, "SRV", f"{priority} 5 {self.rng.choice((5060, 443))} {self.target('SRV')}")

    # ------------------------------------------------------------------ targets

    def target(self, rtype: str) -> str:
        """Where a CNAME, MX or SRV points (see :data:`TARGETS`); the kind chosen is noted in the shapes."""
        kinds = [kind for kind in TARGETS if self._target_fits(kind, rtype)]
        kind = self.rng.choice(kinds)
        self.shapes.add(f"{rtype} to {kind}")
        if kind == "a host":
            return self.spell(self.rng.choice(self.hosts))
        if kind == "a wildcard-covered name":
            depth = self.rng.choice((1, 2))     # two labels below: NSD names its addresses otherwise
            if depth == 2:
                self.shapes.add(f"{rtype} to a name two labels below a wildcard")
            return self.spell(self.new_name(depth, self.rng.choice(sorted(self.wildcard_parents))))
        if kind == "a name below a cut":
            return self.spell(self.new_name(1, self.rng.choice(sorted(self.cuts))))
        if kind == "an empty non-terminal":
            return self.spell(self.rng.choice(self._empty_non_terminals()))
        if kind == "a CNAME":
            return self.spell(self.rng.choice(self._cname_owners()))
        if kind == "a name below a DNAME":
            return self.spell(self.new_name(self.rng.choice((1, 2)), self.rng.choice(sorted(self.dnames))))
        if kind == "the apex":
            return "@"
        if kind == "a name out of the zone":
            return f"{self.rng.choice(('www', 'mx', 'srv'))}.{OUTSIDE}"
        name = self.new_name(self.rng.choice((1, 2)))          # most likely missing
        self.names.add(name.to_text())
        return self.spell(name)

    def _target_fits(self, kind: str, rtype: str) -> bool:
        """Whether a target of ``kind`` can be had now (CNAMEs alone point at the apex and at ENTs)."""
        return {"a host": bool(self.hosts), "a wildcard-covered name": bool(self.wildcard_parents),
                "a name below a cut": bool(self.cuts), "a CNAME": bool(self._cname_owners()),
                "a name below a DNAME": bool(self.dnames),
                "an empty non-terminal": rtype == "CNAME" and bool(self._empty_non_terminals()),
                "the apex": rtype == "CNAME"}.get(kind, True)

    def _empty_non_terminals(self) -> list[dns.name.Name]:
        """Names above owners that hold nothing themselves (outside cuts)."""
        parents = {name.parent() for name in self.data if len(name) > 1 and not self.below_cut(name)}
        return sorted(parent for parent in parents if parent not in self.data)

    def _cname_owners(self) -> list[dns.name.Name]:
        return sorted(name for name, types in self.data.items() if "CNAME" in types)


def _strictly_below(name: dns.name.Name, base: dns.name.Name) -> bool:
    """Whether ``name`` lies below ``base`` (both relative to the origin; the empty name is the apex)."""
    return len(name) > len(base) and dns.name.Name(name.labels[len(name) - len(base):]) == base


# Where CNAME, MX and SRV records point, drawn evenly from those possible at the time.
TARGETS = ("a host", "a missing name", "a name out of the zone", "a wildcard-covered name", "a name below a cut",
           "an empty non-terminal", "a CNAME", "the apex", "a name below a DNAME")
# Where DNAMEs point, likewise.
DNAME_TARGETS = ("the apex", "a host", "a wildcard's parent", "a cut", "an empty non-terminal", "a CNAME",
                 "another DNAME", "itself", "a missing name", "a name out of the zone", "a growing cycle")
BUILDERS = ("plain", "plain", "wildcard", "wildcard", "cname_chain", "cname_chain", "delegation", "mail", "service",
            "dname", "delegation")


def generate_zone(seed: int, index: int) -> Zone:
    """Zone number ``index`` of ``seed``: the apex, then three to eight shapes drawn at random."""
    rng = random.Random(f"{seed}:{index}")
    builder = _Builder(rng)
    builder.apex()
    for _ in range(rng.randrange(3, 9)):
        getattr(builder, rng.choice(BUILDERS))()
    if builder._empty_non_terminals():
        builder.shapes.add("an empty non-terminal")
    soa, rest = builder.records[0], builder.records[1:]
    if rng.random() < 0.5:
        rng.shuffle(rest)
    return Zone(seed, index, [soa, *rest], builder.names, builder.covered, rng.choice(TTLS), builder.shapes)


def generate_zones(seed: int, count: int) -> list[Zone]:
    """Zones 0 to ``count - 1`` of ``seed``."""
    return [generate_zone(seed, index) for index in range(count)]


if __name__ == "__main__":
    _seed, _index = int(sys.argv[1]), int(sys.argv[2])
    sys.stdout.write(generate_zone(_seed, _index).text(sys.argv[3] if len(sys.argv) > 3 else "z.random.test."))
