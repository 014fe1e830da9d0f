"""README.md's commands: one spelling for running the program, and nothing a fresh Debian root shell lacks.

SPEC has every command as ``python -m resolver COMMAND``; the README says
once, under "Two commands", to activate the virtual environment that
``scripts/demo`` makes, after which that spelling works. Every other way of
running the program (``python3 -m resolver``, ``.venv/bin/python -m
resolver``, ``dns-fanout ls``) is a second spelling, and one that fails on
such a machine (``python3`` lacks the dependencies). The README's commands
are pasted as root, where ``sudo`` may not exist.
"""
from __future__ import annotations

import re

from support.readme import README, blocks, sections

# An interpreter running the package: group 1 is how the interpreter is written.
RUNS_PACKAGE = re.compile(r"([\w./-]*python[\w.]*) -m resolver\b")
# The console script run as a command (the project's name, dns-fanout-resolver, is not one).
CONSOLE_SCRIPT = re.compile(r"\bdns-fanout\s+(?:ts|ls|client|demo)\b")
ACTIVATE = re.compile(r"^\. \.venv/bin/activate\b", re.M)
SUDO = re.compile(r"(?:^|[;&|(]|\$ )\s*sudo\b")


def readme_text() -> str:
    return README.read_text(encoding="utf-8")


def test_every_command_runs_the_program_as_python_dash_m_resolver() -> None:
    text = readme_text()
    spellings = {m.group(1) for m in RUNS_PACKAGE.finditer(text)}
    assert spellings == {"python"}, f"the README runs the program as {sorted(spellings)}; write python -m resolver"
    scripts = [m.group(0) for m in CONSOLE_SCRIPT.finditer(text)]
    assert scripts == [], f"the README runs the console script as a command: {scripts}; write python -m resolver"


def test_the_virtual_environment_is_activated_before_the_first_command() -> None:
    shell = blocks(readme_text().splitlines())
    activates = [i for i, block in enumerate(shell) if ACTIVATE.search(block)]
    runs = [i for i, block in enumerate(shell) if RUNS_PACKAGE.search(block)]
    assert activates, "no ```sh block of the README activates .venv"
    assert runs and activates[0] < runs[0], "a block runs python -m resolver before one activates .venv"
    two_commands = blocks(sections(readme_text())["Two commands"])
    assert any(ACTIVATE.search(block) for block in two_commands), "activation belongs under Two commands"


def test_no_shell_block_uses_sudo() -> None:
    lines = [line for block in blocks(readme_text().splitlines()) for line in block.splitlines()]
    assert lines, "the README has ```sh blocks"
    with_sudo = [line for line in lines if SUDO.search(line)]
    assert with_sudo == [], f"commands are run as root (sudo may be missing): {with_sudo}"


def test_ready_is_defined_once_in_commands_and_referred_to_there() -> None:
    """``ready`` (wait for a port) is defined by "Commands", the first block; later text points there."""
    text = readme_text()
    defining = [heading for heading, lines in sections(text).items()
                for block in blocks(lines) if re.search(r"^ready\(\) ", block, re.M)]
    assert defining == ["Commands"], defining
    pointers = re.findall(r'`ready` from\s+"([^"]+)"', text)
    assert pointers and set(pointers) == {"Commands"}, pointers


# A command put in the background, and the variable that keeps its PID (``& TS1=$!``), if any.
STARTED = re.compile(r"(?<![&>|])&(?![&>])\s*(?:(\w+)=\$!)?\s*$")
KILL = re.compile(r"\bkill\s+([^;&|]*)")
WAIT = re.compile(r"(?:^|[;&|]|\bthen|\bdo)\s*wait\b([^;&|]*)")
HEREDOC = re.compile(r"<<-?\s*'?(\w+)'?.*?\n.*?^\1$", re.M | re.S)


def unstopped(script: str) -> list[str]:
    """What a shell script (blocks pasted in order) leaves running or stops by other means than its PIDs.

    Each background command's PID is its variable (``& TS1=$!``) or ``$!``
    until the next one starts; it must be given to a ``kill`` (without a
    signal such as ``-HUP``, which does not stop) and then to a ``wait``.
    ``kill $(jobs -p)`` takes a reader's other jobs, and a bare ``wait``
    waits for them; both are reported, as is a PID that nothing started.
    """
    script = HEREDOC.sub("", script.replace("\\\n", " "))
    problems: list[str] = []
    running: dict[str, str] = {}     # the started commands not yet stopped, by their PID's name
    killed: set[str] = set()
    last = ""
    for number, raw in enumerate(script.splitlines()):
        line = re.sub(r"(?:^|\s)#.*", "", raw).strip()
        if "jobs -p" in line:
            problems.append(f"stops jobs it did not start: {raw}")
            continue
        for m in KILL.finditer(line):
            pids = m.group(1).split()
            if pids and not pids[0].startswith("-"):
                for pid in pids:
                    name = last if pid == "$!" else pid.removeprefix("$")
                    if name not in running:
                        problems.append(f"kills {pid}, which no command before it started: {raw}")
                    killed.add(name)
        for m in WAIT.finditer(line):
            pids = m.group(1).split()
            if not pids:
                problems.append(f"waits for every job, a reader's others too: {raw}")
            for pid in pids:
                name = last if pid == "$!" else pid.removeprefix("$")
                if name in killed:
                    running.pop(name, None)
        if m := STARTED.search(line):
            last = m.group(1) or f"$! of line {number + 1}"
            running[last] = raw
    problems += [f"left running, never killed and waited for by its PID: {raw}" for raw in running.values()]
    return problems


def test_unstopped_finds_what_a_script_leaves_running() -> None:
    assert unstopped("a & A=$!\nb &\nkill $! $A; wait $! $A\n") == []
    assert unstopped("a & A=$!\nb & B=$!\nkill $A; wait $A\n") == ["left running, never killed and waited for "
                                                                   "by its PID: b & B=$!"]
    assert unstopped("a &\nb &\nkill $(jobs -p)\n")[0].startswith("stops jobs it did not start")
    assert unstopped("a & A=$!\nkill $A; wait\n")[0].startswith("waits for every job")
    assert unstopped("a & A=$!\nkill -HUP $A\n")[0].startswith("left running")
    assert unstopped("kill $B; wait $B\n")[0].startswith("kills $B, which no command")


def test_every_block_that_starts_a_server_in_the_background_stops_it_by_its_pid() -> None:
    """Pasted in order, each section's blocks leave nothing running and touch no job of the reader's.

    A section (``##``, with its ``###`` parts) is the unit: the TSes of
    "Routing and load balancing" serve all its examples and its last one
    stops them.
    """
    problems = {heading: found for heading, lines in sections(readme_text(), deepest=2).items()
                if (found := unstopped("".join(blocks(lines))))}
    assert problems == {}, problems
