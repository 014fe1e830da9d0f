"""The report: markdown tables of what was measured, and appending it to ``--write FILE``."""
from __future__ import annotations

import argparse
import datetime
from pathlib import Path

from .answers import Check
from .client_memory import GOAL_MB, TABLE_NAMES
from .machine import Tools
from .measure import Series
from .runner import REPLICAS, SMALL_ZONE, WARM_LIMIT, WORKER_CLIENTS, Results
from .targets import CACHE_ENTRIES, GROUP, backend_name
from .transfer import PACE_MARGIN, paced_rate


def fmt_ms(value: float | None) -> str:
    """Milliseconds (or seconds, in the transfer's rows) to three decimals; n/a when not measured."""
    return "n/a" if value is None else f"{value:.3f}"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "**FAIL**")


def ratio(a: Series | None, b: Series | None) -> float | None:
    return a.qps / b.qps if a and b and b.qps else None


def per_query(series: Series | None) -> float | None:
    """An LS's upstream queries per client query over all of ``series``' runs; None without its metrics."""
    upstream = series.upstream if series is not None else None
    return upstream.per_query if upstream is not None else None


def fmt_per_query(series: Series) -> str:
    value = per_query(series)
    return "" if value is None else f"{value:.3f}"


def fmt_cpu(series: Series) -> str:
    """The target's CPU per query as ``user + system`` microseconds."""
    cpu = series.cpu_us_per_query
    return "" if cpu is None else f"{cpu[0]:.1f} + {cpu[1]:.1f}"


