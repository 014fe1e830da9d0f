"""The TS as a secondary of a real NSD and a real Knot (RFC 5936 AXFR, 1995 IXFR, 1996 NOTIFY, 8945 TSIG).

Each test starts its primary (``support.nsd``, ``support.knot``) and a ``resolver ts
--secondary`` on loopback, and watches the TS's answers with bounded polls: the
copy equals the primary's zone RRset for RRset after the first AXFR and after an
IXFR that a NOTIFY started (the zone's refresh is an hour, so nothing else could
have), within 2 s of the primary's reload; a wrong TSIG key transfers nothing; a
zone whose primary is gone answers SERVFAIL after its SOA expire time and again
once the primary is back; the saved copy is served at once after a restart with
the primary away; a serial going backwards and a NOTIFY from a stranger are refused.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest

from resolver.ts.tsig import ALGORITHMS
from support.fakes import FakeBackend, Rule
from support.knot import Knot
from support.nsd import Nsd
from support.paths import ROOT
from support.ports import free_port
from support.replication import Peer, ServedZone, TsigKey, axfr_rrsets, rrsets_of
from support.servers import Server, query, scrape, value
from support.tools import require_tool
from support.waiting import wait_until

ZONE = "lab.example."
HOST = "127.0.0.1"
KEY = TsigKey.fresh("xfr-key.")
WRONG_KEY = TsigKey(KEY.name, TsigKey.fresh("other.").secret)     # the same name, another secret
HOUR = 3600


def zone_text(serial: int, www: str = "192.0.2.1", extra: str = "old", refresh: int = HOUR, retry: int = HOUR,
              expire: int = 7 * 24 * HOUR) -> str:
    """A zone of several types; ``www``'s address and the ``extra`` name change between versions."""
    return f"""$ORIGIN {ZONE}
$TTL 300
@       IN SOA ns1 hostmaster {serial} {refresh} {retry} {expire} 60
@       NS   ns1
@       MX   10 mail
ns1     A    127.0.0.1
mail    A    192.0.2.25
mail    AAAA 2001:db8::25
www     A    {www}
www     AAAA 2001:db8::80
alias   CNAME www
_sip._udp SRV 0 5 5060 mail
{extra}  TXT  "version {serial}"
"""


PrimaryFactory = Callable[[Path, list[ServedZone], list[TsigKey]], "Nsd | Knot"]


def nsd_primary(workdir: Path, zones: list[ServedZone], keys: list[TsigKey]) -> Nsd:
    return Nsd(require_tool("nsd"), workdir, zones=zones, keys=keys)


def knot_primary(workdir: Path, zones: list[ServedZone], keys: list[TsigKey]) -> Knot:
    require_tool("knotc")
    return Knot(require_tool("knotd"), workdir, zones, keys)


PRIMARIES = {"nsd": nsd_primary, "knot": knot_primary}


class Setup:
    """A primary serving ZONE from ``zone_file`` (NOTIFY to the TS's port) and a TS secondary of it."""

    def __init__(self, tmp_path: Path, make_primary: PrimaryFactory, key: TsigKey | None = None,
                 ts_key: TsigKey | None = None, **soa: int) -> None:
        tmp_path.mkdir()
        self.tmp = tmp_path
        self.key = key
        self.ts_key = ts_key if ts_key is not None else key
        self.ts_port = free_port(HOST)
        self.zone_file = tmp_path / "lab.example.zone"
        self.soa = soa
        self.zone_file.write_text(zone_text(1, **soa))
        workdir = tmp_path / "primary"
        workdir.mkdir()
        zone = ServedZone(ZONE, self.zone_file, secondaries=(Peer(HOST, self.ts_port, key.name if key else None),))
        self.primary = make_primary(workdir, [zone], [key] if key else [])
        self.primary.start()
        self.zone_dir = tmp_path / "zones"
        self.ts: Server | None = None

    def start_ts(self) -> Server:
        args = ["ts", "--secondary", f"{ZONE}={self.primary.hostport}" + (f",key={self.ts_key.name}"
                                                                           if self.ts_key else ""),
                "--listen", f"{HOST}:{self.ts_port}", "--zone-dir", str(self.zone_dir), "--metrics", f"{HOST}:0"]
        if self.ts_key is not None:
            config = self.tmp / "ts.toml"
            config.write_text(self.ts_key.toml())
            args += ["--config", str(config)]
        self.ts = Server(args)
        return self.ts

    def change(self, serial: int, **fields: str) -> None:
        """Write version ``serial`` of the zone and have the primary load it (it then sends NOTIFY)."""
        self.zone_file.write_text(zone_text(serial, **fields, **self.soa))
        self.primary.reload()

    def stop(self) -> None:
        if self.ts is not None:
            self.ts.stop()
        self.primary.stop()


