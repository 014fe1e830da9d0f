"""AA on the LS's replies: a backend's reply passed on keeps the backend's AA; an answer from the
answer cache has it clear, cached data not being authoritative (RFC 1035 6.2, RFC 2181 5.4.1), as
CoreDNS's cache, Unbound and dnsmasq clear it."""
from __future__ import annotations

import dns.flags
import dns.rcode
import pytest

from support.servers import query, scrape, value

CORP = ("$TTL 300\n@ SOA ns hostmaster 1 7200 900 1209600 60\n@ NS ns\nns A 192.0.2.53\n"
        "www A 192.0.2.80\nalias CNAME web.lab.example.\n")
LAB = "$TTL 300\n@ SOA ns hostmaster 1 7200 900 1209600 60\n@ NS ns\nns A 192.0.2.54\nweb A 192.0.2.81\n"
HITS = "resolver_ls_cache_hits_total"
# (name, type, rcode): an answer, NXDOMAIN, NODATA, and a CNAME the LS follows from corp to lab.
CASES = [("www.corp.example", "A", dns.rcode.NOERROR), ("nope.corp.example", "A", dns.rcode.NXDOMAIN),
         ("www.corp.example", "AAAA", dns.rcode.NOERROR), ("alias.corp.example", "A", dns.rcode.NOERROR)]


@pytest.fixture
def backends(start_server, tmp_path) -> list[str]:
    corp, lab = tmp_path / "corp.example.zone", tmp_path / "lab.example.zone"
    corp.write_text(CORP)
    lab.write_text(LAB)
    return [f"corp={start_server('ts', '--zone', str(corp)).hostport}",
            f"lab={start_server('ts', '--zone', str(lab)).hostport}"]


def aa(reply) -> bool:
    return bool(reply.flags & dns.flags.AA)


@pytest.mark.parametrize("name,rdtype,rcode", CASES, ids=["answer", "nxdomain", "nodata", "chain"])
def test_the_first_reply_keeps_the_backends_aa_and_a_cache_hit_has_it_clear(start_server, backends,
                                                                             name, rdtype, rcode):
    ls = start_server("ls", *(arg for b in backends for arg in ("--backend", b)), "--metrics", "127.0.0.1:0")
    first = query(ls, name, rdtype)
    assert first.rcode() == rcode and aa(first)                 # passed on from a TS, as it sent it
    assert value(scrape(ls), HITS) == 0
    again = query(ls, name, rdtype)
    assert value(scrape(ls), HITS) == 1                         # from the cache
    assert again.rcode() == rcode and again.answer == first.answer and not aa(again)
    assert again.flags & dns.flags.RA


@pytest.mark.parametrize("name,rdtype,rcode", CASES, ids=["answer", "nxdomain", "nodata", "chain"])
def test_without_the_cache_every_reply_keeps_the_backends_aa(start_server, backends, name, rdtype, rcode):
    ls = start_server("ls", *(arg for b in backends for arg in ("--backend", b)), "--cache-size", "0")
    for _ in range(2):
        reply = query(ls, name, rdtype)
        assert reply.rcode() == rcode and aa(reply)
