"""README.md's "Commands" and "Trying it with dig" blocks, run exactly as printed, on loopback.

Each block is taken from the README by its heading (:mod:`support.readme`)
and run by ``bash -e`` with the test's virtual environment active, as a
reader runs it after ``scripts/demo``. They use the ports they print
(127.0.0.1:5300 to 5302, and [::1]:5302): each is checked free first, and a
busy one fails the test with a line naming it rather than with a server's
error. "Trying it with dig" uses the ``ready`` that "Commands" defines, so
that line of "Commands" runs before it, as a reader pasting in order has it.
Each block must exit 0 within :data:`BLOCK_TIMEOUT`, leave no process it
started running, and print what the README says it prints: the client's
lines are the demo's lines the README shows, and every ``dig`` gets the
reply its comment describes.
"""
from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from support.paths import ROOT
from support.readme import README, block, blocks, run_block, sections
from support.tools import require_tool

BLOCK_TIMEOUT = 60.0        # seconds for a block; each takes a few
PORTS = [("127.0.0.1", 5300), ("127.0.0.1", 5301), ("127.0.0.1", 5302), ("::1", 5302)]

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


def test_commands_block_runs_as_printed(tmp_path: Path) -> None:
    require_free(PORTS)
    (tmp_path / "zones").symlink_to(ROOT / "zones")      # the project's directory, RESOLVED.txt kept out of it
    ran = run_block(block("Commands"), BLOCK_TIMEOUT, cwd=tmp_path)
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
    ran = run_block(ready_definition() + text, BLOCK_TIMEOUT)
    assert ran.returncode == 0, ran.report()
    assert ran.left == [], f"the block left servers running\n{ran.report()}"
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