@pytest.fixture
def setups(tmp_path: Path):
    made: list[Setup] = []

    def make(make_primary: PrimaryFactory, **kw) -> Setup:
        setup = Setup(tmp_path / str(len(made)), make_primary, **kw)
        made.append(setup)
        return setup
    yield make
    for setup in made:
        setup.stop()


def serial_of(ts: Server) -> int | None:
    """The serial the TS answers for ZONE's SOA, None while it answers SERVFAIL."""
    reply = query(ts, ZONE, "SOA", timeout=1)
    return reply.answer[0][0].serial if reply.rcode() == dns.rcode.NOERROR and reply.answer else None


def assert_same_zone(ts: Server, setup: Setup) -> None:
    """Every RRset of the primary's zone (read by AXFR) is answered by the TS with the same
    TTL and records, and the TS's saved copy holds exactly those RRsets."""
    primary = axfr_rrsets(setup.primary.address, ZONE, setup.key)
    for (owner, rdtype), (ttl, records) in primary.items():
        reply = query(ts, owner, dns.rdatatype.to_text(rdtype))
        rrset = reply.get_rrset(reply.answer, dns.name.from_text(owner), dns.rdataclass.IN, rdtype)
        assert rrset is not None, f"{owner} {dns.rdatatype.to_text(rdtype)} missing from the TS: {reply}"
        assert (rrset.ttl, frozenset(rd.to_text().lower() for rd in rrset)) == (ttl, records), (owner, rdtype)
    saved = dns.zone.from_file(str(setup.zone_dir / "lab.example.zone"), ZONE, relativize=False)
    assert rrsets_of(saved) == primary


def www(ts: Server) -> list[str]:
    reply = query(ts, "www." + ZONE, timeout=1)
    return sorted(rd.address for rrset in reply.answer for rd in rrset)


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "tsig"])
@pytest.mark.parametrize("primary", PRIMARIES)
def test_axfr_then_ixfr_on_notify(setups, primary: str, signed: bool) -> None:
    """AXFR at start; after the primary reloads a changed zone, its NOTIFY brings an IXFR whose
    new data the TS answers within 2 s; both times the copy equals the primary's zone."""
    setup = setups(PRIMARIES[primary], key=KEY if signed else None)
    ts = setup.start_ts()
    wait_until(lambda: serial_of(ts) == 1, 5, "the TS answers serial 1", interval=0.05)
    assert_same_zone(ts, setup)
    ts.wait_for_line("serial 1 by AXFR")

    setup.change(2, www="192.0.2.2", extra="new")
    took = wait_until(lambda: www(ts) == ["192.0.2.2"], 2.0, "the TS answers the new address", interval=0.02)
    assert took < 2.0
    wait_until(lambda: serial_of(ts) == 2, 1, "serial 2")
    assert_same_zone(ts, setup)
    ts.wait_for_line("serial 2 by IXFR")
    assert query(ts, "old." + ZONE, "TXT").rcode() == dns.rcode.NXDOMAIN
    samples = scrape(ts)
    assert value(samples, "resolver_ts_transfers_total", zone=ZONE, kind="IXFR", result="ok") == 1
    assert value(samples, "resolver_ts_transfers_total", zone=ZONE, kind="AXFR", result="ok") == 1


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_tsig_algorithm_with_the_key_name_in_other_letters(setups, algorithm: str) -> None:
    """With each HMAC algorithm NSD offers (RFC 8945 6), and the key named ``xfr-key.`` on NSD and
    ``XFR-Key.`` on the TS (one name: RFC 8945 4.3.3 signs it in lower case), the SOA query,
    the AXFR, NSD's signed NOTIFY and the IXFR it brings all verify."""
    key = TsigKey(KEY.name, KEY.secret, algorithm)
    setup = setups(nsd_primary, key=key, ts_key=TsigKey(KEY.name.upper(), KEY.secret, algorithm))
    ts = setup.start_ts()
    wait_until(lambda: serial_of(ts) == 1, 5, "the TS answers serial 1", interval=0.05)
    setup.change(2, www="192.0.2.2")
    wait_until(lambda: www(ts) == ["192.0.2.2"], 2.0, "the change, by NOTIFY", interval=0.02)
    ts.wait_for_line("serial 2 by IXFR")
    assert_same_zone(ts, setup)


