"""Malformed packets (UDP and TCP) and bad command lines.

A malformed query whose header can be read gets FORMERR (same ID, QR set);
anything else (no full header, or a packet that is itself a response) gets no
reply at all. Either way the server keeps answering normal queries. Bad command
lines end in exactly one line on stderr, a non-zero exit, and no traceback.
"""
from __future__ import annotations

import random
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from support.paths import ROOT, ZONES
from support.recorder import PortRecorder
from support.servers import Server, assert_still_answers, read_tcp_message

FORMERR = "formerr"
SILENT = "silent"
# How long "no reply" is waited for. The LS runs with a short --timeout so that a
# malformed packet it wrongly forwarded would still be answered within the window.
SILENT_WAIT = {"ts": 0.3, "ls": 0.8}
LS_TIMEOUT = "0.5"


def header(qid: int = 0x1234, flags: int = 0x0100, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack("!6H", qid, flags, qd, an, ns, ar)


def name(text: str) -> bytes:
    return b"".join(bytes([len(label)]) + label.encode() for label in text.split(".")) + b"\x00"


A_IN = struct.pack("!2H", 1, 1)
QUESTION = name("www.ibm.com") + A_IN
LONG_NAME = b"".join(b"\x3f" + b"a" * 63 for _ in range(5)) + b"\x00"     # 320 octets > 255


def random_garbage(seed: int) -> bytes:
    """Seeded random bytes that dnspython refuses to parse, QR bit cleared."""
    rng = random.Random(seed)
    while True:
        data = bytearray(rng.randbytes(rng.randint(12, 80)))
        data[2] &= 0x7F
        try:
            dns.message.from_wire(bytes(data))
        except Exception:
            return bytes(data)


MALFORMED = [
    ("empty", b"", SILENT),
    ("one_byte", b"\x12", SILENT),
    ("eleven_bytes", header()[:11], SILENT),
    ("header_only_qdcount_1", header(), FORMERR),
    ("truncated_name", header() + b"\x03www\x07exam", FORMERR),
    ("name_without_type_and_class", header() + name("www.ibm.com") + b"\x00", FORMERR),
    ("pointer_past_end", header() + b"\xc0\xff" + A_IN, FORMERR),
    ("compression_loop_self", header() + b"\xc0\x0c" + A_IN, FORMERR),
    ("compression_loop_after_label", header() + b"\x03www\xc0\x0c" + A_IN, FORMERR),
    ("reserved_label_type", header() + b"\x41www" + b"\x00" + A_IN, FORMERR),
    ("name_longer_than_255", header() + LONG_NAME + A_IN, FORMERR),
    ("qdcount_2", header(qd=2) + QUESTION + name("www.google.com") + A_IN, FORMERR),
    ("ancount_past_end", header(an=1) + QUESTION, FORMERR),
    ("response_qr_set", header(flags=0x8180) + QUESTION, SILENT),
    ("response_qr_set_malformed", header(flags=0x8180) + b"\xc0\x0c" + A_IN, SILENT),
]
RANDOM = [(f"random_{seed}", random_garbage(seed)) for seed in range(6)]


def start(args: list[str]) -> Server:
    return Server([*args, "--listen", "127.0.0.1:0"])


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Server]]:
    """One table TS per demo table and an LS in front; shared by the packet tests of this module."""
    started: list[Server] = []
    try:
        ts1 = start(["ts", "--table", str(ZONES / "ts1.txt")]); started.append(ts1)
        ts2 = start(["ts", "--table", str(ZONES / "ts2.txt")]); started.append(ts2)
        ls = start(["ls", "--backend", ts1.hostport, "--backend", ts2.hostport, "--timeout", LS_TIMEOUT])
        started.append(ls)
        yield {"ts": ts1, "ls": ls}
    finally:
        for server in started:
            server.stop()


def send_udp(server: Server, data: bytes, wait: float) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(wait)
        sock.sendto(data, (server.host, server.port))
        try:
            reply, _ = sock.recvfrom(65535)
        except socket.timeout:
            return None
        return reply


def assert_formerr(reply: bytes | None, sent: bytes) -> None:
    assert reply is not None, "no reply; expected FORMERR"
    assert len(reply) >= 12, reply
    qid, flags = struct.unpack("!2H", reply[:4])
    sent_id, sent_flags = struct.unpack("!2H", sent[:4])
    assert qid == sent_id, "FORMERR must keep the query's ID"
    assert flags & 0x8000, "QR must be set in the reply"
    assert (flags >> 11) & 0xF == (sent_flags >> 11) & 0xF, "opcode must be kept"
    assert flags & 0xF == dns.rcode.FORMERR, f"rcode {flags & 0xF}, expected FORMERR"


