"""The LS as a real system resolver: glibc's stub resolver (``getent``) pointed at it.

Everything runs inside a private network namespace made for this run
(``rslv-<pid>-<hex>``), so port 53 and ``/etc/resolv.conf`` of the machine are
never touched and no traffic leaves that namespace's loopback:

- two table TS (``--listen 127.0.0.1:0``), each holding one multi-label,
  mixed-case name that the other does not have;
- the LS on ``127.0.0.1:53`` with both TS as backends;
- ``/etc/netns/NAME/resolv.conf`` saying ``nameserver 127.0.0.1``, which
  ``ip netns exec`` bind-mounts over ``/etc/resolv.conf`` inside the namespace.

By default glibc sends the A and the AAAA query of ``getaddrinfo`` back to back
over one UDP socket and waits for both replies. For every name, one TS answers
the A query, the other says NXDOMAIN; for the AAAA query the TS that has the
name says NODATA (NOERROR, no answer) and the other NXDOMAIN, so the LS must
return the NODATA, the better "no", for both queries at once. The resolv.conf
variants also cover glibc's ``single-request``, ``single-request-reopen``,
``use-vc`` (TCP) and ``edns0`` options.

A second namespace holds a split by record type: one TS with ``--silent-miss``
holds the AAAA of a name whose A the other holds, so for each query one
backend answers and the other says NODATA (the answer must win, whichever
comes first), and for a name only the plain TS has, the silent-miss TS stays
silent while the other's NODATA must come back after the LS's NODATA grace,
not its 30 s timeout.

glibc is told to wait up to 30 s for one attempt, and the LS gets a 30 s
timeout too, while every ``getent`` run is bounded by a much shorter limit: a
reply the LS (or a TS) fails to send shows up as a hang, never as the LS's
timeout NXDOMAIN passing for a real negative answer.
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from support.netns import namespace, require_netns, unique
from support.servers import Server
from support.tools import require_tool

NETNS_ETC = Path("/etc/netns")
LS_TIMEOUT = "30"          # seconds; longer than RUN_TIMEOUT on purpose (see the module docstring)
RUN_TIMEOUT = 10.0         # seconds for one getent / probe run inside the namespace
RESOLV_BASE = "nameserver 127.0.0.1\noptions timeout:30 attempts:1\n"

TS1_TABLE = "Intranet.Corp.Example 198.18.0.10 A\n"
TS2_TABLE = "Build.Lab.Corp.Example 198.18.0.20 A\n"

# (name as asked, the only address it must resolve to): table spelling and other cases.
PRESENT = [
    ("Intranet.Corp.Example", "198.18.0.10"),
    ("intranet.corp.example", "198.18.0.10"),
    ("Build.Lab.Corp.Example", "198.18.0.20"),
    ("BUILD.LAB.CORP.EXAMPLE", "198.18.0.20"),
]
MISSING = "Missing.Corp.Example"    # NXDOMAIN in both tables

# The split by record type: TS1 plain, TS2 with --silent-miss.
SPLIT_TS1_TABLE = "Split.Corp.Example 198.18.0.30 A\nV6only.Corp.Example 2001:db8::31 AAAA\n"
SPLIT_TS2_TABLE = "Split.Corp.Example 2001:db8::30 AAAA\nQuiet.Corp.Example 198.18.0.32 A\n"
SPLIT = [
    ("Split.Corp.Example", {"198.18.0.30", "2001:db8::30"}),     # A on TS1, AAAA on TS2: NODATA the other way
    ("Quiet.Corp.Example", {"198.18.0.32"}),                     # TS2 only: its NODATA for AAAA, TS1 NXDOMAIN
    ("V6only.Corp.Example", {"2001:db8::31"}),                   # TS1 only: its NODATA for A, TS2 silent
]
NODATA_GRACE_BOUND = 2.0    # seconds a getent may take when a backend stays silent (the LS timeout is 30 s)
EMPTY_NON_TERMINAL = "Corp.Example"  # exists (above both names) but holds no address: NODATA in both

# glibc resolver options; "" is the default: A and AAAA in parallel over one UDP socket.
RESOLV_VARIANTS = {
    "default": "",
    "single-request": "options single-request\n",
    "single-request-reopen": "options single-request-reopen\n",
    "use-vc": "options use-vc\n",
    "edns0": "options edns0\n",
}

# Run inside the namespace: glibc's pattern on the wire, A then AAAA over one
# connected UDP socket without waiting in between, then both replies read.
ONE_SOCKET_PROBE = r"""
import json, socket, sys
import dns.message, dns.rdatatype, dns.rcode, dns.flags
name = sys.argv[1]
queries = [dns.message.make_query(name, t) for t in ("A", "AAAA")]
queries[1].id = (queries[0].id + 1) % 65536
by_id = {q.id: q for q in queries}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(float(sys.argv[2]))
s.connect(("127.0.0.1", 53))
for q in queries:
    s.send(q.to_wire())
