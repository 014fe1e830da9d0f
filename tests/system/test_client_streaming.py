"""The client streams: names are taken from the hostfile as they can be asked, and each line is
written once it and every line before it are known, so that memory does not grow with the list."""
from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time

import pytest

from support.fakes import FakeBackend, silent
from support.paths import ROOT, ZONES
from resolver.net.addresses import format_hostport


@pytest.fixture
def zone_ts(start_server):
    return start_server("ts", "--zone", str(ZONES / "example.com.zone"))


def read_lines(stream, count: int, timeout: float = 20.0) -> list[str]:
    """``count`` lines from a pipe, or fewer if they do not come within ``timeout`` seconds."""
    got, pending = [], b""
    deadline = time.monotonic() + timeout
    fd = stream.fileno()
    while len(got) < count and select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        got += [line.decode() for line in lines]
    return got


def test_lines_come_out_while_standard_input_is_still_open(zone_ts):
    """Names written to the client's standard input are resolved and their lines written to
    ``--out /dev/stdout`` before the input ends: the hostfile is not read whole first."""
    client = subprocess.Popen([sys.executable, "-m", "resolver", "client", "--server", zone_ts.hostport, "-",
                               "--out", "/dev/stdout"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, cwd=ROOT)
    try:
        client.stdin.write(b"nope.example.com\nweb.example.com\n")
        client.stdin.flush()
        assert read_lines(client.stdout, 3) == ["nope.example.com - Error:HOST NOT FOUND",
                                                "web.example.com 192.0.2.80 A", "web.example.com 192.0.2.81 A"]
        assert client.poll() is None        # still reading its input
        rest, err = client.communicate(b"www.example.com\n", timeout=30)     # the last name, then the end
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    assert client.returncode == 0, err.decode()
    assert rest.decode().splitlines() == ["www.example.com 192.0.2.80 A", "www.example.com 192.0.2.81 A"]


def test_json_is_written_as_one_array_laid_out_as_before(zone_ts, tmp_path):
    """Written item by item, the file is still exactly ``json.dumps(list, indent=1)``."""
    names = ["web.example.com", "www..example.com", "nope.example.com"] * 400
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("\n".join(names) + "\n")
    out = tmp_path / "out.json"
    result = subprocess.run([sys.executable, "-m", "resolver", "client", "--server", zone_ts.hostport, str(hosts),
                             "--out", str(out), "--format", "json"], capture_output=True, text=True, timeout=60,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    entries = json.loads(out.read_text())
    assert [entry["name"] for entry in entries] == names
    assert out.read_text() == json.dumps(entries, indent=1) + "\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hosts.txt", "out.json"]     # no temporary file left


def test_a_server_that_never_answers_leaves_an_older_file_as_it_was(tmp_path):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("www.ibm.com\nwww.amazon.com\n")
    out = tmp_path / "RESOLVED.txt"
    out.write_text("from an earlier run\n")
    with FakeBackend(silent) as fake:
        result = subprocess.run([sys.executable, "-m", "resolver", "client", "--server", fake.hostport, str(hosts),
                                 "--out", str(out), "--timeout", "1"], capture_output=True, text=True, timeout=30,
                                cwd=ROOT)
    assert result.returncode == 1 and "nothing written" in result.stderr, result.stderr
    assert out.read_text() == "from an earlier run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["RESOLVED.txt", "hosts.txt"]


def test_names_are_taken_on_only_a_bounded_way_past_the_first_unfinished_one(monkeypatch):
    """Memory stays flat because a slow name holds the input back: with AHEAD at 20, while the first
    name waits for its slow answer, at most 20 names have been taken from the input (not all 500),
    and every line still comes out in input order."""
    import asyncio

    from support.fakes import answer, by_name, slow
    from resolver.client import resolver as client
    monkeypatch.setattr(client, "AHEAD", 20)
    names = ["slow.example"] + [f"n{i}.example" for i in range(499)]
    taken: list[str] = []

    def hostnames():
        for name in names:
            taken.append(name)
            yield name

    async def first_and_rest(resolver: client.Resolver) -> tuple[int, list[str]]:
        results = resolver.resolve_in_order(hostnames())
        first = await anext(results)
        when_first = len(taken)
        return when_first, [first.hostname] + [result.hostname async for result in results]

    with FakeBackend(by_name({"slow.example": slow(answer(), 0.5)})) as fake:
        resolver = client.Resolver(*fake.address, timeout=5, concurrency=5)
        when_first, order = asyncio.run(first_and_rest(resolver))
    assert when_first <= 20 and order == names


def run_client(server: str, hosts, out: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "resolver", "client", "--server", server, str(hosts), "--out", out],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, **kw)


