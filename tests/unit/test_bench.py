"""The benchmark's pure parts (scripts/benchmark): workload, answer checking, dnsperf parsing, an LS's
metrics, report, flags.

No dnsperf, NSD or dnsdist needed: the dnsperf output below was captured from
dnsperf 2.10.0 against a TS on loopback; the one answer-checking test that
uses the network asks a few lines of dnspython on a thread, and an LS's
/metrics, captured from one, is served by an HTTP server on a thread for the
test that reads it over the network. The LS the benchmark starts is tested in
tests/system/test_bench_ls.py.
"""
from __future__ import annotations

import argparse
import datetime
import http.server
import socket
import threading
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest

from support.benchmark import load_benchmark

DATA = Path(__file__).resolve().parent / "data"
# dnsperf 2.10.0 output captured on this project's machine: with -v, without, and with every query lost.
DNSPERF_VERBOSE = (DATA / "dnsperf-verbose.txt").read_text()
DNSPERF_PLAIN = (DATA / "dnsperf-plain.txt").read_text()
DNSPERF_ALL_LOST = (DATA / "dnsperf-all-lost.txt").read_text()
# An LS's /metrics over two TSes of a split zone, after 23 queries over UDP and 1 over TCP.
LS_METRICS = (DATA / "ls-metrics.txt").read_text()


load_benchmark()
from benchmark import answers, cli, load_zones, machine, measure, report, runner, transfer, workload  # noqa: E402

# --------------------------------------------------------------------------- workload


def test_addresses_are_computed_from_the_number():
    assert workload.address_of(0) == "10.0.0.0"
    assert workload.address_of(0x010203) == "10.1.2.3"
    assert workload.address_of(999_999) == "10.15.66.63"
    assert workload.expected_address(workload.hit_name(999_999)) == "10.15.66.63"
    assert workload.hit_name(7) == "h0000007.bench"


@pytest.mark.parametrize("name", [workload.miss_name(3), "h12x.bench", "www.example.com", "h.bench"])
def test_names_that_exist_nowhere_have_no_address(name: str):
    assert workload.expected_address(name) is None


def zone_addresses(path: Path) -> dict[str, str]:
    zone = dns.zone.from_file(str(path), origin="bench.", relativize=False)
    return {name.to_text().rstrip("."): rdata.address
            for name, _, rdata in zone.iterate_rdatas(dns.rdatatype.A)
            if name.to_text() != "ns1.bench."}


def test_write_zone_is_a_valid_master_file_with_one_record_per_index(tmp_path: Path):
    path = tmp_path / "z"
    assert workload.write_zone(path, [0, 5, 70_000]) == 3
    assert zone_addresses(path) == {"h0000000.bench": "10.0.0.0", "h0000005.bench": "10.0.0.5",
                                    "h0070000.bench": "10.1.17.112"}


@pytest.fixture
def split(tmp_path: Path) -> workload.SplitData:
    return workload.make_split(tmp_path, names=40, queries=200, sample=20, seed=1)


def test_split_gives_even_names_to_ts1_and_odd_names_to_ts2(split: workload.SplitData):
    ts1, ts2 = zone_addresses(split.ts1_zone), zone_addresses(split.ts2_zone)
    assert set(ts1) == {workload.hit_name(i) for i in range(0, 40, 2)} == split.ts1_names
    assert set(ts2) == {workload.hit_name(i) for i in range(1, 40, 2)}
    for name, address in {**ts1, **ts2}.items():
        assert workload.expected_address(name) == address


