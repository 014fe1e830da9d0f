"""Wildcard addresses: the TS and the LS on ``0.0.0.0`` and ``[::]``, asked at other loopback addresses.

Each UDP reply must come from the address its query was sent to: a client's
connected socket (glibc's stub resolver, dig) takes nothing else, and an
unconnected one shows where the reply came from. ``[::]:P`` alone serves
IPv4 too, on UDP and on TCP, and its IPv4 clients are seen (ACL, query log)
as IPv4 addresses; ``0.0.0.0:P`` and ``[::]:P`` can be listened on together.
"""
from __future__ import annotations

import socket
import subprocess

import dns.message
import dns.rcode
import pytest

from support.paths import ZONES
from support.servers import Server, read_tcp_message
from support.tools import require_tool

NAME, ADDRESS = "www.ibm.com", "129.42.38.10"     # in the demo's ts1.txt
TIMEOUT = 3.0           # seconds for one reply; a reply from the wrong address never comes


def dual_stack_port(attempts: int = 50) -> int:
    """A port free for UDP and TCP on every IPv4 and IPv6 address (a dual-stack ``[::]`` bind of each)."""
    for _ in range(attempts):
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as udp, \
                socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as tcp:
            for sock in (udp, tcp):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            udp.bind(("::", 0))
            port = udp.getsockname()[1]
            try:
                tcp.bind(("::", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no port free on every address in {attempts} attempts")


def family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def check_reply(wire: bytes, query: dns.message.Message) -> None:
    reply = dns.message.from_wire(wire)
    assert reply.id == query.id and reply.rcode() == dns.rcode.NOERROR
    assert [rd.address for rrset in reply.answer for rd in rrset] == [ADDRESS]


def ask_udp_connected(host: str, port: int, client: str | None = None) -> int:
    """Ask over a socket connected to ``host:port``, which the kernel lets receive only from there;
    ``client`` binds the asking socket. Returns the client's port."""
    query = dns.message.make_query(NAME, "A")
    with socket.socket(family(host), socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        if client is not None:
            sock.bind((client, 0))
        sock.connect((host, port))
        sock.send(query.to_wire())
        check_reply(sock.recv(65535), query)
        return sock.getsockname()[1]


def reply_source(host: str, port: int) -> tuple[str, int]:
    """Ask over an unconnected socket; the address the reply came from."""
    query = dns.message.make_query(NAME, "A")
    with socket.socket(family(host), socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendto(query.to_wire(), (host, port))
        wire, source = sock.recvfrom(65535)
    check_reply(wire, query)
    return source[:2]


def ask_tcp(host: str, port: int) -> tuple[str, int]:
    """Ask over TCP; the address the connection's reply came from."""
    query = dns.message.make_query(NAME, "A")
    wire = query.to_wire()
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.sendall(len(wire).to_bytes(2, "big") + wire)
        answer = read_tcp_message(sock)
        assert answer is not None, f"{host}:{port} closed the connection without a reply"
        check_reply(answer, query)
        return sock.getpeername()[:2]


def assert_answers_from(host: str, port: int) -> None:
    """Asked at ``host``, over UDP (connected and not) and TCP, the server answers from ``host``."""
    ask_udp_connected(host, port)
    assert reply_source(host, port) == (host, port)
    assert ask_tcp(host, port) == (host, port)


def server_args(command: str, ts1: Server) -> list[str]:
    return ["--table", str(ZONES / "ts1.txt")] if command == "ts" else ["--backend", ts1.hostport]


@pytest.fixture
def ts1(start_server) -> Server:
    return start_server("ts", "--table", str(ZONES / "ts1.txt"))


@pytest.mark.parametrize("command", ["ts", "ls"])
def test_ipv4_wildcard_replies_from_the_address_asked(start_server, ts1, command):
    server = start_server(command, *server_args(command, ts1), listen="0.0.0.0:0")
    for host in ("127.0.0.2", "127.0.0.3"):
        assert_answers_from(host, server.port)


@pytest.mark.parametrize("command", ["ts", "ls"])
def test_ipv6_wildcard_alone_serves_ipv6_and_ipv4_on_udp_and_tcp(start_server, ts1, command):
    server = start_server(command, *server_args(command, ts1), "--query-log", "-", listen="[::]:0")
    for host in ("::1", "127.0.0.2", "127.0.0.3"):
        assert_answers_from(host, server.port)
    # An IPv4 client of the dual-stack socket is logged as its IPv4 address, not as ::ffff:127.0.0.4.
    client_port = ask_udp_connected("127.0.0.2", server.port, client="127.0.0.4")
    server.wait_for_line(f" 127.0.0.4:{client_port} {NAME}. A ")
    assert server.count_lines("::ffff:") == 0


def test_ls_on_the_ipv6_wildcard_applies_its_acl_to_ipv4_clients_as_ipv4(start_server, ts1):
    ls = start_server("ls", "--backend", ts1.hostport, "--allow", "127.0.0.4/32", listen="[::]:0")
    ask_udp_connected("127.0.0.2", ls.port, client="127.0.0.4")
    query = dns.message.make_query(NAME, "A")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.bind(("127.0.0.5", 0))
        sock.connect(("127.0.0.2", ls.port))
        sock.send(query.to_wire())
        assert dns.message.from_wire(sock.recv(65535)).rcode() == dns.rcode.REFUSED


@pytest.mark.parametrize("command", ["ts", "ls"])
def test_ipv4_and_ipv6_wildcards_on_one_port_listen_together(start_server, ts1, command):
    port = dual_stack_port()
    server = start_server(command, *server_args(command, ts1),
                          "--listen", f"0.0.0.0:{port}", "--listen", f"[::]:{port}")
    assert sorted(server.addresses) == [("0.0.0.0", port), ("::", port)]
    for host in ("127.0.0.2", "::1"):
        assert_answers_from(host, port)


def test_wildcards_through_workers_reply_from_the_address_asked(start_server):
    port = dual_stack_port()
    server = start_server("ts", "--table", str(ZONES / "ts1.txt"), "--workers", "2",
                          "--listen", f"0.0.0.0:{port}", "--listen", f"[::]:{port}")
    server.wait_for_line(f"listening on [::]:{port}", count=2)     # every worker has bound both
    for host in ("127.0.0.2", "127.0.0.3", "::1"):
        for _ in range(4):          # from new client ports, which SO_REUSEPORT spreads over the workers
            assert_answers_from(host, port)


def test_dig_gets_its_answer_from_a_wildcard_server(start_server):
    dig = require_tool("dig")
    server = start_server("ts", "--table", str(ZONES / "ts1.txt"), listen="0.0.0.0:0")
    result = subprocess.run([dig, "@127.0.0.2", "-p", str(server.port), NAME, "A", "+short", "+time=2", "+tries=1"],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [ADDRESS]
