"""DNAME answers in-process: the answers of a name below a DNAME, packed on first use and kept.

``tests/conformance/test_nsd_dname.py`` compares each shape with NSD.
"""
from __future__ import annotations

from pathlib import Path

import dns.edns
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from resolver.ts.compiled import BELOW_DNAME_KEPT
from resolver.ts.server import AuthoritativeServer

from support.inprocess import make_ts

ORIGIN = "dn.test."
ZONE = f"""$ORIGIN {ORIGIN}
$TTL 300
@        IN SOA   ns1 hostmaster 1 7200 900 1209600 60
         IN NS    ns1
ns1      IN A     192.0.2.53
target   IN A     192.0.2.1
a.target IN A     192.0.2.2
*.wc     IN A     192.0.2.3
tree     IN DNAME target
out      IN DNAME elsewhere.example.
towc     IN DNAME wc
long     IN DNAME {".".join(["a" * 63] * 3 + ["b" * 50])}
"""


@pytest.fixture(scope="module")
def zone_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dname") / "dn.test.zone"
    path.write_text(ZONE)
    return path


def reply(server: AuthoritativeServer, name: str, rdtype: str = "A") -> bytes:
    query = dns.message.make_query(name, rdtype, use_edns=0)
    query.id = 1
    answer = server.reply(query.to_wire())
    assert answer is not None
    return answer


def test_names_whose_targets_exist_are_answered_for_each_name(zone_file):
    """``a.tree`` leads to records and ``x.tree`` to none."""
    server = make_ts(zone_file)
    missing, found = (dns.message.from_wire(reply(server, f"{label}.tree.{ORIGIN}")) for label in ("x", "a"))
    assert missing.rcode() == dns.rcode.NXDOMAIN and len(missing.answer) == 2
    assert found.rcode() == dns.rcode.NOERROR and found.answer[-1].to_text() == f"a.target.{ORIGIN} 300 IN A 192.0.2.2"


def test_a_target_too_long_is_yxdomain_with_an_extended_error(zone_file):
    message = dns.message.from_wire(reply(make_ts(zone_file), f"{'x' * 20}.long.{ORIGIN}"))
    assert message.rcode() == dns.rcode.YXDOMAIN and [r.rdtype for r in message.answer] == [dns.rdatatype.DNAME]
    assert [(o.code, o.text) for o in message.options if isinstance(o, dns.edns.EDEOption)] == [
        (dns.edns.EDECode.OTHER, "DNAME expansion became too large")]


def test_the_answers_kept_for_names_below_a_dname_are_bounded(zone_file):
    """Each name is packed on its own (the synthesised CNAME holds it); at most BELOW_DNAME_KEPT
    of them are kept, and each is still answered right."""
    server = make_ts(zone_file)
    zone = server.authority.zones[dns.name.from_text(ORIGIN).to_digestable()]
    for i in range(BELOW_DNAME_KEPT + 10):
        message = dns.message.from_wire(reply(server, f"h{i}.towc.{ORIGIN}"))
        assert message.answer[-1].to_text() == f"h{i}.wc.{ORIGIN} 300 IN A 192.0.2.3"
    assert 0 < len(zone._below_dnames) <= BELOW_DNAME_KEPT