@pytest.mark.parametrize("primary", PRIMARIES)
def test_wrong_tsig_key_transfers_nothing(setups, primary: str) -> None:
    """A TS whose key has the right name but another secret gets no zone: its SOA query or
    transfer is refused (BADSIG), the zone stays SERVFAIL, and one line says why."""
    setup = setups(PRIMARIES[primary], key=KEY, ts_key=WRONG_KEY)
    ts = setup.start_ts()
    ts.wait_for_line("TSIG")
    assert query(ts, "www." + ZONE).rcode() == dns.rcode.SERVFAIL
    assert not (setup.zone_dir / "lab.example.zone").exists()
    assert ts.count_lines("by AXFR") == 0


def test_expire_then_back(setups) -> None:
    """With the primary gone the copy is served until its SOA expire time (3 s), then SERVFAIL;
    once the primary is back the zone answers again within a retry (1 s)."""
    setup = setups(nsd_primary, refresh=1, retry=1, expire=3)
    ts = setup.start_ts()
    wait_until(lambda: serial_of(ts) == 1, 5, "the TS answers serial 1", interval=0.05)
    setup.primary.stop()
    stopped = time.monotonic()
    # Still served while within expire (the last check was at most a refresh ago).
    assert www(ts) == ["192.0.2.1"]
    wait_until(lambda: query(ts, "www." + ZONE, timeout=1).rcode() == dns.rcode.SERVFAIL, 6, "SERVFAIL after expire",
               interval=0.05)
    assert time.monotonic() - stopped >= 3 - 1 - 0.2     # expire, less the refresh the check may have been before
    ts.wait_for_line("expired")
    setup.primary.start()
    wait_until(lambda: www(ts) == ["192.0.2.1"], 4, "answers again once the primary is back", interval=0.05)


def test_saved_copy_served_at_once_after_restart(setups) -> None:
    """A TS restarted with its primary unreachable serves the copy in --zone-dir at its first answer."""
    setup = setups(nsd_primary)
    ts = setup.start_ts()
    wait_until(lambda: serial_of(ts) == 1, 5, "the TS answers serial 1", interval=0.05)
    ts.stop()
    setup.primary.stop()
    ts = setup.start_ts()
    assert www(ts) == ["192.0.2.1"]
    assert serial_of(ts) == 1
    assert ts.count_lines("saved copy loaded, serial 1") == 1


def test_serial_going_backwards_is_refused(setups) -> None:
    """A primary whose serial fell below the copy's (RFC 1982) is not followed: the copy serves on,
    and the check logs one line."""
    setup = setups(nsd_primary)
    setup.zone_file.write_text(zone_text(5))
    setup.primary.reload()
    ts = setup.start_ts()
    wait_until(lambda: serial_of(ts) == 5, 5, "the TS answers serial 5", interval=0.05)
    setup.change(4, www="192.0.2.4")
    ts.wait_for_line("serial 4 is not above ours, 5")
    assert www(ts) == ["192.0.2.1"]
    assert serial_of(ts) == 5


