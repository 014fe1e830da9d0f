"""``client --explain``: ask every backend what the LS would ask, and show which reply wins and why.

A client of the LS sees only the winner of each race. To debug split DNS an
operator needs every backend's own reply and timing, and the outcome the LS's
rule gives for them. So the question goes to every backend at the same moment,
once, over UDP, on one connected socket per backend, as the LS sends it (the
LS does not retry, so neither does this). Each reply is judged by the LS's own
code (:func:`resolver.ls.rule.judge`: the question, the sections, the rank),
so a reply the LS would drop is shown as the LS sees it: malformed, or not
there at all. When the best reply is a CNAME whose target no backend
answered, the LS follows it (:mod:`resolver.ls.chase`), and so does this:
every link is asked of every backend in turn, with the LS's own
:class:`~resolver.ls.chase.Chain`, and the verdict is what the LS's merged
reply holds.

Given the LS's status address (its ``--metrics``), it first shows how the LS
would choose the backends for the name now, read from the LS's ``/plan``
(:meth:`resolver.obs.metrics.LsMetrics.plan`): the static route, the learned
owners, the backends and groups asked first and those asked only on a hedge,
and the answers its cache holds for the name (``cached``), each the reply to
a query of its type and flags while fresh, and when stale only if the
backends fail (RFC 8767); and, from the replies' times, whether the hedge
would be asked (the learned owners say no, or stay silent past their RTO) or not. Whether a hedge fired
in a particular race is in the LS's query log (its last field,
:mod:`resolver.obs.querylog`).

A name that a static route covers (:mod:`resolver.ls.routes`) is judged over
the backends of its route only, a replica group standing for its members, as
the LS asks no other; the others are still asked and shown, marked as not
asked by the LS. The route is the one ``/plan`` names, else the one the LS's
config file gives (:func:`configured_routes`), else there is none.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, TextIO

import dns.asyncbackend
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from ..ls.cache import STALE_TTL
from ..ls.chase import MAX_LINKS, Chain, merged_wire
from ..ls.groups import Groups
from ..ls.race import route_table
from ..ls.rule import ALIAS, ANSWER, NAME_EXISTS, NODATA, REFERRAL, TRUNCATED, judge, negative_rank, rcode_of
from ..ls.settings import LsSettings
from ..net.addresses import address_family, format_hostport
from ..obs.stats import BackendStats
from ..wire import Query, WireError, scan_query
from .resolver import Resolution, Resolver, records_of
from .settings import ClientSettings

TIMEOUT_ANSWER = "NXDOMAIN (SERVFAIL with --on-timeout servfail)"


# What a NOERROR that does not answer is.
NOERROR_KINDS = {TRUNCATED: "truncated", ALIAS: "CNAME", NODATA: "NODATA", REFERRAL: "referral"}


@dataclass
class BackendReply:
    """One backend's reply to the question, or its silence.

    ``rank`` is the LS's own verdict on the reply (:mod:`resolver.ls.rule`):
    :data:`~resolver.ls.rule.ANSWER`, or how good a "no" it is; left out, it
    follows from the rcode (a NOERROR with records answers, one without is NODATA).
    ``answers`` are the records of the type asked (for an open CNAME, the CNAME).
    """

    backend: str
    rcode: int | None = None        # None: no reply
    authoritative: bool = False
    answers: list[str] = field(default_factory=list)
    ms: float = 0.0
    unreachable: bool = False       # port closed: the LS marks it down and stops waiting for it
    rank: int | None = None
    malformed: bool = False         # no reply but ones whose sections do not parse: the LS drops them and waits
    message: dns.message.Message | None = None      # the reply as the client would get it

    def __post_init__(self) -> None:
        if self.rank is None and self.rcode is not None:
            if self.rcode == dns.rcode.NOERROR:
                self.rank = ANSWER if self.answers else NODATA
            else:
                self.rank = negative_rank(self.rcode, self.authoritative)

    @property
    def status(self) -> str:
        """The rcode, with what kind of "no" a NOERROR is when it does not answer (NODATA, referral, CNAME)."""
        if self.unreachable:
            return "unreachable"
        if self.malformed:
            return "malformed"
        if self.rcode is None:
            return "silent"
        kind = NOERROR_KINDS.get(self.rank) if self.rcode == dns.rcode.NOERROR else None
        return dns.rcode.to_text(self.rcode) + (f" ({kind})" if kind else "")

    @property
    def awaited(self) -> bool:
        """Whether the LS still waits for this backend: it is reachable and sent nothing the LS keeps."""
        return self.rcode is None and not self.unreachable


def backend_reply(backend: str, wire: bytes, query: bytes, q: Query, ms: float) -> BackendReply | None:
    """A backend's reply bytes to ``query`` (``q``: its scan) as the LS judges them; None when the LS
    would not take it for a reply to this question. Raises :class:`~resolver.wire.WireError` when its
    sections do not parse (the LS drops it)."""
    if len(wire) < 12 or wire[:2] != query[:2] or not wire[2] & 0x80:
        return None         # another ID, or a query: the LS drops it too
    judged = judge(wire, query, q)
    if judged is None:
        return None
    reply, rank = judged
    try:
        message = dns.message.from_wire(reply)
    except dns.exception.DNSException:
        message = None          # the LS reads less of a reply than dnspython does
    answers = [] if message is None else records_of(message, q.qtype)
    if rank == ALIAS and message is not None:
        answers = [f"CNAME {rd.target}" for rrset in message.answer if rrset.rdtype == dns.rdatatype.CNAME
                   for rd in rrset]
    return BackendReply(backend, rcode_of(reply, rank), bool(reply[2] & 0x04), answers, ms, rank=rank,
                        message=message)


@dataclass
class Verdict:
    """What the LS's rule makes of the replies, and what the LS should therefore answer."""

    text: str
    rcodes: frozenset[str]          # an LS answer with one of these rcodes (and these records) agrees
    answers: list[str] = field(default_factory=list)
    resolved: bool = False
    best: BackendReply | None = None    # the winner, or the best "no"

    @property
    def truncated(self) -> bool:
        """Whether the LS passes on a truncated reply (TC): the client then asks again over TCP."""
        return self.best is not None and self.best.rank == TRUNCATED

    @property
    def follows(self) -> bool:
        """Whether the LS follows the best reply's CNAME to other backends (:mod:`resolver.ls.chase`)."""
        return self.best is not None and self.best.rank == ALIAS


