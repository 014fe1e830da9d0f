"""The TS as a primary: AXFR and IXFR out (RFC 5936, 1995), TSIG (RFC 8945) and NOTIFY (RFC 1996).

A TS serves one zone file with ``--allow-transfer``; the tests transfer it
with dig and with dnspython over real sockets, reload it with SIGHUP after
changing the file, and compare what comes back with the file as dnspython
reads it. NSD and Knot as secondaries of the TS: test_provide_secondaries.
"""
from __future__ import annotations

import asyncio
import collections
import signal
import time
import socket
import struct
import subprocess
from dataclasses import replace
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TSIG
import dns.rrset
import dns.tsig
import dns.xfr
import dns.zone
import pytest

from resolver.ts import notify
from resolver.ts.settings import Remote, TRANSFER_MESSAGE_OCTETS, TRANSFERS_AT_ONCE
from support.notify_target import NotifyTarget
from support.ports import free_port
from support.servers import Server, query, read_tcp_message, scrape, value
from support.waiting import wait_until
from support.tools import require_tool
from support.zonegen import generate_zone

ORIGIN = "xfr.test."
APEX = dns.name.from_text(ORIGIN)
SOA = f"ns1.{ORIGIN} hostmaster.{ORIGIN} {{serial}} 7200 900 1209600 300"
SECRET, OTHER_SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTAx", "b3RoZXItb3RoZXItb3RoZXItb3RoZXItb3RoZXI="
KEY = dns.tsig.Key("xfr.key.", SECRET, "hmac-sha256")
OTHER_KEY = dns.tsig.Key("other.key.", OTHER_SECRET, "hmac-sha256")
CONFIG = f"""
[key."{KEY.name}"]
secret = "{SECRET}"
[key."{OTHER_KEY.name}"]
secret = "{OTHER_SECRET}"
"""
Rr = tuple[dns.name.Name, int, int, object]      # owner, type, TTL, rdata: equal in any letter case


def zone_text(serial: int, bulk: range = range(3000), extra: tuple[str, ...] = ()) -> str:
    """A zone of every shape the random zones have (wildcards, DNAMEs, escapes, mixed case...),
    and ``bulk`` plain addresses, enough for several messages; the SOA has ``serial``."""
    base = generate_zone(7, 3)
    soa = replace(base.records[0], rdata=SOA.format(serial=serial))
    lines = [replace(base, records=[soa, *base.records[1:]]).text(ORIGIN)]
    lines += [f"h{i} 600 IN A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in bulk]
    return "\n".join([*lines, *extra]) + "\n"


def records_of(text: str) -> collections.Counter:
    """The zone file's records, as dnspython reads it."""
    zone = dns.zone.from_text(text, ORIGIN, relativize=False)
    return collections.Counter((name, rdataset.rdtype, rdataset.ttl, rdata) for name, node in zone.nodes.items()
                               for rdataset in node for rdata in rdataset)


def without_soa(records: collections.Counter) -> collections.Counter:
    return collections.Counter({rr: n for rr, n in records.items() if rr[1] != dns.rdatatype.SOA})


def flat(messages: list[dns.message.Message]) -> list[Rr]:
    """The answer records of a transfer's messages, in order."""
    return [(rrset.name, rrset.rdtype, rrset.ttl, rdata) for message in messages for rrset in message.answer
            for rdata in rrset]


def transfer(ts: Server, rdtype: str = "AXFR", serial: int | None = None, key: dns.tsig.Key | None = None,
             source: str | None = None) -> list[dns.message.Message]:
    """Every message of a transfer from ``ts`` over TCP, read by dnspython (which checks their TSIG)."""
    return list(dns.query.xfr(ts.host, APEX, port=ts.port, timeout=10, lifetime=60, source=source,
                              rdtype=dns.rdatatype.from_text(rdtype), serial=serial or 0, relativize=False,
                              keyring=key and {key.name: key}, keyname=key and key.name))


def ask(ts: Server, rdtype: str, tcp: bool = True, serial: int | None = None, key: dns.tsig.Key | None = None,
        source: str | None = None, edns: bool = True) -> dns.message.Message:
    """One request, one reply (a refusal, or a single-message transfer)."""
    query = dns.message.make_query(APEX, dns.rdatatype.from_text(rdtype), use_edns=0 if edns else False)
    if serial is not None:
        query.authority.append(dns.rrset.from_text(APEX, 0, "IN", "SOA", SOA.format(serial=serial)))
    if key is not None:
        query.use_tsig(key)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, ts.host, port=ts.port, timeout=5, source=source, one_rr_per_rrset=True)


