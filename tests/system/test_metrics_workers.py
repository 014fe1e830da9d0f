"""--metrics with --workers: the parent serves one /metrics and one status page for every worker.

Real servers with two workers on loopback: queries from many source ports (a new
socket each, so SO_REUSEPORT spreads them over both workers), then the sums and
the per-worker figures on /metrics and /status.json (and the page, in a
browser); a worker killed and replaced while the endpoint serves on; a flush
reaching every worker's cache.
"""
from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import time

import dns.rcode
import pytest

from resolver.net.lifecycle import LISTENING
from resolver.obs.hub import ASK_TIMEOUT
from support.paths import ROOT, ZONES
from support.ports import free_port
from support.servers import base_url, http, scrape, value
from support.waiting import wait_until
from test_status_page import Traffic, browser, cell, shown, wait_for      # noqa: F401 (browser: a fixture)
from test_workers import asked_from_many_ports as replies_from_many_ports, worker_pids

NAME = "www.google.com"     # TS2 has it
COUNT = 200                 # queries each round: the chance that all go to one of two workers is 2**-199
SCRAPES = 20                # scrapes at once while a worker is stopped


def status(server) -> dict:
    code, _, body = http(base_url(server) + "status.json")
    assert code == 200, body
    return json.loads(body)


def asked_from_many_ports(server, name: str = NAME) -> None:
    """:data:`COUNT` A queries for ``name``, each from a new socket (so a new source port), each answered."""
    assert all(reply.rcode() == dns.rcode.NOERROR for reply in replies_from_many_ports(server, name, COUNT))


@pytest.fixture
def served(start_server, demo_backends):
    """Start a TS (the demo's TS2 table) or an LS (over TS1 and TS2) with two workers and --metrics;
    returns the server and the name of the series that counts its UDP queries, as ``(name, labels)``."""
    ts1, ts2 = demo_backends

    def start(command: str, *extra: str):
        args = (["--table", str(ZONES / "ts2.txt")] if command == "ts" else
                ["--backend", f"ts1={ts1.hostport}", "--backend", f"ts2={ts2.hostport}"])
        server = start_server(command, *args, "--workers", "2", "--metrics", "127.0.0.1:0", *extra)
        server.wait_for_line(LISTENING, count=2)        # both workers are serving
        series = (("resolver_ts_requests_total", {"zone": ".", "proto": "udp"}) if command == "ts" else
                  ("resolver_ls_requests_total", {"proto": "udp"}))
        return server, series
    return start


def wait_for_total(server, series: tuple[str, dict], total: int) -> dict:
    """Poll /metrics until ``series`` reads exactly ``total`` (it must never read more); the samples."""
    name, labels = series
    seen: dict = {}

    def reached() -> bool:
        seen.update(scrape(server))
        assert value(seen, name, **labels) <= total, (name, value(seen, name, **labels), total)
        return value(seen, name, **labels) == total
    wait_until(reached, 10, f"{name} at {total}", interval=0.05)
    return seen


@pytest.mark.parametrize("command", ["ts", "ls"])
def test_the_counters_of_two_workers_add_up_to_the_queries_sent(served, command):
    server, series = served(command)
    asked_from_many_ports(server)
    samples = wait_for_total(server, series, COUNT)
    per_worker = [value(samples, "resolver_worker_requests_total", worker=str(slot)) for slot in (0, 1)]
    assert all(n > 0 for n in per_worker) and sum(per_worker) == COUNT, per_worker     # both answered some
    assert value(samples, "resolver_workers") == 2
    assert value(samples, "resolver_worker_restarts_total") == 0
    if command == "ls":
        assert value(samples, "resolver_ls_responses_total", rcode="NOERROR") == COUNT
        assert value(samples, "resolver_ls_inflight") == 0
        assert value(samples, "resolver_backend_up", backend="ts2") == 1      # up in both workers' probes
        races = sum(value(samples, "resolver_ls_races_total", outcome=outcome) for outcome in ("won", "cache"))
        assert races == COUNT
    else:
        assert value(samples, "resolver_ts_responses_total", zone=".", rcode="NOERROR") == COUNT
        assert value(samples, "resolver_ts_zone_names", zone=".") == 5       # the zone's, not summed
    # The status page's JSON: the same totals, and each worker by its slot and PID.
    page = status(server)
    assert page["role"] == command and page["queries"] == COUNT and page["restarts"] == 0
    assert page["departed_queries"] == 0
    assert [w["worker"] for w in page["workers"]] == [0, 1]
    assert {w["pid"] for w in page["workers"]} == worker_pids(server)
    assert [w["queries"] for w in page["workers"]] == per_worker