Backend = tuple[str, int] | tuple[str, int, str]      # (host, port) or (host, port, name), as ls --backend


def label(backend: Backend) -> str:
    """How a backend is shown: its name when it has one (as in the LS's logs and metrics), else its address."""
    return backend[2] if len(backend) == 3 else format_hostport(backend[0], backend[1])


async def ask_backends(query: dns.message.Message, backends: list[Backend], timeout: float,
                       tcp: bool = False) -> list[BackendReply]:
    """Send the query to every backend at once and wait up to ``timeout`` seconds for each reply,
    over UDP (one connected socket each) or, with ``tcp``, over a TCP connection each."""
    wire = query.to_wire()
    q = scan_query(wire)
    if tcp:
        return list(await asyncio.gather(*(_ask_tcp(backend, wire, q, timeout) for backend in backends)))
    net = dns.asyncbackend.get_backend("asyncio")
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(
            await net.make_socket(address_family(host), socket.SOCK_DGRAM, 0, None, (host, port)))
            for host, port, *_ in backends]
        sent = time.time()
        for sock in sockets:
            await sock.sendto(wire, None, None)     # connected: the kernel drops datagrams from anyone else
        return list(await asyncio.gather(*(
            _await_reply(sock, label(backend), wire, q, sent, sent + timeout)
            for sock, backend in zip(sockets, backends))))


async def _ask_tcp(backend: Backend, query: bytes, q: Query, timeout: float) -> BackendReply:
    """One query over a TCP connection of its own (RFC 1035 4.2.2), the reply judged as the LS judges it."""
    host, port, *_ = backend
    shown = label(backend)
    sent = time.time()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except ConnectionRefusedError:
        return BackendReply(shown, unreachable=True)
    except (OSError, asyncio.TimeoutError):
        return BackendReply(shown)
    try:
        writer.write(len(query).to_bytes(2, "big") + query)
        size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), timeout), "big")
        wire = await asyncio.wait_for(reader.readexactly(size), timeout)
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
        return BackendReply(shown)      # closed or silent: the LS counts it as a failure
    finally:
        writer.close()
    try:
        return backend_reply(shown, wire, query, q, (time.time() - sent) * 1000) or BackendReply(shown)
    except WireError:
        return BackendReply(shown, malformed=True)


