"""Random differential: seeded random zones, served by NSD and by the TS, every question asked of both.

:mod:`support.zonegen` builds the zones (wildcards, empty non-terminals, CNAME
chains and loops, DNAMEs, delegations with and without glue, escaped and
mixed-case owners, MX, SRV and NS targets in and out of the zone). One NSD and one TS
(``python -m resolver ts --zone FILE …``) serve all of them at once, each under
its own origin ``z<index>.s<seed>.test.``; every question of every zone's matrix
(:meth:`Zone.questions`) goes to both as the same bytes over UDP with EDNS0,
and the replies are compared field by field (:func:`support.differential.compare`).

Two seeds run each time: :data:`FIXED_SEED`, and a random one that every
failure message names. To run a seed again::

    RANDOM_DIFFERENTIAL_SEED=1234 pytest tests/conformance/test_random_differential.py

``RANDOM_DIFFERENTIAL_ZONES`` sets the zones per seed (default
:data:`DEFAULT_ZONES`), and ``python tests/support/zonegen.py SEED INDEX`` prints
one zone. A zone the TS refuses while NSD loads it is a difference too
(:func:`test_ts_loads_every_zone_nsd_loads`); its questions are not asked.

When answers differ, they are grouped by kind (:attr:`Finding.kind`: what
differs, without the names), and the first question of each kind is shown with
its zone made as small as it can be while the kind stays (:func:`shrink`).
"""
from __future__ import annotations

import os
import random
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Sequence

import dns.name
import dns.rdatatype
import pytest

from support.differential import (SECTIONS, Accepted, Case, Diff, Variant, compare, exchange_batch,
                                  mismatch_report, question_bytes, unexplained)
from support.inprocess import make_ts
from support.nsd import Nsd
from support.servers import Server
from support.tools import require_tool
from support.zonegen import DNAME_TARGETS, TARGETS, Zone, generate_zone, generate_zones

FIXED_SEED = 12
DEFAULT_ZONES = 150
SEED_VARIABLE = "RANDOM_DIFFERENTIAL_SEED"
ZONES_VARIABLE = "RANDOM_DIFFERENTIAL_ZONES"
EDNS0 = Variant("edns0")
KINDS_SHOWN = 12            # kinds of difference shown with a shrunken zone in a failure message
REFUSALS_SHOWN = 5
SHRINK_SECONDS = 30.0       # the time a failing run may spend making its examples small


def chosen_seeds() -> list[int]:
    """The fixed seed and the one from ``RANDOM_DIFFERENTIAL_SEED``, else a fresh random one."""
    given = os.environ.get(SEED_VARIABLE)
    other = int(given) if given else random.SystemRandom().randrange(2**32)
    return list(dict.fromkeys([FIXED_SEED, other]))


SEEDS = chosen_seeds()
ZONES_PER_SEED = int(os.environ.get(ZONES_VARIABLE, DEFAULT_ZONES))

# --------------------------------------------------------------------------- the allow-list


def nsd_wildcard_owner(nsd_owner: dns.name.Name, target: dns.name.Name) -> bool:
    """Whether ``nsd_owner`` is ``target``'s first label on a proper ancestor of its parent: the owner NSD
    writes for the addresses of a target that only a wildcard covers, when the target's name is not in the
    reply already (query.c add_additional_rrsets: a temporary domain whose parent is the closest encloser)."""
    labels = target.labels
    return (len(nsd_owner) < len(target) and nsd_owner.labels[0].lower() == labels[0].lower()
            and dns.name.Name(nsd_owner.labels[1:]) == dns.name.Name(labels[len(target) - len(nsd_owner) + 1:]))


