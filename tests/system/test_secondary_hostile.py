"""The TS as a secondary of primaries that misbehave (RFC 5936 AXFR, 1995 IXFR, 1996 NOTIFY),
and with a ``--zone-dir`` it cannot use.

A :class:`support.xfr_primary.ScriptedPrimary` plays what no real server sends
on demand: a transfer cut short, garbled, without its SOA first or last, an
IXFR whose deletions do not apply, a connection accepted and never answered.
Each test starts a ``resolver ts --secondary`` of it on loopback and checks, by
the TS's answers and log lines and by the requests the primary saw, that the
copy being served stays until a good transfer comes, as NSD and Knot keep theirs.
"""
from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, Sequence

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest

from resolver.ts.settings import SOA_QUERY_TIMEOUT, TRANSFER_IDLE_TIMEOUT
from support.paths import ROOT
from support.ports import free_port
from support.servers import Server, query
from support.waiting import wait_until
from support.replication import TsigKey
from support.xfr_primary import HOLD, ScriptedPrimary, framed, reply_to, rrsets, signed_every, whole_zone

ZONE = "lab.example."
HOST = "127.0.0.1"
HOUR = 3600


def records(serial: int, *extra: str) -> list[str]:
    """ZONE at ``serial`` as absolute record lines (``www`` is 192.0.2.SERIAL), and ``extra`` ones."""
    return [f"{ZONE} 60 IN SOA ns1.{ZONE} hostmaster.{ZONE} {serial} {HOUR} {HOUR} {7 * 24 * HOUR} 60",
            f"{ZONE} 60 IN NS ns1.{ZONE}", f"ns1.{ZONE} 60 IN A 127.0.0.1", f"www.{ZONE} 60 IN A 192.0.2.{serial}",
            *extra]


def www(ts: Server) -> tuple[int, list[str]]:
    """The TS's rcode for ``www.ZONE`` A and the addresses it answers."""
    reply = query(ts, "www." + ZONE, timeout=1)
    return reply.rcode(), sorted(rd.address for rrset in reply.answer for rd in rrset)


def notify(ts: Server, source: str = HOST) -> dns.message.Message:
    """A NOTIFY for ZONE from ``source``, and the TS's reply."""
    message = dns.message.make_query(ZONE, "SOA")
    message.set_opcode(dns.opcode.NOTIFY)
    message.flags = (message.flags | dns.flags.AA) & ~dns.flags.RD
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(2)
        sock.sendto(message.to_wire(), (ts.host, ts.port))
        return dns.message.from_wire(sock.recvfrom(65535)[0])


def secondary_of(*primaries: ScriptedPrimary | str, zone_dir: Path | None = None) -> Server:
    """A TS secondary of ZONE from these primaries, tried in order (its copies in ``zone_dir``)."""
    addresses = ",".join(p if isinstance(p, str) else p.hostport for p in primaries)
    return Server(["ts", "--secondary", f"{ZONE}={addresses}", "--listen", f"{HOST}:0",
                   *(["--zone-dir", str(zone_dir)] if zone_dir else [])])


def serving(ts: Server, serial: int) -> bool:
    """Whether the TS answers ``www`` with serial ``serial``'s address."""
    return www(ts) == (dns.rcode.NOERROR, [f"192.0.2.{serial}"])


@contextlib.contextmanager
def first_copy(zone_dir: Path | None = None) -> Iterator[tuple[ScriptedPrimary, Server]]:
    """A primary of ZONE at serial 1 and a TS secondary of it (its copies in ``zone_dir``) that
    serves that copy; the TS is stopped at the end."""
    with ScriptedPrimary(records(1)) as primary:
        ts = secondary_of(primary, zone_dir=zone_dir)
        try:
            wait_until(lambda: serving(ts, 1), 5, "the first copy", interval=0.05)
            yield primary, ts
        finally:
            ts.stop()


def hold(primary: ScriptedPrimary, request: dns.message.Message) -> Sequence[bytes]:
    return [HOLD]