async def _await_reply(sock: dns.asyncbackend.DatagramSocket, backend: str, query: bytes, q: Query,
                       sent: float, expiration: float) -> BackendReply:
    """The first datagram the LS would take for the reply, as the LS judges it, or why there is none."""
    malformed = False
    while True:
        try:
            wire, _ = await sock.recvfrom(65535, max(0.0, expiration - time.time()))
        except dns.exception.Timeout:
            return BackendReply(backend, malformed=malformed)
        except ConnectionRefusedError:
            return BackendReply(backend, unreachable=True)
        ms = (time.time() - sent) * 1000
        try:
            reply = backend_reply(backend, wire, query, q, ms)
        except WireError:
            malformed = True        # the LS drops it and goes on waiting for this backend
            continue
        if reply is not None:
            return reply


@dataclass(frozen=True)
class Scope:
    """The backends the LS may ask for one name, by the static route that covers it
    (:mod:`resolver.ls.routes`); without ``route``, every backend."""

    route: str | None = None            # the route's domain, absolute; None when no route covers the name
    targets: tuple[str, ...] = ()       # the backends and groups it names
    allowed: frozenset[str] = frozenset()   # the backends it names by name, each group's members included

    def asks(self, backend: str) -> bool:
        """Whether the LS may ask ``backend`` (by its name, or ADDR:PORT when it has none)."""
        return self.route is None or backend in self.allowed


Routes = Callable[[dns.name.Name], Awaitable[Scope]]     # the scope of a name, as the LS would route it now


def plan_scope(plan: dict[str, Any]) -> Scope:
    """The scope that the LS's plan (``/plan``'s JSON) gives: its route's ``targets``, each of its
    ``groups`` by its ``members``."""
    if plan["route"] is None:
        return Scope()
    members = {group["name"]: group["members"] for group in plan["groups"]}
    return Scope(plan["route"], tuple(plan["targets"]),
                 frozenset(name for target in plan["targets"] for name in members.get(target, [target])))


def planned_routes(status: tuple[str, int], timeout: float, plan: dict[str, Any]) -> Routes:
    """The scope of each name from the LS's ``/plan`` at ``status``, ``plan`` being the one read for
    the name asked (a CNAME's target gets its own, read when it is asked). Raises what
    :func:`read_plan` raises."""
    plans = {dns.name.from_text(plan["name"]): plan}

    async def scope(name: dns.name.Name) -> Scope:
        if name not in plans:
            plans[name] = await asyncio.to_thread(read_plan, status, name.to_text(), timeout)
        return plan_scope(plans[name])
    return scope


@dataclass
class _Unit:
    """A backend as :class:`resolver.ls.groups.Groups` and :func:`resolver.ls.race.route_table` read one."""

    index: int
    name: str
    stats: BackendStats = field(default_factory=BackendStats)


def configured_routes(settings: LsSettings) -> Routes | None:
    """The scope of each name from the static routes of the LS's ``settings`` (read from its config
    file), looked up as the LS looks them up; None when there are none. Raises ValueError for a
    route or group that names no backend."""
    if not settings.routes:
        return None
    units = [_Unit(index, label(backend)) for index, backend in enumerate(settings.backends)]
    table = route_table(settings.routes, units, Groups(settings.groups, units))
    targets = dict(settings.routes)

    async def scope(name: dns.name.Name) -> Scope:
        route = table.lookup(name.to_wire().lower())
        if route is None:
            return Scope()
        return Scope(route.domain, tuple(targets[route.domain]),
                     frozenset(unit.name for unit in units if route.mask >> unit.index & 1))
    return scope


def predict(replies: list[BackendReply], rdtype: str, timeout: float, routed: bool = False) -> Verdict:
    """The LS's rule applied to the replies (with ``routed``, those of a static route's backends):
    the first that answers, else the best "no", else its timeout."""
    replied = sorted((r for r in replies if r.rcode is not None), key=lambda r: r.ms)
    winner = next((r for r in replied if r.rank == ANSWER), None)
    if winner is not None:
        return Verdict(f"winner: {winner.backend}, the first reply that answers ({winner.ms:.2f} ms)",
                       frozenset({"NOERROR"}), winner.answers, resolved=True, best=winner)
    return _lost(replies, replied, rdtype, timeout, routed)