out = {}
while len(out) < 2:
    data = s.recv(65535)
    r = dns.message.from_wire(data)
    q = by_id.get(r.id)
    if q is None:
        print(json.dumps({"stray_id": r.id}))
        sys.exit(3)
    qtype = dns.rdatatype.to_text(q.question[0].rdtype)
    out[qtype] = {
        "rcode": dns.rcode.to_text(r.rcode()),
        "qr": bool(r.flags & dns.flags.QR),
        "rd": bool(r.flags & dns.flags.RD),
        "question": [(str(rr.name), dns.rdatatype.to_text(rr.rdtype)) for rr in r.question],
        "answer": sorted(rd.to_text() for rr in r.answer if rr.rdtype == q.question[0].rdtype for rd in rr),
        "answer_types": sorted(dns.rdatatype.to_text(rr.rdtype) for rr in r.answer),
        "authority_types": sorted(dns.rdatatype.to_text(rr.rdtype) for rr in r.authority),
    }
print(json.dumps(out))
"""

GAI_PROBE = r"""
import socket, sys
try:
    infos = socket.getaddrinfo(sys.argv[1], None)
except socket.gaierror as exc:
    print(exc.errno)
else:
    print("ok", sorted({i[4][0] for i in infos}))
"""


@dataclass
class Deployment:
    netns: str
    ts1: Server
    ts2: Server
    ls: Server

    def logs(self) -> str:
        parts = []
        for label, server in (("TS1", self.ts1), ("TS2", self.ts2), ("LS", self.ls)):
            state = server.proc.poll()
            parts.append(f"--- {label} ({'running' if state is None else f'exited {state}'}):\n"
                         + "\n".join(server.lines[-20:]))
        return "\n".join(parts)


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    """A fresh network namespace with lo up and its own /etc/netns/NAME directory."""
    yield from _namespace()


@pytest.fixture(scope="module")
def split_netns() -> Iterator[str]:
    """Another namespace, for the split-by-type deployment (it needs port 53 too)."""
    yield from _namespace()


def _namespace() -> Iterator[str]:
    require_netns()
    require_tool("getent")
    with namespace(unique("rslv")) as ns:
        etc_dir = NETNS_ETC / ns.name
        created_etc = not NETNS_ETC.exists()
        try:
            etc_dir.mkdir(parents=True)
            (etc_dir / "resolv.conf").write_text(RESOLV_BASE)
            yield ns.name
        finally:
            shutil.rmtree(etc_dir, ignore_errors=True)
            if created_etc:
                try:
                    NETNS_ETC.rmdir()
                except OSError:
                    pass


@pytest.fixture(scope="module")
def deployment(netns: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """TS1 and TS2 on the namespace's loopback and the LS on 127.0.0.1:53 in front of them."""
    yield from _deploy(netns, tmp_path_factory, TS1_TABLE, TS2_TABLE)


@pytest.fixture(scope="module")
def split(split_netns: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A split by record type, TS2 with --silent-miss, the LS on 127.0.0.1:53 (its own namespace)."""
    yield from _deploy(split_netns, tmp_path_factory, SPLIT_TS1_TABLE, SPLIT_TS2_TABLE, ts2_flags=["--silent-miss"])


def _deploy(netns: str, tmp_path_factory: pytest.TempPathFactory, ts1_table: str, ts2_table: str,
            ts2_flags: list[str] = ()) -> Iterator[Deployment]:
    tables = tmp_path_factory.mktemp("system-resolver")
    (tables / "ts1.txt").write_text(ts1_table)
    (tables / "ts2.txt").write_text(ts2_table)
    prefix = ["ip", "netns", "exec", netns]
    started: list[Server] = []
    try:
        ts1 = Server(["ts", "--listen", "127.0.0.1:0", "--table", str(tables / "ts1.txt")], prefix=prefix)
        started.append(ts1)
        ts2 = Server(["ts", "--listen", "127.0.0.1:0", "--table", str(tables / "ts2.txt"), *ts2_flags],
                     prefix=prefix)
        started.append(ts2)
        assert ts1.host == ts2.host == "127.0.0.1", (ts1.addresses, ts2.addresses)
        ls = Server(["ls", "--listen", "127.0.0.1:53",
                     "--backend", ts1.hostport, "--backend", ts2.hostport,
                     "--timeout", LS_TIMEOUT], prefix=prefix)
        started.append(ls)
        assert ls.addresses == [("127.0.0.1", 53)], ls.addresses
        yield Deployment(netns, ts1, ts2, ls)
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture(params=list(RESOLV_VARIANTS), ids=list(RESOLV_VARIANTS))
def glibc(request: pytest.FixtureRequest, deployment: Deployment) -> Deployment:
    """The deployment, with the namespace's resolv.conf set to one glibc variant."""
    (NETNS_ETC / deployment.netns / "resolv.conf").write_text(RESOLV_BASE + RESOLV_VARIANTS[request.param])
    return deployment


def in_netns(dep: Deployment, *argv: str) -> subprocess.CompletedProcess[str]:
    cmd = ["ip", "netns", "exec", dep.netns, *argv]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(cmd)} got no answer within {RUN_TIMEOUT} s "
                    f"(stdout {exc.stdout!r}); a reply was never sent\n{dep.logs()}")