def test_an_out_that_is_a_symbolic_link_is_written_through_and_stays_a_link(zone_ts, tmp_path):
    """As the shell's ``>`` writes: the link is followed, not renamed over (``/dev/stdout`` is a link
    to ``/proc/self/fd/1``; replacing it would break it for everyone)."""
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("web.example.com\n")
    target, link = tmp_path / "target.txt", tmp_path / "link.txt"
    target.write_text("old\n")
    link.symlink_to(target)
    result = run_client(zone_ts.hostport, hosts, str(link))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink()
    assert target.read_text().splitlines() == ["web.example.com 192.0.2.80 A", "web.example.com 192.0.2.81 A"]


def test_out_dash_is_standard_output(zone_ts, tmp_path):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("web.example.com\n")
    result = run_client(zone_ts.hostport, hosts, "-")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["web.example.com 192.0.2.80 A", "web.example.com 192.0.2.81 A"]
    assert not (ROOT / "-").exists()


def test_an_out_that_fills_up_is_one_line_naming_the_flag(zone_ts, tmp_path):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("web.example.com\n")
    result = run_client(zone_ts.hostport, hosts, "/dev/full")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["resolver client: error: --out /dev/full: No space left on device"]


@pytest.mark.parametrize("out", ["{hosts}", "{link}", "/dev/stdout"], ids=["itself", "a_link_to_it", "stdout_to_it"])
def test_an_out_that_is_the_hostfile_is_refused_before_it_is_touched(tmp_path, out):
    """``--out`` naming the hostfile, a link to it, or descriptor 1 when the shell sends it there
    (``>> hosts.txt``) would empty or replace the list being read: refused, the file left as it was."""
    hosts, link = tmp_path / "hosts.txt", tmp_path / "link.txt"
    hosts.write_text("web.example.com\n")
    link.symlink_to(hosts)
    target = out.format(hosts=hosts, link=link)
    with hosts.open("a") as appended:
        result = subprocess.run([sys.executable, "-m", "resolver", "client", "--server", "127.0.0.1:9", str(hosts),
                                 "--out", target], stdout=appended, stderr=subprocess.PIPE, text=True, timeout=30,
                                cwd=ROOT)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"resolver client: error: --out {target}: is {hosts}, the hostfile being read; nothing resolved"]
    assert hosts.read_text() == "web.example.com\n"