def still_answers(ts: Server) -> None:
    """The TS answers a query of its zone, over UDP and over TCP."""
    for tcp in (False, True):
        assert query(ts, f"h1.{ORIGIN}", tcp=tcp, timeout=2).answer[0][0].address == "10.0.0.1"


@pytest.fixture
def primary(start_server, tmp_path):
    """Start a TS serving ``text`` as ``xfr.test.`` with more flags; the keys of :data:`CONFIG` loaded."""
    config = tmp_path / "ts.toml"
    config.write_text(CONFIG)

    def start(text: str, *flags: str, **kw) -> tuple[Server, Path]:
        path = tmp_path / "xfr.test.zone"
        path.write_text(text)
        return start_server("ts", "--config", str(config), "--zone", f"{ORIGIN}={path}", *flags, **kw), path
    return start


def reload(ts: Server, path: Path, text: str, count: int) -> None:
    """Write the zone file anew, SIGHUP, and wait for the ``count``-th reload."""
    path.write_text(text)
    ts.proc.send_signal(signal.SIGHUP)
    ts.wait_for_line("reloaded", count=count)


def test_dig_axfr_from_an_allowed_address_gives_every_record_once_soa_first_and_last(primary):
    text = zone_text(1)
    ts, _ = primary(text, "--allow-transfer", "127.0.0.1/32")
    dig = require_tool("dig")
    out = subprocess.run([dig, f"@{ts.host}", "-p", str(ts.port), ORIGIN, "AXFR", "+nocmd", "+nocomments",
                          "+nostats", "+time=5", "+tries=1"], capture_output=True, text=True, timeout=60).stdout
    lines = [line for line in out.splitlines() if line and not line.startswith(";")]
    rrs = [dns.rrset.from_text(*line.split(None, 4)) for line in lines]
    got = collections.Counter((rrset.name, rrset.rdtype, rrset.ttl, rrset[0]) for rrset in rrs[1:-1])
    assert rrs[0].rdtype == rrs[-1].rdtype == dns.rdatatype.SOA and rrs[0] == rrs[-1]
    assert set(got.values()) == {1}, "a record came twice"
    expected = records_of(text)
    expected[(APEX, dns.rdatatype.SOA, rrs[0].ttl, rrs[0][0])] -= 1
    assert got == +expected


def test_axfr_messages_hold_many_records_each_within_16_kib(primary):
    ts, _ = primary(zone_text(1), "--allow-transfer", "127.0.0.0/8")
    messages = transfer(ts)
    assert len(messages) > 3
    assert all(len(message.to_wire()) <= TRANSFER_MESSAGE_OCTETS for message in messages)
    assert min(len(flat([message])) for message in messages[:-1]) > 100
    assert messages[0].question and not messages[1].question       # the question in the first only
    assert all(message.flags & dns.flags.AA for message in messages)
    ts.wait_for_line(f"AXFR of {ORIGIN} to 127.0.0.1: serial 1, {sum(records_of(zone_text(1)).values()) + 1} "
                     f"records in {len(messages)} messages")


def test_transfers_out_are_counted_by_zone_and_kind_across_workers(primary):
    ts, _ = primary(zone_text(1, range(10)), "--allow-transfer", "127.0.0.1/32", "--metrics", "127.0.0.1:0",
                       "--workers", "2")
    ts.wait_for_line("listening on", count=2)
    for _ in range(3):
        transfer(ts)
    assert ask(ts, "IXFR", serial=1).answer
    samples = scrape(ts)
    assert value(samples, "resolver_ts_transfers_out_total", zone=ORIGIN, kind="axfr") == 3
    assert value(samples, "resolver_ts_transfers_out_total", zone=ORIGIN, kind="ixfr") == 1


