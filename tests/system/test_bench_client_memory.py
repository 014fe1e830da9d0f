"""The benchmark's client-memory phase (scripts/benchmark/client_memory.py): its hostfile, one real
run through an LS over a table TS on loopback, and how the report shows it."""
from __future__ import annotations

import datetime
from pathlib import Path
from typing import Iterator

import pytest

from support.benchmark import load_benchmark

load_benchmark()
from benchmark import cli, machine, report, runner  # noqa: E402
from benchmark.client_memory import ClientRun, measure_client_memory, write_hostfile  # noqa: E402
from benchmark.procs import Fleet  # noqa: E402
from benchmark.workload import expected_address  # noqa: E402


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path)
    yield fleet
    fleet.stop_all()


def test_the_hostfile_is_half_table_names_half_names_found_nowhere(tmp_path: Path):
    hosts = tmp_path / "hosts"
    write_hostfile(hosts, 250_001, seed=3)
    names = hosts.read_text().splitlines()
    assert len(names) == 250_001
    assert sum(1 for name in names if expected_address(name) is not None) == 125_001
    assert names[:50] != sorted(names[:50])         # shuffled


def test_one_run_reads_the_clients_peak_memory_and_rate(fleet: Fleet, tmp_path: Path):
    run = measure_client_memory(fleet, tmp_path, 3_000, seed=1)
    assert run.error is None and run.status == 0 and run.lines == 3_000
    assert 10e6 < run.peak_octets < 500e6 and run.rate > 0
    assert not fleet.procs          # the TS and the LS are stopped


def render(res: runner.Results, argv: list[str]) -> str:
    tools = machine.Tools("dnsperf", "nsd", "dnsdist", {"dnsperf": "2.10.0", "nsd": "4.6.1", "dnsdist": "1.7.3"})
    facts = {"kernel": "Linux 6", "cpus": "2", "cpu model": "x", "python": "3.11", "commit": "abc1234"}
    return report.render(res, cli.parse_args(argv), tools, facts, "scripts/bench " + " ".join(argv),
                         datetime.datetime(2026, 11, 30, 0, 5))


def test_the_report_has_the_run_and_its_target():
    res = runner.Results()
    res.client = ClientRun(1_000_000, 1_000_000, 400.0, 52_000_000, 0)
    text = render(res, ["--phases", "client-memory"])
    assert "| 1,000,000 | 1,000,000 | 400.0 | 2,500 | 52 | 0 |" in text
    assert "| client on 1,000,000 names: peak memory | 52 MB | < 500 MB | PASS |" in text
    res.client = ClientRun(1_000_000, 10, 60.0, 600_000_000, 1, error="client exited with 1")
    assert "| client on 1,000,000 names: peak memory | client exited with 1 | < 500 MB | **FAIL** |" in render(
        res, ["--phases", "client-memory"])


def test_client_names_below_zero_is_refused(capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(["--client-names", "-1"])
    assert "--client-names >= 0" in capsys.readouterr().err