def _lost(replies: list[BackendReply], replied: list[BackendReply], rdtype: str, timeout: float,
          routed: bool) -> Verdict:
    """No answer: the best "no" at once (or after the NODATA grace), or whatever the LS gives at its timeout."""
    # max keeps the earliest of equals, as the LS keeps a later reply only when it ranks higher.
    best = max(replied, key=lambda r: r.rank, default=None)
    silent = [r.backend + (" (malformed)" if r.malformed else "") for r in replies if r.awaited]
    timed_out = frozenset({"NXDOMAIN", "SERVFAIL"})
    if best is None and not silent:
        return Verdict(f"no backend is reachable: the LS marks them down and answers {TIMEOUT_ANSWER} at once",
                       timed_out)
    if best is None:
        return Verdict(f"no backend replied within {timeout:g} s: the LS answers {TIMEOUT_ANSWER} at its timeout",
                       timed_out)
    said = f"{best.status}{' (authoritative)' if best.authoritative else ''} from {best.backend}"
    if best.rank >= NAME_EXISTS:
        when = "at once" if not silent else f"after its NODATA grace, while {', '.join(silent)} stayed silent"
        if best.rank == TRUNCATED:
            return Verdict(f"no answer: the best no is {said}, more than fits a UDP reply; the LS passes it on "
                           f"{when}", frozenset({"NOERROR"}), best=best)
        if best.rank == ALIAS:
            return Verdict(f"no answer: the best no is {said}, an alias to a name no backend answered here; "
                           f"the LS follows it {when}", frozenset({"NOERROR"}), best=best)
        return Verdict(f"no answer: the best no is {said}, the name exists without {rdtype} records; "
                       f"the LS answers with it {when}", frozenset({"NOERROR"}), best=best)
    if not silent:
        who = ("every reachable backend" if len(replied) < len(replies) else "all backends") + (
            " of the route" if routed else "")
        return Verdict(f"no positive answer: {who} said no; the LS answers at once with the best negative, "
                       f"{said}", frozenset({dns.rcode.to_text(best.rcode)}), best=best)
    then = f"passes on the {said}" if best.status == "NXDOMAIN" else "answers NXDOMAIN"
    return Verdict(f"no positive answer within {timeout:g} s: {', '.join(silent)} stayed silent, so the LS "
                   f"waits until its timeout, then {then} (SERVFAIL with --on-timeout servfail)", timed_out,
                   best=best)


NOT_ASKED = " (not asked by the LS)"     # after a backend outside the name's route


class Report:
    """Where ``--explain`` writes: with ``as_json`` False, text lines to ``out`` as they come; with it
    True, one JSON object at :meth:`close`: ``name``, ``type``, ``plan`` (the LS's ``/plan``, or
    null with ``plan_note`` saying why), ``races`` (one per question asked: ``question``, ``type``,
    ``tcp``, ``heading``, ``replies``, ``hedge``, ``verdict``), ``verdict`` (the rule's last:
    ``text``, ``rcodes``, ``answers``, ``resolved``) and ``ls`` (the LS's answer, null without
    ``--server``)."""

    def __init__(self, out: TextIO, as_json: bool, name: str, rdtype: str) -> None:
        self.out = out
        self.as_json = as_json
        self.doc: dict[str, Any] = {"name": name, "type": rdtype, "plan": None, "races": [], "verdict": None,
                                    "ls": None}

    def line(self, text: str) -> None:
        """One line of the text output (none in JSON)."""
        if not self.as_json:
            print(text, file=self.out)

    def plan(self, plan: dict[str, Any] | None, heading: str, lines: list[str]) -> None:
        """The LS's plan (None when unknown, ``heading`` then says why) and its text lines."""
        self.doc["plan"] = plan
        if plan is None:
            self.doc["plan_note"] = heading
        self.line(heading)
        for line in lines:
            self.line(f"  {line}")

    def race(self, question: dns.rrset.Rrset, tcp: bool, heading: str, replies: list[BackendReply],
             scope: Scope, hedged: str | None, verdict: Verdict) -> None:
        """One question's race: its heading, each backend's reply, the hedge line, the verdict."""
        self.doc["races"].append({
            "question": question.name.to_text(omit_final_dot=True), "type": dns.rdatatype.to_text(question.rdtype),
            "tcp": tcp, "heading": heading, "hedge": hedged, "verdict": verdict.text,
            "replies": [{"backend": r.backend, "asked_by_ls": scope.asks(r.backend), "status": r.status,
                         "authoritative": None if r.rcode is None else r.authoritative,
                         "ms": None if r.rcode is None else round(r.ms, 2), "answers": r.answers}
                        for r in replies]})
        self.line(heading)
        for row in table(replies, scope):
            self.line(row.rstrip())
        if hedged is not None:
            self.line(hedged)
        self.verdict(verdict)

    def verdict(self, verdict: Verdict) -> None:
        """The rule's verdict; the last one given is the report's."""
        self.doc["verdict"] = {"text": verdict.text, "rcodes": sorted(verdict.rcodes), "answers": verdict.answers,
                               "resolved": verdict.resolved}
        self.line(verdict.text)

    def ls(self, server: str, result: Resolution, ms: float, verdict: Verdict, timeout: float) -> None:
        """The LS's answer (``ms``: milliseconds it took) and whether it agrees with ``verdict``."""
        self.doc["ls"] = {"server": server, "answered": result.answered,
                          "status": result.rcode if result.answered else "NO RESPONSE",
                          "answers": result.addresses, "ms": round(ms, 2), "agrees": agrees(result, verdict)}
        self.line(ls_line(server, result, ms, verdict, timeout))

    def close(self) -> None:
        """Write the JSON object (with ``as_json``); text has been written as it came."""
        if self.as_json:
            json.dump(self.doc, self.out, indent=1)
            self.out.write("\n")
        self.out.flush()