def test_axfr_from_an_address_not_allowed_is_refused_prohibited(primary):
    ts, _ = primary(zone_text(1, range(10)), "--allow-transfer", "127.0.0.1/32")
    reply = ask(ts, "AXFR", source="127.0.0.3")
    assert reply.rcode() == dns.rcode.REFUSED and not reply.answer
    assert [option.code for option in reply.options] == [dns.edns.EDECode.PROHIBITED]
    ixfr = ask(ts, "IXFR", serial=1, source="127.0.0.3", tcp=False)
    assert ixfr.rcode() == dns.rcode.REFUSED
    ts.wait_for_line("AXFR of xfr.test. refused to 127.0.0.3: not allowed")
    dig = require_tool("dig")
    out = subprocess.run([dig, "-b", "127.0.0.3", f"@{ts.host}", "-p", str(ts.port), ORIGIN, "AXFR", "+time=5",
                          "+tries=1"], capture_output=True, text=True, timeout=30).stdout
    assert "Transfer failed" in out and "SOA" not in out
    assert ask(ts, "AXFR").rcode() == dns.rcode.NOERROR                     # 127.0.0.1 may


def test_without_allow_transfer_every_transfer_is_refused_as_before(start_server, tmp_path):
    path = tmp_path / "z.zone"
    path.write_text(zone_text(1, range(10)))
    ts = start_server("ts", "--zone", f"{ORIGIN}={path}")
    assert ask(ts, "AXFR").rcode() == dns.rcode.REFUSED
    assert ask(ts, "AXFR", tcp=False).rcode() == dns.rcode.NOTIMP


def test_axfr_over_udp_is_notimp_and_a_zone_not_served_notauth(primary):
    ts, _ = primary(zone_text(1, range(10)), "--allow-transfer", "127.0.0.1/32")
    assert ask(ts, "AXFR", tcp=False).rcode() == dns.rcode.NOTIMP
    query = dns.message.make_query("elsewhere.test.", "AXFR")
    assert dns.query.tcp(query, ts.host, port=ts.port, timeout=5).rcode() == dns.rcode.NOTAUTH
    still_answers(ts)


def test_ixfr_after_sighup_gives_exactly_the_differences(primary):
    v1 = zone_text(1)
    ts, path = primary(v1, "--allow-transfer", "127.0.0.1/32")
    v2 = zone_text(2, range(101, 3000), extra=("h100 600 IN A 192.0.2.100", "new1 IN TXT \"added\"",
                                               "New2 300 IN AAAA 2001:db8::2"))
    reload(ts, path, v2, 1)
    messages = transfer(ts, "IXFR", serial=1)
    rrs = flat(messages)
    soas = [i for i, rr in enumerate(rrs) if rr[1] == dns.rdatatype.SOA]
    assert [rrs[i][3].serial for i in soas] == [2, 1, 2, 2] and soas[0] == 0 and soas[-1] == len(rrs) - 1
    deleted = collections.Counter(rrs[soas[1] + 1:soas[2]])
    added = collections.Counter(rrs[soas[2] + 1:soas[3]])
    old, new = without_soa(records_of(v1)), without_soa(records_of(v2))
    assert deleted == old - new and added == new - old
    assert len(deleted) == 101 and len(added) == 3

    assert flat([ask(ts, "IXFR", serial=2)]) == rrs[:1]                   # up to date: the SOA alone
    assert flat([ask(ts, "IXFR", serial=5)]) == rrs[:1]                   # newer than ours, as NSD
    whole = flat(transfer(ts, "IXFR", serial=2**32 - 6))     # older (RFC 1982), unknown: the whole zone
    assert whole[0] == whole[-1] == rrs[0]
    assert collections.Counter(whole[1:-1]) == records_of(v2) - collections.Counter([rrs[0]])


