"""The assignment scenario end to end: two table TS, the LS in front, the client.

Everything runs as real processes on loopback: ``python -m resolver ts`` twice,
``python -m resolver ls`` in front of them, and ``python -m resolver client`` on
a hostname file, whose RESOLVED file is compared line by line.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from support.paths import ROOT, ZONES
from support.ports import free_port
from support.servers import Server, query

TS1_TABLE = """\
# TS1: comments and blank lines are not names

www.ibm.com 129.42.38.10 A
WWW.Rutgers.EDU 128.6.46.111 A
multi.example.org 192.0.2.101 A
multi.example.org 192.0.2.102 A
"""

# two.example.net lists its addresses in descending order, so an answer that
# sorts them instead of keeping table order shows up.
TS2_TABLE = """\
www.google.com 8.8.8.8 A
Cs.Rutgers.Edu 128.6.4.2 A
two.example.net 198.51.100.20 A
two.example.net 198.51.100.10 A
"""

HOSTNAMES = """\
# hits on TS1, hits on TS2, misses, mixed letter case, two addresses
www.ibm.com
www.rutgers.edu

WWW.GOOGLE.COM
cs.RUTGERS.edu
multi.example.org
two.example.net
www.amazon.com
nosuch.example.net
WwW.IbM.CoM
"""

EXPECTED = [
    "www.ibm.com 129.42.38.10 A",
    "www.rutgers.edu 128.6.46.111 A",
    "WWW.GOOGLE.COM 8.8.8.8 A",
    "cs.RUTGERS.edu 128.6.4.2 A",
    "multi.example.org 192.0.2.101 A",
    "multi.example.org 192.0.2.102 A",
    "two.example.net 198.51.100.20 A",
    "two.example.net 198.51.100.10 A",
    "www.amazon.com - Error:HOST NOT FOUND",
    "nosuch.example.net - Error:HOST NOT FOUND",
    "WwW.IbM.CoM 129.42.38.10 A",
]


@pytest.fixture
def tables(tmp_path: Path) -> tuple[Path, Path, Path]:
    ts1 = tmp_path / "ts1.txt"
    ts2 = tmp_path / "ts2.txt"
    hosts = tmp_path / "hostnames.txt"
    ts1.write_text(TS1_TABLE)
    ts2.write_text(TS2_TABLE)
    hosts.write_text(HOSTNAMES)
    return ts1, ts2, hosts


def run_client(server: str, hostfile: Path, out: Path, *extra: str, timeout: float = 30.0
               ) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "resolver", "client", "--server", server, str(hostfile), "--out", str(out), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )


def resolved_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def raw_question(wire: bytes) -> bytes:
    """The question section of an uncompressed single-question message: qname + type + class."""
    end = wire.index(b"\x00", 12) + 1 + 4
    return wire[12:end]


def exchange_raw(server: Server, q: dns.message.Message, timeout: float = 5.0) -> tuple[bytes, float]:
    """Send one query over UDP; the reply's raw bytes and the round-trip time."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        wire = q.to_wire()
        start = time.monotonic()
        sock.sendto(wire, (server.host, server.port))
        while True:
            data, peer = sock.recvfrom(65535)
            if peer == (server.host, server.port):
                return data, time.monotonic() - start


def timed_query(server: Server, name: str, rdtype: str = "A", timeout: float = 5.0) -> tuple[dns.message.Message, float]:
    q = dns.message.make_query(name, dns.rdatatype.from_text(rdtype))
    start = time.monotonic()
    r = dns.query.udp(q, server.host, port=server.port, timeout=timeout)
    return r, time.monotonic() - start


def a_addresses(response: dns.message.Message) -> list[str]:
    return [rd.address for rrset in response.answer if rrset.rdtype == dns.rdatatype.A for rd in rrset]


# --- the scenario, normal mode ----------------------------------------------------------------


def test_client_through_ls_writes_exact_resolved_lines(start_server, tables, tmp_path):
    ts1_table, ts2_table, hosts = tables
    ts1 = start_server("ts", "--table", str(ts1_table))
    ts2 = start_server("ts", "--table", str(ts2_table))
    ls = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport)
    out = tmp_path / "RESOLVED.txt"

    result = run_client(ls.hostport, hosts, out)

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert resolved_lines(out) == EXPECTED


def test_demo_tables_and_hostnames_resolve_through_ls(demo_backends, start_server, tmp_path):
    ts1, ts2 = demo_backends
    ls = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport)
    out = tmp_path / "RESOLVED.txt"

    result = run_client(ls.hostport, ZONES / "hostnames.txt", out)

    assert result.returncode == 0, result.stderr
    assert resolved_lines(out) == [
        "www.ibm.com 129.42.38.10 A",
        "WWW.RUTGERS.EDU 128.6.46.111 A",
        "multi.example.org 192.0.2.101 A",
        "multi.example.org 192.0.2.102 A",
        "www.google.com 8.8.8.8 A",
        "www.princeton.edu 128.112.132.86 A",
        "Cs.Rutgers.Edu 128.6.4.2 A",
        "www.amazon.com - Error:HOST NOT FOUND",
        "nosuch.example.net - Error:HOST NOT FOUND",
        "api.example.net 198.51.100.7 A",
    ]