def queries_of(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    assert all(line.endswith(" A") for line in lines)
    return [line.split()[0] for line in lines]


def test_query_mix_is_45_45_10_and_misses_exist_nowhere(split: workload.SplitData):
    mix = queries_of(split.mix_file)
    ts2_names = {workload.hit_name(i) for i in range(1, 40, 2)}
    kinds = Counter("ts1" if n in split.ts1_names else "ts2" if n in ts2_names else "miss" for n in mix)
    assert kinds == {"ts1": 90, "ts2": 90, "miss": 20}
    assert all(workload.expected_address(n) is None for n in mix if n not in split.ts1_names | ts2_names)
    misses = queries_of(split.miss_file)
    assert len(misses) == 200 and all(workload.expected_address(n) is None for n in misses)
    assert split.sample == mix[:20] and split.sample_after == mix[-20:]
    assert split.miss_sample == misses[:2]


def test_the_warm_up_file_asks_each_name_of_the_mix_once_in_the_order_first_asked(split: workload.SplitData):
    mix, warm = queries_of(split.mix_file), queries_of(split.warm_file)
    assert sorted(warm) == sorted(set(mix)) and len(warm) == len(set(warm))
    assert warm == sorted(set(mix), key=mix.index)


def test_the_mix_is_shuffled_and_fixed_by_the_seed(tmp_path: Path, split: workload.SplitData):
    mix = queries_of(split.mix_file)
    assert mix != sorted(mix)

    def mix_for(seed: int, where: str) -> list[str]:
        (tmp_path / where).mkdir()
        return queries_of(workload.make_split(tmp_path / where, 40, 200, 20, seed).mix_file)

    assert mix_for(1, "same") == mix
    assert mix_for(2, "other") != mix


# --------------------------------------------------------------------------- answers


def reply_to(name: str, rcode: int = dns.rcode.NOERROR, *addresses: str) -> dns.message.Message:
    reply = dns.message.make_response(dns.message.make_query(name, "A"))
    reply.set_rcode(rcode)
    if addresses:
        reply.answer.append(dns.rrset.from_text(name + ".", 300, "IN", "A", *addresses))
    return reply


HIT, MISS = workload.hit_name(258), workload.miss_name(4)  # h0000258 is 10.0.1.2


def held(_name: str) -> bool:
    return True


def not_held(_name: str) -> bool:
    return False


@pytest.mark.parametrize("name, reply, holds", [
    (HIT, reply_to(HIT, dns.rcode.NOERROR, "10.0.1.2"), held),
    (HIT, reply_to(HIT.upper(), dns.rcode.NOERROR, "10.0.1.2"), held),  # names are case-insensitive
    (HIT, reply_to(HIT, dns.rcode.NXDOMAIN), not_held),  # the other TS's name
    (MISS, reply_to(MISS, dns.rcode.NXDOMAIN), held),
])
def test_right_answers_pass(name: str, reply: dns.message.Message, holds: Callable[[str], bool]):
    assert answers.judge(name, reply, holds) == ""


@pytest.mark.parametrize("name, reply, holds, verdict", [
    (HIT, reply_to(HIT, dns.rcode.NOERROR, "10.0.1.3"), held, "NOERROR ['10.0.1.3'], want NOERROR [10.0.1.2]"),
    (HIT, reply_to(HIT, dns.rcode.NOERROR, "10.0.1.2", "10.9.9.9"), held,
     "NOERROR ['10.0.1.2', '10.9.9.9'], want NOERROR [10.0.1.2]"),
    (HIT, reply_to(HIT, dns.rcode.NXDOMAIN), held, "NXDOMAIN [], want NOERROR [10.0.1.2]"),  # dnsdist's split miss
    (HIT, reply_to(HIT, dns.rcode.NOERROR, "10.0.1.2"), not_held, "NOERROR ['10.0.1.2'], want NXDOMAIN"),
    (MISS, reply_to(MISS, dns.rcode.NOERROR), held, "NOERROR [], want NXDOMAIN"),  # NODATA is not NXDOMAIN
    (MISS, reply_to(MISS, dns.rcode.SERVFAIL), held, "SERVFAIL [], want NXDOMAIN"),
    (HIT, None, held, "no answer"),
])
def test_wrong_answers_are_caught(name: str, reply: dns.message.Message | None, holds: Callable[[str], bool],
                                  verdict: str):
    assert answers.judge(name, reply, holds) == verdict


def test_a_check_counts_answers_and_keeps_three_wrong_ones():
    check = answers.Check()
    check.record("a", "")
    for name in "bcde":
        check.record(name, "NXDOMAIN")
    assert (check.correct, check.total, check.cell()) == (1, 5, "1/5 (20.0%)")
    assert check.wrong == ["b: NXDOMAIN", "c: NXDOMAIN", "d: NXDOMAIN"]
    later = answers.Check(3, 3)
    check.add(later)
    assert check.cell() == "4/8 (50.0%)" and len(check.wrong) == 3
    assert answers.Check().percent == 0.0


@pytest.fixture
def lying_server() -> Iterator[int]:
    """A UDP server on loopback answering every name right, except HIT (a wrong address) and MISS (NOERROR)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                data, peer = sock.recvfrom(512)
            except OSError:
                return
            if not data:  # the fixture's empty datagram: stop
                return
            query = dns.message.from_wire(data)
            name = query.question[0].name.to_text().rstrip(".")
            address = workload.expected_address(name)
            if name == HIT:
                reply = reply_to(name, dns.rcode.NOERROR, "192.0.2.1")
            elif name == MISS:
                reply = reply_to(name, dns.rcode.NOERROR)
            elif address is None:
                reply = reply_to(name, dns.rcode.NXDOMAIN)
            else:
                reply = reply_to(name, dns.rcode.NOERROR, address)
            reply.id = query.id
            sock.sendto(reply.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stopper:
        stopper.sendto(b"", sock.getsockname())
    thread.join(2)
    sock.close()


def test_check_sample_asks_each_name_and_catches_the_wrong_answers(lying_server: int):
    names = [workload.hit_name(1), HIT, workload.miss_name(1), MISS]
    check = answers.check_sample(lying_server, names, held)
    assert (check.correct, check.total) == (2, 4)
    assert check.wrong == [f"{HIT}: NOERROR ['192.0.2.1'], want NOERROR [10.0.1.2]",
                           f"{MISS}: NOERROR [], want NXDOMAIN"]


# --------------------------------------------------------------------------- dnsperf output


def test_dnsperf_verbose_output_gives_figures_and_every_latency():
    run = measure.parse_dnsperf(DNSPERF_VERBOSE.splitlines(keepends=True))
    assert (run.sent, run.completed, run.lost) == (4, 4, 0)
    assert run.qps == pytest.approx(780.792504) and run.avg_latency == pytest.approx(0.002768)
    assert run.rcodes == {"NOERROR": 3, "NXDOMAIN": 1}
    assert run.latency_us == {334: 1, 3618: 1, 3602: 1, 3518: 1}
    assert measure.percentile(run.latency_us, 0.99) == 3.618
    assert measure.percentile(run.latency_us, 0.25) == 0.334


def test_dnsperf_output_without_v_has_figures_but_no_p99():
    run = measure.parse_dnsperf(DNSPERF_PLAIN.splitlines(keepends=True))
    assert (run.sent, run.completed, run.lost, round(run.qps)) == (86616, 86616, 0, 86453)
    assert run.rcodes == {"NOERROR": 43308, "NXDOMAIN": 43308}
    assert measure.percentile(run.latency_us, 0.99) is None


def test_dnsperf_output_with_every_query_lost_has_no_response_codes():
    run = measure.parse_dnsperf(DNSPERF_ALL_LOST.splitlines(keepends=True))
    assert (run.sent, run.completed, run.lost, run.qps) == (4, 0, 4, 0.0)
    assert run.rcodes == {}


def test_dnsperf_output_cut_short_is_an_error_naming_the_missing_figure():
    cut = DNSPERF_PLAIN.split("  Queries per second")[0]
    with pytest.raises(measure.BenchError, match="no 'qps' figure \\(run-7.out\\)"):
        measure.parse_dnsperf(cut.splitlines(keepends=True), "run-7.out")


def test_percentile_is_the_latency_below_which_that_share_came():
    latencies = Counter({100: 98, 5000: 2})
    assert measure.percentile(latencies, 0.5) == 0.1
    assert measure.percentile(latencies, 0.98) == 0.1
    assert measure.percentile(latencies, 0.99) == 5.0
    assert measure.percentile(Counter(), 0.99) is None


def perf(qps: float, completed: int = 100, avg: float = 0.001, lost: int = 0, foreign: float = 0.0,
         cpu: tuple[float, float] = (0.0, 0.0), **rcodes: int) -> measure.PerfRun:
    return measure.PerfRun(sent=completed + lost, completed=completed, lost=lost, qps=qps, avg_latency=avg,
                           rcodes=Counter(rcodes or {"NOERROR": completed}),
                           latency_us=Counter({round(avg * 1e6): completed}), foreign_cpus=foreign,
                           cpu_user=cpu[0], cpu_system=cpu[1])


def test_a_series_sums_its_runs():
    series = measure.Series("x", [perf(1000, 100, 0.001, 1, 0.05, (0.001, 0.002), NOERROR=90, NXDOMAIN=10),
                                  perf(3000, 300, 0.002, 0, 0.3, (0.003, 0.002), NOERROR=300)])
    assert series.qps == 2000 and (series.sent, series.lost) == (401, 1)
    assert series.avg_ms == pytest.approx(1.75)  # weighted by completed queries
    assert series.percentile_ms(0.99) == 2.0 and series.foreign_cpus == 0.3
    assert series.rcode_percent("NXDOMAIN") == 2.5 and series.rcode_percent("SERVFAIL") == 0.0
    assert series.cpu_us_per_query == pytest.approx((10.0, 10.0))     # CPU seconds over answered queries
    assert measure.Series("empty").cpu_us_per_query is None


# --------------------------------------------------------------------------- an LS's metrics


def test_upstream_counters_are_read_from_the_ls_metrics():
    counts = measure.parse_ls_metrics(LS_METRICS)
    assert (counts.client, counts.sent, counts.resent) == (24, {"TS1-ours": 13, "TS2-ours": 19},
                                                           {"TS1-ours": 0, "TS2-ours": 0})
    assert counts.queries == 32 and counts.per_query == pytest.approx(32 / 24)


def test_upstream_over_a_run_is_the_difference_and_shares_count_retransmissions():
    before = measure.Upstream(1000, Counter(a=1500, b=700), Counter(a=10))
    after = measure.Upstream(3000, Counter(a=3600, b=700), Counter(a=60))
    run = after - before
    assert (run.client, run.queries, run.per_query) == (2000, 2050, 1.025)
    assert run.shares() == {"a": 100.0, "b": 0.0}
    assert measure.Upstream().per_query is None and measure.Upstream().shares() == {}


def test_a_series_sums_the_upstream_counters_of_the_runs_that_have_them():
    first, second = perf(1000), perf(1000)
    first.upstream = measure.Upstream(100, Counter(a=60, b=50))
    second.upstream = measure.Upstream(300, Counter(a=200, b=120), Counter(b=20))
    series = measure.Series("LS", [first, second, perf(1000)])
    assert series.upstream == measure.Upstream(400, Counter(a=260, b=170), Counter(b=20))
    assert series.upstream.per_query == 1.025
    assert measure.Series("TS", [perf(1000)]).upstream is None


@pytest.fixture
def metrics_port() -> Iterator[int]:
    """An HTTP server on loopback serving an LS's metrics text on /metrics (404 elsewhere)."""
    body = LS_METRICS.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path == "/metrics"
            self.send_response(200 if found else 404)
            self.send_header("Content-Length", str(len(body) if found else 0))
            self.end_headers()
            if found:
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(2)


def test_read_ls_metrics_asks_the_metrics_port(metrics_port: int):
    assert measure.read_ls_metrics(metrics_port) == measure.parse_ls_metrics(LS_METRICS)


def test_read_ls_metrics_says_which_port_did_not_answer():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]          # bound, not listening: refused
        with pytest.raises(measure.BenchError, match=f"could not read http://127.0.0.1:{port}/metrics"):
            measure.read_ls_metrics(port, timeout=1.0)


