"""support.netns cleans up after itself: a run stopped by SIGTERM (``kill``, a CI job's timeout)
deletes its namespaces, as one stopped by Ctrl-C does.

A child Python process makes a namespace with :func:`support.netns.namespace`
and says so on stdout; the test sends it SIGTERM and looks for the namespace
in ``ip netns list``.
"""
from __future__ import annotations

import selectors
import signal
import subprocess
import sys

from support.netns import require_netns, unique
from support.paths import ROOT

READY_TIMEOUT = 10.0        # seconds for the child to start and make its namespace
HELD = 30.0                 # seconds the child holds it, at most, waiting for the signal

CHILD = f"""
import sys, time
from support.netns import namespace
with namespace(sys.argv[1]):
    print("made", flush=True)
    time.sleep({HELD})
"""


def namespaces() -> list[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10, check=True)
    return [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]


def test_sigterm_while_a_namespace_exists_deletes_it():
    require_netns()
    name = unique("rterm")
    child = subprocess.Popen([sys.executable, "-c", CHILD, name], stdout=subprocess.PIPE, text=True,
                             cwd=ROOT, env={"PYTHONPATH": str(ROOT / "tests"), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(child.stdout, selectors.EVENT_READ)
            assert sel.select(READY_TIMEOUT), "the child did not make its namespace in time"
        assert child.stdout.readline() == "made\n"
        assert name in namespaces()
        child.send_signal(signal.SIGTERM)
        child.wait(READY_TIMEOUT)
        assert name not in namespaces()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if name in namespaces():
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
