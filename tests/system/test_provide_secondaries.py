"""A real NSD and a real Knot as secondaries of the TS (RFC 5936 AXFR, 1995 IXFR, 1996 NOTIFY, 8945 TSIG).

The TS serves a zone file with ``--allow-transfer`` and ``--notify`` to the
secondary, which transfers the zone from it (``support.nsd``, ``support.knot``).
The secondary's copy, read back by AXFR, must equal the file's zone RRset for
RRset (names in any letter case) after its first transfer, and again after the
file changes and the TS reloads it (SIGHUP): the TS's NOTIFY brings an IXFR
(the zone's refresh is an hour, so nothing else could have) within a few
seconds. With and without TSIG on the transfers and the NOTIFY.
"""
from __future__ import annotations

import signal
from pathlib import Path
from typing import Iterator

import dns.exception
import dns.query
import dns.rdatatype
import dns.zone
import pytest

from resolver.ts.tsig import ALGORITHMS

from support.ports import free_port
from support.replication import Peer, ServedZone, TsigKey, axfr_rrsets, rrsets_of
from support.servers import Server
from support.signed_zone import signed_zone
from support.waiting import wait_until
from test_secondary import PRIMARIES

ZONE = "prov.example."
HOST = "127.0.0.1"
KEY = TsigKey.fresh("prov-key.")
BULK = 2000         # plain addresses, enough for several messages


def zone_text(serial: int, changed: bool = False) -> str:
    """A zone of many types, names in mixed case, a wildcard, a delegation with glue, a long TXT and
    :data:`BULK` addresses; ``changed`` drops, adds and alters some of them."""
    bulk = range(100, BULK) if changed else range(BULK)
    lines = [f"$ORIGIN {ZONE}", "$TTL 300",
             f"@ IN SOA ns1 hostmaster {serial} 3600 600 604800 60",
             "@ NS ns1", "@ NS ns2.elsewhere.example.", "@ MX 10 Mail",
             "ns1 A 127.0.0.1", "Mail A 192.0.2.25", "mail AAAA 2001:db8::25",
             f"www A {'192.0.2.2' if changed else '192.0.2.1'}", "www AAAA 2001:db8::80",
             "Alias CNAME www", "_sip._udp SRV 0 5 5060 mail", "*.Wild TXT \"any name\"",
             "sub NS ns.sub", "ns.sub A 192.0.2.53", f"long TXT \"{'x' * 200}\" \"{'y' * 200}\"",
             f"{'new' if changed else 'old'} 600 TXT \"version {serial}\""]
    lines += [f"h{i} A 10.0.{i >> 8}.{i & 255}" for i in bulk]
    return "\n".join(lines) + "\n"


def file_rrsets(text: str) -> dict:
    return rrsets_of(dns.zone.from_text(text, ZONE, relativize=False))


# NSD or Knot with these zones: test_secondary's factories (a zone's role is in its ServedZone).
SECONDARIES = PRIMARIES


@pytest.fixture
def stopped() -> Iterator[list]:
    """Servers to stop at the end of the test, whatever happens."""
    servers: list = []
    yield servers
    for server in reversed(servers):
        server.stop()


# (secondary, TSIG algorithm or None): each secondary unsigned and with HMAC-SHA256, and Knot
# with every algorithm the TS offers (RFC 8945 6).
SIGNINGS = [*((kind, algorithm) for kind in SECONDARIES for algorithm in (None, "hmac-sha256")),
            *(("knot", algorithm) for algorithm in ALGORITHMS if algorithm != "hmac-sha256")]


@pytest.mark.parametrize("kind, algorithm", SIGNINGS, ids=[f"{k}-{a or 'unsigned'}" for k, a in SIGNINGS])
def test_secondary_copy_equals_the_zone_after_axfr_and_after_ixfr_on_notify(tmp_path: Path, stopped: list,
                                                                           kind: str, algorithm: str | None):
    """The secondary's copy equals the zone file after its first AXFR and after the IXFR the TS's
    NOTIFY brings on SIGHUP. Signed, the TS names the key in capitals (``PROV-KEY.``) and the
    secondary in lower case: one name (RFC 8945 4.3.3 signs it in lower case)."""
    key = TsigKey(KEY.name, KEY.secret, algorithm) if algorithm else None
    ts_key = TsigKey(KEY.name.upper(), KEY.secret, algorithm or KEY.algorithm)
    suffix = f",key={ts_key.name}" if key else ""
    path = tmp_path / "prov.example.zone"
    path.write_text(zone_text(1))
    ts_port = free_port(HOST)
    workdir = tmp_path / kind
    workdir.mkdir()
    zone = ServedZone(ZONE, primaries=(Peer(HOST, ts_port, key and key.name),),
                      secondaries=(Peer(HOST, None, key and key.name),))      # the test reads its copy
    secondary = SECONDARIES[kind](workdir, [zone], [key] if key else [])
    config = tmp_path / "ts.toml"
    config.write_text(ts_key.toml())
    ts = Server(["ts", "--config", str(config), "--zone", f"{ZONE}={path}", "--listen", f"{HOST}:{ts_port}",
                 "--allow-transfer", f"{HOST}/32{suffix}", "--notify", f"{secondary.hostport}{suffix}"])
    stopped.append(ts)
    secondary.start()
    stopped.append(secondary)

    def copy() -> dict:
        return axfr_rrsets(secondary.address, ZONE, key)

    expected = file_rrsets(zone_text(1))
    wait_until(lambda: copy() == expected, 10, f"{kind}'s copy equals the zone file", interval=0.2)
    ts.wait_for_line(f"AXFR of {ZONE} to {HOST}: serial 1")

    path.write_text(zone_text(2, changed=True))
    ts.proc.send_signal(signal.SIGHUP)
    expected = file_rrsets(zone_text(2, changed=True))
    wait_until(lambda: copy() == expected, 5, f"{kind}'s copy equals the changed zone file", interval=0.1)
    ts.wait_for_line(f"IXFR from 1 of {ZONE} to {HOST}: serial 2")
    assert ts.count_lines(f"AXFR of {ZONE}") == 1          # the change came by IXFR alone