# --------------------------------------------------------------------------- report


def with_upstream(run: measure.PerfRun, client: int, **sent: int) -> measure.PerfRun:
    run.upstream = measure.Upstream(client, Counter(sent))
    return run


def results() -> runner.Results:
    res = runner.Results()
    res.load = {label: measure.Series(label, [perf(qps), perf(qps)]) for label, qps in
                [("TS1 (ours)", 60_000), ("NSD1", 100_000), ("LS → NSD1+NSD2", 40_000),
                 ("LS --learn off → NSD1+NSD2", 30_000), ("dnsdist → NSD1+NSD2", 80_000)]}
    res.load["LS → NSD1+NSD2"].runs[0].lost = 2
    for run in res.load["LS → NSD1+NSD2"].runs:
        with_upstream(run, 1000, NSD1=560, NSD2=560)            # 1.12 upstream queries per client query
        run.cpu_user, run.cpu_system = 0.002, 0.0013            # over 100 answered queries
    for run in res.load["LS --learn off → NSD1+NSD2"].runs:
        with_upstream(run, 1000, NSD1=1000, NSD2=1000)
    res.checks = {"TS1 (ours)": answers.Check(10, 10), "LS → NSD1+NSD2": answers.Check(10, 10),
                  "LS --learn off → NSD1+NSD2": answers.Check(9, 10, ["h0000003.bench: no answer"]),
                  "dnsdist → NSD1+NSD2": answers.Check(5, 10, ["h0000001.bench: NXDOMAIN [], want NOERROR"])}
    for policy, shares in [("round-robin", {"r1": 500, "r2": 500}), ("first-available", {"r1": 1000})]:
        label = f"LS → replica group, {policy}"
        res.groups[policy] = measure.Series(label, [with_upstream(perf(45_000), 1000, **shares)])
        res.checks[label] = answers.Check(10, 10)
    res.low = {"NSD1": measure.Series("NSD1", [perf(20_000, avg=0.00005)]),
               "LS → NSD1+NSD2": measure.Series("LS → NSD1+NSD2", [perf(8_000, avg=0.00011)])}
    res.low_miss = {"LS → NSD1+NSD2": measure.Series("LS → NSD1+NSD2", [perf(7_000, avg=0.00013, NXDOMAIN=100)])}
    res.health = {"dnsdist → NSD1+NSD2": []}
    return res