def notify(ts: Server, zone: str, source: str = HOST, key: TsigKey | None = None,
           signed_reply: bool = True) -> dns.message.Message:
    """Send a NOTIFY for ``zone`` from ``source`` (signed with ``key``) and return the reply, as it
    came (question or not); its TSIG is verified unless ``signed_reply`` is false."""
    message = dns.message.make_query(zone, "SOA")
    message.set_opcode(dns.opcode.NOTIFY)
    message.flags = (message.flags | dns.flags.AA) & ~dns.flags.RD
    if key is not None:
        message.use_tsig(key.keyring(), key.name)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(2)
        sock.sendto(message.to_wire(), (ts.host, ts.port))
        wire, _ = sock.recvfrom(65535)
    keyring = (key.keyring() if signed_reply else False) if key else None
    return dns.message.from_wire(wire, keyring=keyring, request_mac=message.mac)


def test_notify_from_strangers_refused(tmp_path: Path) -> None:
    """NOTIFY from a primary's address is answered NOERROR with AA (and signed back when signed);
    from another address, or unsigned for a zone with a key, REFUSED; for a zone the TS is
    not secondary for, NOTAUTH; signed with a wrong secret or an unknown key, NOTAUTH with the
    TSIG error BADSIG or BADKEY, as NSD answers. The primary here is a closed port: only the
    NOTIFY matters."""
    config = tmp_path / "ts.toml"
    config.write_text(KEY.toml())
    closed = free_port(HOST)
    ts = Server(["ts", "--secondary", f"{ZONE}={HOST}:{closed}", "--secondary", f"keyed.example.={HOST}:{closed},key={KEY.name}",
                 "--listen", f"{HOST}:0", "--config", str(config)])
    try:
        ok = notify(ts, ZONE)
        assert (ok.rcode(), bool(ok.flags & dns.flags.AA), ok.opcode()) == (dns.rcode.NOERROR, True, dns.opcode.NOTIFY)
        assert ok.question[0].name == dns.name.from_text(ZONE)
        stranger = notify(ts, ZONE, source="127.0.0.2")
        assert (stranger.rcode(), bool(stranger.flags & dns.flags.AA)) == (dns.rcode.REFUSED, True)
        assert notify(ts, "other.example.").rcode() == dns.rcode.NOTAUTH
        assert notify(ts, "keyed.example.").rcode() == dns.rcode.REFUSED
        signed = notify(ts, "keyed.example.", key=KEY)
        assert signed.rcode() == dns.rcode.NOERROR and signed.had_tsig
        wrong = notify(ts, "keyed.example.", key=WRONG_KEY, signed_reply=False)
        assert (wrong.rcode(), wrong.tsig[0].error) == (dns.rcode.NOTAUTH, dns.rcode.BADSIG)     # RFC 8945 5.2
        unknown = notify(ts, "keyed.example.", key=TsigKey("nosuch.", KEY.secret), signed_reply=False)
        assert (unknown.rcode(), unknown.tsig[0].error) == (dns.rcode.NOTAUTH, dns.rcode.BADKEY)
        ts.wait_for_line("NOTIFY from 127.0.0.1 refused: TSIG BADSIG (key xfr-key.)")
        ts.wait_for_line("from 127.0.0.2 for lab.example. refused")
    finally:
        ts.stop()


def fake_records(serial: int, extra: tuple[str, ...] = ()) -> list[str]:
    """ZONE at ``serial`` as absolute record lines, and ``extra`` lines (outside the zone, or clashing)."""
    return [f"{ZONE} 60 IN SOA ns1.{ZONE} hostmaster.{ZONE} {serial} {HOUR} {HOUR} {7 * 24 * HOUR} 60",
            f"{ZONE} 60 IN NS ns1.{ZONE}", f"ns1.{ZONE} 60 IN A 127.0.0.1", f"www.{ZONE} 60 IN A 192.0.2.{serial}",
            *extra]