TRIP = "trip.example."
TRIP_RECORDS = [
    (TRIP, "NS", f"ns1.{TRIP}"), (f"ns1.{TRIP}", "A", "127.0.0.1"), (TRIP, "MX", f"10 Mail.{TRIP}"),
    (f"Mail.{TRIP}", "A", "192.0.2.25"), (TRIP, "CAA", '0 issue "ca.example"'), (TRIP, "TXT", '"v=spf1 -all"'),
    (f"*.Wild.{TRIP}", "TXT", '"any \\"quoted\\" name;"'), (f"Dn.{TRIP}", "DNAME", "elsewhere.example."),
    (f"t.{TRIP}", "TXT", '"caf\\195\\169" "\\000\\255"'), (f"a\\.b.{TRIP}", "A", "192.0.2.9"),
    (f"sub.{TRIP}", "NS", f"ns.sub.{TRIP}"), (f"ns.sub.{TRIP}", "A", "192.0.2.53"),
    (f"sub.{TRIP}", "DS", "12345 13 2 " + "ab" * 32), (f"x.{TRIP}", "TYPE65534", "\\# 4 0a0b0c0d"),
    (f"srv.{TRIP}", "SRV", "0 5 5060 mail"), (f"h.{TRIP}", "HINFO", '"cpu" "os"'),
]


def exact_records(address: tuple[str, int], zone: str) -> set[tuple[str, int, str, str]]:
    """Every record of an AXFR of ``zone`` from ``address`` as text, names in the letter case sent."""
    return {(rrset.name.to_text(), rrset.ttl, dns.rdatatype.to_text(rrset.rdtype), rdata.to_text())
            for message in dns.query.xfr(address[0], zone, port=address[1], relativize=False, timeout=5)
            for rrset in message.answer for rdata in rrset}


@pytest.mark.parametrize("nsec3", [False, True], ids=["nsec", "nsec3"])
def test_a_signed_zone_goes_from_nsd_through_the_ts_to_knot_unchanged(tmp_path: Path, stopped: list, nsec3: bool):
    """A signed zone (RRSIGs, DNSKEYs, an NSEC or NSEC3 chain) with a wildcard, a DNAME, a
    delegation with DS and glue, escapes, bytes past ASCII and an unknown type, in mixed case:
    NSD serves it, the TS is its secondary and the primary of Knot; every record Knot then
    transfers out is the one NSD sent, owner's letter case, TTL and rdata alike."""
    path = tmp_path / "trip.example.zone"
    path.write_text(f"$ORIGIN {TRIP}\n$TTL 3600\n@ SOA ns1 hostmaster 1 3600 600 604800 60\n"
                    + signed_zone(TRIP, TRIP_RECORDS, nsec3))
    ts_port = free_port(HOST)
    for kind in ("nsd", "knot"):
        (tmp_path / kind).mkdir()
    reader = Peer(HOST, None)       # the test, reading each copy
    nsd = SECONDARIES["nsd"](tmp_path / "nsd", [ServedZone(TRIP, path, secondaries=(Peer(HOST, ts_port), reader))], [])
    knot = SECONDARIES["knot"](tmp_path / "knot", [ServedZone(TRIP, primaries=(Peer(HOST, ts_port),),
                                                              secondaries=(reader,))], [])
    nsd.start()
    stopped.append(nsd)
    ts = Server(["ts", "--secondary", f"{TRIP}={nsd.hostport}", "--listen", f"{HOST}:{ts_port}",
                 "--allow-transfer", f"{HOST}/32", "--notify", knot.hostport])
    stopped.append(ts)
    knot.start()
    stopped.append(knot)
    sent = exact_records(nsd.address, TRIP)
    assert any(rdtype == ("NSEC3" if nsec3 else "NSEC") for _, _, rdtype, _ in sent)

    def knot_has_it() -> bool:
        try:
            return bool(exact_records(knot.address, TRIP))
        except (dns.exception.DNSException, OSError):
            return False

    wait_until(knot_has_it, 10, "Knot's copy, by the TS's NOTIFY", interval=0.2)
    assert exact_records(ts.addresses[0], TRIP) == sent
    assert exact_records(knot.address, TRIP) == sent