def test_client_directly_against_each_ts_sees_only_its_names(start_server, tables, tmp_path):
    ts1_table, ts2_table, hosts = tables
    ts1 = start_server("ts", "--table", str(ts1_table))
    ts2 = start_server("ts", "--table", str(ts2_table))
    hosts.write_text("WWW.IBM.COM\nwww.google.com\nmulti.example.org\n")

    r1 = run_client(ts1.hostport, hosts, tmp_path / "r1.txt")
    r2 = run_client(ts2.hostport, hosts, tmp_path / "r2.txt")

    assert r1.returncode == 0, r1.stderr
    assert r2.returncode == 0, r2.stderr
    assert resolved_lines(tmp_path / "r1.txt") == [
        "WWW.IBM.COM 129.42.38.10 A",
        "www.google.com - Error:HOST NOT FOUND",
        "multi.example.org 192.0.2.101 A",
        "multi.example.org 192.0.2.102 A",
    ]
    assert resolved_lines(tmp_path / "r2.txt") == [
        "WWW.IBM.COM - Error:HOST NOT FOUND",
        "www.google.com 8.8.8.8 A",
        "multi.example.org - Error:HOST NOT FOUND",
    ]


def test_miss_with_both_ts_nxdomain_answers_at_once_despite_5s_timeout(start_server, tables):
    ts1_table, ts2_table, _ = tables
    ts1 = start_server("ts", "--table", str(ts1_table))
    ts2 = start_server("ts", "--table", str(ts2_table))
    ls = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport, "--timeout", "5")

    r, elapsed = timed_query(ls, "www.amazon.com", timeout=10)

    assert r.rcode() == dns.rcode.NXDOMAIN
    assert elapsed < 1.0, f"NXDOMAIN took {elapsed:.2f} s: the LS waited for its timeout"
    # The best negative is the authoritative NXDOMAIN, SOA included.
    assert any(rrset.rdtype == dns.rdatatype.SOA for rrset in r.authority), r.to_text()


def test_hit_through_ls_keeps_id_and_question_bytes(demo_backends, start_server):
    ts1, ts2 = demo_backends
    ls = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport)
    q = dns.message.make_query("WwW.GoOgLe.CoM", dns.rdatatype.A)

    wire, _ = exchange_raw(ls, q)

    r = dns.message.from_wire(wire)
    assert r.id == q.id
    assert r.rcode() == dns.rcode.NOERROR
    assert raw_question(wire) == raw_question(q.to_wire())
    assert a_addresses(r) == ["8.8.8.8"]


# --- --silent-miss: the assignment's original behaviour ---------------------------------------


@pytest.fixture
def silent_setup(start_server, tables):
    ts1_table, ts2_table, hosts = tables
    ts1 = start_server("ts", "--table", str(ts1_table), "--silent-miss")
    ts2 = start_server("ts", "--table", str(ts2_table), "--silent-miss")
    return ts1, ts2, hosts


def test_silent_miss_client_lines_misses_not_found(silent_setup, start_server, tmp_path):
    ts1, ts2, hosts = silent_setup
    ls = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport, "--timeout", "0.5")
    out = tmp_path / "RESOLVED.txt"

    result = run_client(ls.hostport, hosts, out)

    assert result.returncode == 0, result.stderr
    assert resolved_lines(out) == EXPECTED


def test_silent_miss_ts_sends_nothing_for_a_miss(silent_setup):
    ts1, _, _ = silent_setup
    with pytest.raises(dns.exception.Timeout):
        query(ts1, "www.google.com", timeout=0.5)        # TS2's name: TS1 stays silent
    assert a_addresses(query(ts1, "www.ibm.com")) == ["129.42.38.10"]


def test_silent_miss_ts_answers_nodata_for_a_name_it_holds_with_other_types(silent_setup):
    ts1, _, _ = silent_setup
    r = query(ts1, "www.ibm.com", "AAAA", timeout=2)
    assert r.rcode() == dns.rcode.NOERROR and not r.answer and r.flags & dns.flags.AA
    assert [rrset.rdtype for rrset in r.authority] == [dns.rdatatype.SOA]


