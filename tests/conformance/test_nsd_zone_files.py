"""Zone files read as NSD reads them: the same files to NSD 4.6 and to the TS.

* ``test_ts_serves_what_nsd_reads``: every file of :data:`READ_BY_NSD` (``$ORIGIN``
  at the top, a first record below the apex, inherited and escaped owners,
  obsolete types, numbers first in the rdata, RRSIG times past 2106, LOC as NSD
  prints it, ``$INCLUDE`` and the owner a line starting blank takes after it, TTL units, no ``$TTL``, quotes and parentheses,
  generic rdata, DS, TLSA and ZONEMD digests of any length and reserved code points, DNSSEC records
  beside a CNAME, duplicates) is served by both;
  each name and type NSD read (``nsd-checkzone -p``) is asked of both and the
  replies compared field by field.
* ``test_ts_refuses_at_nsds_line``: every file of :data:`REFUSED_LIKE_NSD` is
  refused by ``nsd-checkzone`` and by the TS, both naming the same line.
* ``test_nsd_reads_what_the_ts_refuses_for_a_reason``: the files of :data:`REFUSED`
  marked ``nsd_reads`` (numbers too big for their field, bad ``\\DDD`` escapes, a ``\\#``
  length the data does not have, a ``(`` never closed, RRSIG times and ZONEMD digests
  the RFCs rule out) are loaded by ``nsd-checkzone``: the README says why the TS refuses them.
* A zone named apart from its file (``--zone example.test=db.example``) is read as NSD
  reads it when its config names the zone, and an SOA away from that name is refused
  by both at the same line.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Iterator

import dns.name
import dns.rdatatype
import dns.zone
import pytest

from resolver.ts.zones import ZoneError, load_zone_file  # registers the obsolete types with dnspython

from support.differential import Case, Variant, compare, exchange, mismatch_report
from support.nsd import Nsd
from support.servers import Server
from support.tools import require_tool
from support.zone_shapes import READ_BY_NSD, REFUSED, REFUSED_LIKE_NSD

EDNS0 = Variant("edns0")
# Questions these tests leave to the answer tests: what goes into them is not a matter of
# reading the file. RRSIG and NSEC asked at a name that holds a CNAME: NSD answers the
# record asked, the TS the CNAME (issue 12, "DNSSEC records are data, not names").
NOT_COMPARED = {("www.cnamesig.test.", "RRSIG"), ("www.cnamesig.test.", "NSEC")}
NSD_ERROR_LINE = re.compile(r"error: (\S+?):(\d+): ")


def nsd_reading(checkzone: str, path: Path, zone: str) -> dns.zone.Zone:
    """The zone as NSD read it: ``nsd-checkzone -p`` prints it back."""
    done = subprocess.run([checkzone, "-p", zone, str(path)], capture_output=True, text=True, cwd=path.parent,
                          check=True, timeout=30)
    return dns.zone.from_text(done.stdout, origin=zone + ".", relativize=False, check_origin=False)


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[tuple[Nsd, Server, dict[str, dns.zone.Zone]]]:
    """NSD and the TS, both serving every file of READ_BY_NSD; and each zone as NSD read it."""
    nsd_binary, checkzone = require_tool("nsd"), require_tool("nsd-checkzone")
    directory = tmp_path_factory.mktemp("shapes")
    paths = {shape.zone: shape.write(directory) for shape in READ_BY_NSD}
    readings = {zone: nsd_reading(checkzone, path, zone) for zone, path in paths.items()}
    nsd = Nsd(nsd_binary, directory, paths.values())
    nsd.start()
    try:
        ts = Server(["ts", "--listen", "127.0.0.1:0", *(arg for path in paths.values() for arg in ("--zone", str(path)))])
        try:
            yield nsd, ts, readings
        finally:
            ts.stop()
    finally:
        nsd.stop()


@pytest.mark.parametrize("shape", READ_BY_NSD, ids=lambda s: s.id)
def test_ts_serves_what_nsd_reads(servers, shape):
    nsd, ts, readings = servers
    questions = sorted({(name.to_text(), dns.rdatatype.to_text(rds.rdtype))
                        for name, node in readings[shape.zone].nodes.items() for rds in node} - NOT_COMPARED)
    assert questions, "NSD read no records"
    failures = []
    for name, rdtype in questions:
        case = Case(name, rdtype, EDNS0)
        wire = case.wire()
        reference, ours = exchange(wire, nsd.address), exchange(wire, (ts.host, ts.port))
        diffs = compare(reference, ours)
        if diffs:
            failures.append(mismatch_report(case, diffs, "nsd", reference, "ts", ours))
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("shape", REFUSED_LIKE_NSD, ids=lambda s: s.id)
def test_ts_refuses_at_nsds_line(tmp_path, shape):
    checkzone = require_tool("nsd-checkzone")
    path = shape.write(tmp_path)
    done = subprocess.run([checkzone, shape.zone, path.name], capture_output=True, text=True, cwd=tmp_path, timeout=30)
    assert done.returncode != 0, f"NSD reads {shape.id}: {done.stderr}"
    nsd_file, nsd_line = NSD_ERROR_LINE.search(done.stderr).groups()
    with pytest.raises(ZoneError) as refused:
        load_zone_file(path)
    assert f"{nsd_file}:{nsd_line}: " in str(refused.value).replace(f"{tmp_path}/", ""), (done.stderr, refused.value)
    assert int(nsd_line) == shape.line


@pytest.mark.parametrize("shape", [shape for shape in REFUSED if shape.nsd_reads], ids=lambda s: s.id)
def test_nsd_reads_what_the_ts_refuses_for_a_reason(tmp_path, shape):
    checkzone = require_tool("nsd-checkzone")
    path = shape.write(tmp_path)
    done = subprocess.run([checkzone, shape.zone, path.name], capture_output=True, text=True, cwd=tmp_path, timeout=30)
    assert done.returncode == 0, f"NSD refuses {shape.id} too: {done.stderr}"


# A BIND-style file: no $ORIGIN, names relative to the zone its config names.
DB_EXAMPLE = """$TTL 300
@ IN SOA ns1 hostmaster 1 7200 900 1209600 300
  IN NS ns1