def test_ixfr_chains_versions_and_dnspython_applies_it_to_the_new_zone(primary):
    v1, v2 = zone_text(1), zone_text(2, range(50, 3000))
    v3 = zone_text(3, range(50, 3100), extra=("h60 600 IN A 198.51.100.60",))
    ts, path = primary(v1, "--allow-transfer", "127.0.0.1/32")
    reload(ts, path, v2, 1)
    reload(ts, path, v3, 2)
    copy = dns.zone.from_text(v1, ORIGIN, relativize=False)
    query, _ = dns.xfr.make_query(copy)
    dns.query.inbound_xfr(ts.host, copy, query, port=ts.port, timeout=10)
    assert copy == dns.zone.from_text(v3, ORIGIN, relativize=False)
    serials = [rr[3].serial for rr in flat(transfer(ts, "IXFR", serial=1)) if rr[1] == dns.rdatatype.SOA]
    assert serials == [3, 1, 2, 2, 3, 3]
    ts.wait_for_line(f"IXFR from 1 of {ORIGIN} to 127.0.0.1: serial 3")


def test_ixfr_over_udp_fits_or_is_the_soa_with_tc(primary):
    ts, path = primary(zone_text(1), "--allow-transfer", "127.0.0.1/32")
    reload(ts, path, zone_text(2, range(1000, 3000)), 1)
    reload(ts, path, zone_text(3, range(1000, 3000), extra=("small IN A 192.0.2.7",)), 2)
    up_to_date = ask(ts, "IXFR", tcp=False, serial=3)
    assert [rrset.rdtype for rrset in up_to_date.answer] == [dns.rdatatype.SOA]
    assert not up_to_date.flags & dns.flags.TC
    small = ask(ts, "IXFR", tcp=False, serial=2, edns=False)      # 512 octets hold 4 SOAs and 1 record
    assert not small.flags & dns.flags.TC and len(small.to_wire()) <= 512
    assert [rr[0].to_text() for rr in flat([small])] == [ORIGIN] * 3 + [f"small.{ORIGIN}", ORIGIN]
    large = ask(ts, "IXFR", tcp=False, serial=1)
    assert large.flags & dns.flags.TC and [rr[1] for rr in flat([large])] == [dns.rdatatype.SOA]
    assert flat([large])[0][3].serial == 3


def test_a_reload_with_the_same_serial_warns_serves_the_new_data_and_keeps_no_difference(primary):
    ts, path = primary(zone_text(1), "--allow-transfer", "127.0.0.1/32")
    reload(ts, path, zone_text(2), 1)
    changed = zone_text(2, extra=("sneaky IN A 192.0.2.66",))
    reload(ts, path, changed, 2)
    ts.wait_for_line(f"zone {ORIGIN} changed but its serial 2 did not grow")
    assert collections.Counter(flat(transfer(ts))[1:-1]) == records_of(changed) - collections.Counter(
        [flat(transfer(ts))[0]])
    assert len(flat(transfer(ts, "IXFR", serial=1))) > 3000            # no difference from 1: the whole zone


def test_tsig_allowed_with_the_key_refused_without_or_with_a_wrong_one(primary):
    ts, _ = primary(zone_text(1), "--allow-transfer", f"127.0.0.1/32,key={KEY.name}")
    messages = transfer(ts, key=KEY)
    assert len(messages) > 3 and all(message.had_tsig for message in messages)     # every message signed
    unsigned = ask(ts, "AXFR")
    assert unsigned.rcode() == dns.rcode.REFUSED and not unsigned.answer
    other = ask(ts, "AXFR", key=OTHER_KEY)        # a key of ours, not the ACL's: refused, signed
    assert other.rcode() == dns.rcode.REFUSED and other.had_tsig
    wrong = dns.tsig.Key(KEY.name, "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc=", "hmac-sha256")
    with pytest.raises(dns.tsig.PeerBadSignature):
        ask(ts, "AXFR", key=wrong)
    with pytest.raises(dns.tsig.PeerBadKey):
        ask(ts, "IXFR", serial=1, key=dns.tsig.Key("nobody.", KEY.secret, "hmac-sha256"))
    ts.wait_for_line("AXFR from 127.0.0.1 refused: TSIG BADSIG (key xfr.key.)")
    ts.wait_for_line("IXFR from 127.0.0.1 refused: TSIG BADKEY (key nobody.)")