def whole_zone(records: Callable[[], list[str]], ixfr_rcode: int = dns.rcode.NOERROR) -> Rule:
    """A primary that no real server will play: the SOA of ``records()`` for an SOA query, and
    every record of it in one message for AXFR and IXFR alike (RFC 1995 4 lets a primary
    answer an IXFR with the whole zone), whatever the records are; or an IXFR refused with
    ``ixfr_rcode``."""
    def rule(request) -> list[tuple[float, bytes]]:
        query = dns.message.from_wire(bytes(request.pack()))
        rrsets = [dns.rrset.from_text(name, int(ttl), rdclass, rdtype, rdata)
                  for name, ttl, rdclass, rdtype, rdata in (line.split(None, 4) for line in records())]
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA
        if query.question[0].rdtype == dns.rdatatype.IXFR and ixfr_rcode != dns.rcode.NOERROR:
            reply.set_rcode(ixfr_rcode)
        else:
            reply.answer = rrsets[:1] if query.question[0].rdtype == dns.rdatatype.SOA else [*rrsets, rrsets[0]]
        return [(0.0, reply.to_wire())]
    return rule


@pytest.mark.parametrize("extra, why", [
    (("www.elsewhere.example. 60 IN A 203.0.113.1",), "www.elsewhere.example. A, outside the zone"),
    ((f"www.{ZONE} 60 IN CNAME ns1.{ZONE}",), f"www.{ZONE} has a CNAME and other data"),
], ids=["outside", "cname-and-other-data"])
def test_broken_transfer_keeps_the_copy(tmp_path: Path, extra: tuple[str, ...], why: str) -> None:
    """A transfer holding a record outside the zone, or a CNAME beside other data (which
    dnspython alone would silently drop), is refused with one line; the copy serves on. The
    next good version comes whole, and is logged as the AXFR it was, though an IXFR was asked."""
    version = [fake_records(1)]
    with FakeBackend(whole_zone(lambda: version[0])) as primary:
        host, port = primary.address
        ts = Server(["ts", "--secondary", f"{ZONE}={host}:{port}", "--listen", f"{HOST}:0"])
        try:
            wait_until(lambda: www(ts) == ["192.0.2.1"], 5, "the first copy", interval=0.05)
            version[0] = fake_records(2, extra)
            assert notify(ts, ZONE).rcode() == dns.rcode.NOERROR
            ts.wait_for_line(why)
            assert ts.count_lines(why) == 1
            assert www(ts) == ["192.0.2.1"] and serial_of(ts) == 1
            version[0] = fake_records(3)
            assert notify(ts, ZONE).rcode() == dns.rcode.NOERROR
            wait_until(lambda: www(ts) == ["192.0.2.3"], 2, "the next good version", interval=0.02)
            ts.wait_for_line("serial 3 by AXFR")
        finally:
            ts.stop()


def test_refused_ixfr_falls_back_to_axfr(tmp_path: Path) -> None:
    """A primary that refuses IXFR (NOTIMP, as a server without IXFR may) is asked by AXFR."""
    version = [fake_records(1)]
    with FakeBackend(whole_zone(lambda: version[0], ixfr_rcode=dns.rcode.NOTIMP)) as primary:
        host, port = primary.address
        ts = Server(["ts", "--secondary", f"{ZONE}={host}:{port}", "--listen", f"{HOST}:0", "--metrics", f"{HOST}:0"])
        try:
            wait_until(lambda: www(ts) == ["192.0.2.1"], 5, "the first copy", interval=0.05)
            version[0] = fake_records(2)
            assert notify(ts, ZONE).rcode() == dns.rcode.NOERROR
            wait_until(lambda: www(ts) == ["192.0.2.2"], 2, "serial 2, by AXFR", interval=0.02)
            ts.wait_for_line("serial 2 by AXFR")
            samples = scrape(ts)
            assert value(samples, "resolver_ts_transfers_total", zone=ZONE, kind="IXFR", result="failed") == 1
            assert value(samples, "resolver_ts_transfers_total", zone=ZONE, kind="AXFR", result="ok") == 2
        finally:
            ts.stop()