def test_out_dev_stdout_writes_where_the_shell_sent_it_appending_too(zone_ts, tmp_path):
    hosts, log = tmp_path / "hosts.txt", tmp_path / "log.txt"
    hosts.write_text("web.example.com\n")
    log.write_text("an earlier line\n")
    with log.open("a") as appended:
        result = subprocess.run([sys.executable, "-m", "resolver", "client", "--server", zone_ts.hostport, str(hosts),
                                 "--out", "/dev/stdout"], stdout=appended, stderr=subprocess.PIPE, text=True,
                                timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == ["an earlier line", "web.example.com 192.0.2.80 A",
                                            "web.example.com 192.0.2.81 A"]


@pytest.mark.parametrize("mode", [0o640, 0o4755, 0o2775])
def test_a_file_written_again_keeps_its_mode_and_owner(zone_ts, tmp_path, mode):
    """Set-ID bits too: the owner is given back first, since a chown clears them."""
    hosts, out = tmp_path / "hosts.txt", tmp_path / "out.txt"
    hosts.write_text("web.example.com\n")
    out.write_text("old\n")
    owner = (65534, 65534) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    if os.geteuid() == 0:
        os.chown(out, *owner)
    out.chmod(mode)
    result = run_client(zone_ts.hostport, hosts, str(out))
    assert result.returncode == 0, result.stderr
    assert oct(out.stat().st_mode & 0o7777) == oct(mode)
    assert (out.stat().st_uid, out.stat().st_gid) == owner
    assert out.read_text().startswith("web.example.com")


def test_a_byte_order_mark_is_not_part_of_the_first_name(zone_ts, tmp_path):
    hosts = tmp_path / "hosts.txt"
    hosts.write_bytes("\ufeffweb.example.com\n".encode())
    result = run_client(zone_ts.hostport, hosts, "-")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["web.example.com 192.0.2.80 A", "web.example.com 192.0.2.81 A"]


def test_a_server_given_by_name_is_looked_up_and_a_bad_one_is_one_line(start_server, tmp_path):
    """``--server localhost:PORT`` is asked at the first address the name has (as dig asks it);
    a traceback per name before."""
    first = socket.getaddrinfo("localhost", 53, type=socket.SOCK_DGRAM)[0][4][0]
    ts = start_server("ts", "--zone", str(ZONES / "example.com.zone"), listen=format_hostport(first, 0))
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("web.example.com\n")
    result = run_client(f"localhost:{ts.port}", hosts, "-")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["web.example.com 192.0.2.80 A", "web.example.com 192.0.2.81 A"]
    bad = run_client("nosuchhost.invalid:53", hosts, "-")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "resolver client: --server nosuchhost.invalid:53: cannot resolve 'nosuchhost.invalid' "
        "(Name or service not known)"]


def test_a_hostfile_that_is_a_fifo_is_read_once(zone_ts, tmp_path):
    """As ``<(…)`` or a named pipe gives it: not counted first (a pipe can be read only once)."""
    import threading
    fifo = tmp_path / "names"
    os.mkfifo(fifo)

    def feed() -> None:
        with fifo.open("w") as writer:
            writer.write("web.example.com\nnope.example.com\n")
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    result = run_client(zone_ts.hostport, fifo, "-")
    feeder.join(5)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["web.example.com 192.0.2.80 A", "web.example.com 192.0.2.81 A",
                                          "nope.example.com - Error:HOST NOT FOUND"]


def test_a_line_that_is_not_utf8_is_skipped_with_a_warning(zone_ts, tmp_path):
    hosts = tmp_path / "hosts.txt"
    hosts.write_bytes(b"web.example.com\ncaf\xe9.example.com\nnope.example.com\n")
    for source, stdin in ((str(hosts), None), ("-", hosts.read_bytes())):
        result = subprocess.run([sys.executable, "-m", "resolver", "client", "--server", zone_ts.hostport, source,
                                 "--out", "-"], input=stdin, capture_output=True, timeout=60, cwd=ROOT)
        assert result.returncode == 0, result.stderr
        name = str(hosts) if source != "-" else "<stdin>"
        assert f"resolver client: warning: {name}:2: not UTF-8 text; skipped" in result.stderr.decode()
        assert result.stdout.decode().splitlines() == ["web.example.com 192.0.2.80 A", "web.example.com 192.0.2.81 A",
                                                       "nope.example.com - Error:HOST NOT FOUND"]


def test_an_out_with_no_room_for_a_temporary_name_beside_it_is_written_in_place(zone_ts, tmp_path):
    """A name of 250 octets leaves none for ``.NAME.PID.part`` (255 at most): FILE itself is written."""
    hosts, out = tmp_path / "hosts.txt", tmp_path / ("x" * 250)
    hosts.write_text("web.example.com\n")
    out.write_text("old\n")
    result = run_client(zone_ts.hostport, hosts, str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_text().splitlines() == ["web.example.com 192.0.2.80 A", "web.example.com 192.0.2.81 A"]
