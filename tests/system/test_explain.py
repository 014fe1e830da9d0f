"""``client --explain``: each backend's reply, the LS's rule applied to them, and the LS's own answer.

The setup is the assignment's: TS1 stays silent on misses (``--silent-miss``),
TS2 answers them NXDOMAIN, and an LS (with a short timeout) races both. Given
the LS's status address (``--status``, its ``--metrics``), explain first shows
the LS's plan for the name: what its cache holds, its route, learned owner,
and the backends asked first and on a hedge.
"""
from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys

import pytest

from support.fake_status import FakeStatus
from support.fakes import FakeBackend, badvers, garbage_sections
from support.paths import ROOT, ZONES
from support.ports import free_port
from support.servers import base_url, http, query, scrape, value
from support.waiting import wait_until
from support.zone_servers import small_zone as zone
from resolver.client.explain import BackendReply, hedge_line, plan_lines, predict, queries_served
from resolver.ls.rule import ALIAS, ANSWER, NODATA, REFERRAL


@pytest.fixture
def servers(start_server):
    ts1 = start_server("ts", "--table", str(ZONES / "ts1.txt"), "--silent-miss")
    ts2 = start_server("ts", "--table", str(ZONES / "ts2.txt"))
    ls = start_server("ls", "--backend", ts1.hostport, "--backend", ts2.hostport, "--timeout", "1")
    return ts1, ts2, ls


def explain(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "resolver", "client", "--explain", *args],
                          capture_output=True, text=True, timeout=30, cwd=ROOT)


def row(output: str, backend) -> list[str]:
    """The table row of one backend (a server, or the name it was given): address, reply, AA, time, answer."""
    shown = backend if isinstance(backend, str) else backend.hostport
    line = next(line for line in output.splitlines() if line.startswith(f"  {shown} "))
    return re.split(r" {2,}", line.strip())        # columns are two or more spaces apart


def test_a_name_only_the_silent_ts_has_wins_there_and_the_ls_agrees(servers):
    ts1, ts2, ls = servers
    result = explain("WWW.IBM.COM", "--backend", ts1.hostport, "--backend", ts2.hostport, "--server", ls.hostport)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == ("the LS's plan for WWW.IBM.COM: unknown without --status ADDR:PORT, the LS's --metrics "
                        "address (or metrics in its --ls-config)")
    assert lines[1] == "WWW.IBM.COM A, asked of 2 backends at once"
    assert row(result.stdout, ts1)[1:3] == ["NOERROR", "yes"] and row(result.stdout, ts1)[4] == "129.42.38.10"
    assert row(result.stdout, ts2)[1:3] == ["NXDOMAIN", "yes"]
    assert lines[-2].startswith(f"winner: {ts1.hostport}, the first reply that answers (")
    assert lines[-1].startswith(f"LS {ls.hostport} answered NOERROR 129.42.38.10 in ")
    assert lines[-1].endswith(": agrees")
    assert result.stderr == ""


