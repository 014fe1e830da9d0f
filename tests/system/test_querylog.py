"""--query-log: one line per query with client, name, type, outcome, rcode and latency."""
from __future__ import annotations

import re

import dns.rcode

from support.servers import query
from support.waiting import wait_until

LINE = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z 127\.0\.0\.1:\d+ (\S+) (\S+) (\S+) (\S+) [\d.]+ms(?: (\S+))?$")


def test_the_query_log_names_the_winner_or_the_outcome(start_server, demo_backends, tmp_path):
    ts1, ts2 = demo_backends
    log = tmp_path / "queries.log"
    ls = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport, "--query-log", str(log),
                      "--cache-size", "0")
    query(ls, "WWW.IBM.com")
    query(ls, "www.google.com", "AAAA")
    query(ls, "www.amazon.com")
    query(ls, "www.ibm.com")
    wait_until(lambda: log.read_text().count("\n") >= 4, 3, "four query log lines")
    fields = [LINE.match(line).groups() for line in log.read_text().splitlines()]
    assert fields[0] == ("WWW.IBM.com.", "A", f"won:{ts1.hostport}", "NOERROR", "fanout")
    # NODATA does not win a race; it is the best "no", from the backend that has the name.
    assert fields[1][:4] == ("www.google.com.", "AAAA", f"negative:{ts2.hostport}", "NOERROR")
    name, kind, outcome, rcode, _ = fields[2]
    assert (name, kind, rcode) == ("www.amazon.com.", "A", "NXDOMAIN") and outcome.startswith("negative:")
    # The second query for a name goes to the backend that answered the first: learned routing.
    assert fields[3] == ("www.ibm.com.", "A", f"won:{ts1.hostport}", "NOERROR", "learned")


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
    assert query(ls, "www.corp.example").rcode() == dns.rcode.NXDOMAIN      # RFC 6604: the target's rcode
    def lines() -> list[tuple[str, ...]]:
        return [LINE.match(line).groups() for line in log.read_text().splitlines()]
    wait_until(lambda: len(lines()) == 2, 3, "the link's and the client's query log lines")
    # The target's race first (its own line, under the same client), then the client's reply.
    assert lines() == [("gone.lab.example.", "A", "link:lab", "NXDOMAIN", "fanout"),
                       ("www.corp.example.", "A", "followed:corp", "NXDOMAIN", None)]


def test_a_cache_hit_is_logged_as_such(start_server, demo_backends, tmp_path):
    ts1, ts2 = demo_backends
    log = tmp_path / "queries.log"
    ls = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport, "--query-log", str(log))
    query(ls, "www.ibm.com")
    query(ls, "WWW.ibm.com")
    wait_until(lambda: log.read_text().count("\n") >= 2, 3, "two query log lines")
    fields = [LINE.match(line).groups() for line in log.read_text().splitlines()]
    assert fields[0] == ("www.ibm.com.", "A", f"won:{ts1.hostport}", "NOERROR", "fanout")
    assert fields[1] == ("WWW.ibm.com.", "A", "cache", "NOERROR", "cache")     # no backend asked