@pytest.mark.parametrize("command", ["ts", "ls"])
def test_a_killed_worker_is_replaced_and_the_totals_never_go_back(served, command):
    server, series = served(command)
    asked_from_many_ports(server)
    wait_for_total(server, series, COUNT)
    before = status(server)["workers"]
    workers = {w["worker"]: w["pid"] for w in before}
    assert set(workers.values()) == worker_pids(server)
    os.kill(workers[0], signal.SIGKILL)
    server.wait_for_line(f"worker {workers[0]} was killed by SIGKILL")
    wait_until(lambda: len(worker_pids(server) - set(workers.values())) == 1, 5, "a new worker")
    wait_until(lambda: len(status(server)["workers"]) == 2, 5, "the new worker answering the parent",
               interval=0.05)
    # The dead worker's counts, as last read, stay in the totals; the new one counts from zero.
    samples = wait_for_total(server, series, COUNT)
    assert value(samples, "resolver_worker_restarts_total") == 1
    assert value(samples, "resolver_worker_requests_total", worker="0") == 0
    page = status(server)
    assert value(samples, "resolver_worker_requests_total", worker="1") == page["workers"][1]["queries"] > 0
    (new,) = worker_pids(server) - set(workers.values())
    assert [(w["worker"], w["pid"]) for w in page["workers"]] == [(0, new), (1, workers[1])]
    assert page["queries"] == COUNT and page["restarts"] == 1
    # The rows add up to the total: the dead worker's queries, as last read, are the departed ones.
    assert page["departed_queries"] == before[0]["queries"] > 0
    assert page["departed_queries"] + sum(w["queries"] for w in page["workers"]) == page["queries"]
    asked_from_many_ports(server)
    samples = wait_for_total(server, series, 2 * COUNT)
    assert value(samples, "resolver_worker_requests_total", worker="0") > 0      # the new worker answers too


