"""A Python another user can run this project with, for servers started with ``--user``.

A server started as root with ``--user`` goes on importing modules as that
user, so the user must be able to read the interpreter's library: the test
run's own interpreter when it can (a system Python, a venv in ``/opt``), else
the system's interpreter of the same version (a pyenv Python lives under
``/root``, which no other user reads), given this venv's packages and the
project on ``PYTHONPATH``. Whether the user can is found by running it as that
user and importing what a server imports.
"""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from dataclasses import dataclass

import pytest

from support.paths import ROOT
from support.tools import IN_CI

PROBE = "import gzip, resolver.cli, resolver.ts.serve, resolver.ls.serve"
PROBE_TIMEOUT = 30.0        # seconds for the import run as the user
SYSTEM_PYTHONS = (f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}",
                  f"/usr/local/bin/python{sys.version_info.major}.{sys.version_info.minor}")


@dataclass(frozen=True)
class Python:
    """An interpreter (``path``) and the ``PYTHONPATH`` it needs (empty: none)."""

    path: str
    pythonpath: str

    @property
    def prefix(self) -> list[str]:
        """What goes before the interpreter in an argv: ``env PYTHONPATH=…`` when it needs one."""
        return ["env", f"PYTHONPATH={self.pythonpath}"] if self.pythonpath else []


def python_for(user: str, group: str) -> Python:
    """A :class:`Python` that ``user`` (in ``group``, no other) can run the servers with; skips the
    test when there is none, except in CI, where it fails."""
    packages = os.pathsep.join([str(ROOT), sysconfig.get_paths()["purelib"]])
    for python in (Python(sys.executable, ""), *(Python(path, packages) for path in SYSTEM_PYTHONS)):
        if not os.access(python.path, os.X_OK):
            continue
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **({"PYTHONPATH": python.pythonpath}
                                                                   if python.pythonpath else {})}
        try:
            done = subprocess.run([python.path, "-c", PROBE], user=user, group=group, extra_groups=[], env=env,
                                  cwd="/", capture_output=True, timeout=PROBE_TIMEOUT)
        except PermissionError:     # the interpreter itself is out of the user's reach
            continue
        if done.returncode == 0:
            return python
    message = f"no Python that {user} can read runs this project (tried {sys.executable}, {', '.join(SYSTEM_PYTHONS)})"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)
