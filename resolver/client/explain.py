"""``client --explain``: ask every backend what the LS would ask, and show which reply wins and why.

A client of the LS sees only the winner of each race. To debug split DNS an
operator needs every backend's own reply and timing, and the outcome the LS's
rule gives for them. So the question goes to every backend at the same moment,
once, over UDP, on one connected socket per backend, as the LS sends it (the
LS does not retry, so neither does this). The verdict uses the LS's own
ranking of negative replies, :func:`resolver.ls.rule.negative_rank`.
"""
from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass, field
from typing import TextIO

import dns.asyncbackend
import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from ..ls.rule import ALIAS, ANSWER, NAME_EXISTS, NODATA, REFERRAL, negative_rank, noerror_rank
from ..wire import WireError
from ..net.addresses import address_family, format_hostport
from .resolver import Resolution, Resolver, records_of
from .settings import ClientSettings
TIMEOUT_ANSWER = "NXDOMAIN (SERVFAIL with --on-timeout servfail)"


NOERROR_KINDS = {ALIAS: "CNAME", NODATA: "NODATA", REFERRAL: "referral"}     # a NOERROR that does not answer


@dataclass
class BackendReply:
    """One backend's reply to the question, or its silence.

    ``rank`` is the LS's own verdict on the reply (:mod:`resolver.ls.rule`):
    :data:`~resolver.ls.rule.ANSWER`, or how good a "no" it is; left out, it
    follows from the rcode (a NOERROR with records answers, one without is NODATA).
    """

    backend: str
    rcode: int | None = None        # None: no reply
    authoritative: bool = False
    answers: list[str] = field(default_factory=list)
    ms: float = 0.0
    unreachable: bool = False       # port closed: the LS marks it down and stops waiting for it
    rank: int | None = None

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
        if self.rcode is None:
            return "silent"
        kind = NOERROR_KINDS.get(self.rank) if self.rcode == dns.rcode.NOERROR else None
        return dns.rcode.to_text(self.rcode) + (f" ({kind})" if kind else "")


@dataclass
class Verdict:
    """What the LS's rule makes of the replies, and what the LS should therefore answer."""

    text: str
    rcodes: frozenset[str]          # an LS answer with one of these rcodes (and these records) agrees
    answers: list[str] = field(default_factory=list)
    resolved: bool = False


Backend = tuple[str, int] | tuple[str, int, str]      # (host, port) or (host, port, name), as ls --backend


def label(backend: Backend) -> str:
    """How a backend is shown: its name when it has one (as in the LS's logs and metrics), else its address."""
    return backend[2] if len(backend) == 3 else format_hostport(backend[0], backend[1])


async def ask_backends(query: dns.message.Message, backends: list[Backend], timeout: float) -> list[BackendReply]:
    """Send the query to every backend at once and wait up to ``timeout`` for each reply."""
    net = dns.asyncbackend.get_backend("asyncio")
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(
            await net.make_socket(address_family(host), socket.SOCK_DGRAM, 0, None, (host, port)))
            for host, port, *_ in backends]
        wire = query.to_wire()
        sent = time.time()
        for sock in sockets:
            await sock.sendto(wire, None, None)     # connected: the kernel drops datagrams from anyone else
        return list(await asyncio.gather(*(
            _await_reply(sock, label(backend), query, sent, sent + timeout)
            for sock, backend in zip(sockets, backends))))


async def _await_reply(sock: dns.asyncbackend.DatagramSocket, backend: str, query: dns.message.Message,
                       sent: float, expiration: float) -> BackendReply:
    try:
        # ignore_errors with the query: only a reply with its ID and question counts, as in the LS.
        reply, received, _ = await dns.asyncquery.receive_udp(sock, None, expiration, ignore_errors=True,
                                                              query=query)
    except dns.exception.Timeout:
        return BackendReply(backend)
    except ConnectionRefusedError:
        return BackendReply(backend, unreachable=True)
    return BackendReply(backend, reply.rcode(), bool(reply.flags & dns.flags.AA),
                        records_of(reply, query.question[0].rdtype), (received - sent) * 1000,
                        rank=rank_of(reply, query))


def rank_of(reply: dns.message.Message, query: dns.message.Message) -> int:
    """The LS's verdict on a reply (:mod:`resolver.ls.rule`), read from its wire form as the LS reads it."""
    if reply.rcode() != dns.rcode.NOERROR:
        return negative_rank(reply.rcode(), bool(reply.flags & dns.flags.AA))
    question = query.question[0]
    try:
        return noerror_rank(reply.to_wire(), 12 + len(question.name.to_wire()) + 4, question.rdtype)
    except WireError:
        return 0


