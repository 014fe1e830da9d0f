"""Processes the benchmark starts: each in its own process group, stopped by its PID, never by name."""
from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import threading
import time
from collections import deque
from pathlib import Path

from .common import ROOT, TOOL_PATH, BenchError, slug


class Proc:
    """A process in its own process group; its output goes to a log file and is watched for a pattern.

    Its own group, so that stopping it also stops any workers it forks, and so
    that Ctrl-C in the terminal reaches only this script, which then stops
    everything in order.
    """

    def __init__(self, name: str, argv: list[str], logfile: Path, watch: re.Pattern[str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.logfile = logfile
        self.watch = watch
        self.match: re.Match[str] | None = None
        self.match_time: float | None = None
        self.matched = threading.Event()
        self.lines: deque[str] = deque(maxlen=500)
        self.started = time.monotonic()
        env = dict(os.environ, PATH=TOOL_PATH)
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True)
        self._reader = threading.Thread(target=self._read, name=f"read-{name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        with self.logfile.open("w") as out:
            for raw in self.popen.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                out.write(line + "\n")
                out.flush()
                self.lines.append(line)
                if self.watch is not None and not self.matched.is_set():
                    found = self.watch.search(line)
                    if found:
                        self.match, self.match_time = found, time.monotonic()
                        self.matched.set()
        self.matched.set()  # the output ended: wake any waiter, which then sees no match

    @property
    def pid(self) -> int:
        """The process's PID, which is also its process group's ID."""
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 8) -> str:
        """Its last ``lines`` lines of output, for error messages."""
        return "\n".join(list(self.lines)[-lines:])

    def wait_line(self, timeout: float) -> re.Match[str]:
        """The watched line, or an error naming what the process said instead."""
        if not self.matched.wait(timeout) or self.match is None:
            state = "still running" if self.alive() else f"exited with {self.popen.poll()}"
            raise BenchError(f"{self.name} did not print the expected line within {timeout:g} s ({state}):\n"
                             f"  {shlex.join(self.argv)}\n{self.tail()}")
        return self.match

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM to the whole group, then SIGKILL if it has not gone within ``timeout``."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self.popen.poll() is not None:
                break
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                continue
        try:  # members of the group that outlived its leader
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.popen.wait()
        self._reader.join(2.0)


class Fleet:
    """Every process this run started, so that one ``finally`` can stop them all."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: list[Proc] = []
        self.counter = 0

    def start(self, name: str, argv: list[str], watch: re.Pattern[str] | None = None) -> Proc:
        """Start ``argv`` as a Proc whose output goes to a numbered log file in ``logdir``."""
        self.counter += 1
        proc = Proc(name, argv, self.logdir / f"{self.counter:02d}-{slug(name)}.log", watch)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        """Stop every process still running, the last started first (frontends before their backends)."""
        while self.procs:
            self.stop(self.procs[-1])