def test_through_the_ls_a_silent_miss_nodata_comes_back_after_the_grace_not_the_timeout(silent_setup,
                                                                                      start_server):
    ts1, ts2, _ = silent_setup
    ls = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport, "--timeout", "5")
    r, elapsed = timed_query(ls, "www.ibm.com", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer       # the NODATA of the TS that has the name
    assert elapsed < 1.0, f"NODATA took {elapsed:.3f} s with the other TS silent and a 5 s LS timeout"


def own_reply(ls, name: str) -> tuple[dns.message.Message, float]:
    """The LS's reply to one A query, checked to carry the query's ID and question bytes."""
    q = dns.message.make_query(name, dns.rdatatype.A)
    wire, elapsed = exchange_raw(ls, q)
    assert raw_question(wire) == raw_question(q.to_wire())
    r = dns.message.from_wire(wire)
    assert r.id == q.id
    return r, elapsed


def test_silent_miss_hits_stay_fast_misses_wait_for_ls_timeout(silent_setup, start_server):
    ts1, ts2, _ = silent_setup
    ls = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport, "--timeout", "0.5")

    for name, address in [("www.ibm.com", "129.42.38.10"), ("CS.rutgers.edu", "128.6.4.2")]:
        r, elapsed = timed_query(ls, name)
        assert r.rcode() == dns.rcode.NOERROR
        assert a_addresses(r) == [address]
        assert elapsed < 0.25, f"{name}: hit took {elapsed:.3f} s with a 0.5 s LS timeout"

    r, elapsed = own_reply(ls, "www.Amazon.com")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert 0.4 <= elapsed < 1.5, f"miss answered after {elapsed:.3f} s, LS timeout is 0.5 s"


def test_on_timeout_servfail_with_silent_backends(silent_setup, start_server):
    ts1, ts2, _ = silent_setup
    ls = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport,
                      "--timeout", "0.5", "--on-timeout", "servfail")
    r, elapsed = own_reply(ls, "nosuch.example.net")
    assert r.rcode() == dns.rcode.SERVFAIL
    assert elapsed < 1.5
    # hits are unaffected
    assert a_addresses(query(ls, "www.google.com")) == ["8.8.8.8"]


def test_on_timeout_servfail_with_a_backend_that_never_answers(start_server):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        port = blackhole.getsockname()[1]
        ls = start_server("ls", "--backend", f"127.0.0.1:{port}", "--timeout", "0.5", "--on-timeout", "servfail")
        r = query(ls, "www.ibm.com", timeout=3)
        assert r.rcode() == dns.rcode.SERVFAIL
        # the LS did send the query to the backend (among its health probes)
        blackhole.settimeout(1)
        asked = [dns.message.from_wire(blackhole.recvfrom(65535)[0]).question[0].name for _ in range(3)]
        assert dns.name.from_text("www.ibm.com") in asked


def test_on_timeout_default_is_nxdomain_with_a_backend_that_never_answers(start_server):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        port = blackhole.getsockname()[1]
        ls = start_server("ls", "--backend", f"127.0.0.1:{port}", "--timeout", "0.5")
        r = query(ls, "www.ibm.com", timeout=3)
        assert r.rcode() == dns.rcode.NXDOMAIN


# --- the client when nobody answers -----------------------------------------------------------


def test_client_against_dead_port_fails_clearly_and_writes_nothing(tmp_path):
    port = free_port()
    hosts = tmp_path / "hostnames.txt"
    hosts.write_text("www.ibm.com\nwww.google.com\n")
    out = tmp_path / "RESOLVED.txt"

    start = time.monotonic()
    result = run_client(f"127.0.0.1:{port}", hosts, out, "--timeout", "1")
    elapsed = time.monotonic() - start

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert str(port) in result.stderr, f"stderr does not name the server: {result.stderr!r}"
    assert not out.exists() or out.read_text().strip() == "", out.read_text()
    assert "HOST NOT FOUND" not in result.stdout
    assert elapsed < 10


def test_client_against_silent_server_fails_clearly_and_writes_nothing(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        port = blackhole.getsockname()[1]
        hosts = tmp_path / "hostnames.txt"
        hosts.write_text("www.ibm.com\n")
        out = tmp_path / "RESOLVED.txt"

        result = run_client(f"127.0.0.1:{port}", hosts, out, "--timeout", "1")

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert str(port) in result.stderr, f"stderr does not name the server: {result.stderr!r}"
    assert not out.exists() or out.read_text().strip() == ""


def test_silent_miss_ts_answers_a_cname_it_holds_whose_target_does_not_exist(start_server):
    ts = start_server("ts", "--zone", str(ZONES / "lab.example.zone"), "--silent-miss")
    r = query(ts, "dead.lab.example", timeout=2)        # dead CNAME nowhere: the alias is the TS's name
    assert r.rcode() == dns.rcode.NXDOMAIN and [rrset.rdtype for rrset in r.answer] == [dns.rdatatype.CNAME]
    with pytest.raises(dns.exception.Timeout):
        query(ts, "nowhere.lab.example", timeout=0.5)   # a name it does not hold: silence