def table(replies: list[BackendReply], scope: Scope) -> list[str]:
    """The replies as aligned rows under a header, in the order the backends were given; those of
    backends outside ``scope``'s route marked as not asked by the LS."""
    rows = [("backend", "reply", "AA", "time", "answer")] + [
        (r.backend + ("" if scope.asks(r.backend) else NOT_ASKED), r.status,
         "-" if r.rcode is None else ("yes" if r.authoritative else "no"),
         "-" if r.rcode is None else f"{r.ms:.2f} ms", ", ".join(r.answers) or "-")
        for r in replies]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4]
            for row in rows]


def agrees(result: Resolution, verdict: Verdict) -> bool:
    """Whether the LS answered what the rule predicts: one of its rcodes, and the same records."""
    return result.answered and result.rcode in verdict.rcodes and sorted(result.addresses) == sorted(verdict.answers)


def ls_line(server: str, result: Resolution, ms: float, verdict: Verdict, timeout: float) -> str:
    """What the LS answered, and whether it is what the rule predicts."""
    if not result.answered:
        return f"LS {server} did not answer within {timeout:g} s"
    said = " ".join([result.rcode, ", ".join(result.addresses)]).rstrip()
    expected = " ".join(["|".join(sorted(verdict.rcodes)), ", ".join(verdict.answers)]).rstrip()
    return f"LS {server} answered {said} in {ms:.2f} ms: " + (
        "agrees" if agrees(result, verdict) else f"disagrees, expected {expected}")


def at_chain_end(verdict: Verdict, chain: Chain, query: dns.message.Message, aa: bool) -> Verdict:
    """What the client gets when the race for the chain's last target ends as ``verdict`` says.

    As :mod:`resolver.ls.chase` merges it: the chain, then the target's
    answer with its rcode when a backend speaks for the target (NOERROR, an
    authoritative NXDOMAIN); else NOERROR with the chain as far as it goes;
    SERVFAIL when the merged chain holds more than 8 CNAMEs, and TC when it
    does not fit a DNS message (64 KiB).
    """
    names = " -> ".join([rrset.name.to_text() for rrset in chain.links] + [chain.target.to_text()])
    best = verdict.best
    final = best.message if best is not None else None
    if final is not None and chain.too_long(final):
        return Verdict(f"the chain {names} and its last reply hold more than {MAX_LINKS} CNAMEs: the LS answers "
                       "SERVFAIL", frozenset({"SERVFAIL"}))
    if final is not None and chain.speaks(final):
        try:
            merged_wire(chain.merged(query, final, aa))
        except dns.exception.TooBig:
            return Verdict(f"the chain {names}: the merged reply does not fit 64 KiB, so the LS answers "
                           f"{dns.rcode.to_text(final.rcode())} with TC and no records",
                           frozenset({dns.rcode.to_text(final.rcode())}), best=best)
    speaks_nxdomain = best is not None and best.rcode == dns.rcode.NXDOMAIN and best.authoritative
    rcodes = frozenset(rcode if rcode == "NOERROR" or (rcode == "NXDOMAIN" and speaks_nxdomain) else "NOERROR"
                       for rcode in verdict.rcodes)
    if verdict.resolved:
        then = f"NOERROR with the chain and {', '.join(verdict.answers)}"
    elif rcodes == {"NOERROR"} and (best is None or best.rank < NAME_EXISTS):
        then = "NOERROR with the chain as far as it goes: no backend speaks for its end"
    else:
        then = f"{' or '.join(sorted(rcodes))} with the chain, the last target's rcode (RFC 6604)"
    return Verdict(f"the chain {names}: the LS answers {then}", rcodes, verdict.answers, verdict.resolved, best)


