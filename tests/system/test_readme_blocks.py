"""README.md's shell blocks that start servers, run exactly as printed, on loopback.

Each block is taken from the README by its heading (:mod:`support.readme`)
and run by ``bash -e`` with the test's virtual environment active, as a
reader runs it after ``scripts/demo``: "Commands", "Configuration files",
the chain of "Explaining one name", the blocks of "Routing and load
balancing" one after the other (its TSes serve all of them), "The answer
cache", "Metrics and the status page" with its ``--workers`` part, "Trying
it with dig" and the NSD worked example of "Replication". They use the
ports they print (127.0.0.1:5300 to 5307, 5400 to 5403, 9153 and 9154, and
[::1]:5302): each is checked free first, and a busy one fails the test with
a line naming it rather than with a server's error. The blocks after
"Commands" use the ``ready`` it defines, so that line of "Commands" runs
before them, as a reader pasting in order has it. Each block must exit 0
within :data:`BLOCK_TIMEOUT`, leave no process it started running, and
print what the README says it prints: the lines it shows after the block
(times aside), or what the block's comments say.
"""
from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from support.paths import ROOT
from support.readme import README, Ran, block, blocks, run_block, sections
from support.tools import require_tool

BLOCK_TIMEOUT = 60.0        # seconds for a block; each takes a few
PORTS = [("127.0.0.1", 5300), ("127.0.0.1", 5301), ("127.0.0.1", 5302), ("::1", 5302)]
# What each of the four loops of "Replica groups" prints: the answers of ts1 (and ts1b) for its names.
GROUP_ANSWERS = ["129.42.38.10", "128.6.46.111", "192.0.2.25", "192.0.2.101", "192.0.2.102"]

# What each dig line's comment says, by the dig's arguments as printed.
DIG_EXPECTED = {
    "@127.0.0.1 -p 5301 WwW.IbM.CoM": dict(status="NOERROR", flags={"qr", "aa"}, question=";WwW.IbM.CoM.",
                                           answer=["129.42.38.10"]),
    "@127.0.0.1 -p 5301 www.amazon.com": dict(status="NXDOMAIN", authority=["SOA"]),
    "@127.0.0.1 -p 5300 www.google.com": dict(status="NOERROR", answer=["8.8.8.8"]),
    "@127.0.0.1 -p 5300 www.amazon.com": dict(status="NXDOMAIN"),
    "@127.0.0.1 -p 5300 +tcp multi.example.org": dict(status="NOERROR", transport="TCP",
                                                       answer=["192.0.2.101", "192.0.2.102"]),
    "@127.0.0.1 -p 5302 alias.example.com": dict(status="NOERROR", answer=["www.example.com.", "web.example.com.",
                                                                           "192.0.2.80", "192.0.2.81"]),
    "@127.0.0.1 -p 5302 b.c.example.com": dict(status="NOERROR", answer=[], authority=["SOA"]),
    "@127.0.0.1 -p 5302 big.example.com TXT +noedns +ignore": dict(status="NOERROR", flags={"tc"}),
}
DIG_HEADER = re.compile(r"^; <<>> DiG \S+ <<>> (.*)$", re.M)


def require_free(ports: list[tuple[str, int]]) -> None:
    """Fail, naming the address, unless each (host, port) can be bound for UDP and for TCP now.

    TCP is bound with SO_REUSEADDR, as the servers bind it, so connections in
    TIME-WAIT from an earlier run (``ready``'s) do not count as busy.
    """
    for host, port in ports:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(family, kind) as sock:
                if kind == socket.SOCK_STREAM:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((host, port))
                except OSError as exc:
                    pytest.fail(f"the README's port {host} {port} is busy ({exc}): free it to run this test")


def ready_definition() -> str:
    """The line of "Commands" that defines ``ready``, which later blocks use."""
    lines = [line for line in block("Commands").splitlines() if line.startswith("ready() ")]
    assert len(lines) == 1, "README's Commands block defines ready() once"
    return lines[0] + "\n"


def demo_lines() -> list[str]:
    """The resolved lines the README shows under "Two commands" (its fenced block without a language)."""
    shown = blocks(sections(README.read_text(encoding="utf-8"))["Two commands"], lang="")
    assert len(shown) == 1, shown
    return shown[0].splitlines()


def dig_replies(stdout: str) -> dict[str, str]:
    """Each dig's output, by the arguments on its ``; <<>> DiG … <<>>`` line."""
    starts = list(DIG_HEADER.finditer(stdout))
    return {m.group(1).strip(): stdout[m.start():(starts[i + 1].start() if i + 1 < len(starts) else len(stdout))]
            for i, m in enumerate(starts)}