def throughput_table(res: Results) -> list[str]:
    lines = ["| target | queries/s | per round | lost | avg ms | p99 ms | upstream / query | CPU µs / query | NOERROR "
             "| sample right | other load |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for label, series in res.load.items():
        check = res.checks.get(label)
        each = " / ".join(f"{r.qps:,.0f}" for r in series.runs)
        lines.append(f"| {label} | {series.qps:,.0f} | {each} | {series.lost} | {series.avg_ms:.3f} | "
                     f"{fmt_ms(series.percentile_ms(0.99))} | {fmt_per_query(series)} | {fmt_cpu(series)} | "
                     f"{series.rcode_percent('NOERROR'):.1f}% | "
                     f"{check.cell() if check else 'n/a'} | {series.foreign_cpus:.2f} |")
    return lines


def groups_table(res: Results) -> list[str]:
    """The LS over a replica group: one row per policy, with each member's share of the queries sent."""
    lines = ["| policy | queries/s | lost | avg ms | p99 ms | share of queries sent | upstream / query | "
             "sample right | other load |", "|---|---:|---:|---:|---:|---|---:|---|---:|"]
    for policy, series in res.groups.items():
        check = res.checks.get(series.label)
        upstream = series.upstream
        shares = " / ".join(f"{name} {share:.1f}%" for name, share in upstream.shares().items()) if upstream else ""
        lines.append(f"| {policy} | {series.qps:,.0f} | {series.lost} | {series.avg_ms:.3f} | "
                     f"{fmt_ms(series.percentile_ms(0.99))} | {shares} | {fmt_per_query(series)} | "
                     f"{check.cell() if check else 'n/a'} | {series.foreign_cpus:.2f} |")
    return lines


def targets_table(res: Results, args: argparse.Namespace) -> list[str]:
    """The issue's targets, each with the measured value and PASS/FAIL."""
    load = res.load
    rows: list[tuple[str, str, str, bool | None]] = []
    for over in ("NSD1+NSD2", "TS1+TS2"):
        ls, dd = load.get(f"LS → {over}"), load.get(f"dnsdist → {over}")
        r = ratio(ls, dd)
        if r is not None:
            rows.append((f"LS / dnsdist queries/s (over {over})", f"{r:.2f}", ">= 0.8", r >= 0.8))
        upstream = per_query(ls)
        if upstream is not None:
            rows.append((f"LS upstream queries per client query, learned routing, warm (over {over})",
                         f"{upstream:.3f}", "<= 1.15", upstream <= 1.15))
        for ls_label in ("LS", "LS --learn off"):
            check = res.checks.get(f"{ls_label} → {over}")
            if check:
                rows.append((f"{ls_label} answers right (over {over})", f"{check.percent:.1f}%", "100%",
                             check.correct == check.total))
    group_checks = [res.checks[s.label] for s in res.groups.values() if s.label in res.checks]
    if group_checks:
        folded = Check()
        for check in group_checks:
            folded.add(check)
        rows.append((f"LS answers right over a replica group ({len(group_checks)} policies)",
                     f"{folded.percent:.1f}%", "100%", folded.correct == folded.total))
    r = ratio(load.get("TS1 (ours)"), load.get("NSD1"))
    if r is not None:
        rows.append(("TS / NSD queries/s", f"{r:.2f}", ">= 0.5", r >= 0.5))
    ours = [s for label, s in load.items() if not label.startswith(("NSD", "dnsdist"))]
    lost = sum(s.lost for s in ours)
    if ours:
        rows.append(("queries lost by TS and LS (all -q 100 runs)", f"{lost} of {sum(s.sent for s in ours):,}",
                     "0", lost == 0))
    for label, series in res.low_miss.items():
        if label.startswith("LS"):
            p99 = series.percentile_ms(0.99)
            rows.append((f"p99 of a miss at low load, {label}", f"{fmt_ms(p99)} ms", "< 2 ms",
                         None if p99 is None else p99 < 2.0))
    big = next((s for s in res.sizes if s.records == args.big), None)
    small = next((s for s in res.sizes if s.records == SMALL_ZONE), None)
    if big is not None:
        name = f"{args.big:,}-record zone"
        if big.error:
            rows.append((f"{name} loads", big.error, "<= 60 s", False))
        else:
            rows.append((f"{name}: load time (start to first answer)", f"{big.answering_s:.1f} s", "<= 60 s",
                         (big.answering_s or 0) <= 60))
            rows.append((f"{name}: resident memory", f"{(big.rss_mib or 0) / 1024:.2f} GiB "
                         f"(peak {(big.peak_mib or 0) / 1024:.2f})", "<= 1.5 GiB",
                         max(big.rss_mib or 0, big.peak_mib or 0) <= 1536))
            r = ratio(big.series, small.series if small else None)
            if r is not None:
                rows.append((f"{name}: queries/s vs {SMALL_ZONE:,}-record zone", f"{r:.2f}", ">= 0.9", r >= 0.9))
    rows += load_targets(res)
    rows += transfer_targets(res, args)
    rows += client_targets(res)
    lines = ["| target | measured | goal | |", "|---|---|---|---|"]
    lines += [f"| {name} | {value} | {goal} | {verdict(ok)} |" for name, value, goal, ok in rows]
    return lines


def transfer_targets(res: Results, args: argparse.Namespace) -> list[tuple[str, str, str, bool | None]]:
    """The worst round's during / before: with the paced reader, the goal (>= 0.8, and every read
    still going when its run ended); with dnspython reading on the same CPUs, for information."""
    rows: list[tuple[str, str, str, bool | None]] = []
    name = f"TS queries/s during an AXFR of {args.transfer_records:,} records / before (worst round)"
    for label, rounds, goal in ((name, res.transfers, True),
                                (f"{name}, read by dnspython on the same CPUs", res.parsed_transfers, False)):
        if rounds:
            worst, lasted = min(done.ratio for done in rounds), all(done.lasted for done in rounds)
            value = f"{worst:.2f}" + ("" if lasted else " (a read ended before its run)")
            rows.append((label, value, ">= 0.8" if goal else "none (information)",
                         worst >= 0.8 and lasted if goal else None))
    return rows


def client_targets(res: Results) -> list[tuple[str, str, str, bool | None]]:
    """The client's peak memory on its hostfile: under :data:`GOAL_MB` MB, every line written."""
    run = res.client
    if run is None:
        return []
    name = f"client on {run.names:,} names: peak memory"
    if run.error:
        return [(name, run.error, f"< {GOAL_MB} MB", False)]
    return [(name, f"{run.peak_mb:.0f} MB", f"< {GOAL_MB} MB", run.peak_mb < GOAL_MB)]


def client_table(res: Results) -> list[str]:
    """The client-memory phase's one run."""
    run = res.client
    assert run is not None
    return ["| names | lines written | seconds | names/s | peak RSS MB | exit status |",
            "|---:|---:|---:|---:|---:|---:|",
            f"| {run.names:,} | {run.lines:,} | {run.seconds:.1f} | {run.rate:,.0f} | {run.peak_mb:.0f} | "
            f"{run.status} |"]


MIB_PER_MB = 1e6 / 2**20


def load_targets(res: Results) -> list[tuple[str, str, str, bool | None]]:
    """The load-time goals: the signed zone under 1 s; ``$GENERATE`` under 2 s and 100 MB; the
    mixed zone in at most 3 times the plain zone's time and at most 1.5 GiB (peak)."""
    rows: list[tuple[str, str, str, bool | None]] = []
    loads = res.loads
    for kind, seconds in (("signed", 1.0), ("generate", 2.0)):
        zone = loads.get(kind)
        if zone is not None:
            rows.append((f"{zone.label}: load time (start to first answer)",
                         zone.error or f"{zone.answering_s:.2f} s", f"< {seconds:g} s",
                         zone.error is None and (zone.answering_s or 0) < seconds))
    generate = loads.get("generate")
    if generate is not None and generate.error is None:
        rows.append((f"{generate.label}: peak memory", f"{(generate.peak_mib or 0) / MIB_PER_MB:.0f} MB",
                     "< 100 MB", (generate.peak_mib or 0) < 100 * MIB_PER_MB))
    mixed, plain = loads.get("mixed"), loads.get("plain")
    if mixed is not None and plain is not None:
        times = (mixed.answering_s, plain.answering_s)
        r = times[0] / times[1] if None not in times and times[1] else None
        rows.append((f"{mixed.label}: load time vs {plain.label}",
                     mixed.error or plain.error or f"{r:.2f}x ({times[0]:.1f} s / {times[1]:.1f} s)",
                     "<= 3x", None if r is None else r <= 3))
        if mixed.error is None:
            rows.append((f"{mixed.label}: peak memory", f"{(mixed.peak_mib or 0) / 1024:.2f} GiB", "<= 1.5 GiB",
                         (mixed.peak_mib or 0) <= 1536))
    return rows


def load_table(res: Results) -> list[str]:
    """One row per zone of the load-time test."""
    lines = ["| zone | records | generated in | answering after | RSS MiB (peak) |", "|---|---:|---:|---:|---:|"]
    for zone in res.loads.values():
        measured = (zone.error + " | " if zone.error else
                    f"{zone.answering_s:.2f} s | {zone.rss_mib:.0f} ({zone.peak_mib:.0f}) |")
        lines.append(f"| {zone.label} | {zone.records:,} | {zone.generate_s:.1f} s | {measured}")
    return lines


def low_load_table(res: Results) -> list[str]:
    """Latency at one query in flight, and what each frontend adds over a direct query to its backend."""
    direct = {"NSD1+NSD2": res.low.get("NSD1"), "TS1+TS2": res.low.get("TS1 (ours)")}
    lines = ["| target | queries | queries/s | avg ms | p99 ms | added avg ms | added p99 ms | answers | other load |",
             "|---|---|---:|---:|---:|---:|---:|---|---:|"]
    for kind, table in (("mix", res.low), ("misses only", res.low_miss)):
        for label, series in table.items():
            base = next((d for over, d in direct.items() if label.endswith(over)), None)
            p99, base_p99 = series.percentile_ms(0.99), base.percentile_ms(0.99) if base else None
            added = f"{series.avg_ms - base.avg_ms:+.3f}" if base else ""
            added99 = f"{p99 - base_p99:+.3f}" if base and p99 is not None and base_p99 is not None else ""
            codes = ", ".join(f"{c} {series.rcode_percent(c):.0f}%" for c in ("NOERROR", "NXDOMAIN", "SERVFAIL")
                              if series.rcode_percent(c) > 0)
            lines.append(f"| {label} | {kind} | {series.qps:,.0f} | {series.avg_ms:.3f} | {fmt_ms(p99)} | "
                         f"{added} | {added99} | {codes} | {series.foreign_cpus:.2f} |")
    return lines


def size_table(res: Results) -> list[str]:
    lines = ["| zone | generated in | listening after | answering after | RSS MiB (peak) | queries/s | lost | "
             "avg ms | p99 ms | other load |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in res.sizes:
        if s.error:
            lines.append(f"| {s.records:,} | {s.generate_s:.1f} s | {s.error} | | | | | | | |")
            continue
        q = s.series
        lines.append(f"| {s.records:,} | {s.generate_s:.1f} s | {s.listening_s:.2f} s | {s.answering_s:.2f} s | "
                     f"{s.rss_mib:.0f} ({s.peak_mib:.0f})"
                     + (f" over {s.processes} processes" if s.processes > 1 else "") + " | "
                     + (f"{q.qps:,.0f} | {q.lost} | {q.avg_ms:.3f} | {fmt_ms(q.percentile_ms(0.99))} | "
                        f"{q.foreign_cpus:.2f} |" if q else "n/a | | | | |"))
    return lines


def transfer_table(res: Results) -> list[str]:
    """The transfer phase: each round's queries/s before and during an AXFR, and the transfer's
    figures, the paced reader's rounds first, then dnspython's."""
    lines = ["| reader | round | queries/s before | during the AXFR | during / before | AXFR read in s | records "
             "| messages | still reading at the run's end | TS busy s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for how, rounds in (("paced", res.transfers), ("dnspython", res.parsed_transfers)):
        for index, done in enumerate(rounds, 1):
            lines.append(f"| {how} | {index} | {done.before.qps:,.0f} | {done.during.qps:,.0f} | {done.ratio:.2f} | "
                         f"{done.seconds:.2f} | {done.records:,} | {done.messages} | "
                         f"{'yes' if done.lasted else 'no'} | {fmt_ms(done.ts_seconds)} |")
    return lines


def transfer_text(res: Results, args: argparse.Namespace, cpus: str) -> list[str]:
    """What the transfer table's rows are, the read with no load, and NSD's transfer as a secondary."""
    octets = res.transfer_octets or 0
    lines = [
        f"A TS on a zone of {args.transfer_records:,} A records with `--allow-transfer`: per round and reader, "
        f"`dnsperf -c 1 -T 1 -q 100 -l {args.duration:g}` alone, then again while the reader transfers the "
        "zone by AXFR, begun before the run. `paced` (the target): a reader of the messages' framing only "
        f"(length and record count) at {paced_rate(octets, args.duration) / 1000:,.0f} kB/s, the transfer's "
        f"{octets:,} octets over {PACE_MARGIN:g} times the run, so that it is still reading when the run "
        "ends while it takes next to no CPU: what the transfer costs the TS itself. `dnspython` "
        "(information): `dns.query.xfr`, which parses every record (about 50 µs each), in a thread of the "
        "benchmark under SCHED_IDLE; it is lower because on this machine of "
        f"{cpus} CPUs the secondary shares the CPUs with dnsperf and the TS, and its parsing (and the "
        "kernel's work for its socket) takes from their rate what a secondary on another host would not. "
        "`TS busy s`: the TS's own line for that transfer, from the request to its last message handed to "
        "the socket; the kernel's socket buffers hold megabytes, so for a zone they hold the TS is done "
        "in milliseconds and the reader goes on reading from them.",
    ]
    alone, secondary = res.transfer_alone, res.secondary
    if alone is not None:
        lines += ["", f"Read by dnspython with no load beside it: {alone.seconds:.2f} s "
                      f"(the TS busy {fmt_ms(alone.ts_seconds)} s)."]
    if secondary is not None:
        lines += ["", f"NSD as a secondary: AXFR of {secondary.records:,} records in {secondary.seconds:.2f} s "
                      f"(from its start until it answered the zone's SOA, no load; the TS busy "
                      f"{fmt_ms(secondary.ts_seconds)} s)."]
    return lines


def workers_table(res: Results) -> list[str]:
    lines = ["| server | workers | queries/s | per round | vs 1 worker | lost | avg ms | p99 ms | other load |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    for command, by_count in res.workers.items():
        base = by_count.get(1)
        for count, series in by_count.items():
            r = ratio(series, base)
            each = " / ".join(f"{run.qps:,.0f}" for run in series.runs)
            lines.append(f"| {'TS1' if command == 'ts' else 'LS → NSD1+NSD2'} | {count} | {series.qps:,.0f} | "
                         f"{each} | {'' if r is None else f'{r:.2f}x'} | {series.lost} | {series.avg_ms:.3f} | "
                         f"{fmt_ms(series.percentile_ms(0.99))} | {series.foreign_cpus:.2f} |")
    return lines


def render(res: Results, args: argparse.Namespace, tools: Tools, facts: dict[str, str], command: str,
           when: datetime.datetime) -> str:
    """The whole report as markdown: what ran where, then the tables."""
    p99_how = ("p99 from the per-query latencies of `dnsperf -v` (which costs dnsperf a few % of its rate, "
               "the same for every target)" if not args.no_p99 else "no p99 (--no-p99)")
    out = [
        f"## {when:%Y-%m-%d %H:%M} UTC",
        "",
        f"- command: `{command}`",
        f"- machine: {facts['kernel']}, {facts['cpus']} CPUs ({facts['cpu model']}), Python {facts['python']}",
        f"- tools: dnsperf {tools.versions['dnsperf']}, NSD {tools.versions['nsd']}, "
        f"dnsdist {tools.versions['dnsdist']}; resolver at {facts['commit']}",
    ]
    if res.split is not None:
        out += [
            f"- zone `bench.`: {args.names:,} A records, TS1/NSD1 hold the even-numbered names, TS2/NSD2 the odd "
        f"ones; queries: 45% TS1 names, 45% TS2 names, 10% missing, shuffled (seed {args.seed})",
        f"- load: `dnsperf -c 1 -T 1 -q 100 -l {args.duration:g}`, all targets in alternation, "
        f"{args.rounds} round(s), {p99_how}; low load: one query in flight for "
        f"{min(args.duration, args.low_duration):g} s per target (a Python UDP client timing each query: "
        "`dnsperf -q 1` idles between queries in this version)",
        "- dnsdist: round robin over the same two backends as the LS, health check `bench. SOA` "
        "(must be NOERROR); TS1 and NSD1 alone are asked the same mix, so about half their answers "
        "are NXDOMAIN by design",
        "- LS: `LS → …` rows run with learned routing (its default: a name's next query goes to the "
        "backend whose answer won before, the others only when it says no or stays silent past its "
        "retransmission timeout); `LS --learn off → …` rows ask every backend every query (the full "
        "fan-out), for comparison. The learning LS is measured warm: after the sample check, before each "
        "of its `-q 100` runs, an unmeasured warm-up pass (`dnsperf -n 1 -q 100`, each name of the mix "
        f"once, at most {WARM_LIMIT:g} s) has taught it every name's owner (a learned owner lasts the "
        "answer's TTL, 300 s in this zone, hence a pass before each run)",
        "- caches: every LS row but `LS (cache) → …` runs with `--cache-size 0`, as dnsdist has no packet "
        "cache in its rows but `dnsdist (packet cache) → …`; the two cache rows hold up to "
        f"{CACHE_ENTRIES:,} answers each and are measured after the same warm-up pass, so the load runs "
        "are answered from the caches (the zone's TTL is 300 s)",
    ]
    out.append("")
    if res.load:
        out += ["### Throughput", "", *throughput_table(res), "",
                "`upstream / query`: queries the LS sent its backends, retransmissions left out, per client "
                "query, over its runs: the change in (the sum over backends of "
                "`resolver_backend_requests_total` − `resolver_backend_retransmissions_total`) / "
                "`resolver_ls_requests_total`, read from its `/metrics` before and after each run. "
                "On this mix learned routing at best sends 0.9 × 1 + 0.1 × 2 = 1.1 (a miss still goes to "
                "both backends, which both own `bench.`); the full fan-out sends 2. "
                "`CPU µs / query`: the target's own user + system CPU time over its runs (its process group, "
                "workers included) per answered query: system time is mostly the datagrams it moves, four per "
                "query for a frontend that asks one backend. "
                "`NOERROR` is the share of all dnsperf answers that were NOERROR: 90% is right for a frontend "
                "(everything but the 10% misses). `sample right`: "
                f"{args.sample} queries before the load runs and {args.sample} others after them, one at a time "
                "with dnspython; hits must carry the right address, "
                "misses NXDOMAIN (for TS1/NSD1 alone: their own names right, the rest NXDOMAIN). "
                "`other load`: CPUs' worth of work done by processes other than this benchmark's during the "
                "busiest of that target's runs (the machine has "
                f"{facts['cpus']} CPUs; above about 0.1 the figures of that row are disturbed).", ""]
    out += ["### Targets", "", *targets_table(res, args), ""]
    if res.low:
        out += ["### Latency at low load (one query in flight)", "", *low_load_table(res), "",
                "`added`: the frontend's figure minus that of one backend of its pair asked directly (same mix); "
                "`misses only`: every backend answers NXDOMAIN.", ""]
    if res.groups:
        out += ["### Replica groups", "", *groups_table(res), "",
                f"The LS over one replica group of two NSDs that each hold all {args.names:,} names "
                f"(`--group {GROUP}={','.join(map(backend_name, REPLICAS))} --group-policy {GROUP}=POLICY`): "
                "per policy, "
                f"one `dnsperf -c 1 -T 1 -q 100 -l {args.group_duration:g}` run of the same mix, one LS at a "
                "time. `share of queries sent`: each member's part of the LS's "
                "`resolver_backend_requests_total` over the run. `sample right` as above (every name of "
                "the sample is held by both members).", ""]
    if res.sizes:
        out += ["### Zone size (one TS, only existing names asked, `-q 100`)", "", *size_table(res), "",
                "`listening after`: process start to its `listening on` line; `answering after`: to the first "
                "right answer for the zone's last name; RSS is VmRSS after loading, peak is VmHWM.", ""]
    if res.loads:
        out += ["### Load time (one TS per zone, alone)", "", *load_table(res), "",
                "`answering after`: from process start to the first right answer for a name of the zone; "
                "RSS is VmRSS then, peak is VmHWM. The signed zone has an A record, its RRSIG and an NSEC3 "
                "record with its RRSIG per name; the mixed zone has one record in five that is not a plain "
                "address (MX, TXT, CNAME, a delegation with glue, a wildcard).", ""]
    if res.transfers or res.parsed_transfers:
        out += ["### Zone transfer out (one TS, an AXFR while under load)", "", *transfer_table(res), "",
                *transfer_text(res, args, facts["cpus"]), ""]
    if res.client is not None:
        out += ["### Client memory (`resolver client` on a long hostfile)", "", *client_table(res), "",
                f"`resolver client --server LS HOSTFILE` with its defaults (`--concurrency 1000`), through an LS "
                f"(its answer cache on) over a TS serving a table of {TABLE_NAMES:,} names: half the hostfile's "
                "names are in the table, each asked many times, half are found nowhere (NXDOMAIN), shuffled. "
                "Peak RSS is the kernel's `ru_maxrss` for the client process, reaped with `wait4`; names/s "
                "from its start to its exit, the hostfile counted first included.", ""]
    if res.load or res.workers or res.workers_note:
        out += ["### Workers", ""]
    if res.workers:
        out += [f"Workers: `dnsperf -c {WORKER_CLIENTS} -T 1 -q 100` (several client sockets, which SO_REUSEPORT "
                "spreads over the workers); the LS with learned routing, warmed up before each run as above "
                "(each worker learns only from the queries it gets).", "", *workers_table(res), ""]
    if res.workers_note:
        out += [res.workers_note.strip(), ""]
    wrong = {label: c for label, c in res.checks.items() if c.wrong}
    if res.health and not any(res.health.values()):
        res.notes.append("dnsdist's health checks kept every backend up through all runs (no 'down' events).")
    if wrong or res.health or res.notes:
        out += ["### Notes", ""]
        for label, check in wrong.items():
            why = (" (expected for split DNS: dnsdist asks one backend per query, so a name on the other "
                   "backend comes back NXDOMAIN)" if label.startswith("dnsdist") else "")
            out.append(f"- {label}: {check.cell()} right{why}; e.g. " + "; ".join(check.wrong))
        for label, events in res.health.items():
            if events:
                out.append(f"- {label}: health check marked a backend down {len(events)} time(s): {events[0]}")
        out += [f"- {note}" for note in res.notes]
        out.append("")
    return "\n".join(out)


BENCHMARKS_HEADER = """# Benchmarks

Our TS against NSD on the same zone files, and our LS against dnsdist in front
of the same backends, for split DNS (each name on one backend only, NXDOMAIN on
the other), all on loopback with dnsperf. Each entry below was appended by

    scripts/bench --write BENCHMARKS.md

which, as root, installs dnsperf, nsd and dnsdist when they are missing, and
takes about six minutes with its defaults (`scripts/bench --help` for the
flags). Newest entries at the end.

"""


def write_report(path: Path, text: str) -> None:
    """Append a dated section; the file gets a short header the first time."""
    existing = path.read_text() if path.exists() else BENCHMARKS_HEADER
    path.write_text(existing.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n")