def assert_alive(server: Server) -> None:
    assert server.proc.poll() is None, f"server exited: {server.lines}"
    assert not any("Traceback" in line for line in server.lines), server.lines


# --- UDP ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["ts", "ls"])
@pytest.mark.parametrize("packet,expect", [(p, e) for _, p, e in MALFORMED], ids=[n for n, _, _ in MALFORMED])
def test_malformed_udp_packet(servers, target, packet, expect):
    server = servers[target]
    reply = send_udp(server, packet, wait=2.0 if expect == FORMERR else SILENT_WAIT[target])
    if expect == FORMERR:
        assert_formerr(reply, packet)
    else:
        assert reply is None, f"expected no reply, got {reply!r}"
    assert_still_answers(server)
    assert_alive(server)


@pytest.mark.parametrize("target", ["ts", "ls"])
@pytest.mark.parametrize("packet", [p for _, p in RANDOM], ids=[n for n, _ in RANDOM])
def test_random_bytes_get_formerr_notimp_or_no_reply(servers, target, packet):
    server = servers[target]
    reply = send_udp(server, packet, wait=SILENT_WAIT[target])
    if reply is not None:
        assert len(reply) >= 12
        qid, flags = struct.unpack("!2H", reply[:4])
        assert qid == struct.unpack("!H", packet[:2])[0]
        assert flags & 0x8000
        assert flags & 0xF in (dns.rcode.FORMERR, dns.rcode.NOTIMP), f"rcode {flags & 0xF}"
    assert_still_answers(server)
    assert_alive(server)


@pytest.mark.parametrize("target", ["ts", "ls"])
def test_burst_of_malformed_packets_then_normal_query(servers, target):
    server = servers[target]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(20):
            for _, packet, _ in MALFORMED:
                sock.sendto(packet, (server.host, server.port))
            for _, packet in RANDOM:
                sock.sendto(packet, (server.host, server.port))
    assert_still_answers(server)
    assert_alive(server)


# --- TCP ---------------------------------------------------------------------------------------


def tcp_connect(server: Server) -> socket.socket:
    return socket.create_connection((server.host, server.port), timeout=2)


@pytest.mark.parametrize("target", ["ts", "ls"])
def test_tcp_garbage_body_gets_formerr_or_close(servers, target):
    server = servers[target]
    body = header() + b"\xc0\x0c" + A_IN              # a query header, a looping name
    with tcp_connect(server) as sock:
        sock.sendall(struct.pack("!H", len(body)) + body)
        try:
            reply = read_tcp_message(sock)
        except socket.timeout:
            pytest.fail("server neither answered nor closed the connection within 2 s")
        if reply is not None:
            assert_formerr(reply, body)
    assert_still_answers(server)
    assert_alive(server)


@pytest.mark.parametrize("target", ["ts", "ls"])
def test_tcp_random_garbage_body_then_server_keeps_answering(servers, target):
    server = servers[target]
    body = random.Random(99).randbytes(33)
    with tcp_connect(server) as sock:
        sock.sendall(struct.pack("!H", len(body)) + body)
        try:
            reply = read_tcp_message(sock)
        except socket.timeout:
            reply = None
        if reply is not None:
            assert struct.unpack("!H", reply[2:4])[0] & 0x8000
            assert reply[3] & 0xF != dns.rcode.NOERROR
    assert_still_answers(server)
    assert_alive(server)


@pytest.mark.parametrize("target", ["ts", "ls"])
@pytest.mark.parametrize("partial", [
    b"\x00",                                           # half a length prefix
    b"\x00\x40",                                       # a length prefix alone
    b"\x00\x40" + header() + b"\x03ww",                # half a message
    b"\x00\x00",                                       # an empty message
], ids=["half_prefix", "prefix_only", "half_message", "zero_length"])
def test_tcp_partial_message_then_close(servers, target, partial):
    server = servers[target]
    with tcp_connect(server) as sock:
        sock.sendall(partial)
    assert_still_answers(server)
    assert_alive(server)


@pytest.mark.parametrize("target", ["ts", "ls"])
def test_tcp_half_message_held_open_does_not_block_others(servers, target):
    server = servers[target]
    stuck = [tcp_connect(server) for _ in range(5)]
    try:
        for sock in stuck:
            sock.sendall(b"\x00\x40" + header() + b"\x03ww")
        start = time.monotonic()
        assert_still_answers(server)
        assert time.monotonic() - start < 1.0
    finally:
        for sock in stuck:
            sock.close()
    assert_alive(server)


