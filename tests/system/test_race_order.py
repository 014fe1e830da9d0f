"""The race with real servers, the order of the replies fixed by a delaying relay.

SPEC's race rule: a reply that answers the question wins at once, and NODATA,
a referral or a CNAME the reply leaves open do not, whichever comes first; when
no backend answers, the best "no" goes back (NODATA before NXDOMAIN). Here the
backends are real: ``python -m resolver ts`` processes and, as the parent zone
handing out a referral, a real NSD. One LS races two of them, and a
:class:`~support.relay.Relay` in front of one of them holds the LS's queries to
it for :data:`DELAY`, so its reply always arrives second:

* ``better-first``: the reply that must win arrives first, the other is delayed;
* ``worse-first``: the reply that must lose arrives first and the one that must
  win comes :data:`DELAY` later; every client waits at least that long, which
  shows the LS did wait for it.

Each test asks the LS :data:`ASKED` times at once over UDP and as many over
TCP (dnspython's ``dns.query.udp`` and ``dns.query.tcp``), the same name each
time (the LS has no cache), and every one must get the reply the rule names.
Before that, each backend is asked directly, so that the test knows it races
the kind of reply it means to (a referral from NSD, NODATA from an empty
non-terminal, and so on).

The LS's NODATA grace (``--nodata-grace``, then the grace it adapts to
the backends' reply times) ends a race with a NODATA or an open CNAME
before a backend that stays silent has replied: SPEC allows that, and this is
not what is tested here. So the delayed backend must always reply within the
grace: until the delayed backend has sent 20 replies the grace is
:data:`NODATA_GRACE`, far above :data:`DELAY`, and after that twice the time
within which it sent 99% of them, again above :data:`DELAY`.
That holds only while the delay never changes under one LS, whose latency
histogram would otherwise still remember a fast backend: so each test starts
its own LS, with its relay set before the first query. Health probes need no flag: any reply to them, REFUSED included, counts
as alive, the relay passes them on, and their replies do not count towards the
grace.
"""
from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from support.nsd import Nsd
from support.relay import Relay
from support.servers import query
from support.tools import require_tool

DELAY = 0.08            # seconds the relay holds the queries to the backend that replies second
NODATA_GRACE = 1.0      # --nodata-grace: how long a NODATA waits for a backend not yet timed, far above DELAY
LS_TIMEOUT = 2.0        # --timeout: a query no backend answers; no test here should reach it
ASKED = 30              # queries per transport, all at once

SOA = "@ IN SOA ns hostmaster 1 7200 900 1209600 300\n@ IN NS ns\nns IN A 192.0.2.53\n"


def zone(origin: str, records: str) -> str:
    """A master file for ``origin``: its SOA, NS and the name server's address, then ``records``."""
    return f"$ORIGIN {origin}\n$TTL 300\n{SOA}{records}\n"


@dataclass(frozen=True)
class Backend:
    """A backend's data: a ``--table`` file (``.txt``) or a zone file named after its origin, for
    ``server`` "ts" (``python -m resolver ts``) or "nsd"."""

    file: str
    text: str
    server: str = "ts"


BACKENDS = {
    # corp.lab is an empty non-terminal here (NODATA), a name with an address there.
    "ent": Backend("hosts.txt", "host.corp.lab 10.0.0.1 A\n"),
    "corp": Backend("hosts.txt", "corp.lab 10.0.0.2 A\n"),
    # dual.example has only AAAA on one, only A on the other (NODATA for the other type).
    "dual-aaaa": Backend("example.zone", zone("example.", "dual IN AAAA 2001:db8::a")),
    "dual-a": Backend("example.zone", zone("example.", "dual IN A 192.0.2.11")),
    # example. delegates sub.example. (NS and glue): a referral for every name below it.
    "parent-nsd": Backend("example.zone", zone("example.", "sub IN NS ns.sub\nns.sub IN A 192.0.2.55"), "nsd"),
    "parent-ts": Backend("example.zone", zone("example.", "sub IN NS ns.sub\nns.sub IN A 192.0.2.55")),
    "child": Backend("sub.example.zone", zone("sub.example.", "host IN A 198.51.100.7")),
    # www.alias.test is a CNAME to a name outside the zone (left open) there, an address here,
    # and so is the CNAME's target: following the CNAME would answer too, with another address.
    "alias": Backend("alias.test.zone", zone("alias.test.", "www IN CNAME www.target.test.")),
    "direct": Backend("hosts.txt", "www.alias.test 192.0.2.21 A\nwww.target.test 192.0.2.22 A\n"),
}