def predict(replies: list[BackendReply], rdtype: str, timeout: float) -> Verdict:
    """The LS's rule applied to the replies: the first that answers, else the best "no", else its timeout."""
    replied = sorted((r for r in replies if r.rcode is not None), key=lambda r: r.ms)
    winner = next((r for r in replied if r.rank == ANSWER), None)
    if winner is not None:
        return Verdict(f"winner: {winner.backend}, the first reply that answers ({winner.ms:.2f} ms)",
                       frozenset({"NOERROR"}), winner.answers, resolved=True)
    return _lost(replies, replied, rdtype, timeout)


def _lost(replies: list[BackendReply], replied: list[BackendReply], rdtype: str, timeout: float) -> Verdict:
    """No answer: the best "no" at once (or after the NODATA grace), or whatever the LS gives at its timeout."""
    # max keeps the earliest of equals, as the LS keeps a later reply only when it ranks higher.
    best = max(replied, key=lambda r: r.rank, default=None)
    silent = [r.backend for r in replies if r.status == "silent"]
    timed_out = frozenset({"NXDOMAIN", "SERVFAIL"})
    if best is None and not silent:
        return Verdict(f"no backend is reachable: the LS marks them down and answers {TIMEOUT_ANSWER} at once",
                       timed_out)
    if best is None:
        return Verdict(f"no backend replied within {timeout:g} s: the LS answers {TIMEOUT_ANSWER} at its timeout",
                       timed_out)
    said = f"{best.status}{' (authoritative)' if best.authoritative else ''} from {best.backend}"
    if best.rank >= NAME_EXISTS:
        when = "at once" if not silent else f"after its --nodata-grace, while {', '.join(silent)} stayed silent"
        return Verdict(f"no answer: the best no is {said}, the name exists without {rdtype} records; "
                       f"the LS answers with it {when}", frozenset({"NOERROR"}))
    if not silent:
        who = "every reachable backend" if len(replied) < len(replies) else "all backends"
        return Verdict(f"no positive answer: {who} said no; the LS answers at once with the best negative, "
                       f"{said}", frozenset({dns.rcode.to_text(best.rcode)}))
    then = f"passes on the {said}" if best.status == "NXDOMAIN" else "answers NXDOMAIN"
    return Verdict(f"no positive answer within {timeout:g} s: {', '.join(silent)} stayed silent, so the LS "
                   f"waits until its timeout, then {then} (SERVFAIL with --on-timeout servfail)", timed_out)


def table(replies: list[BackendReply]) -> list[str]:
    """The replies as aligned rows under a header, in the order the backends were given."""
    rows = [("backend", "reply", "AA", "time", "answer")] + [
        (r.backend, r.status, "-" if r.rcode is None else ("yes" if r.authoritative else "no"),
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


DISAGREES = 3       # the exit status when the LS's answer is not the rule's


async def explain(name: str, rdtype: str, backends: list[Backend], timeout: float,
                  server: tuple[str, int] | None, out: TextIO) -> int:
    """Print each backend's reply, the verdict and, given ``server``, the LS's answer.

    Returns the exit status: :data:`DISAGREES` when the LS's answer is not the
    rule's, else 0 when the name resolves and 1 when it does not.

    The LS is asked afterwards, like the client asks it (with retries, for at
    least the client's 7 s), so its timeout answer arrives and the backends'
    timings are not disturbed by its own queries.
    """
    query = dns.message.make_query(name, dns.rdatatype.from_text(rdtype))
    replies = await ask_backends(query, backends, timeout)
    verdict = predict(replies, rdtype, timeout)
    plural = "s" if len(backends) > 1 else ""
    print(f"{name} {rdtype}, asked of {len(backends)} backend{plural} at once", file=out)
    for row in table(replies):
        print(row.rstrip(), file=out)
    print(verdict.text, file=out)
    if server is not None:
        ls_timeout = max(timeout, ClientSettings.timeout)
        started = time.perf_counter()
        result = await Resolver(*server, ls_timeout, 1, rdtype).resolve(name)
        ms = (time.perf_counter() - started) * 1000
        print(ls_line(format_hostport(*server), result, ms, verdict, ls_timeout), file=out)
        if not agrees(result, verdict):
            return DISAGREES
    return 0 if verdict.resolved else 1