ns1 IN A 192.0.2.53
www IN A 192.0.2.1
mail IN MX 10 www
sub.www IN TXT "below"
"""


def _names_and_types(data) -> set[tuple[str, str]]:
    """What the TS read: each name with each of its types."""
    held = {(name.to_text(), dns.rdatatype.to_text(rds.rdtype)) for name, node in data.zone.nodes.items() for rds in node}
    return held | {(dns.name.from_wire(key, 0)[0].to_text(), dns.rdatatype.to_text(rdtype))
                   for key, records in data.addresses.items() for rdtype, _, _ in records}


def test_a_zone_named_apart_from_its_file_is_read_as_nsd_reads_it(tmp_path):
    """``--zone example.test=db.example`` reads the file as NSD reads it when its config names the zone."""
    checkzone = require_tool("nsd-checkzone")
    path = tmp_path / "db.example"
    path.write_text(DB_EXAMPLE)
    nsd = nsd_reading(checkzone, path, "example.test")
    expected = {(name.to_text(), dns.rdatatype.to_text(rds.rdtype)) for name, node in nsd.nodes.items() for rds in node}
    assert _names_and_types(load_zone_file(path, dns.name.from_text("example.test"))) == expected
    assert ("sub.www.example.test.", "TXT") in expected


def test_an_soa_away_from_the_zones_name_is_refused_at_nsds_line(tmp_path):
    checkzone = require_tool("nsd-checkzone")
    path = tmp_path / "db.example"
    path.write_text(DB_EXAMPLE.replace("@ IN SOA", "www IN SOA"))
    done = subprocess.run([checkzone, "example.test", path.name], capture_output=True, text=True, cwd=tmp_path,
                          timeout=30)
    assert done.returncode != 0
    nsd_line = NSD_ERROR_LINE.search(done.stderr)[2]
    with pytest.raises(ZoneError, match=rf"db.example:{nsd_line}: the SOA is at www.example.test., but the zone is "
                                        "named example.test."):
        load_zone_file(path, dns.name.from_text("example.test"))