def kind(reply: dns.message.Message, qtype: str) -> str:
    """What a reply is, in the race rule's words: answer, cname-only, nodata, referral, nxdomain, or its rcode."""
    rdtype = dns.rdatatype.from_text(qtype)
    if reply.rcode() == dns.rcode.NXDOMAIN:
        return "nxdomain"
    if reply.rcode() != dns.rcode.NOERROR:
        return dns.rcode.to_text(reply.rcode())
    if any(rrset.rdtype == rdtype for rrset in reply.answer):
        return "answer"
    if any(rrset.rdtype == dns.rdatatype.CNAME for rrset in reply.answer):
        return "cname-only"
    if not reply.answer and any(rrset.rdtype == dns.rdatatype.SOA for rrset in reply.authority):
        return "nodata"
    if not reply.flags & dns.flags.AA and any(rrset.rdtype == dns.rdatatype.NS for rrset in reply.authority):
        return "referral"
    return "other"


def records(reply: dns.message.Message) -> set[str]:
    """The answer section as ``owner TYPE rdata`` lines."""
    return {f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)} {rdata}" for rrset in reply.answer for rdata in rrset}


@dataclass(frozen=True)
class Race:
    """One question to two backends (names in :data:`BACKENDS`): the reply of ``better``, which is
    ``better_kind`` (see :func:`kind`), must win over that of ``worse``, which is ``worse_kind``."""

    id: str
    name: str
    qtype: str
    better: str
    worse: str
    worse_kind: str
    better_kind: str = "answer"

    def __str__(self) -> str:
        return self.id


ANSWERED = [   # with the answer the client must get
    (Race("empty-non-terminal", "corp.lab", "A", "corp", "ent", "nodata"), {"corp.lab. A 10.0.0.2"}),
    (Race("nodata-by-type-A", "dual.example", "A", "dual-a", "dual-aaaa", "nodata"),
     {"dual.example. A 192.0.2.11"}),
    (Race("nodata-by-type-AAAA", "dual.example", "AAAA", "dual-aaaa", "dual-a", "nodata"),
     {"dual.example. AAAA 2001:db8::a"}),
    (Race("referral-from-nsd", "host.sub.example", "A", "child", "parent-nsd", "referral"),
     {"host.sub.example. A 198.51.100.7"}),
    (Race("referral-from-ts", "host.sub.example", "A", "child", "parent-ts", "referral"),
     {"host.sub.example. A 198.51.100.7"}),
    (Race("cname-only", "www.alias.test", "A", "direct", "alias", "cname-only"), {"www.alias.test. A 192.0.2.21"}),
]
# No backend has an answer: the NODATA must win over the NXDOMAIN.
UNANSWERED = [Race("nodata-over-nxdomain", "dual.example", "A", "dual-aaaa", "parent-ts", "nxdomain", "nodata")]

ORDERS = ["better-first", "worse-first"]