def test_secondary_below_a_zone_from_a_file(setups, tmp_path: Path) -> None:
    """A secondary zone below a zone the TS serves from a file answers for its names (not a
    referral), before and after a NOTIFY-driven change, and the parent zone answers on."""
    parent = tmp_path / "example.zone"
    parent.write_text(f"""$ORIGIN example.
@    300 IN SOA ns1 hostmaster 1 {HOUR} {HOUR} {HOUR} 60
@    300 IN NS  ns1
ns1  300 IN A   127.0.0.1
www  300 IN A   192.0.2.100
lab  300 IN NS  ns1.lab
ns1.lab 300 IN A 127.0.0.1
""")
    setup = setups(nsd_primary)
    ts = setup.start_ts()
    ts.stop()
    setup.ts = ts = Server([*ts.args, "--zone", str(parent)])
    wait_until(lambda: www(ts) == ["192.0.2.1"], 5, "the child zone's copy", interval=0.05)
    assert query(ts, "www." + ZONE).flags & dns.flags.AA
    setup.change(2, www="192.0.2.2")
    wait_until(lambda: www(ts) == ["192.0.2.2"], 2, "the child's new address", interval=0.02)
    reply = query(ts, "www.example.")
    assert [rd.address for rrset in reply.answer for rd in rrset] == ["192.0.2.100"]


def test_zone_file_and_secondary_of_one_zone_is_an_error(tmp_path: Path) -> None:
    """One zone from a file and as a secondary: one line, exit 1, before listening."""
    path = tmp_path / "lab.example.zone"
    path.write_text(zone_text(1))
    result = subprocess.run([sys.executable, "-m", "resolver", "ts", "--zone", str(path), "--secondary",
                             f"{ZONE}={HOST}:{free_port(HOST)}", "--listen", f"{HOST}:0"],
                            cwd=ROOT, capture_output=True, text=True, timeout=15)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"resolver ts: error: {ZONE} is both a zone file and a --secondary zone"]


def test_one_zone_given_to_secondary_twice_is_a_usage_error() -> None:
    """The same zone twice (in other letters), with other primaries each: one line, exit 2, as NSD
    and Knot refuse a zone configured twice; before, the last one silently won."""
    result = subprocess.run([sys.executable, "-m", "resolver", "ts", "--secondary", f"lab.example={HOST}:5400",
                             "--secondary", f"LAB.example.={HOST}:5401", "--listen", f"{HOST}:0"],
                            cwd=ROOT, capture_output=True, text=True, timeout=15)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "resolver ts: --secondary LAB.example. is given twice: give its primaries once, comma-separated"]


def test_a_zone_of_100000_records_from_knot_is_transferred(setups) -> None:
    """Knot ends a transfer whose client leaves it unable to send for its tcp-io-timeout (500 ms):
    the TS reads the messages as they come, however long applying them takes, so a zone of
    100,000 records (about 9 s to apply) comes whole. Before, it read a message only once the
    one before was applied, and from about 80,000 records Knot cut every attempt short."""
    setup = setups(knot_primary)
    setup.zone_file.write_text(zone_text(2) + "".join(f"h{i} A 10.{i >> 16}.{i >> 8 & 255}.{i & 255}\n"
                                                      for i in range(100_000)))
    setup.primary.reload()
    wait_until(lambda: query(setup.primary, ZONE, "SOA").answer[0][0].serial == 2, 30, "Knot loads serial 2",
               interval=0.2)
    ts = setup.start_ts()
    wait_until(lambda: serial_of(ts) == 2, 90, "the TS answers serial 2", interval=0.5)
    assert query(ts, f"h99999.{ZONE}").answer[0][0].address == "10.1.134.159"
    ts.wait_for_line("serial 2 by AXFR")
    assert ts.count_lines("connection failed") == 0