def read_plan(status: tuple[str, int], name: str, timeout: float, rdtype: str | None = None) -> dict[str, Any]:
    """The LS's plan for ``name`` (with what its cache holds for ``rdtype``, A when None), from
    ``/plan`` at its status address ``status`` (its ``--metrics``), waiting ``timeout`` seconds at
    most, with no proxy. Raises OSError (``urllib.error.URLError`` is one) when it cannot be read,
    ValueError when it is not JSON."""
    url = f"http://{format_hostport(*status)}/plan?name={urllib.parse.quote(name)}" + (
        f"&type={urllib.parse.quote(rdtype)}" if rdtype is not None else "")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise OSError(f"HTTP {exc.code}: {exc.read().decode(errors='replace').strip()}") from None
    except urllib.error.URLError as exc:
        raise OSError(str(exc.reason)) from None


def queries_served(flags: str) -> str:
    """The queries a cached answer serves, by its key's flags as ``/plan`` gives them (``"edns,do"``,
    ``""`` for none; :func:`resolver.ls.cache.cache_key`): ``with EDNS, DO``, ``without EDNS``."""
    bits = [bit for bit in flags.split(",") if bit]
    others = [bit.upper() for bit in bits if bit != "edns"]
    if "edns" in bits:
        return "with " + ", ".join(["EDNS", *others])
    return "without EDNS" + (f", with {', '.join(others)}" if others else "")


def cached_lines(plan: dict[str, Any]) -> list[str]:
    """A line for each answer the LS's cache holds for the plan's name and type (``plan["cached"]``):
    a fresh one is what a query of its type and flags gets, no backend asked; a stale one goes back
    only when the backends fail or are slower than the client-response timer (RFC 8767)."""
    lines = []
    for entry in plan["cached"]:
        held = f"cached: {entry['type']} {entry['rcode']} for queries {queries_served(entry['flags'])}"
        if entry["stale"]:
            lines.append(f"{held}, stale: the LS asks the backends, and answers from its cache with TTL {STALE_TTL} "
                         "only if they fail or stay silent past its --stale-answer-timeout")
        else:
            lines.append(f"{held}, {entry['ttl_left']} s left: the LS answers from its cache, asking no backend")
    return lines


def plan_lines(plan: dict[str, Any]) -> list[str]:
    """The LS's plan (:meth:`resolver.obs.metrics.LsMetrics.plan`) as ``client --explain`` shows it:
    what its cache holds for the name, then how a query that misses it is routed."""
    route = plan["route"]
    lines = cached_lines(plan)
    lines.append(f"route: {route} -> {', '.join(plan['targets'])}" if route is not None else "route: none covers it")
    every = "every backend of the route" if route is not None else "every backend"
    owners = plan["learned"]
    if not plan["learning"]:
        lines.append(f"learning off: {every} asked")
    elif owners:
        lines.append(f"learned owner{'s' if len(owners) > 1 else ''}: {', '.join(owners)}")
    else:
        lines.append(f"learned owner: none yet, so {every} is asked")
    if plan["first"]:
        lines.append(f"asked first: {', '.join(plan['first'])}; on a hedge: {', '.join(plan['hedge']) or 'none'}")
    else:
        lines.append("asked first: none; every backend it may go to is down, so the LS gives its timeout answer "
                     "at once")
    lines += [f"group {group['name']}: one member asked, by {group['policy']}, of "
              + ", ".join(m if m in group["up"] else f"{m} (down)" for m in group["members"])
              for group in plan["groups"]]
    if plan["down"]:
        lines.append(f"down, so not asked: {', '.join(plan['down'])}")
    return lines


