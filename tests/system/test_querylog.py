"""--query-log: one line per query with client, name, type, outcome, rcode, latency and transport."""
from __future__ import annotations

import signal

import dns.rcode

from support.querylog import LINE, logged
from support.servers import query
from support.waiting import wait_until


def test_the_query_log_names_the_winner_or_the_outcome(start_server, demo_backends, tmp_path):
    ts1, ts2 = demo_backends
    log = tmp_path / "queries.log"
    ls = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport, "--query-log", str(log),
                      "--cache-size", "0")
    query(ls, "WWW.IBM.com")
    query(ls, "www.google.com", "AAAA", tcp=True)
    query(ls, "www.amazon.com")
    query(ls, "www.ibm.com")
    wait_until(lambda: len(logged(log)) >= 4, 3, "four query log lines")
    fields = logged(log)
    assert fields[0] == ("WWW.IBM.com.", "A", f"won:{ts1.hostport}", "NOERROR", "udp", "fanout")
    # NODATA does not win a race; it is the best "no", from the backend that has the name. Over TCP.
    assert fields[1][:5] == ("www.google.com.", "AAAA", f"negative:{ts2.hostport}", "NOERROR", "tcp")
    name, kind, outcome, rcode, transport, _ = fields[2]
    assert (name, kind, rcode, transport) == ("www.amazon.com.", "A", "NXDOMAIN", "udp")
    assert outcome.startswith("negative:")
    # The second query for a name goes to the backend that answered the first: learned routing.
    assert fields[3] == ("www.ibm.com.", "A", f"won:{ts1.hostport}", "NOERROR", "udp", "learned")


def test_without_the_flag_there_is_no_query_log(start_server, demo_backends):
    ts1, ts2 = demo_backends
    ls = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport)
    query(ls, "www.ibm.com")
    assert not any(LINE.match(line) for line in ls.lines)


def test_a_followed_chain_is_logged_with_the_rcode_the_client_got(start_server, tmp_path):
    corp, lab = tmp_path / "corp.example.zone", tmp_path / "lab.example.zone"
    corp.write_text("$TTL 300\n@ SOA ns hostmaster 1 7200 900 1209600 60\n@ NS ns\nns A 192.0.2.53\n"
                    "www CNAME gone.lab.example.\n")
    lab.write_text("$TTL 300\n@ SOA ns hostmaster 1 7200 900 1209600 60\n@ NS ns\nns A 192.0.2.54\n")
    ts1, ts2 = start_server("ts", "--zone", str(corp)), start_server("ts", "--zone", str(lab))
    log = tmp_path / "queries.log"
    ls = start_server("ls", "--backend", f"corp={ts1.hostport}", "--backend", f"lab={ts2.hostport}",
                      "--query-log", str(log))
    assert query(ls, "www.corp.example", tcp=True).rcode() == dns.rcode.NXDOMAIN      # RFC 6604: the target's rcode
    wait_until(lambda: len(logged(log)) == 2, 3, "the link's and the client's query log lines")
    # The target's race first (its own line, under the same client, over its transport), then the client's reply.
    assert logged(log) == [("gone.lab.example.", "A", "link:lab", "NXDOMAIN", "tcp", "fanout"),
                           ("www.corp.example.", "A", "followed:corp", "NXDOMAIN", "tcp", None)]


def test_a_cache_hit_is_logged_as_such(start_server, demo_backends, tmp_path):
    ts1, ts2 = demo_backends
    log = tmp_path / "queries.log"
    ls = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport, "--query-log", str(log))
    query(ls, "www.ibm.com")
    query(ls, "WWW.ibm.com")
    wait_until(lambda: len(logged(log)) >= 2, 3, "two query log lines")
    fields = logged(log)
    assert fields[0] == ("www.ibm.com.", "A", f"won:{ts1.hostport}", "NOERROR", "udp", "fanout")
    assert fields[1] == ("WWW.ibm.com.", "A", "cache", "NOERROR", "udp", "cache")     # no backend asked


def test_the_ts_reopens_its_query_log_on_sighup(start_server, tmp_path):
    # As logrotate moves the log away and sends SIGHUP: the TS writes a new file at the old name.
    log, moved = tmp_path / "queries.log", tmp_path / "queries.log.1"
    ts = start_server("ts", "--table", "zones/ts1.txt", "--query-log", str(log))
    query(ts, "www.ibm.com")
    wait_until(lambda: len(logged(log)) == 1, 3, "the first query log line")
    log.rename(moved)
    ts.proc.send_signal(signal.SIGHUP)
    ts.wait_for_line("reloaded:")
    query(ts, "www.ibm.com", "AAAA")
    wait_until(lambda: len(logged(log)) == 1, 3, "a query log line in the new file")
    assert logged(log) == [("www.ibm.com.", "AAAA", "answered", "NOERROR", "udp", None)]
    assert [line[:2] for line in logged(moved)] == [("www.ibm.com.", "A")]


def test_a_query_log_the_ts_cannot_reopen_keeps_the_old_one(start_server, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    log, moved = logs / "queries.log", tmp_path / "queries.log.1"
    ts = start_server("ts", "--table", "zones/ts1.txt", "--query-log", str(log))
    log.rename(moved)
    logs.rmdir()                    # its directory gone: the name cannot be opened again
    ts.proc.send_signal(signal.SIGHUP)
    ts.wait_for_line("reloaded:")
    assert ts.count_lines("query log not reopened, still writing to the old one: --query-log") == 1
    query(ts, "www.ibm.com")
    wait_until(lambda: len(logged(moved)) == 1, 3, "the query log line in the old file")
    assert not log.exists()