def test_throughput_table_has_a_row_per_target_with_its_rounds():
    lines = report.throughput_table(results())
    assert lines[0].startswith("| target | queries/s | per round |") and len(lines) == 7
    assert lines[2] == ("| TS1 (ours) | 60,000 | 60,000 / 60,000 | 0 | 1.000 | 1.000 |  | 0.0 + 0.0 | 100.0% | "
                        "10/10 (100.0%) | 0.00 |")
    assert lines[4].startswith("| LS → NSD1+NSD2 | 40,000 | 40,000 / 40,000 | 2 | 1.000 | 1.000 | 1.120 | 20.0 + 13.0 |")
    assert lines[5].startswith("| LS --learn off → NSD1+NSD2 | 30,000 | 30,000 / 30,000 | 0 | 1.000 | 1.000 | 2.000 |")


def test_groups_table_has_a_row_per_policy_with_each_members_share():
    lines = report.groups_table(results())
    assert lines[0].startswith("| policy | queries/s |") and len(lines) == 4
    assert lines[2] == ("| round-robin | 45,000 | 0 | 1.000 | 1.000 | r1 50.0% / r2 50.0% | 1.000 | "
                        "10/10 (100.0%) | 0.00 |")
    assert "| first-available | 45,000 | 0 | 1.000 | 1.000 | r1 100.0% | 1.000 |" in lines[3]


