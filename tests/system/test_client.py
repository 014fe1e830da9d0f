"""The client: --type and --format json, against a TS serving the example zone."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from support.fakes import FakeBackend, answer, by_name, negative, nodata, nxdomain
from support.paths import ROOT, ZONES


def resolve(server, tmp_path, names: list[str], *flags: str) -> str:
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("\n".join(names) + "\n")
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "resolver", "client", "--server", server.hostport, str(hosts),
                             "--out", str(out), *flags], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return out.read_text()


@pytest.fixture
def zone_ts(start_server):
    return start_server("ts", "--zone", str(ZONES / "example.com.zone"))


@pytest.mark.parametrize("rdtype,name,line", [
    ("AAAA", "web.example.com", "web.example.com 2001:db8::80 AAAA"),
    ("MX", "example.com", "example.com 10 mail.example.com. MX"),
    ("TXT", "Mixed.Case.example.com", 'Mixed.Case.example.com "case kept in the zone" TXT'),
    ("aaaa", "alias.example.com", "alias.example.com 2001:db8::80 AAAA"),     # through the CNAME chain
    ("MX", "web.example.com", "web.example.com - Error:HOST NOT FOUND"),
])
def test_type_gives_one_line_per_record(zone_ts, tmp_path, rdtype, name, line):
    assert resolve(zone_ts, tmp_path, [name], "--type", rdtype).splitlines() == [line]


def test_any_gives_each_record_with_its_own_type(zone_ts, tmp_path):
    assert resolve(zone_ts, tmp_path, ["web.example.com"], "--type", "ANY").splitlines() == [
        "web.example.com 192.0.2.80 A", "web.example.com 192.0.2.81 A"]        # one RRset, as NSD answers ANY
    text = resolve(zone_ts, tmp_path, ["www.example.com"], "--type", "ANY", "--format", "json")
    assert json.loads(text)[0]["answers"] == ["web.example.com. CNAME"]


def test_json_format_lists_name_type_status_and_answers(zone_ts, tmp_path):
    text = resolve(zone_ts, tmp_path, ["web.example.com", "nope.example.com"], "--format", "json")
    assert json.loads(text) == [
        {"name": "web.example.com", "type": "A", "status": "NOERROR", "answers": ["192.0.2.80", "192.0.2.81"]},
        {"name": "nope.example.com", "type": "A", "status": "NXDOMAIN", "answers": []},
    ]


def test_an_unknown_type_is_one_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "resolver", "client", "--server", "127.0.0.1:53",
                             str(tmp_path / "x"), "--type", "BOGUS"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "not a record type" in result.stderr


def test_a_low_open_files_limit_means_fewer_names_in_flight_not_failures(tmp_path, start_server):
    """Each name in flight holds a socket: with a hard limit of 200 open files, asking for
    1,000 at once must still resolve every name."""
    import resource
    ts = start_server("ts", "--table", str(ZONES / "ts1.txt"))
    names = ["WWW.IBM.COM" if i % 2 else f"miss{i}.example" for i in range(600)]
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("\n".join(names) + "\n")
    out = tmp_path / "out"

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))
    result = subprocess.run([sys.executable, "-m", "resolver", "client", "--server", ts.hostport, str(hosts),
                             "--out", str(out), "--concurrency", "1000"], capture_output=True, text=True,
                            timeout=60, cwd=ROOT, preexec_fn=low_limit)
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()
    assert lines.count("WWW.IBM.COM 129.42.38.10 A") == 300 and len(lines) == 600


def test_a_reply_with_another_id_or_question_is_not_taken_for_the_answer(tmp_path):
    """A server (or a spoofer) first sends replies to other queries; the client waits for its own."""
    import socket
    import threading

    import dns.message
    import dns.name
    import dns.rrset
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))

    def reply(query, name: str, address: str, id_change: int = 0) -> bytes:
        response = dns.message.make_response(query)
        response.id ^= id_change
        response.answer.append(dns.rrset.from_text(name, 60, "IN", "A", address))
        if name != query.question[0].name.to_text():
            response.question[0].name = dns.name.from_text(name)
        return response.to_wire()

    def serve_once() -> None:
        data, client = server.recvfrom(512)
        query = dns.message.from_wire(data)
        server.sendto(reply(query, "www.ibm.com.", "203.0.113.1", id_change=0x1234), client)   # wrong ID
        server.sendto(reply(query, "other.example.", "203.0.113.2"), client)               # other question
        server.sendto(b"\x00garbage", client)
        server.sendto(reply(query, "www.ibm.com.", "129.42.38.10"), client)
    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    try:
        hosts = tmp_path / "hosts.txt"
        hosts.write_text("www.ibm.com\n")
        out = tmp_path / "out"
        port = server.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "resolver", "client", "--server", f"127.0.0.1:{port}",
                                 str(hosts), "--out", str(out), "--timeout", "3"], capture_output=True, text=True,
                                timeout=30, cwd=ROOT)
        assert result.returncode == 0, result.stderr
        assert out.read_text() == "www.ibm.com 129.42.38.10 A\n"
    finally:
        thread.join(5)
        server.close()


def test_a_name_that_is_not_a_domain_name_is_invalid_not_nxdomain(zone_ts, tmp_path):
    """An empty label, a 64-octet label and a name over 255 octets are never asked: the line says
    INVALID NAME (JSON status ``invalid``), and the names around them resolve as usual."""
    long_label, long_name = "a" * 64 + ".example.com", ".".join(["a" * 60] * 5)
    names = ["web.example.com", "www..example.com", long_label, long_name, "nope.example.com"]
    assert resolve(zone_ts, tmp_path, names).splitlines() == [
        "web.example.com 192.0.2.80 A", "web.example.com 192.0.2.81 A",
        "www..example.com - Error:INVALID NAME", f"{long_label} - Error:INVALID NAME",
        f"{long_name} - Error:INVALID NAME", "nope.example.com - Error:HOST NOT FOUND"]
    statuses = [entry["status"] for entry in json.loads(resolve(zone_ts, tmp_path, names, "--format", "json"))]
    assert statuses == ["NOERROR", "invalid", "invalid", "invalid", "NXDOMAIN"]


def test_servfail_is_a_server_failure_not_host_not_found(tmp_path):
    """NXDOMAIN and NODATA keep the assignment's HOST NOT FOUND line; SERVFAIL (the LS's answer
    with --on-timeout servfail) says SERVER FAILURE, and another rcode is named as it is."""
    from dnslib import RCODE
    rules = {"gone.example": nxdomain(zone="example"), "empty.example": nodata(zone="example"),
             "broken.example": negative(RCODE.SERVFAIL), "closed.example": negative(RCODE.REFUSED)}
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("gone.example\nempty.example\nbroken.example\nclosed.example\nthere.example\n")
    with FakeBackend(by_name(rules, answer("192.0.2.7"))) as fake:
        result = run_client(fake, tmp_path, str(hosts))
    assert result.returncode == 0, result.stderr
    assert "1 resolved, 2 not found, 2 refused or failed by the server;" in result.stderr
    lines = (tmp_path / "out").read_text().splitlines()
    assert lines == ["gone.example - Error:HOST NOT FOUND", "empty.example - Error:HOST NOT FOUND",
                     "broken.example - Error:SERVER FAILURE", "closed.example - Error:REFUSED",
                     "there.example 192.0.2.7 A"]


@pytest.mark.parametrize("flag,value", [("--concurrency", "-3"), ("--concurrency", "0"),
                                        ("--concurrency", "100000"), ("--concurrency", "many"),
                                        ("--timeout", "-1"), ("--timeout", "0"), ("--timeout", "7200")])
def test_a_numeric_flag_out_of_its_range_is_one_error_naming_it(tmp_path, flag, value):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("www.ibm.com\n")
    result = subprocess.run([sys.executable, "-m", "resolver", "client", "--server", "127.0.0.1:53", str(hosts),
                             "--out", str(tmp_path / "out"), flag, value], capture_output=True, text=True,
                            timeout=30, cwd=ROOT)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"argument {flag}: must be" in result.stderr and repr(value) in result.stderr
    assert not (tmp_path / "out").exists()


def run_client(server, tmp_path, hostfile: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "resolver", "client", "--server", server.hostport, hostfile,
                           "--out", str(tmp_path / "out")], input=stdin, capture_output=True, text=True,
                          timeout=30, cwd=ROOT)


def test_a_line_of_several_words_is_skipped_with_a_warning_naming_file_and_line(zone_ts, tmp_path):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("# names\nweb.example.com\nweb.example.com 192.0.2.80 A\nnope.example.com\n")
    result = run_client(zone_ts, tmp_path, str(hosts))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings == [f"resolver client: warning: {hosts}:3: 'web.example.com 192.0.2.80 A' is several words, "
                        "not a hostname; skipped"]
    assert (tmp_path / "out").read_text().splitlines() == [
        "web.example.com 192.0.2.80 A", "web.example.com 192.0.2.81 A", "nope.example.com - Error:HOST NOT FOUND"]


def test_a_hostfile_of_dash_is_read_from_stdin(zone_ts, tmp_path):
    result = run_client(zone_ts, tmp_path, "-", stdin="web.example.com\n")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out").read_text() == "web.example.com 192.0.2.80 A\nweb.example.com 192.0.2.81 A\n"


@pytest.mark.parametrize("content", ["", "# only a comment\n\n"])
def test_a_hostfile_without_hostnames_is_an_error(zone_ts, tmp_path, content):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text(content)
    result = run_client(zone_ts, tmp_path, str(hosts))
    assert result.returncode == 1
    assert result.stderr == f"resolver client: error: {hosts} names no hostname; nothing written\n"
    assert not (tmp_path / "out").exists()


def test_output_into_a_closed_pipe_exits_quietly(zone_ts, tmp_path):
    """`--out /dev/stdout | head -1` with the reader gone: no "Broken pipe" traceback or message."""
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("web.example.com\n")
    client = subprocess.Popen([sys.executable, "-m", "resolver", "client", "--server", zone_ts.hostport, str(hosts),
                               "--out", "/dev/stdout"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    client.stdout.close()
    _, err = client.communicate(timeout=30)
    assert client.returncode == 141 and err == b"", err.decode()
