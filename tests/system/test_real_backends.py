"""README.md's "Real servers behind the LS, and dnsdist in front of it": its configs, checked by the servers.

The configuration blocks are taken from the README by heading and first line
(:mod:`support.readme`), so the README and the test cannot drift:

- the nsd.conf, knot.conf and named.conf snippets pass their server's own
  checker (``nsd-checkconf``, ``knotc conf-check``, ``named-checkconf``);
- the nsd.conf snippet is what lets NSD answer a burst from one address: NSD
  with its own defaults (response rate limiting, 200 replies a second per
  /24) drops or truncates part of :data:`BURST` queries sent from one socket,
  as the LS sends them, and NSD with the snippet's ``server:`` lines answers
  every one in full;
- the dnsdist.conf block, run by dnsdist in front of the LS of "Commands"
  (TS1 and TS2 of the demo, here with TS2 ``--silent-miss``, a backend that
  stays silent for names it lacks), marks the LS up and answers a query
  through it; without its ``checkName`` (dnsdist's default check, an A query
  for ``a.root-servers.net.``, which the LS answers only at its timeout
  here) dnsdist marks the LS down.

The dnsdist block is run with two substitutions, both of addresses: the LS's
``127.0.0.1:5300`` and dnsdist's own ``127.0.0.1:5353`` become free loopback
ports; and one line is put before it, ``setSecurityPollSuffix("")``, so that
dnsdist sends no query of its own off the machine.
"""
from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from support.nsd import Nsd
from support.ports import free_port
from support.readme import README, blocks, sections
from support.servers import Server
from support.tools import require_tool
from support.waiting import wait_until

HEADING = "Real servers behind the LS, and dnsdist in front of it"
LS_PRINTED = "127.0.0.1:5300"       # the LS's address in the README's dnsdist.conf
DNSDIST_PRINTED = "127.0.0.1:5353"  # dnsdist's own address there
CHECK_TIMEOUT = 30.0                # seconds a checker may take
BURST = 1000                        # queries from one address, more than NSD's 200 a second
WINDOW = 50                         # queries in flight at once in the burst
WINDOW_WAIT = 0.3                   # seconds to wait for a window's replies (NSD answers in well under 1 ms)
STATE_TIMEOUT = 15.0                # seconds for dnsdist to mark the LS up or down (it checks every second)
ZONE = """$TTL 300
@    IN SOA ns1 admin 1 3600 600 86400 300
@    IN NS  ns1
ns1  IN A   127.0.0.1
www  IN A   192.0.2.10
"""


def config(first_line: str) -> str:
    """The README section's fenced block (any language) whose first line starts with ``first_line``."""
    own = sections(README.read_text(encoding="utf-8"))[HEADING]
    found = [b for lang in ("text", "yaml", "lua") for b in blocks(own, lang) if b.startswith(first_line)]
    assert len(found) == 1, f"README's {HEADING!r} has {len(found)} blocks starting {first_line!r}"
    return found[0]


def check(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=CHECK_TIMEOUT)
    assert done.returncode == 0, f"{' '.join(argv)}: exit {done.returncode}\n{done.stdout}{done.stderr}"


def test_nsd_conf_snippet_passes_nsd_checkconf(tmp_path: Path) -> None:
    (tmp_path / "nsd.conf").write_text(config("# nsd.conf"))
    check([require_tool("nsd-checkconf"), str(tmp_path / "nsd.conf")])


def test_knot_conf_snippet_passes_knotc_conf_check(tmp_path: Path) -> None:
    (tmp_path / "knot.conf").write_text(config("# knot.conf"))
    check([require_tool("knotc"), "-c", str(tmp_path / "knot.conf"), "conf-check"])


def test_named_conf_snippet_passes_named_checkconf(tmp_path: Path) -> None:
    (tmp_path / "named.conf").write_text(config("# named.conf"))
    check([require_tool("named-checkconf"), str(tmp_path / "named.conf")])


class NsdWithItsDefaults(Nsd):
    """:class:`support.nsd.Nsd` without the two lines that turn its rate limiting off: NSD's own
    defaults, and then ``options`` (the README's lines, when given)."""

    def write_conf(self) -> None:
        super().write_conf()
        lines = self.conf.read_text().splitlines()
        for line in ("    rrl-ratelimit: 0", "    rrl-whitelist-ratelimit: 0"):
            lines.remove(line)          # the first, support.nsd's own; the options come after it
        self.conf.write_text("\n".join(lines) + "\n")


def server_lines(snippet: str) -> list[str]:
    """The option lines of a snippet's ``server:`` clause, without their indent."""
    lines = snippet.splitlines()
    start = lines.index("server:") + 1
    body = []
    for line in lines[start:]:
        if not line.startswith((" ", "\t")):
            break
        body.append(line.strip())
    return body