def wildcard_target_owner(diff: Diff, others: Sequence[Diff]) -> bool:
    """The additional records that differ pair up, one of NSD's with one of the TS's: the same type, TTL
    and data, NSD's owner as :func:`nsd_wildcard_owner` says, the TS's the target itself. Two targets
    with the same first label get NSD's owner twice: records are counted, not only told apart."""
    if not isinstance(diff.left, tuple) or not isinstance(diff.right, tuple):
        return False
    nsd_only = sorted((Counter(diff.left) - Counter(diff.right)).elements())
    ts_only = sorted((Counter(diff.right) - Counter(diff.left)).elements())
    if not nsd_only or len(nsd_only) != len(ts_only):
        return False
    pairs: dict[str, list[dns.name.Name]] = {}
    for line in ts_only:
        owner, rest = line.split(" ", 1)
        pairs.setdefault(rest, []).append(dns.name.from_text(owner))
    for line in nsd_only:
        owner, rest = line.split(" ", 1)
        targets = pairs.get(rest, [])
        match = next((t for t in targets if nsd_wildcard_owner(dns.name.from_text(owner), t)), None)
        if match is None:
            return False
        targets.remove(match)
    return True


def dname_chain_past_nsds_temporary_domains(diff: Diff, others: Sequence[Diff]) -> bool:
    """NSD answers NOERROR, the TS YXDOMAIN with extended error 0; one answer's records are all among
    the other's, which has more CNAMEs and DNAMEs (the TS's chain goes on; truncated for UDP, the
    TS's may be the shorter, its extended error taking room); the TS may set TC where NSD's fits."""
    rcode = next((d for d in others if d.field == "rcode"), None)
    if rcode is None or (rcode.left, rcode.right) != ("NOERROR", "YXDOMAIN"):
        return False
    if diff.field == "answer" and isinstance(diff.left, tuple) and isinstance(diff.right, tuple):
        nsd, ts = set(diff.left), set(diff.right)
        return (nsd <= ts or ts <= nsd) and all(line.split()[3] in ("CNAME", "DNAME") for line in nsd ^ ts)
    if diff.field == "opt.options":
        return diff.left == () and [code for code, data in diff.right] == [15] and diff.right[0][1][:4] == "0000"
    if diff.field == "flags":
        return set(str(diff.right).split()) - set(str(diff.left).split()) == {"tc"}
    return diff.field == "rcode"


# Differences accepted on purpose, each with its reason (see test_differential.py for the form).
# Anything else this test finds is a difference to fix.
ACCEPTED: list[Accepted] = [
    Accepted(
        reason="Additional addresses of a target only a wildcard covers (RFC 4592 3.3.1): the TS writes the "
               "target as their owner, the name they are synthesised for. NSD writes the target's first label on "
               "the wildcard's parent (www.b.zone becomes www.zone) when the target lies more than one label "
               "below that parent and its name is not already in the reply, as for SRV, KX and RT, whose data "
               "it writes uncompressed (README, protocol support).",
        when=lambda c: c.qtype in ("SRV", "KX", "RT", "ANY"),
        fields=frozenset({"additional"}),
        check=wildcard_target_owner,
    ),
    Accepted(
        reason="A cycle of DNAMEs whose names grow at each turn (a DNAME to a name below a DNAME that points "
               "back): the TS synthesises until a name would pass 255 octets and answers YXDOMAIN with extended "
               "error 0 (RFC 6672 2.2). NSD stops when it runs out of its 1,024 temporary domains a query "
               "(nsd.h EXTRA_DOMAIN_NUMBERS) and answers NOERROR with the chain so far, a limit of its own "
               "where RFC 6672 leaves none (README, differs from NSD).",
        when=lambda c: True,
        fields=frozenset({"rcode", "opt.options", "answer", "flags"}),
        check=dname_chain_past_nsds_temporary_domains,
    ),
]


def rerun_hint() -> str:
    """The seeds of this run and how to run the random one again."""
    return (f"seeds {SEEDS} ({ZONES_PER_SEED} zones each); run again with {SEED_VARIABLE}={SEEDS[-1]}; "
            f"print a zone with: python tests/support/zonegen.py SEED INDEX")


# --------------------------------------------------------------------------- serving zones


@dataclass(frozen=True)
class Served:
    """A zone and the origin it is served under."""

    zone: Zone
    origin: str

    @property
    def filename(self) -> str:
        return f"{self.origin}zone"         # how support.nsd and the TS tell the origin

    def text(self) -> str:
        return self.zone.text(self.origin)


def served_as_generated(zone: Zone) -> Served:
    """A generated zone under ``z<index>.s<seed>.test.``, so that a report points back to it."""
    return Served(zone, f"z{zone.index}.s{zone.seed}.test.")


