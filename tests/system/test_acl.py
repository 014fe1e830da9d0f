"""The LS's client allow-list: loopback and private ranges by default, the rest REFUSED."""
from __future__ import annotations

import subprocess
import sys

import dns.rcode
import pytest

from support.querylog import logged
from support.servers import query
from support.waiting import wait_until
from resolver.ls.acl import DEFAULT_ALLOW, AccessList, parse_networks


@pytest.mark.parametrize("host,allowed", [
    ("127.0.0.1", True), ("10.1.2.3", True), ("192.168.0.9", True), ("172.31.255.1", True), ("::1", True),
    ("fe80::1%lo", True), ("::ffff:10.0.0.1", True),
    ("8.8.8.8", False), ("172.32.0.1", False), ("2001:db8::1", False), ("198.18.0.1", False),
])
def test_default_allow_list_is_loopback_and_private_ranges(host, allowed):
    assert AccessList(parse_networks(DEFAULT_ALLOW)).allows(host) is allowed


@pytest.mark.parametrize("tcp", [False, True])
def test_clients_outside_the_allow_list_are_refused(demo_backends, start_server, tcp):
    ts1, ts2 = demo_backends
    only_ten = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport, "--allow", "10.0.0.0/8")
    refused = query(only_ten, "www.ibm.com", tcp=tcp, use_edns=0)
    assert refused.rcode() == dns.rcode.REFUSED and not refused.answer
    assert [(o.otype, o.to_wire()) for o in refused.options] == [(15, b"\x00\x12")]    # EDE 18 Prohibited
    default = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport)
    assert query(default, "www.ibm.com", tcp=tcp).answer[0][0].address == "129.42.38.10"


def test_refused_clients_are_in_the_query_log(demo_backends, start_server, tmp_path):
    ts1, ts2 = demo_backends
    log = tmp_path / "queries.log"
    only_ten = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport, "--allow", "10.0.0.0/8",
                            "--query-log", str(log))
    for tcp in (False, True):
        assert query(only_ten, "www.ibm.com", tcp=tcp).rcode() == dns.rcode.REFUSED
    wait_until(lambda: len(logged(log)) == 2, 3, "two query log lines")
    assert logged(log) == [("www.ibm.com.", "A", "acl", "REFUSED", transport, None) for transport in ("udp", "tcp")]


def test_a_bad_network_is_one_clear_error():
    result = subprocess.run([sys.executable, "-m", "resolver", "ls", "--listen", "127.0.0.1:0", "--backend",
                             "127.0.0.1:53", "--allow", "10.0.0.300/8"], capture_output=True, text=True, timeout=20)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "not a network" in result.stderr