@pytest.fixture
def start_backend(start_server, tmp_path: Path) -> Callable[[str], tuple[str, int]]:
    """Factory: starts the backend named in :data:`BACKENDS`; returns its (host, port)."""
    started: list[Nsd] = []

    def start(name: str) -> tuple[str, int]:
        backend = BACKENDS[name]
        folder = tmp_path / name
        folder.mkdir()
        path = folder / backend.file
        path.write_text(backend.text)
        if backend.server == "nsd":
            nsd = Nsd(require_tool("nsd"), folder, [path])
            started.append(nsd)
            nsd.start()
            return nsd.address
        flag = "--table" if path.suffix == ".txt" else "--zone"
        return start_server("ts", flag, str(path)).addresses[0]

    yield start
    for nsd in started:
        nsd.stop()


def ask_directly(address: tuple[str, int], race: Race) -> dns.message.Message:
    """The race's question to one backend, over UDP, without the LS."""
    return dns.query.udp(dns.message.make_query(race.name, race.qtype), address[0], port=address[1], timeout=2)


Results = dict[str, list[tuple[float, dns.message.Message]]]     # per transport: (seconds taken, reply) a query


def run_race(race: Race, order: str, start_backend, start_server) -> Results:
    """Start both backends (checking what each says), the relay in front of the one whose reply
    ``order`` wants second, and the LS; ask :data:`ASKED` times at once over UDP, then over TCP."""
    better, worse = start_backend(race.better), start_backend(race.worse)
    assert kind(ask_directly(better, race), race.qtype) == race.better_kind
    assert kind(ask_directly(worse, race), race.qtype) == race.worse_kind
    slow, fast = (worse, better) if order == "better-first" else (better, worse)
    with Relay(slow, delay=DELAY) as relay:
        ls = start_server("ls", "--backend", relay.hostport, "--backend", f"{fast[0]}:{fast[1]}",
                          "--nodata-grace", str(NODATA_GRACE), "--timeout", str(LS_TIMEOUT),
                          "--cache-size", "0")     # every query raced: none answered from the cache

        def timed(tcp: bool) -> tuple[float, dns.message.Message]:
            started = time.monotonic()
            reply = query(ls, race.name, race.qtype, tcp=tcp, timeout=LS_TIMEOUT + 1)
            return time.monotonic() - started, reply

        results = {}
        with ThreadPoolExecutor(ASKED) as pool:
            for transport in ("udp", "tcp"):
                results[transport] = list(pool.map(timed, [transport == "tcp"] * ASKED))
    return results


def tally(results: Results, check: Callable[[dns.message.Message], str]) -> dict[str, dict[str, int]]:
    """Per transport, how many replies ``check`` said each thing of."""
    return {transport: dict(Counter(check(reply) for _, reply in got)) for transport, got in results.items()}


def assert_waited_when_worse_first(results: Results, order: str) -> None:
    """In ``worse-first`` order no client got its reply before the delayed backend could have
    replied: the reply that came first did not end the race."""
    if order == "worse-first":
        quickest = {transport: min(seconds for seconds, _ in got) for transport, got in results.items()}
        assert min(quickest.values()) >= DELAY, f"a reply came before the delayed backend's could: {quickest}"


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("race, answer", ANSWERED, ids=[str(race) for race, _ in ANSWERED])
def test_the_positive_answer_wins_whichever_reply_arrives_first(race, answer, order, start_backend, start_server):
    results = run_race(race, order, start_backend, start_server)
    want = " ".join(["NOERROR", *sorted(answer)])
    got = tally(results, lambda r: " ".join([dns.rcode.to_text(r.rcode()), *sorted(records(r))]))
    assert got == {"udp": {want: ASKED}, "tcp": {want: ASKED}}
    assert_waited_when_worse_first(results, order)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("race", UNANSWERED, ids=str)
def test_nodata_wins_over_nxdomain_whichever_arrives_first(race, order, start_backend, start_server):
    results = run_race(race, order, start_backend, start_server)
    got = tally(results, lambda r: kind(r, race.qtype))
    assert got == {"udp": {"nodata": ASKED}, "tcp": {"nodata": ASKED}}
    assert_waited_when_worse_first(results, order)