def full_answers(address: tuple[str, int], count: int) -> int:
    """Send ``count`` A queries for www.lab.example. from one UDP socket, ``WINDOW`` at a time;
    how many came back NOERROR with an answer and TC clear (dropped and truncated ones do not count)."""
    answered = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        for start in range(0, count, WINDOW):
            pending = set()
            for i in range(start, min(start + WINDOW, count)):
                q = dns.message.make_query("www.lab.example.", "A", id=i % 65536)
                sock.send(q.to_wire())
                pending.add(q.id)
            deadline = time.monotonic() + WINDOW_WAIT
            while pending and (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    reply = dns.message.from_wire(sock.recv(65535))
                except socket.timeout:
                    break
                if reply.id in pending:
                    pending.discard(reply.id)
                    if reply.rcode() == dns.rcode.NOERROR and reply.answer and not reply.flags & dns.flags.TC:
                        answered += 1
    return answered


def burst_through(tmp_path: Path, options: list[str]) -> int:
    (tmp_path / "lab.example.zone").write_text(ZONE)
    nsd = NsdWithItsDefaults(require_tool("nsd"), tmp_path, [tmp_path / "lab.example.zone"], options=options)
    nsd.start()
    try:
        return full_answers(nsd.address, BURST)
    finally:
        nsd.stop()


def test_nsd_with_its_default_rate_limit_drops_part_of_a_burst_from_one_address(tmp_path: Path) -> None:
    answered = burst_through(tmp_path, [])
    assert answered < BURST, f"NSD's default RRL let all {BURST} replies through"


def test_nsd_with_the_readme_setting_answers_a_whole_burst_from_one_address(tmp_path: Path) -> None:
    answered = burst_through(tmp_path, server_lines(config("# nsd.conf")))
    assert answered == BURST, f"{BURST - answered} of {BURST} queries dropped or truncated"


class Dnsdist:
    """dnsdist in the foreground (``--supervised``) on a config file; its log lines in a file."""

    def __init__(self, conf: str, workdir: Path) -> None:
        self.path = workdir / "dnsdist.conf"
        self.path.write_text(conf)
        self.out = workdir / "dnsdist.out"
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen([require_tool("dnsdist"), "--supervised", "--disable-syslog",
                                          "-C", str(self.path)], stdout=out, stderr=subprocess.STDOUT)

    def states(self, backend: str) -> list[str]:
        """The states dnsdist has marked ``backend`` with, in order ('up', 'down')."""
        marker = f"Marking downstream {backend} as '"
        return [line.split(marker)[1].rstrip("'") for line in self.out.read_text(errors="replace").splitlines()
                if marker in line]

    def log(self) -> str:
        return self.out.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def ls_of_commands() -> Iterator[Server]:
    """TS1 and TS2 of the demo (TS2 silent for names it lacks) and the LS in front, ports picked free."""
    started: list[Server] = []
    try:
        ts1 = Server(["ts", "--listen", "127.0.0.1:0", "--table", "zones/ts1.txt"])
        started.append(ts1)
        ts2 = Server(["ts", "--listen", "127.0.0.1:0", "--table", "zones/ts2.txt", "--silent-miss"])
        started.append(ts2)
        ls = Server(["ls", "--listen", "127.0.0.1:0", "--backend", f"ts1={ts1.hostport}",
                     "--backend", f"ts2={ts2.hostport}"])
        started.append(ls)
        ls.wait_for_line("backend ts1 is up")
        ls.wait_for_line("backend ts2 is up")
        yield ls
    finally:
        for server in reversed(started):
            server.stop()


def dnsdist_before(ls: Server, workdir: Path, conf: str) -> tuple[Dnsdist, int]:
    assert LS_PRINTED in conf and DNSDIST_PRINTED in conf, conf
    port = free_port()
    conf = conf.replace(LS_PRINTED, ls.hostport).replace(DNSDIST_PRINTED, f"127.0.0.1:{port}")
    return Dnsdist('setSecurityPollSuffix("")\n' + conf, workdir), port


def test_dnsdist_with_the_readme_check_marks_the_ls_up_and_answers_through_it(ls_of_commands: Server,
                                                                              tmp_path: Path) -> None:
    dnsdist, port = dnsdist_before(ls_of_commands, tmp_path, config("-- dnsdist.conf"))
    try:
        wait_until(lambda: dnsdist.states(ls_of_commands.hostport)[-1:] == ["up"], STATE_TIMEOUT,
                   "dnsdist marks the LS up")
        reply = dns.query.udp(dns.message.make_query("www.google.com.", "A"), "127.0.0.1", port=port, timeout=3.0)
        assert reply.rcode() == dns.rcode.NOERROR, reply
        assert [rd.address for rrset in reply.answer for rd in rrset] == ["8.8.8.8"], reply
        assert "down" not in dnsdist.states(ls_of_commands.hostport), dnsdist.log()
    finally:
        dnsdist.stop()


def test_dnsdist_with_its_default_check_marks_the_ls_down(ls_of_commands: Server, tmp_path: Path) -> None:
    conf = config("-- dnsdist.conf")
    default = "\n".join(f'newServer({{address="{LS_PRINTED}"}})' if line.startswith("newServer(") else line
                        for line in conf.splitlines()) + "\n"
    dnsdist, _ = dnsdist_before(ls_of_commands, tmp_path, default)
    try:
        wait_until(lambda: "down" in dnsdist.states(ls_of_commands.hostport), STATE_TIMEOUT,
                   "dnsdist's default check (a.root-servers.net., answered at the LS's 5 s timeout) fails")
    finally:
        dnsdist.stop()