def test_a_signed_soa_query_is_answered_signed_and_an_unsigned_malformed_one_formerr(primary):
    """A secondary's refresh (Knot signs its SOA query): answered as unsigned, and signed; a wrong
    key gets BADSIG; a query the server cannot read, unsigned, FORMERR as without transfers."""
    ts, _ = primary(zone_text(1, range(10)), "--allow-transfer", f"127.0.0.1/32,key={KEY.name}")
    for tcp in (False, True):
        reply = ask(ts, "SOA", tcp=tcp, key=KEY)        # dnspython checks the reply's signature
        assert reply.had_tsig and reply.answer[0][0].serial == 1 and reply.flags & dns.flags.AA
    with pytest.raises(dns.tsig.PeerBadSignature):
        ask(ts, "SOA", key=dns.tsig.Key(KEY.name, OTHER_SECRET, "hmac-sha256"))
    bogus = dns.message.make_query(APEX, "SOA")
    bogus.answer.append(dns.rrset.from_text(APEX, 0, "IN", "A", "192.0.2.1"))  # records in a query
    assert dns.query.udp(bogus, ts.host, port=ts.port, timeout=5).rcode() == dns.rcode.FORMERR


def test_a_request_signed_an_hour_ago_gets_badtime_signed(primary):
    ts, _ = primary(zone_text(1, range(10)), "--allow-transfer", f"127.0.0.1/32,key={KEY.name}")
    wire = signed_at(dns.message.make_query(APEX, "AXFR"), KEY, -3600)      # past the 300 s fudge
    with socket.create_connection((ts.host, ts.port), timeout=5) as sock:
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        reply = dns.message.from_wire(read_tcp_message(sock), keyring=False)
    assert reply.rcode() == dns.rcode.NOTAUTH and reply.tsig_error == dns.rcode.BADTIME
    assert reply.tsig[0].mac and len(reply.tsig[0].other) == 6        # signed, with the TS's time
    ts.wait_for_line("AXFR from 127.0.0.1 refused: TSIG BADTIME")


def signed_at(message: dns.message.Message, key: dns.tsig.Key, offset: int) -> bytes:
    """``message``'s wire form signed with ``key`` as if ``offset`` seconds from now."""
    unsigned = message.to_wire()
    rdata = dns.rdtypes.ANY.TSIG.TSIG(dns.rdataclass.ANY, dns.rdatatype.TSIG, key.algorithm, 0, 300, b"",
                                      message.id, 0, b"")
    tsig, _ = dns.tsig.sign(unsigned, key, rdata, int(time.time()) + offset)
    owner = key.name.to_wire()
    body = tsig.to_wire()
    arcount = struct.unpack("!H", unsigned[10:12])[0] + 1
    return unsigned[:10] + struct.pack("!H", arcount) + unsigned[12:] + owner + struct.pack(
        "!HHIH", dns.rdatatype.TSIG, dns.rdataclass.ANY, 0, len(body)) + body


