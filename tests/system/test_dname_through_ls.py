"""Names below a DNAME, through the LS: the TS synthesises the CNAME, the LS follows what is left open.

TS ``corp`` serves ``corp.example.`` with ``old DNAME new`` (a target in its own
zone, which the TS follows itself) and ``legacy DNAME lab.example.`` (a target
only TS ``lab`` has); the LS in front of both answers either name in one reply,
and the client writes its address.
"""
from __future__ import annotations

import subprocess
import sys

import dns.rcode
import dns.rdatatype

from support.servers import query
from support.zone_servers import small_zone as zone


def chain(reply) -> list[tuple[str, str]]:
    return [(rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype)) for rrset in reply.answer]


def test_a_name_below_a_dname_resolves_through_the_ls(start_server, tmp_path):
    corp = zone(tmp_path, "corp.example", "old DNAME new", "www.new A 192.0.2.80", "legacy DNAME lab.example.")
    lab = zone(tmp_path, "lab.example", "web A 198.51.100.80")
    ts1, ts2 = start_server("ts", "--zone", str(corp)), start_server("ts", "--zone", str(lab))
    ls = start_server("ls", "--backend", f"corp={ts1.hostport}", "--backend", f"lab={ts2.hostport}", "--timeout", "1")

    own = query(ts1, "WWW.Old.corp.example")          # the TS follows the DNAME inside its zone
    assert own.rcode() == dns.rcode.NOERROR
    assert chain(own) == [("Old.corp.example.", "DNAME"), ("WWW.Old.corp.example.", "CNAME"),
                          ("www.new.corp.example.", "A")]
    assert chain(query(ls, "WWW.Old.corp.example")) == chain(own)

    open_end = query(ts1, "web.legacy.corp.example")   # the target is another backend's
    assert open_end.rcode() == dns.rcode.NOERROR and chain(open_end)[-1] == ("web.legacy.corp.example.", "CNAME")
    through_ls = query(ls, "web.legacy.corp.example")
    assert through_ls.rcode() == dns.rcode.NOERROR
    assert chain(through_ls) == [*chain(open_end), ("web.lab.example.", "A")]
    assert through_ls.answer[-1][0].address == "198.51.100.80"

    hosts = tmp_path / "hosts.txt"
    hosts.write_text("web.legacy.corp.example\nwww.old.corp.example\nnothing.legacy.corp.example\n")
    out = tmp_path / "RESOLVED.txt"
    done = subprocess.run([sys.executable, "-m", "resolver", "client", "--server", ls.hostport, str(hosts),
                           "--out", str(out)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert out.read_text().splitlines() == ["web.legacy.corp.example 198.51.100.80 A",
                                            "www.old.corp.example 192.0.2.80 A",
                                            "nothing.legacy.corp.example - Error:HOST NOT FOUND"]


def test_a_yxdomain_below_a_dname_reaches_the_client_over_another_backends_refused(start_server, tmp_path):
    """RFC 6672 2.2: the name the DNAME maps to would pass 255 octets. The TS's YXDOMAIN (the DNAME
    in its answer, no CNAME) is the zone's last word, ranked with NXDOMAIN: it goes back, not
    dropped as a reply for another name and not beaten by the REFUSED of a backend without the zone."""
    long_target = ".".join(["a" * 60] * 4) + ".example."
    corp = zone(tmp_path, "corp.example", f"deep DNAME {long_target}")
    other = zone(tmp_path, "other.example", "www A 192.0.2.1")
    ts1, ts2 = start_server("ts", "--zone", str(corp)), start_server("ts", "--zone", str(other))
    ls = start_server("ls", "--backend", f"corp={ts1.hostport}", "--backend", f"other={ts2.hostport}",
                      "--timeout", "1")
    name = "b" * 60 + ".deep.corp.example"
    direct = query(ts1, name)
    assert direct.rcode() == dns.rcode.YXDOMAIN and chain(direct) == [("deep.corp.example.", "DNAME")]
    through_ls = query(ls, name)
    assert through_ls.rcode() == dns.rcode.YXDOMAIN and chain(through_ls) == chain(direct)
