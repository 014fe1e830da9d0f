"""Routes, replica groups and learned routing from the ``ls`` command's flags, over real TS processes.

What each TS was asked is read from its own query log, so the counts are the
backends', not the LS's.
"""
from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import dns.asyncquery
import dns.message
import dns.rcode

from support.paths import ZONES
from support.servers import Server, query
from support.waiting import wait_until


def asked(log: Path, name: str) -> int:
    """Lines of a TS's query log for ``name`` (absolute, as the log writes it), type A."""
    return sum(1 for line in log.read_text().splitlines() if line.split()[2].lower() == name and line.split()[3] == "A")


def logged_ts(start_server, tmp_path: Path, label: str, *args: str) -> tuple[Server, Path]:
    log = tmp_path / f"{label}.log"
    return start_server("ts", *args, "--query-log", str(log)), log


def test_routes_send_each_domain_to_its_backends_and_the_default_takes_the_rest(start_server, tmp_path):
    corp, corp_log = logged_ts(start_server, tmp_path, "corp", "--zone", str(ZONES / "corp.example.zone"))
    tables, tables_log = logged_ts(start_server, tmp_path, "tables", "--table", str(ZONES / "ts1.txt"))
    ls = start_server("ls", "--backend", f"corp={corp.hostport}", "--backend", f"tables={tables.hostport}",
                      "--route", "corp.example=corp", "--route", ".=tables")
    assert query(ls, "ns1.corp.example").answer[0][0].address == "192.0.2.53"
    assert query(ls, "www.ibm.com").answer[0][0].address == "129.42.38.10"
    wait_until(lambda: asked(corp_log, "ns1.corp.example.") and asked(tables_log, "www.ibm.com."), 3,
               "both queries logged")
    assert asked(tables_log, "ns1.corp.example.") == 0
    assert asked(corp_log, "www.ibm.com.") == 0


def test_a_known_name_goes_to_its_owner_only_and_learn_off_fans_out(start_server, tmp_path):
    for learn, other_backend_asked in (("on", 1), ("off", 5)):
        ts1, ts1_log = logged_ts(start_server, tmp_path, f"ts1-{learn}", "--table", str(ZONES / "ts1.txt"))
        ts2, ts2_log = logged_ts(start_server, tmp_path, f"ts2-{learn}", "--table", str(ZONES / "ts2.txt"))
        ls = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport, "--learn", learn,
                          "--cache-size", "0")
        for _ in range(5):
            assert query(ls, "www.ibm.com").answer[0][0].address == "129.42.38.10"
        wait_until(lambda: asked(ts1_log, "www.ibm.com.") == 5
                   and asked(ts2_log, "www.ibm.com.") >= other_backend_asked, 3, "the queries logged")
        assert asked(ts1_log, "www.ibm.com.") == 5
        assert asked(ts2_log, "www.ibm.com.") == other_backend_asked
        # a name neither holds still reaches both, every time
        for _ in range(3):
            assert query(ls, "nosuch.example.net").rcode() == dns.rcode.NXDOMAIN
        wait_until(lambda: asked(ts1_log, "nosuch.example.net.") == asked(ts2_log, "nosuch.example.net.") == 3, 3,
                   "the misses logged at both")


def test_a_replica_killed_mid_load_loses_no_query(start_server):
    replicas = [start_server("ts", "--table", str(ZONES / "ts1.txt")) for _ in range(2)]
    ts2 = start_server("ts", "--table", str(ZONES / "ts2.txt"))
    ls = start_server("ls", "--backend", f"r0={replicas[0].hostport}", "--backend", f"r1={replicas[1].hostport}",
                      "--backend", f"ts2={ts2.hostport}", "--group", "g=r0,r1", "--timeout", "3")
    names = {"www.ibm.com.": "129.42.38.10", "www.google.com.": "8.8.8.8"}

    async def load() -> list[str]:
        answered: list[str] = []

        async def one(index: int) -> None:
            name = list(names)[index % 2]
            reply = await dns.asyncquery.udp(dns.message.make_query(name, "A"), ls.host, port=ls.port, timeout=5)
            answered.append(reply.answer[0][0].address if reply.answer else dns.rcode.to_text(reply.rcode()))

        for batch in range(30):             # 30 batches of 10 in flight; the replica dies after the 10th
            if batch == 10:
                replicas[1].stop(signal.SIGKILL)
            await asyncio.gather(*(one(10 * batch + index) for index in range(10)))
        return answered

    answered = asyncio.run(asyncio.wait_for(load(), 60))
    assert sorted(answered) == sorted(list(names.values()) * 150)
