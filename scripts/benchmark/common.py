"""What every part of the benchmark shares: where the project is, the loopback address, errors, progress."""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the project: scripts/benchmark/common.py -> .
HOST = "127.0.0.1"  # every server and client of the benchmark is on loopback
TOOL_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])  # nsd and dnsdist live in sbin


class BenchError(Exception):
    """A step failed; the message is meant to be read as it is, in one line or a few."""


class Interrupted(Exception):
    """SIGTERM or SIGHUP arrived: unwind through the ``finally`` that stops the servers."""


def log(message: str) -> None:
    """Progress goes to stderr so that stdout holds only the report."""
    print(message, file=sys.stderr, flush=True)


def slug(text: str) -> str:
    """``text`` with each run of characters other than ASCII letters and digits made one ``-``: for
    file names and backend names (``NSD1``, ``TS1-ours``)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")