@pytest.mark.parametrize("target", ["ts", "ls"])
def test_tcp_two_queries_on_one_connection(servers, target):
    """RFC 7766: several queries may share one TCP connection."""
    server = servers[target]
    q1 = dns.message.make_query("www.ibm.com", "A")
    q2 = dns.message.make_query("www.google.com", "A")
    with tcp_connect(server) as sock:
        for q in (q1, q2):
            wire = q.to_wire()
            sock.sendall(struct.pack("!H", len(wire)) + wire)
        replies = {}
        for _ in range(2):
            data = read_tcp_message(sock)
            assert data is not None, "connection closed before both replies"
            r = dns.message.from_wire(data)
            replies[r.id] = r
    assert replies[q1.id].rcode() == dns.rcode.NOERROR
    assert replies[q2.id].rcode() == (dns.rcode.NXDOMAIN if target == "ts" else dns.rcode.NOERROR)


# --- bad command lines ---------------------------------------------------------------------------


def run_cli(*args: str, timeout: float = 15.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "resolver", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode != 0, f"exit 0; stderr={result.stderr!r}"
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}: {result.stderr!r}"
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


@pytest.fixture
def good_table(tmp_path: Path) -> Path:
    path = tmp_path / "good.txt"
    path.write_text("www.example.com 192.0.2.1 A\n")
    return path


@pytest.mark.parametrize("args,fragment", [
    (["ts", "--listen", "127.0.0.1:0", "--table", "{table}", "--bogus"], "--bogus"),
    (["ls", "--listen", "127.0.0.1:0", "--backend", "127.0.0.1:53", "--bogus"], "--bogus"),
    (["client", "--server", "127.0.0.1:53", "{table}", "--bogus"], "--bogus"),
    (["ts", "--table", "{table}"], "--listen"),
    (["ls", "--backend", "127.0.0.1:53"], "--listen"),
    (["ls", "--listen", "127.0.0.1:0"], "--backend"),
    (["client", "{table}"], "--server"),
    (["ts", "--listen", "127.0.0.1:notaport", "--table", "{table}"], "notaport"),
    (["ts", "--listen", "127.0.0.1:70000", "--table", "{table}"], "70000"),
    (["ls", "--listen", "127.0.0.1:0", "--backend", "nonsense"], "nonsense"),
    (["ls", "--listen", "127.0.0.1:0", "--backend", "127.0.0.1:53", "--timeout", "abc"], "abc"),
    (["ls", "--listen", "127.0.0.1:0", "--backend", "127.0.0.1:53", "--on-timeout", "maybe"], "maybe"),
    (["ls", "--listen", "127.0.0.1:0", "--backend", "127.0.0.1:53", "--max-inflight", "0"],
     "argument --max-inflight: must be a whole number from 1 to 1,000,000: '0'"),
    (["ls", "--listen", "127.0.0.1:0", "--backend", "127.0.0.1:53", "--max-inflight", "-5"],
     "argument --max-inflight: must be a whole number from 1 to 1,000,000: '-5'"),
    (["ls", "--listen", "127.0.0.1:0", "--backend", "127.0.0.1:53", "--max-inflight-per-client", "0"],
     "argument --max-inflight-per-client: must be a whole number from 1 to 1,000,000: '0'"),
    (["ls", "--listen", "127.0.0.1:0", "--backend", "127.0.0.1:53", "--jostle-timeout", "0"], "more than 0 and at most 3600"),
    (["bogus-command"], "bogus-command"),
    ([], ""),
], ids=["ts_unknown_flag", "ls_unknown_flag", "client_unknown_flag", "ts_no_listen", "ls_no_listen",
        "ls_no_backend", "client_no_server", "ts_port_not_a_number", "ts_port_out_of_range",
        "ls_backend_not_hostport", "ls_timeout_not_a_number", "ls_on_timeout_bad_choice",
        "ls_max_inflight_zero", "ls_max_inflight_negative", "ls_max_inflight_per_client_zero",
        "ls_jostle_timeout_zero",
        "unknown_command", "no_command"])
def test_bad_flags(good_table, args, fragment):
    argv = [a.replace("{table}", str(good_table)) for a in args]
    assert_one_line_error(run_cli(*argv), fragment)


def test_ts_without_zone_or_table(tmp_path):
    assert_one_line_error(run_cli("ts", "--listen", "127.0.0.1:0"))


@pytest.mark.parametrize("flag", ["--zone", "--table"])
def test_unreadable_file_missing(tmp_path, flag):
    missing = tmp_path / "does-not-exist.zone"
    assert_one_line_error(run_cli("ts", "--listen", "127.0.0.1:0", flag, str(missing)), missing.name)


