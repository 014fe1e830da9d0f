"""A zone transfer out does not slow a TS's queries: dnsperf's rate while the TS sends a zone by
AXFR is at least 0.8 of the rate before it (the benchmark's transfer phase, scripts/benchmark/transfer.py).

The zone is larger than the kernel's socket buffers hold, and the client reads
it at 1 MiB/s until the second run ends (:class:`PacedReader`), so the TS keeps
sending, paused and resumed by TCP flow control, through the whole run. The
client reads only the messages' framing: dnspython, which parses them, takes
about 50 µs a record, and on a machine of two CPUs that alone costs dnsperf and
the TS 15 to 35% of their rate (the benchmark's phase measures it). The machine
is shared, so a round below the goal is run again, three rounds at most.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from support.benchmark import load_benchmark
from support.tools import require_tool

load_benchmark()
from benchmark.measure import run_dnsperf  # noqa: E402
from benchmark.procs import Fleet  # noqa: E402
from benchmark.targets import start_ts  # noqa: E402
from benchmark.transfer import PacedReader, before_and_during, ts_transfer_seconds  # noqa: E402
from benchmark.workload import ORIGIN, hit_name, write_queries, write_zone  # noqa: E402

WINDOW = 2.0        # seconds of each dnsperf run
ROUNDS = 3          # at most, until one meets the goal
GOAL = 0.8
RATE = 1 << 20      # octets a second the client reads during the run
OCTETS = 31         # a record of the zone in a transfer: h0000000.bench. A 10.x.y.z


def records_for_the_run() -> int:
    """Records enough to fill the largest TCP send buffer (``tcp_wmem``) and then the run at
    :data:`RATE`, with a second to spare."""
    largest = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    return (largest + int(RATE * (WINDOW + 1))) // OCTETS


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path)
    yield fleet
    fleet.stop_all()


def test_queries_per_second_while_the_ts_sends_a_zone_are_at_least_0_8_of_before(fleet: Fleet, tmp_path: Path):
    dnsperf = require_tool("dnsperf")
    records = records_for_the_run()
    zone, queries = tmp_path / "transfer.bench.zone", tmp_path / "transfer.queries"
    write_zone(zone, range(records))
    write_queries(queries, [hit_name(index * 7919 % records) for index in range(20_000)])
    ts = start_ts(fleet, "TS", zone, hit_name(records - 1), load_timeout=120,
                  extra=("--allow-transfer", "127.0.0.1/32"))

    def perf():
        return run_dnsperf(dnsperf, "TS", ts.port, queries, WINDOW, 100, False, tmp_path / "dnsperf.out")

    rounds = []
    for _ in range(ROUNDS):
        done = before_and_during(perf, PacedReader(ts.port, ORIGIN, records + 4, RATE, timeout=120))
        rounds.append(done)
        assert done.lasted, done
        if done.ratio >= GOAL:
            break
    busy = ts_transfer_seconds(ts.proc.logfile)
    figures = [f"{r.before.qps:,.0f} -> {r.during.qps:,.0f} q/s ({r.ratio:.2f}; the TS busy {b:.1f} s)"
               for r, b in zip(rounds, busy)]
    assert len(busy) == len(rounds) and min(busy) > WINDOW, figures      # the TS kept sending through each run
    assert rounds[-1].ratio >= GOAL, f"every round below {GOAL}: {figures}"
