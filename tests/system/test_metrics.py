"""--metrics: Prometheus text scraped from running servers after real queries, the JSON
status, the HTTP edges, and the TS's query log."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys

import dns.message
import dns.query
import dns.rcode
import pytest

from resolver.ls.rtt import DEVIATIONS, INITIAL_RTTVAR
from resolver.cli import MAX_CACHE_ENTRIES
from resolver.ls.cache import ENTRY_OVERHEAD
from resolver.ls.settings import CacheSettings, LearnSettings, RetransmitSettings
from support.paths import ROOT, ZONES
from support.servers import base_url, http, query, scrape, value
from support.waiting import wait_until

RTO_FLOOR_MS = RetransmitSettings.floor * 1000
INITIAL_RTO_MS = round(DEVIATIONS * INITIAL_RTTVAR * 1000, 3)      # a backend's RTO before its first reply
TS1_NAMES = ["www.ibm.com", "www.rutgers.edu"]       # only TS1 (silent on misses) has these
TS2_NAMES = ["www.google.com"]                        # only TS2 has this one
MISSES = ["nowhere.example", "also.missing.example"]


@pytest.fixture
def watched(start_server):
    """TS1 (silent on misses) and TS2 from the demo tables, and an LS naming them, all with --metrics;
    the LS's cache is off, so that every query is raced (the cache's metrics have tests of their own)."""
    ts1 = start_server("ts", "--table", str(ZONES / "ts1.txt"), "--silent-miss", "--metrics", "127.0.0.1:0")
    ts2 = start_server("ts", "--table", str(ZONES / "ts2.txt"), "--metrics", "127.0.0.1:0")
    ls = start_server("ls", "--backend", f"ts1={ts1.hostport}", "--backend", f"ts2={ts2.hostport}",
                      "--timeout", "0.5", "--cache-size", "0", "--metrics", "127.0.0.1:0")
    return ts1, ts2, ls


def test_ls_metrics_count_real_queries_by_transport_rcode_and_backend(watched):
    ts1, ts2, ls = watched
    for name in TS1_NAMES + TS2_NAMES + MISSES:
        query(ls, name)
    assert query(ls, TS2_NAMES[0], tcp=True).rcode() == dns.rcode.NOERROR
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"\x12", (ls.host, ls.port))                     # too short to answer: dropped
    assert query(ls, "www.ibm.com", "AXFR").rcode() == dns.rcode.NOTIMP      # a transfer over UDP
    samples = scrape(ls)
    hits, udp = len(TS1_NAMES) + len(TS2_NAMES), len(TS1_NAMES + TS2_NAMES + MISSES) + 2
    assert value(samples, "resolver_ls_requests_total", proto="udp") == udp
    assert value(samples, "resolver_ls_requests_total", proto="tcp") == 1
    assert value(samples, "resolver_ls_responses_total", rcode="NOERROR") == hits + 1
    assert value(samples, "resolver_ls_responses_total", rcode="NXDOMAIN") == len(MISSES)
    assert value(samples, "resolver_ls_responses_total", rcode="NOTIMP") == 1
    assert value(samples, "resolver_ls_dropped_total", reason="malformed") == 1
    assert value(samples, "resolver_ls_races_total", outcome="won") == hits + 1
    assert value(samples, "resolver_ls_inflight") == 0
    assert value(samples, "resolver_backend_wins_total", backend="ts1") == len(TS1_NAMES)
    assert value(samples, "resolver_backend_wins_total", backend="ts2") == len(TS2_NAMES) + 1
    races = hits + len(MISSES) + 1
    routing = {how: value(samples, "resolver_ls_routing_total", how=how) for how in ("route", "learned", "fanout")}
    assert routing["route"] == 0 and routing["learned"] + routing["fanout"] == races
    assert routing["learned"] >= 1          # the second query for TS2's name: TS2 answered the first
    # Learned routing asks the learned owners first, the others only on a hedge. The only owner
    # ever asked first is TS2 (of that name, and of "." once its NXDOMAIN with the root's SOA came
    # within a race): TS1 is silent on misses, and each of its names is asked once. So TS2 is
    # asked in every race, TS1 in the fan-outs and on hedges.
    sent = {backend: first_copies(samples, backend) for backend in ("ts1", "ts2")}
    assert sent["ts2"] == races
    assert sent["ts1"] == routing["fanout"] + value(samples, "resolver_backend_hedges_total", backend="ts1")
    assert value(samples, "resolver_ls_upstream_queries_per_query") == pytest.approx(sum(sent.values()) / races)
    for backend in ("ts1", "ts2"):
        assert value(samples, "resolver_backend_up", backend=backend) == 1
        assert value(samples, "resolver_backend_forged_responses_total", backend=backend) == 0
    # TS1 says nothing on misses: those races time out waiting for it, sending it each miss again
    # (its silence could be a lost datagram), and TS2's NXDOMAIN goes back. TS2 replies to every query.
    assert value(samples, "resolver_backend_timeouts_total", backend="ts1") == len(MISSES)
    assert value(samples, "resolver_backend_retransmissions_total", backend="ts1") >= len(MISSES)
    assert value(samples, "resolver_backend_retransmissions_total", backend="ts2") == 0
    assert value(samples, "resolver_backend_responses_total", backend="ts2", rcode="NXDOMAIN") == \
        len(MISSES) + len(TS1_NAMES)
    # Every reply within a race is timed; TS2's NXDOMAIN for TS1's names come after TS1 won (late).
    replies_in_race = value(samples, "resolver_backend_response_duration_seconds_count", backend="ts2")
    assert replies_in_race + value(samples, "resolver_backend_late_responses_total", backend="ts2") == \
        len(TS1_NAMES + TS2_NAMES + MISSES) + 1
    assert value(samples, "resolver_backend_response_duration_seconds_bucket", backend="ts1", le="+Inf") == \
        len(TS1_NAMES)
    assert 0 < value(samples, "resolver_backend_response_duration_seconds_sum", backend="ts1") < 0.5


def test_learned_routing_shows_its_races_hedges_entries_and_queries_per_query(watched):
    """A name asked again goes to the backend that answered it only; a name the learned owner of
    its zone denies goes to the other backend at once (a hedge); the gauges follow."""
    _, _, ls = watched
    query(ls, TS2_NAMES[0])         # every backend asked: TS2 answers, and owns the name
    query(ls, TS2_NAMES[0])         # TS2 only
    samples = scrape(ls)
    assert value(samples, "resolver_ls_routing_total", how="fanout") == 1
    assert value(samples, "resolver_ls_routing_total", how="learned") == 1
    assert first_copies(samples, "ts1") == 1 and first_copies(samples, "ts2") == 2
    assert value(samples, "resolver_ls_upstream_queries_per_query") == 1.5
    assert value(samples, "resolver_ls_learned_entries") == 1
    assert value(samples, "resolver_ls_learned_capacity") == LearnSettings.size
    # TS2's NXDOMAIN for a miss carries the root's SOA: TS2 owns ".", so it is asked first for
    # TS1's name, says NXDOMAIN, and TS1 is asked at once.
    assert query(ls, MISSES[0]).rcode() == dns.rcode.NXDOMAIN
    assert query(ls, TS1_NAMES[0]).rcode() == dns.rcode.NOERROR
    samples = scrape(ls)
    assert value(samples, "resolver_ls_routing_total", how="learned") == 2
    assert value(samples, "resolver_ls_hedges_total", why="negative") == 1
    assert value(samples, "resolver_ls_hedges_total", why="silent") == 0
    assert value(samples, "resolver_backend_hedges_total", backend="ts1") == 1
    assert value(samples, "resolver_backend_hedges_total", backend="ts2") == 0
    assert value(samples, "resolver_backend_wins_total", backend="ts1") == 1
    assert value(samples, "resolver_ls_learned_entries") == 3     # TS2's name, TS1's name, and "."
    assert value(samples, "resolver_ls_upstream_queries_per_query") == (3 + 4) / 4
    assert value(samples, "resolver_backend_failovers_total", backend="ts1") == 0     # no replica groups


def test_a_race_waiting_for_a_backend_is_outstanding_there_until_it_ends(start_server):
    ts1 = start_server("ts", "--table", str(ZONES / "ts1.txt"), "--silent-miss")
    ts2 = start_server("ts", "--table", str(ZONES / "ts2.txt"))
    ls = start_server("ls", "--backend", f"ts1={ts1.hostport}", "--backend", f"ts2={ts2.hostport}",
                      "--timeout", "2", "--metrics", "127.0.0.1:0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(dns.message.make_query(MISSES[0], "A").to_wire(), (ls.host, ls.port))
        # TS2 says NXDOMAIN at once; TS1 stays silent, so the race waits for it until its timeout.
        wait_until(lambda: value(scrape(ls), "resolver_backend_outstanding", backend="ts1") == 1, 1.5,
                   "the race shown waiting for ts1", interval=0.05)
        samples = scrape(ls)
        assert value(samples, "resolver_backend_outstanding", backend="ts2") == 0
        assert value(samples, "resolver_ls_inflight") == 1
        assert dns.message.from_wire(sock.recv(512)).rcode() == dns.rcode.NXDOMAIN
    assert value(scrape(ls), "resolver_backend_outstanding", backend="ts1") == 0


def test_routes_and_replica_groups_show_in_the_metrics_the_status_and_the_plan(routed_group):
    """A route to a replica group whose first member says SERVFAIL: the other member is asked in
    its place within the race (a failover); the route, the group and its members are shown."""
    ls = routed_group
    assert query(ls, "api.example.net").rcode() == dns.rcode.NOERROR
    samples = scrape(ls)
    assert value(samples, "resolver_ls_routing_total", how="route") == 1
    assert [first_copies(samples, backend) for backend in ("ts1", "broken", "ts2")] == [0, 1, 1]
    assert value(samples, "resolver_backend_failovers_total", backend="ts2") == 1
    assert value(samples, "resolver_backend_failovers_total", backend="broken") == 0
    assert value(samples, "resolver_ls_upstream_queries_per_query") == 2
    assert value(samples, "resolver_group_members", group="pair") == 2
    assert value(samples, "resolver_group_members_up", group="pair") == 2
    url = base_url(ls)
    status = json.loads(http(url + "status.json")[2])
    pair = {"name": "pair", "policy": "first-available", "members": ["broken", "ts2"], "up": ["broken", "ts2"]}
    assert status["routes"] == [{"domain": "example.net.", "targets": ["pair"]}]
    assert status["groups"] == [pair]
    assert [b["group"] for b in status["backends"]] == [None, "pair", "pair"]
    plan = json.loads(http(url + "plan?name=www.example.net")[2])
    assert plan.pop("hedge_after_ms") >= RTO_FLOOR_MS      # the group's members' RTO: a group is its members
    assert plan == {"name": "www.example.net.", "learning": True, "route": "example.net.", "targets": ["pair"],
                    "learned": [], "first": ["pair"], "hedge": [], "down": [], "groups": [pair], "cached": []}
    plan = json.loads(http(url + "plan?name=www.ibm.com")[2])        # no route: every unit
    assert plan["route"] is None and plan["first"] == ["ts1", "pair"] and plan["hedge"] == []


CACHE_COUNTERS = ["hits", "misses", "stale", "prefetches", "evictions", "expired", "inserts", "flushed"]


@pytest.mark.parametrize("size, capacity, max_bytes", [
    (None, CacheSettings.entries, None),            # the default: entries only
    ("8MiB", MAX_CACHE_ENTRIES, 8 << 20),           # a memory bound, entries capped far above it
    ("0", 0, None),                                 # off: every series at zero, no memory bound
], ids=["default", "mib", "off"])
def test_the_cache_series_show_its_bounds_and_each_counter(start_server, size, capacity, max_bytes):
    ts = start_server("ts", "--table", str(ZONES / "ts2.txt"))
    ls = start_server("ls", "--backend", f"ts2={ts.hostport}", "--metrics", "127.0.0.1:0",
                      *(["--cache-size", size] if size else []))
    assert query(ls, TS2_NAMES[0]).rcode() == dns.rcode.NOERROR
    samples = scrape(ls)
    names = {name for name, _ in samples}
    assert {f"resolver_ls_cache_{counter}_total" for counter in CACHE_COUNTERS} <= names
    assert {"resolver_ls_cache_entries", "resolver_ls_cache_bytes"} <= names
    assert value(samples, "resolver_ls_cache_capacity_entries") == capacity
    assert ("resolver_ls_cache_capacity_bytes" in names) is (max_bytes is not None)
    assert value(samples, "resolver_ls_cache_capacity_bytes") == (max_bytes or 0)
    cache = json.loads(http(base_url(ls) + "status.json")[2])["cache"]
    assert {key: cache[key] for key in ("enabled", "capacity", "max_bytes")} == \
        {"enabled": capacity > 0, "capacity": capacity, "max_bytes": max_bytes}
    for counter in CACHE_COUNTERS:          # the page's numbers are the metrics' numbers
        assert cache[counter] == value(samples, f"resolver_ls_cache_{counter}_total"), counter
    assert (cache["entries"], cache["bytes"]) == (value(samples, "resolver_ls_cache_entries"),
                                                  value(samples, "resolver_ls_cache_bytes"))
    if capacity == 0:
        assert all(cache[counter] == 0 for counter in CACHE_COUNTERS) and cache["entries"] == 0


def test_the_cache_counts_real_queries_and_the_plan_lists_what_it_holds(start_server):
    """The first query for a name is a miss, raced and stored; the same question again is a hit that
    no backend sees, but over TCP it is a question of its own (a reply may take another size there).
    An NXDOMAIN that every backend gave is stored too."""
    ts = start_server("ts", "--table", str(ZONES / "ts2.txt"))
    ls = start_server("ls", "--backend", f"ts2={ts.hostport}", "--metrics", "127.0.0.1:0")
    first = query(ls, TS2_NAMES[0])
    assert query(ls, TS2_NAMES[0]).answer == first.answer
    assert query(ls, TS2_NAMES[0], tcp=True).rcode() == dns.rcode.NOERROR     # a miss: TCP's own key
    assert query(ls, MISSES[0]).rcode() == dns.rcode.NXDOMAIN                 # TS2's, with the root's SOA
    assert query(ls, MISSES[0]).rcode() == dns.rcode.NXDOMAIN
    samples = scrape(ls)
    counts = {counter: value(samples, f"resolver_ls_cache_{counter}_total") for counter in CACHE_COUNTERS}
    assert counts == {"hits": 2, "misses": 3, "stale": 0, "prefetches": 0, "evictions": 0, "expired": 0,
                      "inserts": 3, "flushed": 0}
    assert value(samples, "resolver_ls_cache_entries") == 3
    assert 3 * ENTRY_OVERHEAD < value(samples, "resolver_ls_cache_bytes") < 3 * (ENTRY_OVERHEAD + 512)
    assert value(samples, "resolver_backend_requests_total", backend="ts2") == 3    # the misses only
    assert value(samples, "resolver_ls_races_total", outcome="cache") == 2
    status = json.loads(http(base_url(ls) + "status.json")[2])["cache"]
    assert (status["hits"], status["misses"], status["entries"]) == (2, 3, 3)
    url = base_url(ls) + "plan?name=" + TS2_NAMES[0]
    held = sorted(json.loads(http(url)[2])["cached"], key=lambda entry: entry["size"])
    assert all(entry.pop("ttl_left") <= 300 for entry in held)
    assert held == [{"type": "A", "flags": "", "size": size, "rcode": "NOERROR", "stale": False}
                    for size in (512, 65535)]                                 # UDP without EDNS, and TCP
    assert json.loads(http(url + "&type=aaaa")[2])["cached"] == []             # what the cache holds of a type
    assert json.loads(http(base_url(ls) + "plan?name=" + MISSES[0])[2])["cached"][0]["rcode"] == "NXDOMAIN"
    assert http(url + "&type=BOGUS") == (400, "text/plain", "not a record type: 'BOGUS'\n")
    assert value(scrape(ls), "resolver_ls_cache_hits_total") == 2     # reading the plan counts nothing


def first_copies(samples: dict, backend: str) -> float:
    """Queries sent to a backend, retransmissions left out."""
    return (value(samples, "resolver_backend_requests_total", backend=backend)
            - value(samples, "resolver_backend_retransmissions_total", backend=backend))


def test_a_dead_backend_shows_as_down(watched):
    ts1, _, ls = watched
    ts1.stop()
    wait_until(lambda: value(scrape(ls), "resolver_backend_up", backend="ts1") == 0, 5, "ts1 shown down",
               interval=0.1)
    assert value(scrape(ls), "resolver_backend_up", backend="ts2") == 1


def test_ts_metrics_count_queries_and_replies_by_zone_and_rcode(start_server):
    ts = start_server("ts", "--zone", str(ZONES / "example.com.zone"), "--metrics", "127.0.0.1:0")
    query(ts, "web.example.com")
    query(ts, "nope.example.com")
    query(ts, "web.example.com", tcp=True)
    query(ts, "elsewhere.test")                         # outside every zone: REFUSED, no zone
    samples = scrape(ts)
    assert value(samples, "resolver_ts_requests_total", zone="example.com.", proto="udp") == 2
    assert value(samples, "resolver_ts_requests_total", zone="example.com.", proto="tcp") == 1
    assert value(samples, "resolver_ts_responses_total", zone="example.com.", rcode="NOERROR") == 2
    assert value(samples, "resolver_ts_responses_total", zone="example.com.", rcode="NXDOMAIN") == 1
    assert value(samples, "resolver_ts_responses_total", zone="none", rcode="REFUSED") == 1
    assert value(samples, "resolver_ts_zone_names", zone="example.com.") > 5


def test_status_json_and_http_edges(watched):
    _, _, ls = watched
    query(ls, TS2_NAMES[0])
    url = base_url(ls)
    status, kind, text = http(url + "status.json")
    assert status == 200 and kind == "application/json"
    assert '"role": "ls"' in text and '"name": "ts2"' in text and '"wins": 1' in text
    status, kind, page = http(url)
    assert status == 200 and kind.startswith("text/html") and "status.json" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "the page must not load anything external"
    assert http(url + "nope")[0] == 404
    assert http(url + "metrics", "POST")[0] == 405
    status, _, body = http(url + "metrics", "HEAD")
    assert status == 200 and body == ""
    with socket.create_connection((ls.host, int(url.rsplit(":", 1)[1].strip("/"))), timeout=5) as sock:
        sock.sendall(b"garbage\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400")
    assert query(ls, TS2_NAMES[0]).rcode() == dns.rcode.NOERROR      # still serving DNS


def test_the_plan_says_how_the_ls_would_route_a_name_and_sends_no_query(watched):
    ts1, _, ls = watched
    url = base_url(ls)
    assert json.loads(http(url + "plan?name=" + MISSES[0])[2])["hedge_after_ms"] == INITIAL_RTO_MS     # no reply yet
    query(ls, TS2_NAMES[0])         # TS2 answers it: its learned owner, and its round trip is timed
    status, kind, text = http(url + "plan?name=WWW.Google.COM")      # names compare without case
    assert status == 200 and kind == "application/json"
    plan = json.loads(text)
    hedge_after = plan.pop("hedge_after_ms")
    assert RTO_FLOOR_MS <= hedge_after < INITIAL_RTO_MS       # TS2's RTO, from the reply's round trip
    assert plan == {"name": "WWW.Google.COM.", "learning": True, "route": None, "targets": [],
                    "learned": ["ts2"], "first": ["ts2"], "hedge": ["ts1"], "down": [], "groups": [], "cached": []}
    missed = json.loads(http(url + "plan?name=" + MISSES[0])[2])       # nothing learned: both asked first
    assert missed["first"] == ["ts1", "ts2"] and missed["hedge_after_ms"] == hedge_after       # the shorter RTO
    status, _, text = http(url + "status.json")
    assert json.loads(text)["queries"] == 1 and json.loads(text)["learned"]["entries"] == 1
    assert http(url + "plan")[0] == 400
    status, _, text = http(url + "plan?name=a..b")
    assert status == 400 and text.startswith("not a DNS name")
    assert http(base_url(ts1) + "plan?name=www.ibm.com")[0] == 404     # a TS routes nothing


def raw_get(server, target: bytes) -> tuple[int, bytes]:
    """One GET of ``target`` sent as these bytes, unencoded: the status and the body."""
    port = int(base_url(server).rsplit(":", 1)[1].strip("/"))
    with socket.create_connection((server.host, port), timeout=5) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_the_plan_reads_an_internationalized_name_as_utf8_raw_or_percent_encoded(watched):
    _, _, ls = watched
    for target in ("/plan?name=bücher.example".encode(), b"/plan?name=b%C3%BCcher.example"):
        status, body = raw_get(ls, target)
        assert status == 200 and json.loads(body)["name"] == "xn--bcher-kva.example.", target   # its IDNA form
    for target in (b"/plan?name=b\xfccher.example", b"/plan?name=b%FCcher.example"):     # Latin-1, not UTF-8
        status, body = raw_get(ls, target)
        assert status == 400 and body.startswith(b"not a DNS name"), target


def test_metrics_port_in_use_is_one_error(start_server):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "resolver", "ts", "--listen", "127.0.0.1:0", "--table",
                                 str(ZONES / "ts1.txt"), "--metrics", f"127.0.0.1:{port}"],
                                capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr


def test_ts_query_log_has_a_line_per_query(start_server, tmp_path):
    log = tmp_path / "queries.log"
    ts = start_server("ts", "--table", str(ZONES / "ts1.txt"), "--silent-miss", "--query-log", str(log))
    query(ts, "WWW.IBM.COM")
    with pytest.raises(dns.exception.Timeout):
        query(ts, "nowhere.example", timeout=0.3)
    lines = log.read_text().splitlines()
    assert re.fullmatch(r"\S+Z 127\.0\.0\.1:\d+ WWW\.IBM\.COM\. A answered NOERROR [\d.]+ms udp", lines[0]), lines
    assert re.fullmatch(r"\S+Z 127\.0\.0\.1:\d+ nowhere\.example\. A silent - [\d.]+ms udp", lines[1]), lines
    query(ts, "www.ibm.com", tcp=True)
    wait_until(lambda: len(log.read_text().splitlines()) == 3, 3, "the TCP query's line")
    assert re.fullmatch(r"\S+Z 127\.0\.0\.1:\d+ www\.ibm\.com\. A answered NOERROR [\d.]+ms tcp",
                        log.read_text().splitlines()[2])


def test_idle_http_connections_are_capped_and_dns_keeps_serving(watched):
    """A client holding connections open without a request (slowloris) gets at most 64 of them;
    the next is told 503 at once, and DNS answers meanwhile."""
    _, _, ls = watched
    port = int(base_url(ls).rsplit(":", 1)[1].strip("/"))
    idle = [socket.create_connection((ls.host, port), timeout=5) for _ in range(64)]
    try:
        with socket.create_connection((ls.host, port), timeout=5) as extra:
            assert extra.recv(100).startswith(b"HTTP/1.1 503")
        assert query(ls, TS2_NAMES[0]).rcode() == dns.rcode.NOERROR
    finally:
        for sock in idle:
            sock.close()

    def scraped() -> bool:
        try:
            return bool(scrape(ls))
        except AssertionError:
            return False
    wait_until(scraped, 5, "a scrape once the idle connections are closed",    # the server sees the closes
               interval=0.05)                                                  # a moment later