def addresses(output: str) -> set[str]:
    return {line.split()[0] for line in output.splitlines() if line.strip()}


@pytest.mark.parametrize("name,address", PRESENT)
def test_getent_ahosts_resolves_through_ls(glibc: Deployment, name: str, address: str) -> None:
    done = in_netns(glibc, "getent", "ahosts", name)
    assert done.returncode == 0, f"getent ahosts {name}: {done.returncode} {done.stderr!r}\n{glibc.logs()}"
    assert addresses(done.stdout) == {address}, done.stdout


@pytest.mark.parametrize("name,address", PRESENT)
def test_getent_hosts_resolves_through_ls(glibc: Deployment, name: str, address: str) -> None:
    # gethostbyname2: AAAA alone first (NODATA must come back), then A.
    done = in_netns(glibc, "getent", "hosts", name)
    assert done.returncode == 0, f"getent hosts {name}: {done.returncode} {done.stderr!r}\n{glibc.logs()}"
    assert addresses(done.stdout) == {address}, done.stdout


@pytest.mark.parametrize("name", [MISSING, MISSING.lower(), EMPTY_NON_TERMINAL])
def test_name_in_neither_table_is_not_found(glibc: Deployment, name: str) -> None:
    for database in ("ahosts", "hosts"):
        done = in_netns(glibc, "getent", database, name)
        assert done.returncode == 2, (
            f"getent {database} {name}: exit {done.returncode}, stdout {done.stdout!r}\n{glibc.logs()}")
        assert done.stdout == ""


def test_missing_name_is_no_such_name_not_a_failure(glibc: Deployment) -> None:
    """getent exits 2 for any failure; getaddrinfo tells NXDOMAIN (EAI_NONAME) from SERVFAIL (EAI_AGAIN)."""
    done = in_netns(glibc, sys.executable, "-c", GAI_PROBE, MISSING)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(socket.EAI_NONAME), f"{done.stdout!r}\n{glibc.logs()}"


@pytest.mark.parametrize("name,address", PRESENT)
def test_one_socket_a_and_aaaa_both_answered(deployment: Deployment, name: str, address: str) -> None:
    """glibc's default pattern on the wire: the A gets the address, the AAAA the NODATA."""
    done = in_netns(deployment, sys.executable, "-c", ONE_SOCKET_PROBE, name, str(RUN_TIMEOUT - 2))
    assert done.returncode == 0, f"{done.stdout!r} {done.stderr!r}\n{deployment.logs()}"
    replies = json.loads(done.stdout)
    qname = name + "."
    a, aaaa = replies["A"], replies["AAAA"]
    assert a["qr"] and a["rd"]
    assert a["question"] == [[qname, "A"]], a
    assert a["rcode"] == "NOERROR", a
    assert a["answer"] == [address], a
    assert aaaa["qr"] and aaaa["rd"]
    assert aaaa["question"] == [[qname, "AAAA"]], aaaa
    assert aaaa["rcode"] == "NOERROR", aaaa            # NODATA from the TS that has it, not the other's NXDOMAIN
    assert aaaa["answer_types"] == [], aaaa
    assert aaaa["authority_types"] == ["SOA"], aaaa


def test_one_socket_missing_name_nxdomain_for_both(deployment: Deployment) -> None:
    done = in_netns(deployment, sys.executable, "-c", ONE_SOCKET_PROBE, MISSING, str(RUN_TIMEOUT - 2))
    assert done.returncode == 0, f"{done.stdout!r} {done.stderr!r}\n{deployment.logs()}"
    replies = json.loads(done.stdout)
    for qtype in ("A", "AAAA"):
        reply = replies[qtype]
        assert reply["question"] == [[MISSING + ".", qtype]], reply
        assert reply["rcode"] == "NXDOMAIN", reply
        assert reply["answer_types"] == [], reply
        assert reply["authority_types"] == ["SOA"], reply


def test_servers_stayed_up(deployment: Deployment) -> None:
    for server in (deployment.ts1, deployment.ts2, deployment.ls):
        assert server.proc.poll() is None, deployment.logs()


@pytest.mark.parametrize("name,expected", SPLIT, ids=[name for name, _ in SPLIT])
def test_a_split_by_record_type_with_a_silent_miss_ts_resolves_quickly(split: Deployment, name: str,
                                                                       expected: set[str]) -> None:
    (NETNS_ETC / split.netns / "resolv.conf").write_text(RESOLV_BASE)
    started = time.monotonic()
    done = in_netns(split, "getent", "ahosts", name)
    took = time.monotonic() - started
    assert done.returncode == 0, f"getent ahosts {name}: {done.returncode} {done.stderr!r}\n{split.logs()}"
    assert addresses(done.stdout) == expected, done.stdout
    assert took < NODATA_GRACE_BOUND, f"getent ahosts {name} took {took:.2f} s\n{split.logs()}"


def test_the_split_servers_stayed_up(split: Deployment) -> None:
    for server in (split.ts1, split.ts2, split.ls):
        assert server.proc.poll() is None, split.logs()