def test_targets_table_says_pass_and_fail():
    args = cli.parse_args(["--big", "0"])
    rows = {line.split(" | ")[0].lstrip("| "): line for line in report.targets_table(results(), args)[2:]}
    assert rows["LS / dnsdist queries/s (over NSD1+NSD2)"].endswith("| 0.50 | >= 0.8 | **FAIL** |")
    assert rows["LS answers right (over NSD1+NSD2)"].endswith("| 100.0% | 100% | PASS |")
    assert rows["LS --learn off answers right (over NSD1+NSD2)"].endswith("| 90.0% | 100% | **FAIL** |")
    assert rows["LS upstream queries per client query, learned routing, warm (over NSD1+NSD2)"].endswith(
        "| 1.120 | <= 1.15 | PASS |")
    assert rows["LS answers right over a replica group (2 policies)"].endswith("| 100.0% | 100% | PASS |")
    assert not any("(over TS1+TS2)" in row for row in rows)       # that pair was not measured
    assert rows["TS / NSD queries/s"].endswith("| 0.60 | >= 0.5 | PASS |")
    assert rows["queries lost by TS and LS (all -q 100 runs)"].endswith("| 2 of 600 | 0 | **FAIL** |")

    assert rows["p99 of a miss at low load, LS → NSD1+NSD2"].endswith("| 0.130 ms | < 2 ms | PASS |")


def test_more_than_1_15_upstream_queries_per_client_query_fails():
    res = results()
    for run in res.load["LS → NSD1+NSD2"].runs:
        with_upstream(run, 1000, NSD1=600, NSD2=560)
    lines = report.targets_table(res, cli.parse_args(["--big", "0"]))
    assert ("| LS upstream queries per client query, learned routing, warm (over NSD1+NSD2) | 1.160 | <= 1.15 "
            "| **FAIL** |") in lines


def test_low_load_table_shows_what_a_frontend_adds_over_its_backend():
    lines = report.low_load_table(results())
    assert lines[3] == ("| LS → NSD1+NSD2 | mix | 8,000 | 0.110 | 0.110 | +0.060 | +0.060 | NOERROR 100% | 0.00 |")
    assert lines[4].startswith("| LS → NSD1+NSD2 | misses only | 7,000 | 0.130 |")
    assert "NXDOMAIN 100%" in lines[4]


