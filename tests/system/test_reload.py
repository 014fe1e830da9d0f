"""SIGHUP: the TS loads its zones again; a broken file leaves the old zones serving (the LS: test_ls_reload)."""
from __future__ import annotations

import os
import signal

import dns.rcode

from support.servers import LISTENING, query
from support.waiting import wait_until
from test_workers import asked_from_many_ports, worker_pids


def test_sighup_reloads_and_a_broken_file_keeps_the_old_zones(start_server, tmp_path):
    table = tmp_path / "table.txt"
    table.write_text("old.example 192.0.2.1 A\n")
    ts = start_server("ts", "--table", str(table))
    assert query(ts, "new.example").rcode() == dns.rcode.NXDOMAIN

    table.write_text("old.example 192.0.2.1 A\nnew.example 192.0.2.2 A\n")
    ts.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: query(ts, "new.example").rcode() == dns.rcode.NOERROR, 5, "new.example served",
               interval=0.05)
    ts.wait_for_line("reloaded")

    table.write_text("new.example 192.0.2.999 A\n")       # broken: the old zones must stay
    ts.proc.send_signal(signal.SIGHUP)
    ts.wait_for_line("reload failed")
    assert query(ts, "new.example").answer[0][0].address == "192.0.2.2"
    assert query(ts, "old.example").answer[0][0].address == "192.0.2.1"
    assert ts.proc.poll() is None and not any("Traceback" in line for line in ts.lines)


def test_sighup_to_ts_workers_reloads_every_worker(start_server, tmp_path):
    table = tmp_path / "table.txt"
    table.write_text("old.example 192.0.2.1 A\n")
    ts = start_server("ts", "--table", str(table), "--workers", "2")
    ts.wait_for_line(LISTENING, count=2)        # both workers are serving
    table.write_text("new.example 192.0.2.2 A\n")
    ts.proc.send_signal(signal.SIGHUP)
    ts.wait_for_line("reloaded", count=2)
    assert query(ts, "new.example").rcode() == dns.rcode.NOERROR


def test_a_ts_worker_started_in_place_of_a_dead_one_serves_the_last_zones_that_loaded(start_server, tmp_path):
    """A good reload, then a broken file, then a worker dies: its replacement begins with the zones
    its peers serve (the good reload's), not those loaded at start, so every worker answers alike."""
    table = tmp_path / "table.txt"
    table.write_text("old.example 192.0.2.1 A\n")
    ts = start_server("ts", "--table", str(table), "--workers", "2")
    ts.wait_for_line(LISTENING, count=2)
    table.write_text("new.example 192.0.2.2 A\n")
    ts.proc.send_signal(signal.SIGHUP)
    ts.wait_for_line("reloaded", count=2)
    table.write_text("new.example 192.0.2.999 A\n")       # broken: the workers keep the good reload
    ts.proc.send_signal(signal.SIGHUP)
    ts.wait_for_line("reload failed", count=2)
    os.kill(min(worker_pids(ts)), signal.SIGKILL)
    ts.wait_for_line("in its place (restart 1)")
    ts.wait_for_line(LISTENING, count=3)        # the new worker serves
    answers = [reply.rcode() for reply in asked_from_many_ports(ts, "new.example")]
    assert answers == [dns.rcode.NOERROR] * len(answers)