def refusal(path: Path) -> str | None:
    """Why the TS will not serve the zone file at ``path`` (its error, or the exception it raised), or None."""
    try:
        make_ts(path)
    except Exception as exc:  # noqa: BLE001 - a traceback while loading is reported like a refusal
        return f"{type(exc).__name__}: {exc}"
    return None


@dataclass
class Servers:
    """NSD serving every zone, the TS serving those it accepts, and why it refused the others."""

    nsd: Nsd
    ts: Server | None
    refused: dict[str, str]         # origin -> the TS's reason


@contextmanager
def serving(zones: list[Served], nsd_binary: str, workdir: Path) -> Iterator[Servers]:
    """Write ``zones`` to ``workdir``, start NSD on all of them and the TS (a process) on those it
    accepts; both are stopped when the block ends. NSD must load every zone (the generator makes
    only zones NSD serves): :meth:`Nsd.start` fails with its error lines otherwise."""
    paths = {}
    for served in zones:
        paths[served.origin] = workdir / served.filename
        paths[served.origin].write_text(served.text())
    refused = {origin: why for origin, path in paths.items() if (why := refusal(path)) is not None}
    nsd = Nsd(nsd_binary, workdir, paths.values())
    nsd.start(ready_timeout=30.0)
    ts = None
    try:
        accepted = [str(path) for origin, path in paths.items() if origin not in refused]
        if accepted:
            ts = Server(["ts", *(arg for path in accepted for arg in ("--zone", path)), "--listen", "127.0.0.1:0"],
                        ready_timeout=60.0)
        yield Servers(nsd, ts, refused)
    finally:
        if ts is not None:
            ts.stop()
        nsd.stop()


def query_wires(cases: list[Case]) -> list[bytes]:
    """The queries for ``cases``, the i-th with ID i (mod 2**16): :meth:`Case.wire` once per name and
    variant, the others made from it by writing their ID and type in (the type ends the question)."""
    made: dict[tuple[str, Variant], tuple[bytearray, int]] = {}
    wires = []
    for i, case in enumerate(cases):
        key = (case.name, case.variant)
        if key not in made:
            wire = replace(case, qtype="A").wire()
            made[key] = bytearray(wire), 12 + len(question_bytes(wire)) - 4
        wire, end = made[key]
        wire[0:2] = (i & 0xFFFF).to_bytes(2, "big")
        wire[end:end + 2] = dns.rdatatype.from_text(case.qtype).to_bytes(2, "big")
        wires.append(bytes(wire))
    return wires


def ask_both(cases: list[Case], servers: Servers) -> list[tuple[bytes | None, bytes | None]]:
    """Each question to NSD and to the TS, as the same bytes; (NSD's reply, the TS's reply) for each."""
    if not cases:
        return []
    assert servers.ts is not None
    wires = query_wires(cases)
    return list(zip(exchange_batch(wires, servers.nsd.address), exchange_batch(wires, servers.ts.addresses[0])))


# --------------------------------------------------------------------------- differences


@dataclass
class Finding:
    """One question whose replies differ in ways no :data:`ACCEPTED` entry covers."""

    served: Served
    case: Case
    diffs: list[Diff]
    nsd: bytes | None
    ts: bytes | None

    @property
    def kind(self) -> str:
        """What differs, without the names: per field the rcodes and flags, or the record types only
        one side has."""
        return "; ".join(diff_kind(d) for d in self.diffs)

    def report(self) -> str:
        return "\n".join([f"zone {self.served.zone.index} of seed {self.served.zone.seed}, "
                          f"{len(self.served.zone.records)} records:", self.served.text(),
                          mismatch_report(self.case, self.diffs, "NSD", self.nsd, "TS", self.ts)])


def diff_kind(diff: Diff) -> str:
    """One difference in words: a section's record types only one side has (letter case aside), or
    that only the letter case of names differs; the values of rcode and flags; else the field."""
    if diff.field in SECTIONS and isinstance(diff.left, tuple) and isinstance(diff.right, tuple):
        nsd, ts = {line.lower() for line in diff.left}, {line.lower() for line in diff.right}
        if nsd == ts:
            return f"{diff.field}: letter case of names"
        only_nsd = ",".join(sorted({line.split()[3].upper() for line in nsd - ts})) or "-"
        only_ts = ",".join(sorted({line.split()[3].upper() for line in ts - nsd})) or "-"
        return f"{diff.field}: NSD only {only_nsd}, TS only {only_ts}"
    if diff.field in ("rcode", "flags", "reply"):
        return f"{diff.field}: NSD {diff.left}, TS {diff.right}"
    return diff.field