def render(res: runner.Results, argv: list[str]) -> str:
    tools = machine.Tools("dnsperf", "nsd", "dnsdist", {"dnsperf": "2.10.0", "nsd": "4.6.1", "dnsdist": "1.7.3"})
    facts = {"kernel": "Linux 6", "cpus": "2", "cpu model": "x", "python": "3.11", "commit": "abc1234"}
    return report.render(res, cli.parse_args(argv), tools, facts, "scripts/bench " + " ".join(argv),
                         datetime.datetime(2026, 11, 30, 0, 5))


def test_render_has_the_run_then_every_table_and_the_notes(tmp_path: Path):
    res = results()
    res.split = workload.make_split(tmp_path, names=40, queries=200, sample=20, seed=1)
    text = render(res, ["--big", "0", "--workers", ""])
    assert text.startswith("## 2026-11-30 00:05 UTC\n\n- command: `scripts/bench --big 0 --workers `\n")
    headings = [line for line in text.splitlines() if line.startswith("### ")]
    assert headings == ["### Throughput", "### Targets", "### Latency at low load (one query in flight)",
                        "### Replica groups", "### Workers", "### Notes"]
    assert "`--group replicas=NSD-replica-1,NSD-replica-2 --group-policy replicas=POLICY`" in text
    assert "an unmeasured warm-up pass (`dnsperf -n 1 -q 100`, each name of the mix once, at most 10 s)" in text
    assert "- dnsdist → NSD1+NSD2: 5/10 (50.0%) right (expected for split DNS" in text
    assert "health checks kept every backend up" in text


def test_render_shows_a_size_table_when_sizes_were_measured():
    res = results()
    res.sizes = [runner.SizeResult(1000, 0.1, 0.2, 0.25, 30.0, 31.0, 1, measure.Series("s", [perf(50_000)])),
                 runner.SizeResult(1_000_000, 9.0, error="TS, 1,000,000 records did not print the expected line")]
    text = render(res, ["--big", "1000000"])
    assert "| 1,000 | 0.1 s | 0.20 s | 0.25 s | 30 (31) | 50,000 | 0 | 1.000 | 1.000 | 0.00 |" in text
    assert "| 1,000,000 | 9.0 s | TS, 1,000,000 records did not print the expected line | | | | | | | |" in text
    assert "| 1,000,000-record zone loads | TS, 1,000,000 records did not print" in text


def test_render_without_the_split_phase_has_only_the_load_targets_and_table():
    res = runner.Results()
    res.loads = {"signed": runner.LoadResult("signed, 7,000 names", 28_011, 0.1, 2.6, 70.0, 75.0),
                 "generate": runner.LoadResult("$GENERATE 1-50000", 50_003, 0.0, 0.8, 80.0, 96.0),
                 "plain": runner.LoadResult("plain addresses, 1,000 records", 1_003, 0.1, 2.0, 30.0, 31.0),
                 "mixed": runner.LoadResult("mixed types, 1,000 records", 1_000, 0.1, 5.0, 40.0, 41.0)}
    text = render(res, ["--phases", "loads"])
    assert [line for line in text.splitlines() if line.startswith("### ")] == [
        "### Targets", "### Load time (one TS per zone, alone)"]
    assert "zone `bench.`" not in text and "queries lost" not in text
    assert "| signed, 7,000 names: load time (start to first answer) | 2.60 s | < 1 s | **FAIL** |" in text
    assert "| $GENERATE 1-50000: load time (start to first answer) | 0.80 s | < 2 s | PASS |" in text
    assert "| $GENERATE 1-50000: peak memory | 101 MB | < 100 MB | **FAIL** |" in text     # 96 MiB
    assert ("| mixed types, 1,000 records: load time vs plain addresses, 1,000 records | 2.50x (5.0 s / 2.0 s) "
            "| <= 3x | PASS |") in text
    assert "| plain addresses, 1,000 records | 1,003 | 0.1 s | 2.00 s | 30 (31) |" in text


def test_a_zone_that_failed_to_load_fails_its_target():
    res = runner.Results()
    res.loads = {"signed": runner.LoadResult("signed, 10 names", 40, 0.1, error="TS exited with 1")}
    text = render(res, ["--phases", "loads"])
    assert "| signed, 10 names: load time (start to first answer) | TS exited with 1 | < 1 s | **FAIL** |" in text