@pytest.mark.parametrize("command", ["ts", "ls"])
def test_a_stopped_worker_holds_a_scrape_up_for_the_ask_timeout_at_most_and_its_age_shows_it(served, command):
    """SIGSTOP to a worker: every scrape, 20 at once too, still answers within ASK_TIMEOUT and a
    margin, with the stopped worker's last figures in the sums and their age growing; once it runs
    again its figures are fresh."""
    server, series = served(command)
    asked_from_many_ports(server)
    wait_for_total(server, series, COUNT)
    slots = {w["pid"]: w["worker"] for w in status(server)["workers"]}
    stopped = min(slots)
    os.kill(stopped, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(SCRAPES) as pool:
            scrapes = list(pool.map(lambda _: scrape(server), range(SCRAPES)))
        took = time.monotonic() - started
        assert took < ASK_TIMEOUT + 2.0, took
        for samples in scrapes:
            assert value(samples, series[0], **series[1]) == COUNT       # its last figures in the sums
            ages = {slot: value(samples, "resolver_worker_reading_age_seconds", worker=str(slot)) for slot in (0, 1)}
            assert ages[slots[stopped]] >= ASK_TIMEOUT and ages[1 - slots[stopped]] < ASK_TIMEOUT, ages
    finally:
        os.kill(stopped, signal.SIGCONT)
    wait_until(lambda: max(w["reading_age"] for w in status(server)["workers"]) < ASK_TIMEOUT, 5,
               "fresh figures from the worker running again")


def test_an_http_connection_open_across_a_fork_ends_when_the_parent_closes_it(served):
    """A worker forked while the parent holds an HTTP connection lets go of it: the parent's reply
    ends with the connection closed, not held open by the worker."""
    server, _ = served("ts")
    port = int(base_url(server).rsplit(":", 1)[1].strip("/"))
    parent_fds = f"/proc/{server.proc.pid}/fd"
    idle = len(os.listdir(parent_fds))
    with socket.create_connection((server.host, port), timeout=5) as held:
        wait_until(lambda: len(os.listdir(parent_fds)) == idle + 1, 5, "the parent accepting the connection")
        before = worker_pids(server)
        os.kill(min(before), signal.SIGKILL)
        wait_until(lambda: len(worker_pids(server) - before) == 1, 5, "a new worker")
        held.sendall(b"GET /status.json HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = b""
        while chunk := held.recv(65536):        # to the end: a timeout if the new worker held it open
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 OK")


def test_a_flush_empties_every_workers_cache(served):
    server, series = served("ls")
    asked_from_many_ports(server)
    wait_for_total(server, series, COUNT)
    # Each worker raced NAME once and answers it from its own cache since.
    page = status(server)
    assert [w["cache_entries"] for w in page["workers"]] == [1, 1]
    samples = scrape(server)
    assert value(samples, "resolver_ls_cache_entries") == 2
    assert value(samples, "resolver_ls_cache_inserts_total") == 2
    assert value(samples, "resolver_backend_wins_total", backend="ts2") == 2
    code, _, body = http(base_url(server) + f"plan?name={NAME}")
    assert code == 200
    plan = json.loads(body)
    assert plan["worker"] == 0 and sorted(entry["worker"] for entry in plan["cached"]) == [0, 1]
    code, _, body = http(base_url(server) + "cache/flush", method="POST")
    assert (code, body) == (200, '{"flushed": 2}\n')
    server.wait_for_line("cache flushed: 2 answers")
    samples = scrape(server)
    assert value(samples, "resolver_ls_cache_entries") == 0
    assert value(samples, "resolver_ls_cache_bytes") == 0
    assert value(samples, "resolver_ls_cache_flushed_total") == 2
    assert [w["cache_entries"] for w in status(server)["workers"]] == [0, 0]
    # Every worker races NAME again: each has a miss, wins and stores it once more.
    asked_from_many_ports(server)
    samples = wait_for_total(server, series, 2 * COUNT)
    assert value(samples, "resolver_ls_cache_inserts_total") == 4
    assert value(samples, "resolver_backend_wins_total", backend="ts2") == 4


def test_a_metrics_port_in_use_with_workers_is_one_error_and_no_worker_starts():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "resolver", "ts", "--listen", "127.0.0.1:0", "--table",
                                 str(ZONES / "ts1.txt"), "--workers", "2", "--metrics", f"127.0.0.1:{port}"],
                                capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and "address already in use" in result.stderr.lower(), result.stderr


@pytest.mark.parametrize("command", ["ts", "ls"])
def test_metrics_on_the_listen_port_with_workers_is_one_error_and_no_worker_starts(command):
    """``--metrics`` on the port a ``--listen`` address has: the parent's HTTP listener holds it
    before the workers bind, so the check of the addresses comes after it and says so in one line,
    as one process does; no worker starts only to fail to bind, again and again."""
    port = free_port()
    served = ["--table", str(ZONES / "ts1.txt")] if command == "ts" else ["--backend", f"127.0.0.1:{free_port()}"]
    result = subprocess.run([sys.executable, "-m", "resolver", command, "--listen", f"127.0.0.1:{port}", *served,
                             "--workers", "4", "--metrics", f"127.0.0.1:{port}"],
                            capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == [f"resolver {command}: error: cannot listen on 127.0.0.1:{port}: address already in use"], \
        result.stderr
    assert "worker" not in result.stderr and "listening on" not in result.stderr, result.stderr


def test_the_page_shows_the_sums_and_each_worker(served, browser):
    server, _ = served("ls")
    traffic = Traffic(server.host, server.port, [NAME])
    try:
        browser.get(base_url(server))
        wait_for(browser, lambda d: all(cell(d, f"worker-{slot}", 4) not in (None, "–", "0.0") for slot in (0, 1)),
                 what="queries/s of both workers")
    finally:
        traffic.stop()
    assert {int(cell(browser, f"worker-{slot}", 2)) for slot in (0, 1)} == worker_pids(server)
    assert ", 2 workers, 0 restarted" in shown(browser, "#meta")
    # Once the traffic has stopped, the total is every query sent, and the workers' add up to it.
    wait_for(browser, lambda d: shown(d, "#queries") == str(traffic.sent), what="every query counted")
    assert sum(int(cell(browser, f"worker-{slot}", 5)) for slot in (0, 1)) == traffic.sent
    assert cell(browser, "worker-0", 7) == "1" and cell(browser, "worker-1", 7) == "1"     # NAME, once in each
    assert shown(browser, "tr[id='workers-departed']") is None      # no worker has ended


def test_the_page_adds_up_once_a_worker_has_ended(served, browser):
    """A worker killed and replaced: the page's last row has the queries the dead worker counted,
    and the rows still add up to the total."""
    server, series = served("ts")
    asked_from_many_ports(server)
    wait_for_total(server, series, COUNT)
    before = {w["pid"]: w["queries"] for w in status(server)["workers"]}
    killed = min(before)
    os.kill(killed, signal.SIGKILL)
    server.wait_for_line(f"worker {killed} was killed by SIGKILL")
    wait_until(lambda: len(status(server)["workers"]) == 2, 5, "the new worker answering the parent", interval=0.05)
    browser.get(base_url(server))
    wait_for(browser, lambda d: cell(d, "workers-departed", 5) == str(before[killed]), what="the ended row")
    assert cell(browser, "workers-departed", 1) == "ended"
    rows = [int(cell(browser, f"worker-{slot}", 5)) for slot in (0, 1)]
    assert sum(rows) + before[killed] == COUNT == int(shown(browser, "#queries"))