def findings(served: list[Served], cases: list[Case], servers: Servers) -> tuple[list[Finding], set[str]]:
    """The questions (``cases[i]`` asked of ``served[i]``) whose replies differ, unexplained; and
    the reasons of the :data:`ACCEPTED` entries that explained a difference."""
    out, accepted = [], set()
    for zone, case, (nsd, ts) in zip(served, cases, ask_both(cases, servers)):
        if nsd == ts:
            continue
        diffs = compare(nsd, ts)
        accepted |= {entry.reason for entry in ACCEPTED for d in diffs if entry.covers(case, d, diffs)}
        left = unexplained(case, diffs, ACCEPTED)
        if left:
            out.append(Finding(zone, case, left, nsd, ts))
    return out, accepted


# --------------------------------------------------------------------------- shrinking


def moved(case: Case, old: str, new: str) -> Case:
    """The question ``case`` asks of a zone at ``old``, asked of the same zone at ``new`` (letter case kept)."""
    name = dns.name.from_text(case.name)
    relative = dns.name.Name(name.labels[: len(name) - len(dns.name.from_text(old))])
    return replace(case, name=relative.concatenate(dns.name.from_text(new)).to_text())


def halves(positions: list[int]) -> list[list[int]]:
    """``positions`` whole, in halves, in quarters and so on, down to pairs."""
    out = []
    size = len(positions)
    while size > 1:
        out += [chunk for k in range(0, len(positions), size) if len(chunk := positions[k:k + size]) > 1]
        size //= 2
    return out


def shrink(examples: list[Finding], nsd_binary: str, workdir: Path, budget: float) -> list[Finding]:
    """Each example with a zone as small as found within ``budget`` seconds that still shows its kind.

    Rounds of delta debugging, the candidates of every example served at once: a
    round tries the zone without each one of its records, and without the
    records the round before found it could do without one at a time (all of
    them, each half, each quarter …); the candidate dropping the most records
    while its question still differs in the same kind goes on. An example stops
    when no candidate keeps its kind.
    """
    best = list(examples)
    spare: list[set[int]] = [set() for _ in examples]       # ids of records an example did without
    active = set(range(len(examples)))
    deadline = time.monotonic() + budget
    round_number = 0
    while active and time.monotonic() < deadline:
        tried: dict[str, tuple[int, list[int]]] = {}         # candidate origin -> (example, positions dropped)
        served, cases = [], []
        for i in sorted(active):
            zone = best[i].served.zone
            together = [p for p in zone.removable() if id(zone.records[p]) in spare[i]]
            for dropped in [[p] for p in zone.removable()] + halves(together):
                candidate = Served(zone.without(dropped), f"c{len(served)}.r{round_number}.shrink.test.")
                tried[candidate.origin] = (i, dropped)
                served.append(candidate)
                cases.append(moved(best[i].case, best[i].served.origin, candidate.origin))
        folder = workdir / f"round{round_number}"
        folder.mkdir()
        with serving(served, nsd_binary, folder) as servers:
            asked = [k for k, candidate in enumerate(served) if candidate.origin not in servers.refused]
            found, _ = findings([served[k] for k in asked], [cases[k] for k in asked], servers)
        kept: dict[int, list[tuple[list[int], Finding]]] = {}
        for finding in found:
            i, dropped = tried[finding.served.origin]
            if finding.kind == best[i].kind:
                kept.setdefault(i, []).append((dropped, finding))
        for i in sorted(active):
            if i not in kept:
                active.discard(i)
                continue
            records = best[i].served.zone.records
            spare[i] = {id(records[dropped[0]]) for dropped, _ in kept[i] if len(dropped) == 1}
            best[i] = max(kept[i], key=lambda result: len(result[0]))[1]
        round_number += 1
    return best


# --------------------------------------------------------------------------- the differential


