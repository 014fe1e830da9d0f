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
    return {rdata.address for rrset in reply.answer
            if rrset.rdtype == dns.rdatatype.A and rrset.name.to_text().rstrip(".").lower() == name.lower()
            for rdata in rrset}


def positive(reply: dns.message.Message | None, name: str, rdtype: str) -> bool:
    return (reply is not None and reply.rcode() == dns.rcode.NOERROR
            and any(rrset.rdtype == dns.rdatatype.from_text(rdtype) for rrset in reply.answer))


@dataclass
class Check:
    """How many sampled answers were right, and a few of the wrong ones, word for word."""
    correct: int = 0
    total: int = 0
    wrong: list[str] = field(default_factory=list)

    @property
    def percent(self) -> float:
        return 100.0 * self.correct / self.total if self.total else 0.0

    def cell(self) -> str:
        return f"{self.correct}/{self.total} ({self.percent:.1f}%)"

    def add(self, other: Check) -> None:
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
        reply = ask(port, name) or ask(port, name, timeout=2.0)
        address = expected_address(name)
        want = address if address is not None and holds(name) else None
        if reply is None:
            verdict = "no answer"
        elif want is None:
            verdict = "" if reply.rcode() == dns.rcode.NXDOMAIN else \
                f"{dns.rcode.to_text(reply.rcode())} {sorted(a_addresses(reply, name))}, want NXDOMAIN"
        else:
            got = a_addresses(reply, name)
            verdict = "" if reply.rcode() == dns.rcode.NOERROR and got == {want} else \
                f"{dns.rcode.to_text(reply.rcode())} {sorted(got)}, want NOERROR [{want}]"
        check.total += 1
        if verdict:
            if len(check.wrong) < 3:
                check.wrong.append(f"{name}: {verdict}")
        else:
            check.correct += 1
    return check
