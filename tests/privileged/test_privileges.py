"""``--user``: a TS and an LS started as root on port 53 serve as ``nobody:nogroup``.

The TS is given ``--user``, the LS ``user`` in its config file. Each runs
inside a network namespace made for the test (``priv-<pid>-<hex>``),
so port 53 of the machine is never touched. The files they read live in a
directory every user may read, as the README asks of zone files and configs.
What is checked, for the process and for each ``--workers`` worker:

- the real, effective, saved and file-system IDs in ``/proc/PID/status``
  (``Uid:``, ``Gid:``) are nobody's and nogroup's, the supplementary groups
  nogroup alone, and a serving process holds no capability (``CapEff:``,
  ``CapPrm:`` zero); the parent of ``--workers`` holds ``CAP_NET_BIND_SERVICE``
  alone, to start a worker in place of a dead one, which then binds port 53
  and serves as nobody too;
- dig gets its answer on port 53;
- SIGHUP still reloads (the data changes), and a file the user cannot read
  on reload is one error line while the old data goes on being served;
- SIGTERM stops it within a second.

And the errors: an unknown user or group is one line naming ``--user``,
exit 2, nothing bound; ``--user`` of another user, not being root, is one
line saying it needs root; ``--user`` of the user already running is taken
as it is; a package the user cannot read is one line, not an ImportError
once serving.
"""
from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from support.netns import Namespace, namespace, require_netns, unique
from support.paths import ROOT
from support.servers import Server, query
from support.tools import require_tool
from support.unprivileged import Python, python_for
from support.waiting import wait_until

USER, GROUP = "nobody", "nogroup"
ACCOUNT = f"{USER}:{GROUP}"
CAP_NET_BIND_SERVICE = 1 << 10
STOP_WITHIN = 1.0       # seconds from SIGTERM to exit
DIG_TIMEOUT = 10.0      # seconds one dig run may take

NAME, ADDRESS = "www.example.test", "198.18.0.10"
NEW_NAME, NEW_ADDRESS = "new.example.test", "198.18.0.11"


@pytest.fixture
def ns() -> Iterator[Namespace]:
    require_netns()
    require_tool("dig")
    with namespace(unique("priv")) as made:
        yield made


