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


# --------------------------------------------------------------------------- naming a zone: --zone NAME=FILE

# A BIND-style file: no $ORIGIN, names relative to an origin its config gives; its file name is not its zone.
BIND_STYLE = "$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 900 1209600 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\nwww IN A 192.0.2.1\n"


def test_a_zone_named_on_the_command_line_is_served_under_that_name(start_server, tmp_path):
    path = tmp_path / "db.example"
    path.write_text(BIND_STYLE)
    ts = start_server("ts", "--zone", f"example.test={path}")
    assert [rd.address for rrset in query(ts, "www.example.test").answer for rd in rrset] == ["192.0.2.1"]
    ts.wait_for_line("serving zone example.test. (")


def test_a_path_that_holds_an_equals_sign_is_given_after_one(start_server, tmp_path):
    (tmp_path / "v=1").mkdir()
    path = tmp_path / "v=1" / "example.test.zone"
    path.write_text(BIND_STYLE)
    ts = start_server("ts", "--zone", f"={path}", "--zone", f"other.test={path}")
    assert query(ts, "www.example.test").answer and query(ts, "www.other.test").answer


def test_a_zone_named_in_the_config_file_as_a_table_or_a_string(start_server, tmp_path):
    (tmp_path / "db.example").write_text(BIND_STYLE)
    (tmp_path / "db.other").write_text(BIND_STYLE)
    config = tmp_path / "ts.toml"
    config.write_text('listen = "127.0.0.1:0"\n'
                      'zone = [{ name = "example.test", file = "db.example" }, "other.test=db.other"]\n')
    ts = start_server("ts", "--config", str(config))
    assert query(ts, "www.example.test").answer and query(ts, "www.other.test").answer


@pytest.mark.parametrize("argument,message", [
    ("bad..name={path}", "is not a domain name"),
    ("example.test=", "no FILE after the zone's name"),
    ("{equals}", "reads as NAME=FILE, and there is no file"),     # the file 'a=b.zone' itself
])
def test_a_zone_argument_that_cannot_be_read_is_one_line_and_exit_2(tmp_path, argument, message):
    path = tmp_path / "db.example"
    path.write_text(BIND_STYLE)
    equals = tmp_path / "a=b.zone"
    equals.write_text(BIND_STYLE)
    done = subprocess.run([sys.executable, "-m", "resolver", "ts", "--listen", "127.0.0.1:0", "--zone",
                           argument.format(path=path, equals=equals)], capture_output=True, text=True, timeout=30)
    lines = done.stderr.splitlines()
    assert done.returncode == 2 and len(lines) == 1 and message in lines[0], done.stderr


def test_an_soa_away_from_the_zones_name_is_one_line_and_exit_1(tmp_path):
    path = tmp_path / "db.example"
    path.write_text(BIND_STYLE.replace("@ IN SOA", "sub IN SOA"))
    done = subprocess.run([sys.executable, "-m", "resolver", "ts", "--listen", "127.0.0.1:0", "--zone",
                           f"example.test={path}"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and done.stderr == (
        f"resolver ts: error: {path}:2: the SOA is at sub.example.test., but the zone is named example.test.: "
        "a zone's SOA is at its apex\n")