def section(reply: str, name: str) -> list[list[str]]:
    """The records of one section of dig's output (``ANSWER``, ``AUTHORITY``), each split into fields."""
    m = re.search(rf"^;; {name} SECTION:\n(.*?)(?:\n\n|\Z)", reply, re.M | re.S)
    return [line.split() for line in m.group(1).splitlines()] if m else []


def loopback(*ports: int) -> list[tuple[str, int]]:
    """Each port on 127.0.0.1, as require_free takes them."""
    return [("127.0.0.1", port) for port in ports]


def shown(heading: str, first_line: str) -> list[str]:
    """The lines of the section's fenced block without a language that starts with ``first_line``."""
    found = [text for text in blocks(sections(README.read_text(encoding="utf-8"))[heading], lang="")
             if text.startswith(first_line)]
    assert len(found) == 1, f"README's {heading!r} has {len(found)} blocks starting {first_line!r}"
    return found[0].splitlines()


def timeless(lines: list[str]) -> list[str]:
    """``lines`` with each time (``0.51 ms``) one token and runs of spaces one, as they vary from run to run."""
    return [re.sub(r" +", " ", re.sub(r"\b\d+\.\d+ ms\b", "T ms", line)).strip() for line in lines]


def run_clean(text: str) -> Ran:
    """Run ``text`` after the ``ready`` of "Commands"; assert it exited 0 and left nothing running."""
    ran = run_block(ready_definition() + text, BLOCK_TIMEOUT)
    assert ran.returncode == 0, ran.report()
    assert ran.left == [], f"the block left servers running\n{ran.report()}"
    return ran


def test_commands_block_runs_as_printed(tmp_path: Path) -> None:
    require_free(PORTS)
    (tmp_path / "zones").symlink_to(ROOT / "zones")      # the project's directory, RESOLVED.txt kept out of it
    ran = run_block(block("Commands"), BLOCK_TIMEOUT, cwd=tmp_path)        # it defines ready itself
    assert ran.returncode == 0, ran.report()
    assert ran.left == [], f"the block left servers running\n{ran.report()}"
    assert (tmp_path / "RESOLVED.txt").read_text().splitlines() == demo_lines(), ran.report()
    assert "winner: 127.0.0.1:5302, the first reply that answers" in ran.stdout, ran.report()
    assert "LS 127.0.0.1:5300 answered NOERROR 8.8.8.8" in ran.stdout, ran.report()


def test_dig_block_runs_as_printed() -> None:
    require_tool("dig")
    require_free(PORTS[:3])
    text = block("Trying it with dig")
    printed = {m.group(1).split("#")[0].strip() for m in re.finditer(r"^dig (.*)$", text, re.M)}
    assert printed == set(DIG_EXPECTED), "the block's dig lines and this test's expectations differ"
    ran = run_clean(text)
    replies = dig_replies(ran.stdout)
    assert set(replies) == set(DIG_EXPECTED), ran.report()
    for args, want in DIG_EXPECTED.items():
        reply = replies[args]
        status = re.search(r"status: (\w+)", reply)
        assert status and status.group(1) == want["status"], f"dig {args}:\n{reply}"
        flags = set(re.search(r"^;; flags: ([\w ]*);", reply, re.M).group(1).split())
        assert want.get("flags", set()) <= flags, f"dig {args}: flags {flags}\n{reply}"
        if "question" in want:
            assert section(reply, "QUESTION")[0][0] == want["question"], f"dig {args}:\n{reply}"
        if "answer" in want:
            assert [rr[-1] for rr in section(reply, "ANSWER")] == want["answer"], f"dig {args}:\n{reply}"
        if "authority" in want:
            assert [rr[3] for rr in section(reply, "AUTHORITY")] == want["authority"], f"dig {args}:\n{reply}"
        if "transport" in want:
            assert f"({want['transport']})" in re.search(r"^;; SERVER: .*$", reply, re.M).group(0), reply


def test_configuration_files_block_runs_as_printed() -> None:
    require_free(PORTS[:3])
    ran = run_clean(block("Configuration files"))
    assert "(timeout 2 s, then NXDOMAIN)" in ran.stderr, f"the --timeout flag did not win over the file\n{ran.report()}"
    lines = ran.stdout.splitlines()
    assert lines[-2].startswith("winner: ts2, the first reply that answers"), ran.report()
    assert lines[-1].startswith("LS 127.0.0.1:5300 answered NOERROR 8.8.8.8 in "), ran.report()
    assert lines[-1].endswith(": agrees"), ran.report()