def test_transfers_asked_on_one_connection_come_one_after_the_other(primary):
    """Three transfers asked at once on one connection (an AXFR, an IXFR from an old serial,
    an AXFR) come back whole, each message of one before any of the next, as NSD and Knot
    send them: a client reads a transfer's messages back to back."""
    ts, path = primary(zone_text(1), "--allow-transfer", "127.0.0.1/32")
    new_text = zone_text(2, extra=("added 600 IN TXT new",))
    reload(ts, path, new_text, 1)
    zones = {1: dns.zone.Zone(APEX, relativize=False), 2: dns.zone.from_text(zone_text(1), ORIGIN, relativize=False),
             3: dns.zone.Zone(APEX, relativize=False)}
    with socket.create_connection((ts.host, ts.port), timeout=10) as sock:
        inbound = {}
        for ident, zone in zones.items():
            request, serial = dns.xfr.make_query(zone, serial=1 if ident == 2 else None)
            request.id = ident
            inbound[ident] = dns.xfr.Inbound(zone, request.question[0].rdtype, serial)
            wire = request.to_wire()
            sock.sendall(struct.pack("!H", len(wire)) + wire)
        order: list[int] = []
        done: set[int] = set()
        while len(done) < len(zones):
            reply = dns.message.from_wire(read_tcp_message(sock), xfr=True, one_rr_per_rrset=True)
            order.append(reply.id)
            if inbound[reply.id].process_message(reply):
                done.add(reply.id)
    assert order == sorted(order) and len(order) > 6, f"transfers interleaved: {order}"
    expected = dns.zone.from_text(new_text, ORIGIN, relativize=False)
    assert all(zone == expected for zone in zones.values())
    ts.wait_for_line(f"of {ORIGIN} to 127.0.0.1: serial 2", count=3)


