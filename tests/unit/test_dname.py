"""DNAME answers in-process: the answers of a name below a DNAME packed on first use, spliced, and kept.

``tests/conformance/test_nsd_dname.py`` compares each shape with NSD; here the
TS's own shortcuts are checked against its general path: a name whose
synthesised target is outside the zone, missing or too long is answered from
the answers packed for the first name of its length (``compiled.Spliced``),
and must get the very bytes a TS that never saw that first name packs for it.
"""
from __future__ import annotations

import time
from pathlib import Path

import dns.edns
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)


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


def same_length(labels: list[str]) -> list[str]:
    """Other labels whose wire form is as long as that of ``labels``."""
    left = sum(len(label) + 1 for label in labels)
    other = []
    while left > 62:
        other.append("m" * 30)
        left -= 31
    return [*other, "n" * (left - 1)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=st.lists(LABEL, min_size=1, max_size=4), owner=st.sampled_from(["tree", "out", "long"]),
       rdtype=st.sampled_from(["A", "CNAME", "TXT"]), upper=st.booleans())
def test_a_spliced_answer_is_the_answer_packed_for_the_name(zone_file, labels, owner, rdtype, upper):
    """Asked after another name of its length below the same DNAME, a name gets the bytes a TS
    that packs its answers afresh gives it, in any letter case."""
    name = ".".join([*labels, owner]) + "." + ORIGIN
    first = ".".join([*same_length(labels), owner]) + "." + ORIGIN
    asked = name.upper() if upper else name
    server = make_ts(zone_file)
    reply(server, first, rdtype)
    assert reply(server, asked, rdtype) == reply(make_ts(zone_file), asked, rdtype)


def test_names_whose_targets_exist_are_answered_for_each_name(zone_file):
    """``a.tree`` leads to records and ``x.tree`` to none: answers of their own, not spliced."""
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
    """Names led to a wildcard are packed each on its own (their records have the name as owner);
    at most BELOW_DNAME_KEPT of them are kept, and each is still answered right."""
    server = make_ts(zone_file)
    zone = server.authority.zones[dns.name.from_text(ORIGIN).to_digestable()]
    for i in range(BELOW_DNAME_KEPT + 10):
        message = dns.message.from_wire(reply(server, f"h{i}.towc.{ORIGIN}"))
        assert message.answer[-1].to_text() == f"h{i}.wc.{ORIGIN} 300 IN A 192.0.2.3"
    assert 0 < len(zone._below_dnames) <= BELOW_DNAME_KEPT


def test_a_cycle_of_dnames_that_grows_ends_in_yxdomain_soon(tmp_path):
    """``gr1 DNAME x.gr2`` and ``gr2 DNAME gr1``: a.gr1, a.x.gr2, a.x.gr1, a.x.x.gr2 and on, a label
    more each turn, until a name would pass 255 octets (RFC 6672 2.2): over two hundred records,
    packed in time linear in their number, and written as NSD writes the names it synthesises
    (the labels it makes up in full), so that no compression pointer leads to another a hundred
    times over (dnspython, for one, reads at most 16 in a row)."""
    path = tmp_path / "grow.test.zone"
    path.write_text("$TTL 300\n@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n"
                    "gr1 IN DNAME x.gr2\ngr2 IN DNAME gr1\n")
    server = make_ts(path)
    query = dns.message.make_query("a.gr1.grow.test.", "A")
    started = time.perf_counter()
    wire = server.reply(query.to_wire(), stream=True)
    took = time.perf_counter() - started
    message = dns.message.from_wire(wire)
    assert message.rcode() == dns.rcode.YXDOMAIN and len(message.answer) > 200
    assert took < 1.0, f"{took:.2f} s"