@pytest.fixture
def python() -> Python:
    require_netns()
    return python_for(USER, GROUP)


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory every user may read (pytest's own temporary directories are root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="priv-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def readable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o644)
    return path


def status(pid: int) -> dict[str, list[int]]:
    """``Uid``, ``Gid`` and ``Groups`` of ``/proc/PID/status`` as numbers, ``CapEff`` and ``CapPrm``
    as one bit mask each."""
    fields: dict[str, list[int]] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("Uid", "Gid", "Groups"):
            fields[key] = [int(word) for word in value.split()]
        elif key in ("CapEff", "CapPrm"):
            fields[key] = [int(value, 16)]
    return fields


def children(pid: int) -> set[int]:
    return {int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()}


def assert_runs_as_nobody(pid: int, capabilities: int = 0) -> None:
    uid, gid = pwd.getpwnam(USER).pw_uid, grp.getgrnam(GROUP).gr_gid
    fields = status(pid)
    assert fields["Uid"] == [uid] * 4, fields
    assert fields["Gid"] == [gid] * 4, fields
    assert fields["Groups"] == [gid], fields
    assert fields["CapEff"] == fields["CapPrm"] == [capabilities], fields


def dig(ns: Namespace, name: str, *options: str) -> str:
    done = ns.run("dig", "+short", "+tries=1", "+time=2", *options, "@127.0.0.1", name, timeout=DIG_TIMEOUT)
    return done.stdout.strip()


def server_pids(server: Server, workers: int) -> list[int]:
    """The processes that serve: the server, or its ``workers`` workers once all have started."""
    if workers == 1:
        return [server.proc.pid]
    wait_until(lambda: len(children(server.proc.pid)) == workers, what=f"{workers} workers")
    return sorted(children(server.proc.pid))


def start(ns: Namespace, python: Python, args: list[str], workers: int) -> Server:
    """A server started as root with ``args`` (which name the user) on port 53 of ``ns``."""
    server = Server([*args, "--listen", "127.0.0.1:53", "--workers", str(workers)],
                    prefix=[*ns.prefix, *python.prefix], python=python.path)
    server.wait_for_line("listening on 127.0.0.1:53", count=workers)
    return server


def assert_serves_as_nobody(pid: int) -> None:
    """``pid`` runs as nobody with no capability, once it has given up the one that bound its sockets
    (just after its ``listening on`` lines)."""
    wait_until(lambda: status(pid)["CapPrm"] == [0], what=f"process {pid} to give up its capabilities")
    assert_runs_as_nobody(pid)


def check_running_as_nobody(server: Server, workers: int) -> list[int]:
    pids = server_pids(server, workers)
    for pid in pids:
        assert_serves_as_nobody(pid)
    if workers > 1:
        assert_runs_as_nobody(server.proc.pid, capabilities=CAP_NET_BIND_SERVICE)
    return pids


def stop_within_a_second(server: Server) -> None:
    server.proc.send_signal(signal.SIGTERM)
    try:
        assert server.proc.wait(STOP_WITHIN) == 0
    finally:
        server.stop()


@pytest.mark.parametrize("workers", [1, 2])
def test_ts_serves_port_53_as_nobody_and_reloads(ns, python, shared, workers):
    table = readable(shared / "ts.txt", f"{NAME} {ADDRESS} A\n")
    server = start(ns, python, ["ts", "--table", str(table), "--user", ACCOUNT], workers)
    try:
        check_running_as_nobody(server, workers)
        assert dig(ns, NAME) == ADDRESS
        assert dig(ns, NAME, "+tcp") == ADDRESS

        readable(table, f"{NAME} {ADDRESS} A\n{NEW_NAME} {NEW_ADDRESS} A\n")
        server.proc.send_signal(signal.SIGHUP)
        server.wait_for_line("reloaded", count=workers)
        assert dig(ns, NEW_NAME) == NEW_ADDRESS

        table.chmod(0o600)      # root's alone now: the user cannot read it on reload
        server.proc.send_signal(signal.SIGHUP)
        server.wait_for_line("reload failed, still serving the old zones", count=workers)
        assert server.count_lines("Permission denied") >= workers
        assert dig(ns, NEW_NAME) == NEW_ADDRESS
        stop_within_a_second(server)
    finally:
        server.stop()


def test_a_worker_started_in_place_of_a_dead_one_binds_port_53_as_nobody(ns, python, shared):
    table = readable(shared / "ts.txt", f"{NAME} {ADDRESS} A\n")
    server = start(ns, python, ["ts", "--table", str(table), "--user", ACCOUNT], 2)
    try:
        first = check_running_as_nobody(server, 2)
        os.kill(first[0], signal.SIGKILL)
        server.wait_for_line("started worker")
        wait_until(lambda: len(children(server.proc.pid) - set(first)) == 1, what="a new worker")
        server.wait_for_line("listening on 127.0.0.1:53", count=3)
        replacement = (children(server.proc.pid) - set(first)).pop()
        assert_serves_as_nobody(replacement)
        assert server.count_lines("cannot listen") == 0
        for _ in range(8):      # from new source ports each: the kernel spreads them over both workers
            assert dig(ns, NAME) == ADDRESS
        stop_within_a_second(server)
    finally:
        server.stop()


@pytest.mark.parametrize("workers", [1, 2])
def test_ls_serves_port_53_as_nobody_and_reloads(ns, python, shared, workers):
    table = readable(shared / "ts.txt", f"{NAME} {ADDRESS} A\n")
    backend = Server(["ts", "--listen", "127.0.0.1:0", "--table", str(table)], prefix=ns.prefix)
    other = readable(shared / "other.txt", f"{NEW_NAME} {NEW_ADDRESS} A\n")
    second = Server(["ts", "--listen", "127.0.0.1:0", "--table", str(other)], prefix=ns.prefix)
    config = readable(shared / "ls.toml", f'user = "{ACCOUNT}"\nbackend = ["a={backend.hostport}"]\n')
    server = start(ns, python, ["ls", "--config", str(config)], workers)
    try:
        check_running_as_nobody(server, workers)
        assert dig(ns, NAME) == ADDRESS
        assert dig(ns, NEW_NAME) == ""      # only the second backend has it

        readable(config, f'user = "{ACCOUNT}"\nbackend = ["a={backend.hostport}", "b={second.hostport}"]\n')
        server.proc.send_signal(signal.SIGHUP)
        server.wait_for_line("reloaded: racing", count=workers)
        assert server.count_lines("not reloaded") == 0      # the user is the same
        assert dig(ns, NEW_NAME) == NEW_ADDRESS

        config.chmod(0o600)
        server.proc.send_signal(signal.SIGHUP)
        server.wait_for_line("reload failed, still serving the old config", count=workers)
        assert dig(ns, NEW_NAME) == NEW_ADDRESS
        stop_within_a_second(server)
    finally:
        server.stop()
        second.stop()
        backend.stop()


@pytest.mark.parametrize("account, unknown", [("nosuchuser-x", "no such user: 'nosuchuser-x'"),
                                              ("nobody:nosuchgroup-x", "no such group: 'nosuchgroup-x'")])
def test_an_unknown_user_or_group_is_one_line_before_anything_is_bound(ns, account, unknown):
    done = ns.run(sys.executable, "-m", "resolver", "ts", "--listen", "127.0.0.1:53",
                  "--table", "/dev/null", "--user", account)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"resolver ts: argument --user: {unknown} (see --help)"]