def transfer_results(paced: list[tuple[float, float, bool]], parsed: list[tuple[float, float]]) -> runner.Results:
    """The transfer phase's results: a paced round per (before, during, lasted), a dnspython one per
    (before, during), each with the TS busy 0.004 s, the read alone and NSD's as a secondary."""
    res = runner.Results()
    res.transfers = [transfer.TransferRound(perf(before), perf(during), 100_004, 184, 15.2, lasted, 0.004)
                     for before, during, lasted in paced]
    res.parsed_transfers = [transfer.TransferRound(perf(before), perf(during), 100_004, 184, 4.5, True, 0.004)
                            for before, during in parsed]
    res.transfer_octets = 3_002_408
    res.transfer_alone = transfer.Timed(100_004, 3.2, 0.007)
    res.secondary = transfer.Timed(100_004, 0.31, 0.003)
    return res


def test_render_shows_the_transfer_rounds_of_both_readers():
    res = transfer_results([(50_000, 48_000, True), (50_000, 45_000, True)], [(50_000, 35_000), (50_000, 32_000)])
    res.parsed_transfers[1].ts_seconds = None
    text = render(res, ["--phases", "transfer", "--transfer-records", "100000", "--duration", "10"])
    assert [line for line in text.splitlines() if line.startswith("### ")] == [
        "### Targets", "### Zone transfer out (one TS, an AXFR while under load)"]
    rows = [line for line in text.splitlines() if line.startswith(("| paced |", "| dnspython |"))]
    assert rows == ["| paced | 1 | 50,000 | 48,000 | 0.96 | 15.20 | 100,004 | 184 | yes | 0.004 |",
                    "| paced | 2 | 50,000 | 45,000 | 0.90 | 15.20 | 100,004 | 184 | yes | 0.004 |",
                    "| dnspython | 1 | 50,000 | 35,000 | 0.70 | 4.50 | 100,004 | 184 | yes | 0.004 |",
                    "| dnspython | 2 | 50,000 | 32,000 | 0.64 | 4.50 | 100,004 | 184 | yes | n/a |"]
    assert "at 200 kB/s, the transfer's 3,002,408 octets over 1.5 times the run" in text
    assert "on this machine of 2 CPUs the secondary shares the CPUs with dnsperf and the TS" in text
    assert "Read by dnspython with no load beside it: 3.20 s (the TS busy 0.007 s)." in text
    assert ("NSD as a secondary: AXFR of 100,004 records in 0.31 s (from its start until it answered the "
            "zone's SOA, no load; the TS busy 0.003 s).") in text


def test_the_paced_rounds_give_the_transfer_target_and_dnspython_only_information():
    text = render(transfer_results([(50_000, 45_000, True), (50_000, 48_000, True)], [(50_000, 33_000)]),
                  ["--phases", "transfer", "--transfer-records", "100000"])
    assert ("| TS queries/s during an AXFR of 100,000 records / before (worst round) | 0.90 | >= 0.8 | PASS |"
            in text)
    assert ("| TS queries/s during an AXFR of 100,000 records / before (worst round), read by dnspython on the "
            "same CPUs | 0.66 | none (information) | n/a |") in text


@pytest.mark.parametrize("paced, value", [([(50_000, 35_000, True)], "0.70"),
                                          ([(50_000, 49_000, True), (50_000, 49_000, False)],
                                           "0.98 (a read ended before its run)")])
def test_a_low_round_or_a_read_done_before_its_run_fails_the_transfer_target(paced, value: str):
    text = render(transfer_results(paced, []), ["--phases", "transfer", "--transfer-records", "100000"])
    assert (f"| TS queries/s during an AXFR of 100,000 records / before (worst round) | {value} | >= 0.8 "
            "| **FAIL** |") in text
    assert "read by dnspython on the same CPUs" not in text


def test_a_paced_read_lasts_the_margin_times_the_run():
    assert transfer.paced_rate(3_000_000, 10.0) == pytest.approx(200_000)
    assert 3_000_000 / transfer.paced_rate(3_000_000, 2.0) == pytest.approx(2.0 * transfer.PACE_MARGIN)