def test_a_primary_that_never_answers_a_transfer_is_left_for_the_next_after_an_idle_timeout() -> None:
    """A primary that answers the SOA query, accepts the transfer's connection and then sends
    nothing is given up after TRANSFER_IDLE_TIMEOUT seconds of silence (as Knot gives up after
    its I/O timeout), with one line, and the zone comes from the next primary."""
    with ScriptedPrimary(records(1), hold) as silent, ScriptedPrimary(records(1)) as good:
        ts = secondary_of(silent, good)
        try:
            started = time.monotonic()
            wait_until(lambda: serving(ts, 1), TRANSFER_IDLE_TIMEOUT + 10, "the zone from the second primary",
                       interval=0.1)
            assert time.monotonic() - started >= TRANSFER_IDLE_TIMEOUT - 0.5
            ts.wait_for_line(f"AXFR: nothing from the primary for {TRANSFER_IDLE_TIMEOUT:g} s")
            assert (silent.count("AXFR"), good.count("AXFR")) == (1, 1)
        finally:
            ts.stop()


def cut_short(primary: ScriptedPrimary, request: dns.message.Message) -> Sequence[bytes]:
    """The whole zone's message, its frame cut in the middle, then the connection closed."""
    stream = whole_zone(primary, request)[0]
    return [stream[:len(stream) // 2]]


def garbled(primary: ScriptedPrimary, request: dns.message.Message) -> Sequence[bytes]:
    """The whole zone's message with octets past the question overwritten (a record that does not parse)."""
    wire = bytearray(whole_zone(primary, request)[0][2:])
    wire[40:60] = b"\xff" * 20
    return [framed(bytes(wire))]


def length_past_the_message(primary: ScriptedPrimary, request: dns.message.Message) -> Sequence[bytes]:
    """A frame of 65,535 octets: the zone's message, then zeros as if another record followed."""
    wire = whole_zone(primary, request)[0][2:]
    return [struct.pack("!H", 65535) + wire + bytes(65535 - len(wire))]


def soa_not_first(primary: ScriptedPrimary, request: dns.message.Message) -> Sequence[bytes]:
    zone = rrsets(primary.records)
    return [framed(reply_to(request, [*zone[1:], zone[0]]))]


def soa_not_last(primary: ScriptedPrimary, request: dns.message.Message) -> Sequence[bytes]:
    """The SOA first and every record, but no closing SOA before the connection closes."""
    return [framed(reply_to(request, rrsets(primary.records)))]


@pytest.mark.parametrize("script, why", [
    (cut_short, "connection failed"),
    (garbled, "bad AXFR"),
    (length_past_the_message, "bad AXFR"),
    (soa_not_first, "first RRset is not an SOA"),
    (soa_not_last, "connection failed"),
], ids=["cut-short", "garbled", "length-past-the-message", "soa-not-first", "soa-not-last"])
def test_a_broken_transfer_leaves_the_copy_serving_with_one_line(script, why: str) -> None:
    """Whatever shape a broken transfer has, the copy serves on, one line says why, and the
    next good version is taken at the next NOTIFY."""
    with first_copy() as (primary, ts):
        primary.records, primary.script = records(2), script
        assert notify(ts).rcode() == dns.rcode.NOERROR
        ts.wait_for_line("still serving serial 1")
        assert ts.count_lines("still serving serial 1") == 1
        assert why in next(line for line in ts.lines if "still serving serial 1" in line)
        assert serving(ts, 1)
        primary.records, primary.script = records(3), whole_zone
        assert notify(ts).rcode() == dns.rcode.NOERROR
        wait_until(lambda: serving(ts, 3), 3, "the next good version", interval=0.02)


def ixfr_deleting_what_is_not_there(primary: ScriptedPrimary, request: dns.message.Message) -> Sequence[bytes]:
    """To an IXFR from serial 1, a difference that deletes a record serial 1 never had; to an AXFR, the zone."""
    if request.question[0].rdtype != dns.rdatatype.IXFR:
        return whole_zone(primary, request)
    old, new = rrsets(records(1)), rrsets(primary.records)
    missing = rrsets([f"nothere.{ZONE} 60 IN A 192.0.2.99"])
    return [framed(reply_to(request, [new[0], old[0], *missing, new[0], new[3], new[0]]))]


def test_an_ixfr_whose_deletions_do_not_apply_falls_back_to_axfr() -> None:
    """An IXFR that deletes a record the copy does not hold cannot be applied: the zone is asked
    again by AXFR from the same primary (as NSD and Knot fall back), and served whole."""
    with first_copy() as (primary, ts):
        primary.records, primary.script = records(2), ixfr_deleting_what_is_not_there
        assert notify(ts).rcode() == dns.rcode.NOERROR
        wait_until(lambda: serving(ts, 2), 3, "serial 2", interval=0.02)
        ts.wait_for_line("serial 2 by AXFR")
        assert [kind for kind, _ in primary.seen if kind != "SOA"] == ["AXFR", "IXFR", "AXFR"]
        assert query(ts, "nothere." + ZONE).rcode() == dns.rcode.NXDOMAIN


def notify_flood(ts: Server, source: str, count: int = 1000, burst: int = 100) -> list[int]:
    """``count`` NOTIFYs for ZONE from ``source``, ``burst`` at a time (each burst's replies read
    before the next, at most 2 s each); the rcodes of the replies."""
    message = dns.message.make_query(ZONE, "SOA")
    message.set_opcode(dns.opcode.NOTIFY)
    message.flags = (message.flags | dns.flags.AA) & ~dns.flags.RD
    rcodes: list[int] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(2)
        for start in range(0, count, burst):
            for ident in range(start, start + burst):
                message.id = ident
                sock.sendto(message.to_wire(), (ts.host, ts.port))
            for _ in range(burst):
                rcodes.append(dns.message.from_wire(sock.recvfrom(65535)[0]).rcode())
    return rcodes


def test_a_notify_flood_makes_few_checks_and_one_transfer() -> None:
    """1000 NOTIFYs from the primary are each answered, but a NOTIFY during a check only asks for
    one more check after it (RFC 1996 4.4: no pummeling of the primary): the primary sees a few
    SOA queries and, for the one new serial, one transfer (an IXFR it answers with the whole zone).
    1000 from another address are REFUSED, ask the primary nothing, and log one line, not 1000."""
    with first_copy() as (primary, ts):
        before = primary.count("SOA")
        primary.records = records(2)
        assert set(notify_flood(ts, HOST)) == {dns.rcode.NOERROR}
        wait_until(lambda: serving(ts, 2), 3, "serial 2", interval=0.02)
        assert primary.count("SOA") - before < 100
        assert (primary.count("AXFR"), primary.count("IXFR")) == (1, 1)
        ts.stop()
        assert ts.count_lines("serial 2 by") == 1
    with first_copy() as (primary, ts):
        before = primary.count("SOA")
        assert set(notify_flood(ts, "127.0.0.2")) == {dns.rcode.REFUSED}
        assert serving(ts, 1)
        assert primary.count("SOA") == before
        ts.stop()
        assert ts.count_lines("NOTIFY from 127.0.0.2") == 1      # not one line each: the log is not flooded


def test_a_copy_that_cannot_be_written_leaves_the_old_one_serving_with_one_line(tmp_path: Path) -> None:
    """When the new copy cannot be written in --zone-dir (here a directory stands where it goes),
    the transfer is not taken, one line says so (no traceback), the old copy serves on, and once
    the directory is writable again the next NOTIFY brings the new serial."""
    blocker = tmp_path / f"{ZONE}zone.new"
    with first_copy(zone_dir=tmp_path) as (primary, ts):
        blocker.mkdir()
        primary.records = records(2)
        assert notify(ts).rcode() == dns.rcode.NOERROR
        ts.wait_for_line("still serving serial 1")
        line = next(line for line in ts.lines if "still serving serial 1" in line)
        assert f"of serial 2 not taken: its copy cannot be written in {tmp_path}" in line
        assert not any("Traceback" in line or "check failed" in line for line in ts.lines)
        assert serving(ts, 1)
        blocker.rmdir()
        assert notify(ts).rcode() == dns.rcode.NOERROR
        wait_until(lambda: serving(ts, 2), 3, "serial 2", interval=0.02)


def test_a_zone_dir_that_is_a_file_is_one_error_line(tmp_path: Path) -> None:
    """--zone-dir naming a file: one line naming the flag and the path, exit 1, before listening."""
    path = tmp_path / "zones"
    path.write_text("not a directory\n")
    result = subprocess.run([sys.executable, "-m", "resolver", "ts", "--secondary", f"{ZONE}={HOST}:53",
                             "--zone-dir", str(path), "--listen", f"{HOST}:0"],
                            cwd=ROOT, capture_output=True, text=True, timeout=15)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"resolver ts: error: --zone-dir {path}: Not a directory"]


def test_a_dead_first_primary_holds_up_only_the_first_check() -> None:
    """With a dead primary first in the list (a closed port, its SOA query unanswered for
    SOA_QUERY_TIMEOUT), the first check reaches the second primary after that timeout; from
    then on the one that answered (and the one that sends a NOTIFY) is asked first, as NSD and
    Knot remember theirs, so a NOTIFY's change is served within 2 s, not after another timeout."""
    with ScriptedPrimary(records(1)) as live:
        ts = secondary_of(f"{HOST}:{free_port(HOST)}", live)
        try:
            wait_until(lambda: serving(ts, 1), SOA_QUERY_TIMEOUT + 5, "the zone from the second primary",
                       interval=0.05)
            live.records = records(2)
            started = time.monotonic()
            assert notify(ts).rcode() == dns.rcode.NOERROR
            wait_until(lambda: serving(ts, 2), 2, "serial 2, by NOTIFY", interval=0.02)
            assert time.monotonic() - started < SOA_QUERY_TIMEOUT
            assert ts.count_lines("no reply to the SOA query") == 1
        finally:
            ts.stop()


SIGNING = TsigKey.fresh("xfr-key.")


def many_messages(every: int, last_signed: bool = True):
    """A script sending the zone three records a message, signed as :func:`signed_every` says."""
    def script(primary: ScriptedPrimary, request: dns.message.Message) -> Sequence[bytes]:
        zone = rrsets(primary.records)
        answers = [*zone, zone[0]]
        chunks = [answers[i:i + 3] for i in range(0, len(answers), 3)]
        return [signed_every(request, [reply_to(request, chunk) for chunk in chunks], every, last_signed)]
    return script


@pytest.mark.parametrize("every, last_signed, taken", [
    (1, True, True), (100, True, True), (100, False, False),
], ids=["every-message", "every-100th", "last-unsigned"])
def test_a_signed_transfer_may_leave_messages_unsigned_but_not_the_last(tmp_path: Path, every: int,
                                                                        last_signed: bool, taken: bool) -> None:
    """A signed AXFR of 150 messages is taken whether each message is signed (NSD 4, Knot) or only
    the first, every 100th and the last (RFC 8945 5.3.1; older NSD and BIND); one whose last
    message is unsigned is not: records could have been added after the last MAC."""
    bulk = [f"h{i}.{ZONE} 60 IN A 10.0.{i >> 8}.{i & 255}" for i in range(444)]
    config = tmp_path / "ts.toml"
    config.write_text(SIGNING.toml())
    with ScriptedPrimary(records(1, *bulk), many_messages(every, last_signed), keyring=SIGNING.keyring()) as primary:
        ts = Server(["ts", "--config", str(config), "--secondary", f"{ZONE}={primary.hostport},key={SIGNING.name}",
                     "--listen", f"{HOST}:0"])
        try:
            if taken:
                wait_until(lambda: serving(ts, 1), 5, "the signed zone", interval=0.05)
                assert query(ts, f"h443.{ZONE}").answer
            else:
                ts.wait_for_line("not served")
                assert "TSIG" in next(line for line in ts.lines if "not served" in line)
                assert www(ts)[0] == dns.rcode.SERVFAIL
        finally:
            ts.stop()