async def show_plan(name: str, rdtype: str, status: tuple[str, int] | None, timeout: float,
                    report: Report) -> dict[str, Any] | None:
    """Print how the LS would choose the backends for ``name`` now, and what its cache holds for
    ``name`` and ``rdtype``, read from its status address ``status``, and return that plan; without
    one, or when it cannot be read, say so in one line and return None."""
    if status is None:
        report.plan(None, f"the LS's plan for {name}: unknown without --status ADDR:PORT, the LS's --metrics "
                          "address (or metrics in its --ls-config)", [])
        return None
    where = format_hostport(*status)
    try:
        plan = await asyncio.to_thread(read_plan, status, name, timeout, rdtype)
    except (OSError, ValueError) as exc:
        report.plan(None, f"the LS's plan for {name}: cannot read it from {where}: {exc}", [])
        return None
    report.plan(plan, f"the LS's plan for {name} now, from its status at {where}:", plan_lines(plan))
    return plan


def hedge_line(plan: dict[str, Any], replies: list[BackendReply]) -> str | None:
    """Whether the LS would ask the hedge (``plan["hedge"]``) after the learned owners it asks first,
    from the replies' times, as :mod:`resolver.ls.race` widens a race: at once when one of them says
    no, at ``plan["hedge_after_ms"]`` (their shortest RTO, in milliseconds) when one is still silent
    then, and never when one answers first. None when the plan has no hedge, or none of the owners
    is among the backends asked here."""
    hedge, rto = plan["hedge"], plan.get("hedge_after_ms")
    members = {group["name"]: group["members"] for group in plan["groups"]}
    owners = {name for unit in plan["first"] for name in members.get(unit, [unit])}
    first = [r for r in replies if r.backend in owners]
    if not hedge or rto is None or not first:
        return None
    asked = f"{', '.join(hedge)} {'is' if len(hedge) == 1 else 'are'} asked"
    never = float("inf")
    answered = min((r for r in first if r.rank == ANSWER), key=lambda r: r.ms, default=None)
    said_no = min((r for r in first if r.unreachable or r.rank not in (None, ANSWER)),
                  key=lambda r: 0.0 if r.unreachable else r.ms, default=None)
    silent = next((r for r in first if r.awaited or r.ms > rto), None)
    no_at = never if said_no is None else 0.0 if said_no.unreachable else said_no.ms
    if answered is not None and answered.ms <= min(no_at, never if silent is None else rto):
        return f"hedge: {answered.backend} answered in {answered.ms:.2f} ms, within its {rto:g} ms RTO: no hedge"
    if said_no is not None and (silent is None or no_at <= rto):
        what = "is unreachable" if said_no.unreachable else f"said {said_no.status}"
        return f"hedge: the learned owner {said_no.backend} {what}, so {asked} at once"
    if silent is not None:
        return f"hedge: {silent.backend} silent past its {rto:g} ms RTO: {asked}"
    return None


DISAGREES = 3       # the exit status when the LS's answer is not the rule's