@dataclass
class Run:
    """What one run found: zones the TS refused (with its error), and differing answers."""

    zones: list[Served]
    refused: dict[str, str]
    found: list[Finding]
    accepted: set[str]          # reasons of the ACCEPTED entries that explained a difference
    questions: int


@pytest.fixture(scope="module")
def nsd_binary() -> str:
    return require_tool("nsd")


@pytest.fixture(scope="module")
def run(nsd_binary: str, tmp_path_factory) -> Run:
    """The zones of every seed, served at once, and every question of their matrices asked of both."""
    try:
        zones = [served_as_generated(zone) for seed in SEEDS for zone in generate_zones(seed, ZONES_PER_SEED)]
        with serving(zones, nsd_binary, tmp_path_factory.mktemp("random-differential")) as servers:
            asked = [served for served in zones if served.origin not in servers.refused]
            pairs = [(served, Case(name, qtype, EDNS0)) for served in asked
                     for name, qtype in served.zone.questions(served.origin)]
            found, accepted = findings([p[0] for p in pairs], [p[1] for p in pairs], servers)
            return Run(zones, servers.refused, found, accepted, len(pairs))
    except (AssertionError, RuntimeError) as exc:      # NSD refused a zone, or a server would not start
        pytest.fail(f"serving the zones failed (a zone NSD refuses is the generator's fault); {rerun_hint()}\n{exc}",
                    pytrace=False)


def test_ts_loads_every_zone_nsd_loads(run: Run) -> None:
    """Every random zone NSD serves, the TS serves too (NSD loaded all of them, or the run stops at its start)."""
    if run.refused:
        by_origin = {served.origin: served for served in run.zones}
        shown = [f"{origin}: {why}\n{by_origin[origin].text()}" for origin, why in list(run.refused.items())[:REFUSALS_SHOWN]]
        pytest.fail(f"the TS refuses {len(run.refused)} of {len(run.zones)} zones NSD serves; {rerun_hint()}\n"
                    + "\n".join(shown), pytrace=False)


def test_ts_answers_as_nsd(run: Run, nsd_binary: str, tmp_path_factory) -> None:
    """Every question to every zone both serve gets the same reply from the TS as from NSD.

    A failure lists the kinds of difference, most frequent first, and shows the
    first question of each with its zone shrunk (:func:`shrink`).
    """
    if not run.found:
        return
    by_kind: dict[str, list[Finding]] = {}
    for finding in run.found:
        by_kind.setdefault(finding.kind, []).append(finding)
    kinds = sorted(by_kind.items(), key=lambda item: -len(item[1]))
    summary = [f"{len(found):6} x {kind} (asked for {' '.join(sorted({f.case.qtype for f in found}))})"
               for kind, found in kinds]
    small = shrink([found[0] for _, found in kinds[:KINDS_SHOWN]], nsd_binary,
                   tmp_path_factory.mktemp("shrink"), SHRINK_SECONDS)
    examples = [f"===== {kind} ({len(found)} questions); the first, its zone shrunk:\n{example.report()}"
                for (kind, found), example in zip(kinds, small)]
    pytest.fail(f"{len(run.found)} of {run.questions} questions get another reply from the TS than from NSD, "
                f"in {len(kinds)} kinds; {rerun_hint()}\n" + "\n".join(summary + examples), pytrace=False)


@pytest.mark.parametrize("entry", ACCEPTED, ids=lambda entry: entry.reason[:30])
def test_accepted_differences_still_occur(run: Run, entry: Accepted) -> None:
    """Every allow-list entry explained a difference in this run; a stale entry fails here."""
    assert entry.reason in run.accepted, f"no difference left for: {entry.reason}; {rerun_hint()}"


# --------------------------------------------------------------------------- the generator itself


def test_query_wires_are_the_cases_wires() -> None:
    """The quick way of making many queries gives the bytes :meth:`Case.wire` gives, ID for ID."""
    cases = [Case(name, qtype, EDNS0) for name in ("a.test.", "Kid.*.B.test.", "x\\.y.test.")
             for qtype in ("A", "TXT", "ANY", "DS")]
    assert query_wires(cases) == [case.wire(i) for i, case in enumerate(cases)]