def test_explain_chain_block_prints_what_the_readme_shows() -> None:
    require_free(loopback(5303, 5304, 5305))
    ran = run_clean(block("Explaining one name"))
    want = shown("Explaining one name", "the LS's plan for www.corp.example")
    assert timeless(ran.stdout.splitlines()) == timeless(want), ran.report()


def test_routing_blocks_run_in_order_as_printed() -> None:
    """Its TSes, each route, group and learned-routing example, and the round-robin TS, as pasted in order."""
    require_tool("dig")
    require_tool("curl")
    require_free(loopback(5300, 5301, 5302, 5303, 5306, 5307, 9153))
    chapter = sections(README.read_text(encoding="utf-8"), deepest=2)["Routing and load balancing"]
    ran = run_clean("".join(blocks(chapter)))
    expected = shown("Routes", "www.ibm.com.") + ["8.8.8.8"] + GROUP_ANSWERS * 4
    for ts1, ts2 in re.findall(r"# ts1 (\d+), ts2 (\d+)$", block("Learned routing"), re.M):
        expected += ["8.8.8.8", "8.8.8.8", f'resolver_backend_requests_total{{backend="ts1"}} {ts1}.0',
                     f'resolver_backend_requests_total{{backend="ts2"}} {ts2}.0']
    lines = ran.stdout.splitlines()
    assert lines[:len(expected)] == expected, ran.report()
    orders = [text.split() for text in "\n".join(lines[len(expected):]).split("\n\n") if text.strip()]
    assert len(orders) == 3 and sorted(orders[0]) == ["192.0.2.80", "192.0.2.81"], ran.report()
    for before, after in zip(orders, orders[1:]):
        assert after == before[1:] + before[:1], f"round-robin did not turn one place: {orders}"


def test_cache_block_prints_what_its_comments_say() -> None:
    require_tool("dig")
    require_tool("curl")
    require_free(loopback(5300, 5302, 9153))
    ran = run_clean(block("The answer cache"))
    lines = ran.stdout.splitlines()
    assert len(lines) == 6, ran.report()
    assert lines[0].split() == ["www.google.com.", "300", "IN", "A", "8.8.8.8"], ran.report()
    name, ttl, *rest = lines[1].split()
    assert (name, rest) == ("www.google.com.", ["IN", "A", "8.8.8.8"]) and int(ttl) <= 300, ran.report()
    assert lines[2:] == ["resolver_ls_cache_hits_total 1.0", "resolver_ls_cache_misses_total 1.0",
                         '{"flushed": 1}', '{"flushed": 0}'], ran.report()


def test_metrics_block_prints_what_the_readme_shows() -> None:
    require_tool("dig")
    require_tool("curl")
    require_free(loopback(5300, 5301, 5302, 9153))
    ran = run_clean(block("Metrics and the status page"))
    want = shown("Metrics and the status page", "resolver_ls_requests_total")
    assert ran.stdout.splitlines() == ["129.42.38.10"] + want, ran.report()


def test_workers_block_prints_the_metrics_the_readme_shows() -> None:
    """The same series; the requests of its 20 digs counted once each, however the kernel spread them."""
    require_tool("dig")
    require_tool("curl")
    require_free(loopback(5302, 9154))
    ran = run_clean(block("With `--workers`"))
    got = dict(line.rsplit(" ", 1) for line in ran.stdout.splitlines())
    want = dict(line.rsplit(" ", 1) for line in shown("With `--workers`", "resolver_ts_requests_total"))
    assert set(got) == set(want), ran.report()
    assert got['resolver_ts_requests_total{proto="udp",zone="."}'] == "20.0", ran.report()
    assert (got["resolver_workers"], got["resolver_worker_restarts_total"]) == ("2.0", "0.0"), ran.report()
    per_worker = [float(value) for series, value in got.items() if series.startswith("resolver_worker_requests")]
    assert sum(per_worker) == 20, ran.report()


def test_nsd_worked_example_runs_as_printed() -> None:
    require_tool("nsd")
    require_tool("dig")
    require_free(loopback(5400, 5401, 5402, 5403))
    ran = run_clean(block("A worked example: an NSD primary, two TS secondaries, the LS in front"))
    assert ran.stdout.splitlines() == ["the LS answers from the secondaries' copies", "the change is everywhere"], \
        ran.report()