async def explain(name: str, rdtype: str, backends: list[Backend], timeout: float,
                  server: tuple[str, int] | None, out: TextIO, status: tuple[str, int] | None = None,
                  routes: Routes | None = None, as_json: bool = False) -> int:
    """Print the LS's plan for the name (given ``status``, its status address), each backend's reply,
    the verdict and, given ``server``, the LS's answer: as text lines, or with ``as_json`` as one JSON
    object (:class:`Report`).

    The verdict on a name a static route covers is over the route's backends: the route that the
    LS's plan names, else the one ``routes`` gives (:func:`configured_routes`); without either,
    over every backend.

    Returns the exit status: :data:`DISAGREES` when the LS's answer is not the
    rule's, else 0 when the name resolves and 1 when it does not.

    When the LS would follow a CNAME to other backends, each link is asked in
    turn and shown the same way, and the verdict is for the merged reply. When
    the LS would pass on a truncated (TC) reply, the client asks again over TCP,
    and so does this. The LS is asked afterwards, like the client asks it (with
    retries, for at least the client's 7 s), so its timeout answer arrives and
    the backends' timings are not disturbed by its own queries.
    """
    report = Report(out, as_json, name, rdtype)
    plan = await show_plan(name, rdtype, status, timeout, report)   # first: asking the LS later teaches it the name
    if plan is not None and status is not None:
        routes = planned_routes(status, timeout, plan)
    query = dns.message.make_query(name, dns.rdatatype.from_text(rdtype))
    verdict = await explain_race(query, backends, timeout, report, False, routes, plan)
    if verdict.truncated:
        report.line("the client asks again over TCP, and the LS asks the backends over TCP:")
        verdict = await explain_race(query, backends, timeout, report, True, routes)
    agreed = True
    if server is not None:
        ls_timeout = max(timeout, ClientSettings.timeout)
        started = time.perf_counter()
        result = await Resolver(*server, ls_timeout, 1, rdtype).resolve(name)
        ms = (time.perf_counter() - started) * 1000
        report.ls(format_hostport(*server), result, ms, verdict, ls_timeout)
        agreed = agrees(result, verdict)
    report.close()
    if not agreed:
        return DISAGREES
    return 0 if verdict.resolved else 1


async def explain_race(query: dns.message.Message, backends: list[Backend], timeout: float, report: Report,
                       tcp: bool, routes: Routes | None = None, plan: dict[str, Any] | None = None) -> Verdict:
    """One race as the LS runs it, shown: the question (with ``plan``, the LS's plan for it, whether
    it hedges), then each CNAME target the LS follows, each judged over the backends of its route."""
    rdtype = query.question[0].rdtype
    verdict = await show_race(query, backends, timeout, report, tcp, routes, plan)
    chain = Chain(query.question[0].name, rdtype)
    aa = verdict.follows and verdict.best.authoritative     # the merged reply's AA is the first reply's
    while verdict.follows:
        if verdict.best.message is None or not chain.extend(verdict.best.message):
            verdict = Verdict(f"the chain loops, or is longer than {MAX_LINKS} CNAMEs: the LS answers SERVFAIL",
                              frozenset({"SERVFAIL"}))
            report.verdict(verdict)
            return verdict
        verdict = await show_race(dns.message.make_query(chain.target, rdtype), backends, timeout, report, tcp,
                                  routes)
        if verdict.truncated:
            return verdict          # the LS gives the client TC: it asks again over TCP
        if not verdict.follows or verdict.best.message is None or not chain.leaves_open(verdict.best.message):
            verdict = at_chain_end(verdict, chain, query, aa)
            report.verdict(verdict)
            return verdict
    return verdict


async def show_race(query: dns.message.Message, backends: list[Backend], timeout: float, report: Report,
                    tcp: bool = False, routes: Routes | None = None, plan: dict[str, Any] | None = None) -> Verdict:
    """Ask the backends one question, print their replies and the rule's verdict on those of the
    backends the LS may ask (``routes``), and with ``plan`` whether the LS would hedge."""
    question = query.question[0]
    rdtype = dns.rdatatype.to_text(question.rdtype)
    scope, unknown = Scope(), ""
    if routes is not None:
        try:
            scope = await routes(question.name)
        except (OSError, ValueError) as exc:
            unknown = f"; its route is unknown, the LS's plan cannot be read: {exc}"
    replies = await ask_backends(query, backends, timeout, tcp)
    judged = [r for r in replies if scope.asks(r.backend)]
    plural = "s" if len(backends) > 1 else ""
    heading = (f"{question.name.to_text(omit_final_dot=True)} {rdtype}, asked of {len(backends)} backend{plural} "
               f"at once" + (" over TCP" if tcp else "") + unknown)
    if scope.route is not None and not judged:
        heading += (f"; its route {scope.route} -> {', '.join(scope.targets)} names none of them (name them "
                    "as the LS does, NAME=ADDR:PORT), so all are judged")
        judged, scope = replies, Scope()
    elif len(judged) < len(replies):
        heading += f"; the LS asks only {', '.join(r.backend for r in judged)} (route {scope.route})"
    verdict = predict(judged, rdtype, timeout, routed=scope.route is not None)
    hedged = hedge_line(plan, judged) if plan is not None else None
    report.race(question, tcp, heading, replies, scope, hedged, verdict)
    return verdict