def test_the_ts_transfer_lines_give_its_seconds(tmp_path: Path):
    log = tmp_path / "ts.log"
    log.write_text("resolver ts: AXFR of bench. to 127.0.0.1: serial 1, 100004 records in 184 messages, 0.006 s\n"
                   "resolver ts: IXFR (up to date) of bench. to 127.0.0.1: serial 1, 1 records in 1 messages, 0.000 s\n"
                   "resolver ts: AXFR of bench. to 127.0.0.1: serial 1, 100004 records in 184 messages, 1.250 s\n")
    assert transfer.ts_transfer_seconds(log) == [0.006, 1.25]


@pytest.mark.parametrize("text, phases", [("loads", ["loads"]), ("split, sizes", ["split", "sizes"]),
                                          ("transfer", ["transfer"])])
def test_phases(text: str, phases: list[str]):
    assert cli.phase_names(text) == phases


@pytest.mark.parametrize("text", ["", "load", "split,everything"])
def test_phases_refused(text: str):
    with pytest.raises(argparse.ArgumentTypeError):
        cli.phase_names(text)


def test_load_zones_are_served_with_the_records_they_count(tmp_path: Path):
    """Each zone of the load test loads in the TS, with as many records as its writer says and its probe name."""
    from resolver.ts.zones import load_zone_file
    zones = [load_zones.write_signed_zone(tmp_path / "signed.zone", 20, 1),
             load_zones.write_generate_zone(tmp_path / "generate.zone", 30),
             load_zones.write_plain_zone(tmp_path / "plain.zone", 40),
             load_zones.write_mixed_zone(tmp_path / "mixed.zone", 200)]
    for zone in zones:
        data = load_zone_file(zone.path)
        general = sum(len(rds) for node in data.zone.nodes.values() for rds in node)
        assert general + sum(len(records) for records in data.addresses.values()) == zone.records, zone.label
        probe = dns.name.from_text(zone.probe).to_wire().lower()
        assert probe in data.addresses or dns.name.from_text(zone.probe) in data.zone.nodes, zone.label
    mixed = load_zone_file(zones[3].path).zone
    types = {rds.rdtype for node in mixed.nodes.values() for rds in node}
    assert {dns.rdatatype.MX, dns.rdatatype.TXT, dns.rdatatype.CNAME, dns.rdatatype.NS} <= types
    assert any(name.is_wild() for name in mixed.nodes)


def test_write_report_starts_a_file_with_the_header_then_appends(tmp_path: Path):
    path = tmp_path / "BENCHMARKS.md"
    report.write_report(path, "## first\n\nA\n")
    report.write_report(path, "## second\n")
    text = path.read_text()
    assert text.startswith("# Benchmarks\n") and text.endswith("\n\n## first\n\nA\n\n## second\n")


# --------------------------------------------------------------------------- flags


def test_defaults():
    args = cli.parse_args([])
    assert (args.names, args.queries, args.duration, args.rounds, args.big) == (10000, 100000, 10.0, 2, 1000000)
    assert args.group_duration == 5.0
    assert args.workers == [1, 2] and args.frontends_over == ["nsd", "ts"] and args.write is None


@pytest.mark.parametrize("text, counts", [("1,2,4", [1, 2, 4]), ("", []), (" 3 , ", [3])])
def test_worker_counts(text: str, counts: list[int]):
    assert cli.worker_counts(text) == counts


@pytest.mark.parametrize("text", ["1,x", "0", "2,-1"])
def test_bad_worker_counts(text: str):
    with pytest.raises(argparse.ArgumentTypeError):
        cli.worker_counts(text)


@pytest.mark.parametrize("text, kinds", [("ts", ["ts"]), ("nsd, ts", ["nsd", "ts"])])
def test_frontend_kinds(text: str, kinds: list[str]):
    assert cli.frontend_kinds(text) == kinds


@pytest.mark.parametrize("text", ["", "dns", "nsd,knot"])
def test_bad_frontend_kinds(text: str):
    with pytest.raises(argparse.ArgumentTypeError):
        cli.frontend_kinds(text)


@pytest.mark.parametrize("argv", [["--names", "1"], ["--queries", "9"], ["--duration", "0"], ["--rounds", "0"],
                                  ["--big", "-1"], ["--workers", "0"], ["--frontends-over", "x"],
                                  ["--group-duration", "-1"]])
def test_bad_flags_stop_with_usage(argv: list[str], capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exited:
        cli.parse_args(argv)
    assert exited.value.code == 2 and "usage:" in capsys.readouterr().err