@pytest.mark.parametrize("nsd_line, ts_line, accepted", [
    ("www.z.test. 300 IN A 192.0.2.1", "www.b.z.test. 300 IN A 192.0.2.1", True),
    ("a.z.test. 300 IN AAAA 2001:db8::1", "A.b.c.z.test. 300 IN AAAA 2001:db8::1", True),
    ("www.z.test. 300 IN A 192.0.2.1", "www.b.z.test. 60 IN A 192.0.2.1", False),      # another TTL
    ("www.z.test. 300 IN A 192.0.2.1", "www.b.z.test. 300 IN A 192.0.2.2", False),     # another address
    ("mail.z.test. 300 IN A 192.0.2.1", "www.b.z.test. 300 IN A 192.0.2.1", False),    # another first label
    ("www.b.z.test. 300 IN A 192.0.2.1", "www.z.test. 300 IN A 192.0.2.1", False),     # the other way round
    ("www.y.test. 300 IN A 192.0.2.1", "www.b.z.test. 300 IN A 192.0.2.1", False),     # not an ancestor
])
def test_wildcard_target_entry_accepts_nsd_owner_only(nsd_line: str, ts_line: str, accepted: bool) -> None:
    """The wildcard target entry accepts an NSD owner that is the target's first label on an ancestor of
    its parent, the rest of the record the same; nothing else."""
    ns = "z.test. 300 IN A 192.0.2.9"
    diffs = [Diff("additional", (nsd_line, ns), (ts_line, ns))]
    assert (unexplained(Case("s.z.test.", "SRV", EDNS0), diffs, ACCEPTED) == []) is accepted


def test_wildcard_target_entry_pairs_nsds_owner_given_twice() -> None:
    """SRV targets x-1.sub.a and x-1.mixed.a, only ``*.a`` covering them: NSD writes x-1.a twice."""
    nsd = ("x-1.a.z.test. 3600 IN AAAA 2001:db8::8c",) * 2
    ts = ("x-1.sub.a.z.test. 3600 IN AAAA 2001:db8::8c", "x-1.mixed.a.z.test. 3600 IN AAAA 2001:db8::8c")
    assert unexplained(Case("s.z.test.", "SRV", EDNS0), [Diff("additional", nsd, ts)], ACCEPTED) == []
    assert unexplained(Case("s.z.test.", "SRV", EDNS0), [Diff("additional", nsd[:1], ts)], ACCEPTED) != []


def test_same_seed_same_zone() -> None:
    """A zone depends only on its seed and index: a reported seed brings the same zone back."""
    assert generate_zone(99, 7).text("a.test.") == generate_zone(99, 7).text("a.test.")
    assert generate_zone(99, 7).questions("a.test.") == generate_zone(99, 7).questions("a.test.")
    assert generate_zone(99, 7).text("a.test.") != generate_zone(100, 7).text("a.test.")


SHAPES = ["an empty non-terminal", "a wildcard with data", "a wildcard at an empty non-terminal",
          "a wildcard with data and names below", "a wildcard CNAME", "a wildcard at the apex",
          "a wildcard with a sibling", "a CNAME chain", "a CNAME loop", "occluded data below a cut", "DS at a cut",
          "an escaped owner", "a mixed-case owner", "SRV records", "SRV to a name two labels below a wildcard",
          *(f"a delegation, name server {kind}" for kind in ("glue", "no glue", "sibling", "wildcard-covered", "outside")),
          *(f"{rtype} to {kind}" for rtype in ("CNAME", "MX", "SRV") for kind in TARGETS
            if rtype == "CNAME" or kind not in ("an empty non-terminal", "the apex")),
          *(f"a DNAME to {kind}" for kind in DNAME_TARGETS)]


def test_generator_makes_every_shape() -> None:
    """Each shape the differential is meant to cover is in at least two zones of the fixed seed, and some
    owners inherit the owner of the line before."""
    zones = generate_zones(FIXED_SEED, DEFAULT_ZONES)
    rare = [shape for shape in SHAPES if sum(shape in zone.shapes for zone in zones) < 2]
    assert not rare, f"shapes in fewer than 2 of {len(zones)} zones: {rare}"
    assert sum("\n   " in zone.text("z.test.") for zone in zones) >= 2
