"""Swapping one zone of an Authority (a secondary zone's new copy, or its expiry) without compiling the others."""
from __future__ import annotations

from pathlib import Path

import dns.edns
import dns.message
import dns.name
import dns.rcode
import pytest

from resolver.ts.server import AuthoritativeServer
from resolver.ts.zones import load_zone_file

from support.inprocess import make_ts
from support.paths import ZONES

CORP = dns.name.from_text("corp.example.")


def ask(server: AuthoritativeServer, name: str, rdtype: str = "A") -> dns.message.Message:
    reply = server.reply(dns.message.make_query(name, rdtype, use_edns=0).to_wire())
    assert reply is not None
    return dns.message.from_wire(reply)


def addresses(reply: dns.message.Message) -> list[str]:
    return sorted(rd.address for rrset in reply.answer if rrset.rdtype == 1 for rd in rrset)


def changed_corp(tmp_path: Path) -> Path:
    """corp.example with a new serial, ``ns1`` moved and a new name."""
    path = tmp_path / "corp.example.zone"
    text = (ZONES / "corp.example.zone").read_text().replace("2026113001", "2026113002")
    path.write_text(text.replace("192.0.2.53", "192.0.2.54") + "new       IN A     198.51.100.7\n")
    return path


@pytest.fixture
def server() -> AuthoritativeServer:
    return make_ts(ZONES / "lab.example.zone", ZONES / "corp.example.zone")


def test_replacing_compiles_only_that_zone(server: AuthoritativeServer, tmp_path: Path) -> None:
    old = server.authority
    server.authority = old.replacing(load_zone_file(changed_corp(tmp_path), CORP))
    assert addresses(ask(server, "ns1.corp.example.")) == ["192.0.2.54"]
    assert addresses(ask(server, "new.corp.example.")) == ["198.51.100.7"]
    assert ask(server, "nothing.corp.example.").rcode() == dns.rcode.NXDOMAIN
    # The other zone's answers are the very objects compiled before, and still answer as before.
    key = b"\x03web\x03lab\x07example\x00"
    assert server.authority.by_name[key] is old.by_name[key]
    assert addresses(ask(server, "web.lab.example.")) == ["192.0.2.80", "192.0.2.81"]
    assert ask(server, "missing.lab.example.").rcode() == dns.rcode.NXDOMAIN
    assert ask(server, "x.wild.lab.example.", "TXT").answer
    assert server.authority.soa(CORP).serial == 2026113002
    # The old Authority is left as it was: a server still holding it answers the old data.
    assert old.soa(CORP).serial == 2026113001
    server.authority = old
    assert addresses(ask(server, "ns1.corp.example.")) == ["192.0.2.53"]


def test_without_answers_servfail_not_ready(server: AuthoritativeServer) -> None:
    server.authority = server.authority.without(CORP)
    reply = ask(server, "ns1.corp.example.")
    assert reply.rcode() == dns.rcode.SERVFAIL and not reply.answer
    assert [(option.otype, option.code) for option in reply.options] == [(dns.edns.EDE, dns.edns.EDECode.NOT_READY)]
    assert server.authority.soa(CORP) is None
    assert addresses(ask(server, "web.lab.example.")) == ["192.0.2.80", "192.0.2.81"]


def test_nested_zones_are_not_swapped(server: AuthoritativeServer) -> None:
    below = dns.name.from_text("sub.lab.example.")
    assert server.authority.nests(below) and not server.authority.nests(CORP)
    with pytest.raises(ValueError):
        server.authority.without(below)