def more_than_socket_buffers() -> int:
    """Address records enough that a transfer of them overflows the TS's socket's largest send
    buffer (``tcp_wmem``) with half again to spare: about 31 octets each."""
    largest = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    return max(100_000, largest * 3 // 2 // 31)


def stalled_axfr(ts: Server) -> socket.socket:
    """A TCP connection that asks for AXFR and reads nothing: its receive window stays a few KB."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect((ts.host, ts.port))
    wire = dns.message.make_query(APEX, "AXFR").to_wire()
    sock.sendall(struct.pack("!H", len(wire)) + wire)
    return sock


def test_a_stalled_transfer_waits_without_holding_queries_and_past_the_limit_transfers_are_refused(primary):
    """Flow control: a client that does not read holds its transfer (no end line) but not the TS,
    which answers queries meanwhile; TRANSFERS_AT_ONCE such transfers make one more REFUSED;
    closing them ends theirs (one line each), and a transfer goes through again."""
    ts, _ = primary(zone_text(1, range(more_than_socket_buffers())), "--allow-transfer", "127.0.0.1/32",
                    ready_timeout=60)
    stalled = [stalled_axfr(ts) for _ in range(TRANSFERS_AT_ONCE)]
    try:
        for sock in stalled:        # each transfer has begun: its first message is there to read
            assert dns.message.from_wire(read_tcp_message(sock)).answer
        assert ask(ts, "AXFR").rcode() == dns.rcode.REFUSED
        ts.wait_for_line(f"{TRANSFERS_AT_ONCE} transfers in progress already")
        still_answers(ts)
        assert ts.count_lines(f"AXFR of {ORIGIN} to") == 0         # none of them has ended
    finally:
        for sock in stalled:
            sock.close()
    ts.wait_for_line("the connection closed after", count=TRANSFERS_AT_ONCE, timeout=10)
    with stalled_axfr(ts) as sock:
        assert dns.message.from_wire(read_tcp_message(sock)).answer


def test_a_reload_with_a_newer_serial_sends_notify_signed_with_the_targets_key(primary):
    with NotifyTarget({KEY.name: KEY}) as target:
        ts, path = primary(zone_text(1, range(10)), "--notify", f"{target.hostport},key={KEY.name}")
        first = target.wait_for(1)[0]            # at start, for every zone
        assert target.serials() == [1] and first.had_tsig and target.errors == []
        reload(ts, path, zone_text(2, range(10)), 1)
        notified = target.wait_for(2)[1]
        assert notified.opcode() == dns.opcode.NOTIFY and notified.flags & dns.flags.AA
        assert not notified.flags & dns.flags.RD
        assert notified.question[0].name == APEX and notified.question[0].rdtype == dns.rdatatype.SOA
        assert target.serials() == [1, 2] and notified.had_tsig
        assert ask(ts, "AXFR").rcode() == dns.rcode.REFUSED                # --notify alone allows no transfer


def test_a_reload_without_a_newer_serial_sends_no_notify(primary):
    with NotifyTarget() as target:
        ts, path = primary(zone_text(1, range(10)), "--notify", target.hostport)
        target.wait_for(1)
        reload(ts, path, zone_text(1, range(20)), 1)           # changed, same serial
        ts.wait_for_line("did not grow")
        reload(ts, path, zone_text(1, range(20)), 2)           # unchanged
        reload(ts, path, zone_text(2, range(20)), 3)
        target.wait_for(2)
        assert target.serials() == [1, 2]
        assert ts.count_lines("did not grow") == 1


def test_with_two_workers_each_change_is_notified_once(primary):
    with NotifyTarget() as target:
        ts, path = primary(zone_text(1, range(10)), "--notify", target.hostport, "--allow-transfer", "127.0.0.1/32",
                           "--workers", "2")
        ts.wait_for_line("listening on", count=2)
        reload(ts, path, zone_text(2, range(10)), 2)
        target.wait_for(2)
        reload(ts, path, zone_text(3, range(10)), 4)
        target.wait_for(3)
        assert target.serials() == [1, 2, 3]
        for _ in range(6):          # from many ports, so both workers answer: each has the zone
            assert ask(ts, "IXFR", serial=2).answer[0][0].serial == 3


def test_a_silent_target_is_tried_a_few_times_then_given_up_in_one_line(monkeypatch, caplog):
    """In process, with short timeouts: the NOTIFY goes NOTIFY_TRIES times, then one warning."""
    monkeypatch.setattr(notify, "NOTIFY_TIMEOUT", 0.1)
    rdata = dns.rrset.from_text(APEX, 300, "IN", "SOA", SOA.format(serial=9))[0].to_wire()
    record = APEX.to_wire() + struct.pack("!HHIH", dns.rdatatype.SOA, 1, 300, len(rdata)) + rdata

    async def main() -> None:
        notifier = notify.Notifier([Remote(target.host, target.port)], {})
        notifier.changed(APEX, record)
        await asyncio.wait_for(asyncio.gather(*notifier.tasks.values()), 10)

    with NotifyTarget(silent=True) as target:
        asyncio.run(main())
        assert len(target.wait_for(notify.NOTIFY_TRIES)) == notify.NOTIFY_TRIES
        assert target.serials() == [9] * notify.NOTIFY_TRIES
    lines = [r.getMessage() for r in caplog.records if "NOTIFY" in r.getMessage()]
    assert lines == [f"NOTIFY of {ORIGIN} serial 9 to {target.hostport}: no answer after "
                     f"{notify.NOTIFY_TRIES} tries of 0.1 s"]


def test_a_secondary_zone_is_transferred_out_and_notified_onwards(primary, start_server):
    """A TS secondary of another TS serves its copy to transfers too: by AXFR, equal to the file;
    after the first TS reloads a change, by IXFR with the differences, and with a NOTIFY onwards."""
    middle_port = free_port()
    v1, v2 = zone_text(1, range(500)), zone_text(2, range(100, 500))
    first, path = primary(v1, "--allow-transfer", "127.0.0.1/32", "--notify", f"127.0.0.1:{middle_port}")
    with NotifyTarget() as target:
        middle = start_server("ts", "--secondary", f"{ORIGIN}={first.hostport}", "--allow-transfer", "127.0.0.1/32",
                              "--notify", target.hostport, listen=f"127.0.0.1:{middle_port}")
        wait_until(lambda: query(middle, ORIGIN, "SOA").answer, 10, "the secondary has the zone", interval=0.05)
        whole = flat(transfer(middle))
        assert collections.Counter(whole[1:-1]) == without_soa(records_of(v1))
        target.wait_for(1)                               # the zone is new here: NOTIFY onwards
        reload(first, path, v2, 1)
        target.wait_for(2)
        assert target.serials() == [1, 2]                # and once the new copy serves
        rrs = flat(transfer(middle, "IXFR", serial=1))
        assert [rr[3].serial for rr in rrs if rr[1] == dns.rdatatype.SOA] == [2, 1, 2, 2]
        assert collections.Counter(rrs[2:-2]) == without_soa(records_of(v1)) - without_soa(records_of(v2))
