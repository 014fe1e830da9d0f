"""Zone files and tables through the real ``ts`` command.

A broken zone file of each kind ends the command with one line on stderr that
names file and line, exit 1, never a traceback (every shape is checked in
process by ``tests/unit/test_zones.py``; these run the real command). Several
tables merge into one root zone: each name keeps every address, and the
logged and exported name counts count each name once.
"""
from __future__ import annotations

import subprocess
import sys

import pytest
from test_metrics import scrape, value      # the Prometheus scraping of the metrics tests

from support.servers import query
from support.zone_shapes import REFUSED, REFUSED_LIKE_NSD, Shape

# One shape of each kind: dnspython's own error, one it words with token numbers (said in plain words),
# a bad escape, an error of the reader, one of the checks, one found after the file ends, and one in an
# included file.
KINDS = ["loc_altitude_too_high", "extra_rdata", "escape_of_two_digits_in_a_string", "include_loop",
         "cname_then_address", "no_soa", "outside_in_include"]
SHAPES = [shape for shape in REFUSED_LIKE_NSD + REFUSED if shape.id in KINDS]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.id)
def test_a_broken_zone_file_is_one_line_and_exit_1(tmp_path, shape: Shape):
    path = shape.write(tmp_path)
    done = subprocess.run([sys.executable, "-m", "resolver", "ts", "--listen", "127.0.0.1:0", "--zone", str(path)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    file = tmp_path / next(iter(shape.includes), shape.file_name)
    where = f"{file}:{shape.line}: " if shape.line else f"{file}: "
    assert lines[0].startswith(f"resolver ts: error: {where}") and shape.message in lines[0], lines[0]


def test_two_tables_merge_and_each_name_counts_once(start_server, tmp_path):
    one, two = tmp_path / "one.txt", tmp_path / "two.txt"
    one.write_text("www.example.org 192.0.2.1 A\nonly.one.example 192.0.2.10 A\n")
    two.write_text("WWW.Example.ORG 192.0.2.2 A\nonly.two.example 192.0.2.20 A\n")
    ts = start_server("ts", "--table", str(one), "--table", str(two), "--metrics", "127.0.0.1:0")
    addresses = sorted(rd.address for rrset in query(ts, "www.example.org").answer for rd in rrset)
    assert addresses == ["192.0.2.1", "192.0.2.2"]
    assert query(ts, "only.one.example").answer and query(ts, "only.two.example").answer
    names = 1 + 3       # the root zone's apex, and three names
    ts.wait_for_line(f"serving zone . ({names} names)")
    assert value(scrape(ts), "resolver_ts_zone_names", zone=".") == names
