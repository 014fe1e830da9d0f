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