@pytest.mark.parametrize("flag", ["--zone", "--table"])
def test_unreadable_file_is_a_directory(tmp_path, flag):
    directory = tmp_path / "adir"
    directory.mkdir()
    assert_one_line_error(run_cli("ts", "--listen", "127.0.0.1:0", flag, str(directory)), "adir")


@pytest.mark.parametrize("flag", ["--zone", "--table"])
def test_binary_file(tmp_path, flag):
    path = tmp_path / "binary.bin"
    path.write_bytes(bytes(range(256)) * 4)
    assert_one_line_error(run_cli("ts", "--listen", "127.0.0.1:0", flag, str(path)), "binary.bin")


ZONE_HEAD = "$ORIGIN example.com.\n$TTL 3600\n@ IN SOA ns1 hostmaster 1 7200 900 1209600 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\n"


@pytest.mark.parametrize("body", [
    ZONE_HEAD + "www IN A not-an-address\n",
    ZONE_HEAD + "www IN BOGUSTYPE something\n",
    ZONE_HEAD + "www IN MX mail\n",                                # MX without a preference
    ZONE_HEAD + "www IN A 192.0.2.1 (\n",                          # unbalanced parenthesis
    ZONE_HEAD + "$INCLUDE /nonexistent/file\n",
    "$ORIGIN example.com.\n$TTL 3600\nwww IN A 192.0.2.1\n",        # no SOA at the apex
    "$TTL 3600\n@ IN SOA ns1. host. 1 2 3 4 5\n$ORIGIN\n",          # $ORIGIN without a name
], ids=["bad_address", "unknown_type", "mx_without_preference", "unbalanced_paren", "include_missing",
        "no_soa", "origin_without_name"])
def test_broken_zone_file(tmp_path, body):
    path = tmp_path / "broken.zone"
    path.write_text(body)
    assert_one_line_error(run_cli("ts", "--listen", "127.0.0.1:0", "--zone", str(path)), "broken.zone")


@pytest.mark.parametrize("bad_line", [
    "www.bad.com 192.0.2.1",                   # two columns
    "www.bad.com not-an-ip A",
    "www.bad.com 256.1.1.1 A",
    "www.bad.com 192.0.2.1 MX",
    "www..bad.com 192.0.2.1 A",                # empty label
    "www.bad.com 192.0.2.1 A extra",
], ids=["two_columns", "not_an_ip", "octet_out_of_range", "type_not_a", "empty_label", "extra_column"])
def test_table_with_bad_line(tmp_path, bad_line):
    path = tmp_path / "badtable.txt"
    path.write_text(f"www.good.com 192.0.2.2 A\n{bad_line}\nwww.also-good.com 192.0.2.3 A\n")
    assert_one_line_error(run_cli("ts", "--listen", "127.0.0.1:0", "--table", str(path)), "badtable.txt")


def test_client_unreadable_hostfile(tmp_path):
    missing = tmp_path / "no-hosts.txt"
    out = tmp_path / "out.txt"
    result = run_cli("client", "--server", "127.0.0.1:53", str(missing), "--out", str(out))
    assert_one_line_error(result, "no-hosts.txt")
    assert not out.exists()


# --- port in use ------------------------------------------------------------------------------------


def occupied(kind: int) -> tuple[socket.socket, int]:
    """A loopback port held by this test: for UDP (bound) or TCP (listening)."""
    sock = socket.socket(socket.AF_INET, kind)
    sock.bind(("127.0.0.1", 0))
    if kind == socket.SOCK_STREAM:
        sock.listen()
    return sock, sock.getsockname()[1]


@pytest.mark.parametrize("kind", [socket.SOCK_DGRAM, socket.SOCK_STREAM], ids=["udp_taken", "tcp_taken"])
@pytest.mark.parametrize("command", ["ts", "ls"])
def test_port_in_use(good_table, command, kind):
    sock, port = occupied(kind)
    with sock:
        extra = ["--table", str(good_table)] if command == "ts" else ["--backend", "127.0.0.1:53"]
        start = time.monotonic()
        result = run_cli(command, "--listen", f"127.0.0.1:{port}", *extra)
        assert time.monotonic() - start < 10
    assert_one_line_error(result, "in use")


@pytest.mark.parametrize("target", ["ts", "ls"])
def test_tcp_clients_that_send_a_query_and_reset_leave_no_traceback(servers, target):
    server = servers[target]
    query = dns.message.make_query("www.ibm.com", "A").to_wire()
    for _ in range(20):         # reset (RST, not FIN) at once, often before the server has accepted
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.connect((server.host, server.port))
            sock.sendall(struct.pack("!H", len(query)) + query)
    assert_still_answers(server)
    assert_alive(server)


