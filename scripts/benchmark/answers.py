"""Asking one name over UDP with dnspython, and checking the answers against the workload's arithmetic."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from .common import HOST
from .workload import expected_address


def ask(port: int, name: str, rdtype: str = "A", timeout: float = 1.0) -> dns.message.Message | None:
    """One UDP query; None when nothing (or garbage) came back in time."""
    query = dns.message.make_query(name, dns.rdatatype.from_text(rdtype))
    try:
        return dns.query.udp(query, HOST, port=port, timeout=timeout)
    except (dns.exception.DNSException, OSError):
        return None


def a_addresses(reply: dns.message.Message, name: str) -> set[str]:
    """The addresses of the A records for ``name`` (any case, with or without the final dot) in the answer section."""
    return {rdata.address for rrset in reply.answer
            if rrset.rdtype == dns.rdatatype.A and rrset.name.to_text().rstrip(".").lower() == name.lower()
            for rdata in rrset}


def positive(reply: dns.message.Message | None, name: str, rdtype: str) -> bool:
    """Whether ``reply`` is NOERROR with a record of type ``rdtype`` in its answer (readiness, not correctness)."""
    return (reply is not None and reply.rcode() == dns.rcode.NOERROR
            and any(rrset.rdtype == dns.rdatatype.from_text(rdtype) for rrset in reply.answer))


def judge(name: str, reply: dns.message.Message | None, holds: Callable[[str], bool]) -> str:
    """What is wrong with ``reply`` to ``name``'s A query, or "" when it is right.

    Right is: for a hit name that the target ``holds``, NOERROR with exactly
    the address computed from its number; for any other name, NXDOMAIN.
    """
    address = expected_address(name)
    want = address if address is not None and holds(name) else None
    if reply is None:
        return "no answer"
    rcode = dns.rcode.to_text(reply.rcode())
    got = a_addresses(reply, name)
    if want is None:
        return "" if reply.rcode() == dns.rcode.NXDOMAIN else f"{rcode} {sorted(got)}, want NXDOMAIN"
    if reply.rcode() == dns.rcode.NOERROR and got == {want}:
        return ""
    return f"{rcode} {sorted(got)}, want NOERROR [{want}]"


@dataclass
class Check:
    """How many sampled answers were right, and a few of the wrong ones, word for word."""
    correct: int = 0
    total: int = 0
    wrong: list[str] = field(default_factory=list)

    @property
    def percent(self) -> float:
        """The share right, 0 to 100 (0 when nothing was checked)."""
        return 100.0 * self.correct / self.total if self.total else 0.0

    def cell(self) -> str:
        """``right/total (percent%)``, as a table cell."""
        return f"{self.correct}/{self.total} ({self.percent:.1f}%)"

    def record(self, name: str, verdict: str) -> None:
        """Count one answer: right when ``verdict`` is empty, else wrong (the first three are kept)."""
        self.total += 1
        if verdict:
            if len(self.wrong) < 3:
                self.wrong.append(f"{name}: {verdict}")
        else:
            self.correct += 1

    def add(self, other: Check) -> None:
        """Fold in a later check of the same target."""
        self.correct += other.correct
        self.total += other.total
        self.wrong = (self.wrong + other.wrong)[:3]


def check_sample(port: int, names: Sequence[str], holds: Callable[[str], bool]) -> Check:
    """Each name in turn: a name the target holds must get NOERROR with exactly its address, others NXDOMAIN.

    One query in flight at a time, with two tries, so that a wrong answer is a
    wrong answer and not a dropped datagram under load.
    """
    check = Check()
    for name in names:
        check.record(name, judge(name, ask(port, name) or ask(port, name, timeout=2.0), holds))
    return check
