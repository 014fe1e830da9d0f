"""The README's shell blocks as printed: found by their heading, run by bash, and what they leave behind.

A test takes a block with :func:`block` (the fenced ```` ```sh ```` blocks of
the section under a heading, by their order there), so the README and the
test cannot drift: changing the block changes what the test runs.
:func:`run_block` runs one as a reader would after ``scripts/demo`` and
``. .venv/bin/activate``: bash in the checkout's root, with the test's
virtual environment first on PATH, so ``python -m resolver`` is this
checkout's. It runs with ``bash -e`` (a failing command ends it), in a
session of its own, bounded in time; afterwards it reports every process of
that session still alive (the servers the block started and did not stop)
and then kills them by their PIDs, so none outlives the test.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from support.paths import ROOT

README = ROOT / "README.md"
HEADING = re.compile(r"^(#{1,6}) (.*?)\s*$")
FENCE = re.compile(r"^```(\w*)\s*$")


def sections(text: str, deepest: int = 6) -> dict[str, list[str]]:
    """Each heading's own lines (up to the next heading, fences respected), by heading text.

    Headings deeper than ``deepest`` (``###`` and below for 2) do not start a
    section: their lines, and they, stay in the section above them.
    """
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    in_fence = False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (m := HEADING.match(line)) and len(m.group(1)) <= deepest:
            current = out.setdefault(m.group(2), [])
            continue
        if current is not None:
            current.append(line)
    return out


def blocks(lines: list[str], lang: str = "sh") -> list[str]:
    """The contents of the fenced blocks of language ``lang`` among ``lines``, in order."""
    found: list[str] = []
    body: list[str] | None = None
    fence_lang = ""
    for line in lines:
        m = FENCE.match(line)
        if m and body is None:
            body, fence_lang = [], m.group(1)
        elif m:
            if fence_lang == lang:
                found.append("\n".join(body) + "\n")
            body = None
        elif body is not None:
            body.append(line)
    return found


def block(heading: str, index: int = 0, lang: str = "sh") -> str:
    """The ``index``-th ```` ```LANG ```` block of README.md's section ``heading``; LookupError if none."""
    own = sections(README.read_text(encoding="utf-8")).get(heading)
    if own is None:
        raise LookupError(f"README.md has no heading {heading!r}")
    found = blocks(own, lang)
    if index >= len(found):
        raise LookupError(f"README.md's section {heading!r} has {len(found)} ```{lang} block(s), not {index + 1}")
    return found[index]


@dataclass
class Ran:
    """What a block did: bash's PID (``$$`` inside it), exit status, output, and the processes it left."""
    pid: int
    returncode: int | None       # None: it ran past its time and was killed
    stdout: str
    stderr: str
    left: list[str]              # "PID command line" of each process of its session alive after it

    def report(self) -> str:
        """All of the above as text, for an assertion's message."""
        return (f"bash (PID {self.pid}) exit {self.returncode}\n--- stdout:\n{self.stdout}"
                f"--- stderr:\n{self.stderr}--- left running: {self.left}")


def session_processes(sid: int) -> dict[int, str]:
    """The live processes (not zombies) of session ``sid``: PID to command line."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue             # ended while being read
        fields = stat[stat.rindex(")") + 2:].split()   # after "PID (comm) ": state, ppid, pgrp, session
        if fields[0] != "Z" and int(fields[3]) == sid:
            found[int(entry.name)] = cmdline
    return found


def run_block(text: str, timeout: float, cwd: Path = ROOT) -> Ran:
    """Run ``text`` with ``bash -e`` in ``cwd`` (the checkout's root), at most ``timeout`` seconds; see the module."""
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}", "VIRTUAL_ENV": str(Path(venv_bin).parent)}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        # Files, not pipes: a server the block leaves running must not hold the test waiting for EOF.
        proc = subprocess.Popen(["bash", "-e"], stdin=subprocess.PIPE, stdout=out, stderr=err,
                                text=True, cwd=cwd, env=env, start_new_session=True)
        proc.stdin.write(text)
        proc.stdin.close()
        try:
            returncode: int | None = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            returncode = None
        left = session_processes(proc.pid)      # bash itself among them when it ran out of time
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
        out.seek(0)
        err.seek(0)
        return Ran(proc.pid, returncode, out.read(), err.read(), [f"{pid} {cmd}" for pid, cmd in left.items()])
