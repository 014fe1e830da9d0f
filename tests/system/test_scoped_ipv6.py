"""A scoped IPv6 address (RFC 4007 11: ``[fe80::1%eth0]:PORT``) for ``--listen`` and ``--backend``:
the TS binds it with its interface's index, and the LS sends to a backend given so, here on
``[::1%lo]``, which glibc's own parsing refuses and only the index makes bindable."""
from __future__ import annotations

import socket

import dns.message
import dns.query
import dns.rcode
import pytest

from support.paths import ROOT
from resolver.net.addresses import parse_hostport, socket_address

TABLE = str(ROOT / "zones" / "ts1.txt")
LO = socket.if_nametoindex("lo")


def ask(port: int, name: str) -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, "A"), "::1", port=port, timeout=3.0)


def test_scoped_addresses_parse_with_their_interface():
    assert parse_hostport("[::1%lo]:5300") == ("::1%lo", 5300)
    assert parse_hostport(f"[fe80::1%{LO}]:53") == (f"fe80::1%{LO}", 53)
    assert socket_address("::1%lo", 5300) == ("::1", 5300, 0, LO)
    assert socket_address("127.0.0.1", 53) == ("127.0.0.1", 53)


@pytest.mark.parametrize("text,error", [("[::1%no-such-if]:53", "no network interface 'no-such-if' here"),
                                        ("[127.0.0.1%lo]:53", "not an IPv6 address before its %scope"),
                                        ("[::1%]:53", "no network interface '' here")])
def test_a_bad_scope_is_refused(text, error):
    with pytest.raises(ValueError, match=error):
        parse_hostport(text)


def test_ts_listens_and_ls_races_on_scoped_ipv6(start_server):
    ts = start_server("ts", "--table", TABLE, listen="[::1%lo]:0")
    assert ts.host == "::1%lo"
    assert ask(ts.port, "www.ibm.com").rcode() == dns.rcode.NOERROR
    ls = start_server("ls", "--backend", f"[::1%lo]:{ts.port}", listen="[::1%lo]:0")
    reply = ask(ls.port, "www.ibm.com")
    assert reply.rcode() == dns.rcode.NOERROR and reply.answer



def test_ls_asks_a_scoped_backend_over_tcp(start_server, tmp_path):
    """A TCP client's query goes to the backend over TCP: that connection is made to ``::1``
    with lo's index too, as glibc's getaddrinfo refuses ``::1%lo`` (no connection before)."""
    log = tmp_path / "queries.log"
    ts = start_server("ts", "--table", TABLE, "--query-log", str(log), listen="[::1%lo]:0")
    ls = start_server("ls", "--backend", f"[::1%lo]:{ts.port}", listen="[::1%lo]:0")
    reply = dns.query.tcp(dns.message.make_query("www.ibm.com", "A"), "::1", port=ls.port, timeout=3.0)
    assert reply.rcode() == dns.rcode.NOERROR and reply.answer
    ts.stop()
    asked = [line.split() for line in log.read_text().splitlines() if " www.ibm.com. " in line]
    assert [fields[-1] for fields in asked] == ["tcp"], asked