def test_a_metrics_port_in_use_is_one_line_naming_the_flag_and_address(good_table):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        result = run_cli("ts", "--listen", "127.0.0.1:0", "--table", str(good_table), "--metrics", address)
    line = assert_one_line_error(result, f"cannot serve --metrics on {address}: address already in use")
    assert "(" not in line, line        # no Python tuple of asyncio's text


def test_a_backend_host_that_does_not_resolve_is_one_line_naming_the_flag_and_host():
    result = run_cli("ls", "--listen", "127.0.0.1:0", "--backend", "nosuchhost.invalid:53")
    assert_one_line_error(result, "--backend nosuchhost.invalid:53: cannot resolve 'nosuchhost.invalid'")
    assert result.returncode == 2


@pytest.mark.parametrize("out,why", [("{tmp}/missing/out.txt", "no directory"), ("{tmp}", "is a directory")],
                         ids=["no_directory", "a_directory"])
def test_an_out_that_cannot_be_written_is_found_before_any_name_is_resolved(tmp_path, out, why):
    """The client says so before asking anything: its server, a recorder, receives no query."""
    hostfile = tmp_path / "names.txt"
    hostfile.write_text("www.example.com\n")
    target = out.replace("{tmp}", str(tmp_path))
    with PortRecorder() as server:
        result = run_cli("client", "--server", server.hostport, str(hostfile), "--out", target)
        assert server.queries == [], "the client resolved names before checking --out"
    assert_one_line_error(result, f"--out {target}: {why}", "nothing resolved")


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "[::1%lo]"])
def test_a_backend_ip_literal_is_not_looked_up(host):
    """Only names are resolved: a literal, scoped IPv6 included (glibc's getaddrinfo refuses
    ``::1%lo``), gets past the check to the listener, here a --listen that is bad on purpose."""
    result = run_cli("ls", "--listen", "127.0.0.1:99999", "--backend", f"{host}:53")
    line = assert_one_line_error(result, "--listen")
    assert "cannot resolve" not in line, line


@pytest.mark.parametrize("kind", ["ts", "ls"])
@pytest.mark.parametrize("where,why", [("{tmp}/missing/q.log", "No such file or directory"),
                                       ("{tmp}", "Is a directory")], ids=["no_directory", "a_directory"])
def test_a_query_log_that_cannot_be_opened_is_one_line_naming_the_flag_and_path(good_table, tmp_path, kind, where,
                                                                                  why):
    target = where.replace("{tmp}", str(tmp_path))
    source = ["--table", str(good_table)] if kind == "ts" else ["--backend", "127.0.0.1:53"]
    result = run_cli(kind, "--listen", "127.0.0.1:0", *source, "--query-log", target)
    assert_one_line_error(result, f"--query-log {target}: {why}")


@pytest.mark.parametrize("kind", ["ts", "ls"])
def test_a_listen_address_given_twice_is_one_line_before_anything_is_bound(good_table, kind):
    source = ["--table", str(good_table)] if kind == "ts" else ["--backend", "127.0.0.1:53"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli(kind, "--listen", f"127.0.0.1:{port}", "--listen", f"127.0.0.1:{port}", *source)
    line = assert_one_line_error(result, f"--listen 127.0.0.1:{port} given twice")
    assert "listening on" not in result.stderr, line


def test_a_named_backend_that_does_not_resolve_is_named_as_given():
    result = run_cli("ls", "--listen", "127.0.0.1:0", "--backend", "ts1=nosuchhost.invalid:53")
    assert_one_line_error(result, "--backend ts1=nosuchhost.invalid:53: cannot resolve 'nosuchhost.invalid'")


def test_a_per_client_share_above_the_whole_is_refused():
    result = run_cli("ls", "--listen", "127.0.0.1:0", "--backend", "127.0.0.1:53", "--max-inflight", "10",
                     "--max-inflight-per-client", "20")
    assert_one_line_error(result, "--max-inflight-per-client 20 is more than --max-inflight 10")


@pytest.mark.parametrize("kind", ["ts", "ls"])
def test_a_query_log_that_cannot_be_opened_with_workers_is_one_line_before_they_start(good_table, tmp_path, kind):
    target = tmp_path / "missing" / "q.log"
    source = ["--table", str(good_table)] if kind == "ts" else ["--backend", "127.0.0.1:53"]
    result = run_cli(kind, "--listen", "127.0.0.1:0", "--workers", "2", *source, "--query-log", str(target))
    assert_one_line_error(result, f"--query-log {target}: No such file or directory")