def test_a_silent_backend_is_shown_silent_while_the_other_wins(servers):
    ts1, ts2, ls = servers
    result = explain("www.google.com", "--backend", ts1.hostport, "--backend", ts2.hostport, "--server", ls.hostport,
                     "--timeout", "0.5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert row(result.stdout, ts1) == [ts1.hostport, "silent", "-", "-", "-"]
    assert row(result.stdout, ts2)[4] == "8.8.8.8"
    assert f"winner: {ts2.hostport}, the first reply that answers" in result.stdout
    assert result.stdout.rstrip().endswith(": agrees")


def test_a_name_neither_has_waits_for_the_silent_ts_then_gets_the_nxdomain(servers):
    ts1, ts2, ls = servers
    result = explain("www.amazon.com", "--backend", ts1.hostport, "--backend", ts2.hostport, "--server", ls.hostport,
                     "--timeout", "0.5")
    assert result.returncode == 1
    verdict, answer = result.stdout.splitlines()[-2:]
    assert verdict == (f"no positive answer within 0.5 s: {ts1.hostport} stayed silent, so the LS waits until its "
                       f"timeout, then passes on the NXDOMAIN (authoritative) from {ts2.hostport} "
                       f"(SERVFAIL with --on-timeout servfail)")
    assert answer.startswith(f"LS {ls.hostport} answered NXDOMAIN in ") and answer.endswith(": agrees")


def test_no_reply_at_all_means_the_timeout_answer(servers):
    ts1, _, _ = servers
    result = explain("www.amazon.com", "--backend", ts1.hostport, "--timeout", "0.3")
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == ("no backend replied within 0.3 s: the LS answers NXDOMAIN "
                                              "(SERVFAIL with --on-timeout servfail) at its timeout")


def test_when_every_backend_says_no_the_best_negative_comes_at_once(start_server, servers):
    _, ts2, _ = servers
    ts1 = start_server("ts", "--table", str(ZONES / "ts1.txt"))
    result = explain("nosuch.example.net", "--backend", ts1.hostport, "--backend", ts2.hostport, "--type", "aaaa")
    assert result.returncode == 1
    assert result.stdout.splitlines()[1] == "nosuch.example.net AAAA, asked of 2 backends at once"
    assert result.stdout.splitlines()[-1].startswith(
        "no positive answer: all backends said no; the LS answers at once with the best negative, "
        "NXDOMAIN (authoritative) from ")


def test_a_closed_port_is_unreachable_and_not_waited_for(demo_backends):
    _, ts2 = demo_backends
    closed = f"127.0.0.1:{free_port()}"
    result = explain("www.amazon.com", "--backend", closed, "--backend", ts2.hostport)
    assert result.returncode == 1
    assert f"  {closed}  unreachable  " in result.stdout
    assert result.stdout.splitlines()[-1].startswith("no positive answer: every reachable backend said no")


def test_nodata_is_the_best_no_but_does_not_resolve(demo_backends):
    ts1, ts2 = demo_backends
    result = explain("multi.example.org", "--backend", ts1.hostport, "--backend", ts2.hostport, "--type", "AAAA")
    assert result.returncode == 1
    has_it = next(ts for ts in (ts1, ts2) if row(result.stdout, ts)[1] == "NOERROR (NODATA)")
    assert result.stdout.splitlines()[-1] == (
        f"no answer: the best no is NOERROR (NODATA) (authoritative) from {has_it.hostport}, the name exists "
        "without AAAA records; the LS answers with it at once")


def test_backends_named_on_the_command_line_or_in_the_ls_config_are_shown_by_name(servers, tmp_path):
    ts1, ts2, ls = servers
    result = explain("www.google.com", "--backend", f"ts1={ts1.hostport}", "--backend", f"ts2={ts2.hostport}",
                     "--timeout", "0.3")
    assert result.returncode == 0 and row(result.stdout, "ts1")[1] == "silent"
    assert result.stdout.splitlines()[-1].startswith("winner: ts2, the first reply that answers (")
    config = tmp_path / "ls.toml"
    config.write_text(f'listen = ["{ls.hostport}"]\ntimeout = 1\n'
                      f'backend = [{{ name = "ts1", address = "{ts1.hostport}" }}, "ts2={ts2.hostport}"]\n')
    result = explain("www.google.com", "--ls-config", str(config), "--timeout", "0.3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert row(result.stdout, "ts1")[1] == "silent" and row(result.stdout, "ts2")[1] == "NOERROR"
    assert result.stdout.splitlines()[-1].startswith(f"LS {ls.hostport} answered NOERROR 8.8.8.8 in ")
    assert result.stdout.rstrip().endswith(": agrees")


# ------------------------------------------------------------------------- the LS's plan, from its status address


@pytest.fixture
def watched(start_server):
    """TS1 (silent on misses) and TS2, and an LS naming them with --metrics, probing every 0.2 s."""
    ts1 = start_server("ts", "--table", str(ZONES / "ts1.txt"), "--silent-miss")
    ts2 = start_server("ts", "--table", str(ZONES / "ts2.txt"))
    ls = start_server("ls", "--backend", f"ts1={ts1.hostport}", "--backend", f"ts2={ts2.hostport}", "--timeout", "1",
                      "--probe-interval", "0.2", "--metrics", "127.0.0.1:0")
    return ts1, ts2, ls


def status_of(server) -> str:
    """The ADDR:PORT of a server's --metrics endpoint."""
    return base_url(server).removeprefix("http://").rstrip("/")


def plan(output: str) -> list[str]:
    """The lines of the LS's plan, without their indent: those after its heading, before the first race's."""
    lines = output.splitlines()
    assert lines[0].startswith("the LS's plan for ") and lines[0].endswith(":"), output
    return [line.strip() for line in itertools.takewhile(lambda line: line.startswith("  "), lines[1:])]


def test_the_plan_shows_every_backend_asked_then_the_learned_owner_first(watched):
    ts1, ts2, ls = watched
    backends = ["--backend", f"ts1={ts1.hostport}", "--backend", f"ts2={ts2.hostport}"]
    first = explain("www.ibm.com", *backends, "--server", ls.hostport, "--status", status_of(ls))
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.splitlines()[0] == f"the LS's plan for www.ibm.com now, from its status at {status_of(ls)}:"
    assert plan(first.stdout) == ["route: none covers it", "learned owner: none yet, so every backend is asked",
                                  "asked first: ts1, ts2; on a hedge: none"]
    assert first.stdout.rstrip().endswith(": agrees")
    # The LS was asked last, and TS1 answered it: TS1 is the name's learned owner now, and the LS
    # holds the answer (TTL 300, from ts1.txt) for a query such as explain's, without EDNS.
    again = explain("WWW.IBM.COM", *backends, "--status", status_of(ls))
    cached, *routed = plan(again.stdout)
    held = re.fullmatch(r"cached: A NOERROR for queries without EDNS, (\d+) s left: the LS answers from its cache, "
                        r"asking no backend", cached)
    assert held and int(held[1]) <= 300, cached
    assert routed == ["route: none covers it", "learned owner: ts1", "asked first: ts1; on a hedge: ts2"]
    assert row(again.stdout, "ts1")[1] == "NOERROR"         # every backend is still asked and shown
    aaaa = explain("WWW.IBM.COM", "--type", "AAAA", *backends, "--status", status_of(ls))
    assert plan(aaaa.stdout)[0] == "route: none covers it"    # no AAAA answer is cached


def test_the_plan_leaves_out_a_backend_that_is_down(watched):
    ts1, ts2, ls = watched
    ts1.stop()
    wait_until(lambda: value(scrape(ls), "resolver_backend_up", backend="ts1") == 0, 5, "ts1 down", interval=0.1)
    result = explain("www.google.com", "--backend", f"ts2={ts2.hostport}", "--status", status_of(ls))
    assert plan(result.stdout) == ["route: none covers it", "learned owner: none yet, so every backend is asked",
                                   "asked first: ts2; on a hedge: none", "down, so not asked: ts1"]


def test_the_status_address_comes_from_the_ls_config(watched, tmp_path):
    ts1, ts2, ls = watched
    config = tmp_path / "ls.toml"
    config.write_text(f'listen = ["{ls.hostport}"]\nmetrics = "{status_of(ls)}"\n'
                      f'backend = ["ts1={ts1.hostport}", "ts2={ts2.hostport}"]\n')
    result = explain("www.google.com", "--ls-config", str(config), "--timeout", "0.3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert plan(result.stdout)[-1] == "asked first: ts1, ts2; on a hedge: none"
    assert result.stdout.rstrip().endswith(": agrees")


def test_the_plan_names_the_route_and_the_group_and_says_when_learning_is_off(start_server):
    ts1 = start_server("ts", "--table", str(ZONES / "ts1.txt"), "--silent-miss")
    ts2 = start_server("ts", "--table", str(ZONES / "ts2.txt"))
    ts3 = start_server("ts", "--table", str(ZONES / "ts2.txt"))        # ts2's replica
    backends = ["--backend", f"ts1={ts1.hostport}", "--backend", f"ts2={ts2.hostport}",
                "--backend", f"ts3={ts3.hostport}"]
    ls = start_server("ls", *backends, "--group", "pair=ts2,ts3", "--route", "example.net=pair",
                      "--metrics", "127.0.0.1:0")
    result = explain("api.example.net", *backends, "--status", status_of(ls))
    assert result.returncode == 0, result.stdout + result.stderr
    assert plan(result.stdout) == ["route: example.net. -> pair",
                                   "learned owner: none yet, so every backend of the route is asked",
                                   "asked first: pair; on a hedge: none",
                                   "group pair: one member asked, by round-robin, of ts2, ts3"]
    unlearned = start_server("ls", *backends, "--learn", "off", "--metrics", "127.0.0.1:0")
    result = explain("www.ibm.com", *backends, "--status", status_of(unlearned))
    assert plan(result.stdout) == ["route: none covers it", "learning off: every backend asked",
                                   "asked first: ts1, ts2, ts3; on a hedge: none"]


# ------------------------------------------------------------------------- routes: the backends the LS asks


def test_a_routed_name_is_judged_over_its_routes_backends_and_the_others_are_marked(start_server):
    """The route from the LS's plan: www.google.com goes to ts1 alone, which says NXDOMAIN; ts2's
    answer is shown, but the LS never sees it, so the LS's NXDOMAIN agrees."""
    ts1 = start_server("ts", "--table", str(ZONES / "ts1.txt"))
    ts2 = start_server("ts", "--table", str(ZONES / "ts2.txt"))
    backends = ["--backend", f"ts1={ts1.hostport}", "--backend", f"ts2={ts2.hostport}"]
    ls = start_server("ls", *backends, "--route", "google.com=ts1", "--metrics", "127.0.0.1:0")
    result = explain("www.google.com", *backends, "--server", ls.hostport, "--status", status_of(ls))
    assert result.returncode == 1, result.stdout + result.stderr       # agrees (not 3); the name does not resolve
    lines = result.stdout.splitlines()
    assert plan(result.stdout)[0] == "route: google.com. -> ts1"
    assert "www.google.com A, asked of 2 backends at once; the LS asks only ts1 (route google.com.)" in lines
    assert row(result.stdout, "ts1")[:2] == ["ts1", "NXDOMAIN"]
    assert row(result.stdout, "ts2")[:2] == ["ts2 (not asked by the LS)", "NOERROR"]
    assert lines[-2] == ("no positive answer: all backends of the route said no; the LS answers at once with the "
                         "best negative, NXDOMAIN (authoritative) from ts1")
    assert lines[-1].startswith(f"LS {ls.hostport} answered NXDOMAIN in ") and lines[-1].endswith(": agrees")
    unnamed = explain("www.google.com", "--backend", ts1.hostport, "--backend", ts2.hostport, "--status", status_of(ls))
    assert ("www.google.com A, asked of 2 backends at once; its route google.com. -> ts1 names none of them "
            "(name them as the LS does, NAME=ADDR:PORT), so all are judged") in unnamed.stdout.splitlines()


def test_the_route_comes_from_the_ls_config_with_a_group_standing_for_its_members(start_server, tmp_path):
    ts1 = start_server("ts", "--table", str(ZONES / "ts1.txt"))
    ts1b = start_server("ts", "--table", str(ZONES / "ts1.txt"))        # ts1's replica
    ts2 = start_server("ts", "--table", str(ZONES / "ts2.txt"))
    config = tmp_path / "ls.toml"
    config.write_text(f'backend = ["ts1={ts1.hostport}", "ts1b={ts1b.hostport}", "ts2={ts2.hostport}"]\n'
                      '[group.pair]\nmembers = ["ts1", "ts1b"]\n[route]\n"Google.com" = ["pair"]\n')
    ls = start_server("ls", "--config", str(config))
    routed = explain("WWW.google.com", "--ls-config", str(config), "--server", ls.hostport)
    assert routed.returncode == 1, routed.stdout + routed.stderr
    lines = routed.stdout.splitlines()
    assert lines[1] == "WWW.google.com A, asked of 3 backends at once; the LS asks only ts1, ts1b (route google.com.)"
    assert [row(routed.stdout, name)[0] for name in ("ts1", "ts1b", "ts2")] == ["ts1", "ts1b",
                                                                                 "ts2 (not asked by the LS)"]
    assert lines[-1].startswith(f"LS {ls.hostport} answered NXDOMAIN in ") and lines[-1].endswith(": agrees")
    free = explain("www.ibm.com", "--ls-config", str(config), "--server", ls.hostport)     # no route covers it
    assert free.returncode == 0, free.stdout + free.stderr
    assert free.stdout.splitlines()[1] == "www.ibm.com A, asked of 3 backends at once"
    assert "not asked" not in free.stdout


# ------------------------------------------------------------------------- whether the LS hedges


def test_explain_says_the_learned_owners_no_sends_the_query_on_at_once(watched):
    ts1, ts2, ls = watched
    query(ls, "nowhere.example")        # TS2's NXDOMAIN carries the root's SOA: TS2 owns '.', as learned
    backends = ["--backend", f"ts1={ts1.hostport}", "--backend", f"ts2={ts2.hostport}"]
    result = explain("www.ibm.com", *backends, "--status", status_of(ls))
    assert result.returncode == 0, result.stdout + result.stderr
    assert plan(result.stdout)[1:] == ["learned owner: ts2", "asked first: ts2; on a hedge: ts1"]
    # The LS hedges on TS2's NXDOMAIN, unless TS2 took longer than its RTO (a loaded machine): on its silence.
    rto = json.loads(http(base_url(ls) + "plan?name=www.ibm.com")[2])["hedge_after_ms"]
    took = float(row(result.stdout, "ts2")[3].removesuffix(" ms"))
    assert ("hedge: the learned owner ts2 said NXDOMAIN, so ts1 is asked at once" if took <= rto
            else f"hedge: ts2 silent past its {rto:g} ms RTO: ts1 is asked") in result.stdout.splitlines()


def hedge_plan(hedge_after_ms: float | None = 10.0) -> dict:
    """``/plan``'s JSON for a name whose learned owner is the group ``own`` (of o1 and o2), ``other`` on a hedge."""
    return {"route": None, "first": ["own"], "hedge": ["other"], "hedge_after_ms": hedge_after_ms,
            "groups": [{"name": "own", "members": ["o1", "o2"], "up": ["o1", "o2"]}]}


@pytest.mark.parametrize("replies, line", [
    ([BackendReply("o1", 0, True, ["192.0.2.1"], ms=0.3), BackendReply("o2"),
      BackendReply("other", 3, True, ms=0.1)],
     "hedge: o1 answered in 0.30 ms, within its 10 ms RTO: no hedge"),
    ([BackendReply("o1", 0, True, ["192.0.2.1"], ms=4.0), BackendReply("o2", 3, True, ms=2.0)],
     "hedge: the learned owner o2 said NXDOMAIN, so other is asked at once"),
    ([BackendReply("o1", 0, True, ["192.0.2.1"], ms=12.0), BackendReply("o2", 3, True, ms=15.0)],
     "hedge: o1 silent past its 10 ms RTO: other is asked"),
    ([BackendReply("o1"), BackendReply("o2", 3, True, ms=11.0)], "hedge: o1 silent past its 10 ms RTO: other is asked"),
    ([BackendReply("o1", unreachable=True), BackendReply("o2")],
     "hedge: the learned owner o1 is unreachable, so other is asked at once"),
], ids=["answered_in_time", "said_no", "answered_too_late", "silent", "unreachable"])
def test_the_hedge_fires_on_the_first_no_or_at_the_owners_rto(replies, line):
    assert hedge_line(hedge_plan(), replies) == line


def test_no_hedge_line_without_a_hedge_or_an_rto():
    replies = [BackendReply("o1")]
    assert hedge_line({**hedge_plan(), "hedge": []}, replies) is None
    assert hedge_line(hedge_plan(None), replies) is None


# ------------------------------------------------------------------------- what the LS's cache holds


def cached_plan(*cached: dict) -> dict:
    """``/plan``'s JSON for a name no route covers, nothing learned yet, with ``cached`` as the LS's cache holds it."""
    return {"learning": True, "route": None, "targets": [], "learned": [], "first": ["ts1", "ts2"], "hedge": [],
            "down": [], "groups": [], "hedge_after_ms": 10.0, "cached": list(cached)}


def entry(rdtype: str = "A", flags: str = "", rcode: str = "NOERROR", ttl_left: int = 0, stale: bool = False) -> dict:
    return {"type": rdtype, "flags": flags, "rcode": rcode, "ttl_left": ttl_left, "stale": stale}


def test_the_plan_says_which_queries_the_ls_answers_from_its_cache(demo_backends):
    """A plan read from a stand-in status address: a fresh entry is answered from the cache, a stale
    one only when the backends fail or are slow; each names the queries it is for."""
    ts1, ts2 = demo_backends
    backends = ["--backend", f"ts1={ts1.hostport}", "--backend", f"ts2={ts2.hostport}"]
    plan_json = cached_plan(entry(ttl_left=123), entry("A", "edns,do", "NXDOMAIN", stale=True),
                            entry("AAAA", "edns,cd", "NOERROR", ttl_left=40))
    with FakeStatus(plan_json) as status:
        result = explain("WWW.IBM.COM", *backends, "--status", status.hostport)
    assert result.returncode == 0, result.stdout + result.stderr
    assert status.asked == [{"name": ["WWW.IBM.COM"], "type": ["A"]}]      # what the cache holds for this type
    assert plan(result.stdout) == [
        "cached: A NOERROR for queries without EDNS, 123 s left: the LS answers from its cache, asking no backend",
        "cached: A NXDOMAIN for queries with EDNS, DO, stale: the LS asks the backends, and answers from its cache "
        "with TTL 30 only if they fail or stay silent past its --stale-answer-timeout",
        "cached: AAAA NOERROR for queries with EDNS, CD, 40 s left: the LS answers from its cache, asking no backend",
        "route: none covers it", "learned owner: none yet, so every backend is asked",
        "asked first: ts1, ts2; on a hedge: none"]
    assert row(result.stdout, "ts1")[:2] == ["ts1", "NOERROR"]        # the backends are still asked and shown


def test_nothing_cached_adds_no_line():
    assert plan_lines(cached_plan())[0] == "route: none covers it"


@pytest.mark.parametrize("flags, queries", [
    ("", "without EDNS"), ("cd", "without EDNS, with CD"), ("edns", "with EDNS"), ("edns,do", "with EDNS, DO"),
    ("edns,do,cd", "with EDNS, DO, CD"),
])
def test_an_entrys_flags_say_the_queries_it_serves(flags, queries):
    assert queries_served(flags) == queries


def test_a_status_address_without_a_plan_is_said_in_one_line(start_server):
    ts = start_server("ts", "--table", str(ZONES / "ts2.txt"), "--metrics", "127.0.0.1:0")
    result = explain("www.google.com", "--backend", f"ts2={ts.hostport}", "--status", status_of(ts))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[:2] == [
        f"the LS's plan for www.google.com: cannot read it from {status_of(ts)}: HTTP 404: no plan: only the LS "
        "routes queries", "www.google.com A, asked of 1 backend at once"]


def test_the_rule_is_the_ls_ranking_not_the_arrival_order():
    replies = [BackendReply("a:1", 5, True, ms=0.1),                # REFUSED first
               BackendReply("b:2", 3, False, ms=0.2),               # a plain NXDOMAIN
               BackendReply("c:3", 3, True, ms=0.3),                # an authoritative one: the best
               BackendReply("d:4", 3, True, ms=0.4)]                # as good, but later
    verdict = predict(replies, "A", 2.0)
    assert verdict.text.endswith("NXDOMAIN (authoritative) from c:3") and not verdict.resolved
    assert verdict.rcodes == {"NXDOMAIN"}


def test_the_exit_status_says_when_the_ls_disagrees(start_server, demo_backends):
    ts1, ts2 = demo_backends
    only_ts1 = start_server("ls", "--backend", ts1.hostport, "--timeout", "1")     # an LS that lacks TS2's names
    result = explain("www.google.com", "--backend", ts1.hostport, "--backend", ts2.hostport,
                     "--server", only_ts1.hostport)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "disagrees, expected NOERROR 8.8.8.8" in result.stdout.splitlines()[-1]


def test_a_nodata_first_does_not_win_over_a_later_answer():
    replies = [BackendReply("a:1", 0, True, ms=0.1, rank=NODATA),
               BackendReply("b:2", 0, True, ["192.0.2.1"], ms=0.5, rank=ANSWER)]
    verdict = predict(replies, "A", 2.0)
    assert verdict.text == "winner: b:2, the first reply that answers (0.50 ms)" and verdict.resolved


@pytest.mark.parametrize("rank, kind", [(NODATA, "NODATA"), (ALIAS, "CNAME"), (REFERRAL, "referral")])
def test_each_noerror_that_does_not_answer_is_shown_by_its_kind(rank, kind):
    reply = BackendReply("a:1", 0, rank == NODATA, ms=0.1, rank=rank)
    assert reply.status == f"NOERROR ({kind})"


def test_a_nodata_with_a_silent_backend_goes_back_after_the_grace():
    verdict = predict([BackendReply("a:1", 0, True, ms=0.1, rank=NODATA), BackendReply("b:2")], "AAAA", 2.0)
    assert verdict.text.endswith("the LS answers with it after its NODATA grace, while b:2 stayed silent")
    assert verdict.rcodes == {"NOERROR"} and not verdict.resolved


@pytest.mark.parametrize("args,message", [
    ([], "give a HOSTFILE, or --explain NAME"),
    (["--explain", "www.ibm.com", "--backend", "127.0.0.1:1", "hosts.txt"], "--explain takes no HOSTFILE"),
    (["--explain", "www.ibm.com"], "--explain needs --backend ADDR:PORT"),
    (["--server", "127.0.0.1:1", "--backend", "127.0.0.1:1", "hosts.txt"],
     "--backend, --ls-config and --status go only with --explain"),
    (["--server", "127.0.0.1:1", "--ls-config", "ls.toml", "hosts.txt"],
     "--backend, --ls-config and --status go only with --explain"),
    (["--server", "127.0.0.1:1", "--status", "127.0.0.1:1", "hosts.txt"],
     "--backend, --ls-config and --status go only with --explain"),
    (["--explain", "www.ibm.com", "--ls-config", "/nonexistent/ls.toml"], "/nonexistent/ls.toml: cannot read"),
    (["hosts.txt"], "--server ADDR:PORT is required with a HOSTFILE"),
    (["--explain", "a..b", "--backend", "127.0.0.1:1"], "not a domain name"),
])
def test_usage_errors_are_one_line_with_exit_2(args, message):
    result = subprocess.run([sys.executable, "-m", "resolver", "client", *args],
                            capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


# ------------------------------------------------------------------------- CNAMEs the LS follows, and replies it drops


@pytest.mark.parametrize("target, rcode, status, answer", [
    ("web.lab.example.", "NOERROR", 0, "198.51.100.80"),
    ("gone.lab.example.", "NXDOMAIN", 1, None),
    ("loop.corp.example.", "SERVFAIL", 1, None),
], ids=["resolves", "nxdomain-target", "loop"])
def test_a_cname_into_another_backend_is_followed_as_the_ls_follows_it(start_server, tmp_path, target, rcode,
                                                                      status, answer):
    corp = zone(tmp_path, "corp.example", f"www CNAME {target}", "loop CNAME back.lab.example.")
    lab = zone(tmp_path, "lab.example", "web A 198.51.100.80", "back CNAME www.corp.example.")
    ts1, ts2 = start_server("ts", "--zone", str(corp)), start_server("ts", "--zone", str(lab))
    ls = start_server("ls", "--backend", f"corp={ts1.hostport}", "--backend", f"lab={ts2.hostport}", "--timeout", "1")
    result = explain("www.corp.example", "--backend", f"corp={ts1.hostport}", "--backend", f"lab={ts2.hostport}",
                     "--server", ls.hostport)
    assert result.returncode == status, result.stdout + result.stderr
    assert row(result.stdout, "corp")[1] == "NOERROR (CNAME)"
    assert row(result.stdout, "corp")[4].startswith(f"CNAME {target}")      # the TS follows its own zone's links
    headings = [line for line in result.stdout.splitlines() if ", asked of 2 backends at once" in line]
    lines = result.stdout.splitlines()
    if rcode == "SERVFAIL":
        assert lines[-2] == "the chain loops, or is longer than 8 CNAMEs: the LS answers SERVFAIL"
    else:
        assert headings == ["www.corp.example A, asked of 2 backends at once",
                            f"{target.rstrip('.')} A, asked of 2 backends at once"]
        assert lines[-2].startswith(f"the chain www.corp.example. -> {target}: the LS answers {rcode} ")
    said = f"answered {rcode} {answer}" if answer else f"answered {rcode} in"
    assert said in lines[-1] and lines[-1].endswith(": agrees"), result.stdout


def test_a_reply_whose_sections_do_not_parse_is_shown_malformed_and_waited_for(start_server):
    ts2 = start_server("ts", "--table", str(ZONES / "ts2.txt"))
    with FakeBackend(garbage_sections()) as broken:
        result = explain("www.amazon.com", "--backend", f"broken={broken.hostport}", "--backend", ts2.hostport,
                         "--timeout", "0.3")
    assert result.returncode == 1
    assert row(result.stdout, "broken")[1:] == ["malformed", "-", "-", "-"]
    assert result.stdout.splitlines()[-1].startswith(
        "no positive answer within 0.3 s: broken (malformed) stayed silent, so the LS waits until its timeout")


def test_a_badvers_without_a_question_is_an_error_no(start_server):
    with FakeBackend(badvers()) as old:
        result = explain("www.amazon.com", "--backend", f"old={old.hostport}", "--timeout", "0.3")
    assert result.returncode == 1
    assert row(result.stdout, "old")[1] == "BADVERS"
    assert "the best negative, BADVERS from old" in result.stdout.splitlines()[-1]


def test_a_truncated_reply_sends_the_client_and_the_explanation_to_tcp(start_server, tmp_path):
    many, one = tmp_path / "many.txt", tmp_path / "one.txt"
    many.write_text("".join(f"huge.lab 10.0.2.{i} A\n" for i in range(1, 101)))
    one.write_text("huge.lab 2001:db8::9 AAAA\n")
    ts1, ts2 = start_server("ts", "--table", str(many)), start_server("ts", "--table", str(one))
    ls = start_server("ls", "--backend", f"many={ts1.hostport}", "--backend", f"one={ts2.hostport}")
    result = explain("huge.lab", "--backend", f"many={ts1.hostport}", "--backend", f"one={ts2.hostport}",
                     "--server", ls.hostport)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "the client asks again over TCP, and the LS asks the backends over TCP:" in lines
    tcp = lines.index("huge.lab A, asked of 2 backends at once over TCP")
    assert row(result.stdout, "many")[1] == "NOERROR (truncated)"           # the UDP table comes first
    assert re.split(r" {2,}", lines[tcp + 2].strip())[:2] == ["many", "NOERROR"]
    assert lines[-2].startswith("winner: many, the first reply that answers")
    assert lines[-1].endswith(": agrees")


@pytest.mark.parametrize("name, answer", [("www.corp.example", "192.0.2.80, 192.0.2.81"),
                                          ("intranet.corp.example", "129.42.38.10")])
def test_the_readmes_chain_example_zone_to_zone_and_zone_to_table(start_server, name, answer):
    corp = start_server("ts", "--zone", str(ZONES / "corp.example.zone"))
    lab = start_server("ts", "--zone", str(ZONES / "lab.example.zone"), "--table", str(ZONES / "ts1.txt"))
    ls = start_server("ls", "--backend", f"corp={corp.hostport}", "--backend", f"lab={lab.hostport}")
    result = explain(name, "--backend", f"corp={corp.hostport}", "--backend", f"lab={lab.hostport}",
                     "--server", ls.hostport)
    assert result.returncode == 0, result.stdout + result.stderr
    assert row(result.stdout, "corp")[1] == "NOERROR (CNAME)"
    assert f"answered NOERROR {answer} in " in result.stdout.splitlines()[-1]
    assert result.stdout.rstrip().endswith(": agrees")


@pytest.mark.parametrize("name, verdict, status", [
    ("a0.one.example", "hold more than 8 CNAMEs: the LS answers SERVFAIL", 1),      # 5 CNAMEs, then 4 more
    ("big.one.example", "the merged reply does not fit 64 KiB, so the LS answers NOERROR with TC", 1),
], ids=["nine-cnames", "over-64-kib"])
def test_explain_predicts_the_limits_of_a_merged_chain(start_server, tmp_path, name, verdict, status):
    one = zone(tmp_path, "one.example", *(f"a{i} CNAME a{i + 1}" for i in range(4)), "a4 CNAME b0.two.example.",
               "big CNAME huge.two.example.")
    two = zone(tmp_path, "two.example", *(f"b{i} CNAME b{i + 1}" for i in range(4)), "b4 A 198.51.100.4",
               *(f"huge A 10.{i >> 8}.{i & 255}.1" for i in range(4093)))
    ts1, ts2 = start_server("ts", "--zone", str(one)), start_server("ts", "--zone", str(two))
    ls = start_server("ls", "--backend", f"one={ts1.hostport}", "--backend", f"two={ts2.hostport}")
    result = explain(name, "--backend", f"one={ts1.hostport}", "--backend", f"two={ts2.hostport}",
                     "--server", ls.hostport)
    assert result.returncode == status, result.stdout + result.stderr
    assert verdict in result.stdout.splitlines()[-2]
    assert result.stdout.rstrip().endswith(": agrees")


def test_explain_with_format_json_is_one_json_object(servers):
    ts1, ts2, ls = servers
    result = explain("WWW.IBM.COM", "--backend", ts1.hostport, "--backend", ts2.hostport, "--server", ls.hostport,
                     "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["name"] == "WWW.IBM.COM" and doc["type"] == "A" and doc["plan"] is None
    assert doc["plan_note"].startswith("the LS's plan for WWW.IBM.COM: unknown without --status")
    [race] = doc["races"]
    assert race["question"] == "WWW.IBM.COM" and race["tcp"] is False
    replies = {reply["backend"]: reply for reply in race["replies"]}
    assert replies[ts1.hostport]["status"] == "NOERROR" and replies[ts1.hostport]["answers"] == ["129.42.38.10"]
    assert replies[ts2.hostport]["status"] == "NXDOMAIN" and replies[ts2.hostport]["authoritative"] is True
    assert doc["verdict"]["resolved"] is True and doc["verdict"]["answers"] == ["129.42.38.10"]
    assert doc["verdict"]["text"].startswith(f"winner: {ts1.hostport}")
    assert doc["ls"]["status"] == "NOERROR" and doc["ls"]["agrees"] is True


def test_explain_into_a_closed_pipe_exits_quietly(servers):
    """`--explain … | head -1`: the reader leaves after one line, and the client stops without a
    "Broken pipe" traceback or message."""
    ts1, ts2, _ = servers
    client = subprocess.Popen([sys.executable, "-m", "resolver", "client", "--explain", "WWW.IBM.COM",
                               "--backend", ts1.hostport, "--backend", ts2.hostport],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    client.stdout.close()          # the reader is gone before the first line is written
    _, err = client.communicate(timeout=30)
    assert client.returncode == 141 and err == b"", err.decode()
