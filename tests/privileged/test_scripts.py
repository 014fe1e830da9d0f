"""``scripts/test`` on an operator's machine: it installs what is missing and leaves the host's services alone.

The machine's own NSD is stood for by an NSD this test starts (by its PID).
``scripts/test --version`` runs the script's whole set-up (the venv, then the
tools) and ends in pytest's version line. A PATH without ``/usr/sbin`` makes
``nsd``, ``knotd`` and ``ip`` missing, so the script takes its install path, as
root; ``apt-get`` there is a stub that records its arguments and whether the
guard that keeps packages from starting services was in place. The guard's
place is the test's own (``POLICY_RC_D``). What the script must leave alone is
checked by its outcome: the stand-in NSD still runs and answers.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import dns.message
import dns.query

from support.nsd import Nsd
from support.paths import ROOT
from support.tools import require_root, require_tool

APT_GET = """#!/bin/sh
if [ -x "$POLICY_RC_D" ] && ! "$POLICY_RC_D" nsd start; then guard=guarded; else guard=unguarded; fi
echo "apt-get $guard $*" >> "$CALLS"
"""


def stub(directory: Path, name: str, text: str) -> None:
    path = directory / name
    path.write_text(text)
    path.chmod(0o755)


def test_scripts_test_run_twice_installs_under_a_guard_and_leaves_the_hosts_nsd_running(tmp_path: Path) -> None:
    require_root()
    nsd_binary = require_tool("nsd")
    zone = tmp_path / "lab.example.zone"
    zone.write_text("$TTL 60\n@ IN SOA ns1.lab.example. admin.lab.example. 1 3600 600 86400 60\n@ IN NS ns1\n"
                    "ns1 IN A 127.0.0.1\n")
    (tmp_path / "nsd").mkdir()
    hosts_nsd = Nsd(nsd_binary, tmp_path / "nsd", [zone])
    hosts_nsd.start()
    try:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        stub(bin_dir, "apt-get", APT_GET)
        calls, guard = tmp_path / "calls", tmp_path / "policy-rc.d"
        env = {**os.environ, "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "CALLS": str(calls),
               "POLICY_RC_D": str(guard)}
        for _ in range(2):
            run = subprocess.run([str(ROOT / "scripts" / "test"), "--version"], env=env, capture_output=True,
                                 text=True, timeout=300)
            assert run.returncode == 0, run.stderr
            assert "installing:" in run.stdout and "nsd" in run.stdout
            assert not guard.exists(), "the guard outlived the install"
        lines = calls.read_text().splitlines()
        installs = [line for line in lines if line.startswith("apt-get ") and " install " in line]
        assert len(installs) == 2 and all(line.startswith("apt-get guarded ") for line in installs), lines
        assert all("nsd" in line.split() and "knot" in line.split() for line in installs), installs
        assert hosts_nsd.proc is not None and hosts_nsd.proc.poll() is None, "the host's NSD was stopped"
        reply = dns.query.udp(dns.message.make_query("lab.example.", "SOA"), hosts_nsd.host, port=hosts_nsd.port,
                              timeout=2)
        assert reply.answer, "the host's NSD no longer answers"
    finally:
        hosts_nsd.stop()