def test_user_of_another_user_needs_root(python, shared):
    table = readable(shared / "ts.txt", f"{NAME} {ADDRESS} A\n")
    done = subprocess.run([*python.prefix, python.path, "-m", "resolver", "ts", "--listen", "127.0.0.1:0",
                           "--table", str(table), "--user", "daemon"],
                          user=USER, group=GROUP, extra_groups=[], cwd=ROOT, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"resolver ts: error: --user daemon needs root "
                                        f"(running as uid {pwd.getpwnam(USER).pw_uid})"]


def test_user_of_the_user_already_running_is_taken_as_it_is(python, shared):
    require_tool("setpriv")
    table = readable(shared / "ts.txt", f"{NAME} {ADDRESS} A\n")
    server = Server(["ts", "--listen", "127.0.0.1:0", "--table", str(table), "--user", ACCOUNT],
                    prefix=["setpriv", "--reuid", USER, "--regid", GROUP, "--init-groups", *python.prefix],
                    python=python.path)
    try:
        assert_runs_as_nobody(server.proc.pid)
        assert [rd.address for rrset in query(server, NAME).answer for rd in rrset] == [ADDRESS]
    finally:
        assert server.stop() == 0


def test_a_package_the_user_cannot_read_is_one_line(ns, python, tmp_path):
    """The package is run from a copy in a directory only root may enter (pytest's own), from
    there, by a Python the user can read otherwise."""
    copy = tmp_path / "root-only"
    shutil.copytree(ROOT / "resolver", copy / "resolver", ignore=shutil.ignore_patterns("__pycache__"))
    copy.chmod(0o700)
    tmp_path.chmod(0o700)
    packages = os.pathsep.join([str(copy), sysconfig.get_paths()["purelib"]])
    done = ns.run("env", "-C", str(copy), f"PYTHONPATH={packages}", python.path, "-m", "resolver", "ts",
                  "--listen", "127.0.0.1:53", "--table", "/dev/null", "--user", ACCOUNT)
    assert (done.returncode, done.stderr) == (1, f"resolver ts: error: --user {ACCOUNT}: that user cannot read {copy / 'resolver'}, "
                                                 "from which Python imports as it serves; run a Python and a venv it "
                                                 "can read\n")


def test_an_ls_config_the_user_cannot_read_is_warned_of_at_start(ns, python, shared):
    """The LS reads its config again on SIGHUP as the user: a root-only file would load at start and
    fail at the first reload, so the start says so."""
    table = readable(shared / "ts.txt", f"{NAME} {ADDRESS} A\n")
    backend = Server(["ts", "--listen", "127.0.0.1:0", "--table", str(table)], prefix=ns.prefix)
    config = readable(shared / "ls.toml", f'user = "{ACCOUNT}"\nbackend = ["a={backend.hostport}"]\n')
    config.chmod(0o600)
    server = start(ns, python, ["ls", "--config", str(config)], 1)
    try:
        server.wait_for_line(f"--config {config}: {ACCOUNT} cannot read it, so SIGHUP will not reload it")
        assert dig(ns, NAME) == ADDRESS
    finally:
        server.stop()
        backend.stop()
