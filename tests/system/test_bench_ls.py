"""The LS as the benchmark starts and counts it (scripts/benchmark/targets.py, measure.py): backends
named after their labels, its metrics port found in its output, and the upstream queries the report
divides by client queries, for learned routing, the full fan-out and a replica group."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from support.benchmark import load_benchmark

load_benchmark()
from benchmark.answers import ask, positive  # noqa: E402
from benchmark.measure import read_ls_metrics  # noqa: E402
from benchmark.procs import Fleet  # noqa: E402
from benchmark.targets import Server, start_ls, start_ts  # noqa: E402
from benchmark.workload import hit_name, make_split, write_zone  # noqa: E402

PROBES = [(hit_name(0), "A"), (hit_name(1), "A")]      # one name on each TS of the split


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path)
    yield fleet
    fleet.stop_all()


@pytest.fixture
def split_pair(fleet: Fleet, tmp_path: Path) -> tuple[Server, Server]:
    """TS1 with the even-numbered names of a 20-name split zone, TS2 with the odd ones."""
    split = make_split(tmp_path, names=20, queries=100, sample=10, seed=1)
    return (start_ts(fleet, "TS1 (ours)", split.ts1_zone, hit_name(0)),
            start_ts(fleet, "TS2 (ours)", split.ts2_zone, hit_name(1)))


def asked(ls: Server, names: list[str]) -> dict[str, int]:
    """Ask ``names`` through ``ls`` one at a time, each answered with its address; the queries the LS
    sent each backend meanwhile, by backend name, after checking that it counted one client query each."""
    assert ls.metrics_port is not None
    before = read_ls_metrics(ls.metrics_port)
    for name in names:
        assert positive(ask(ls.port, name), name, "A"), name
    counts = read_ls_metrics(ls.metrics_port) - before
    assert counts.client == len(names) and sum(counts.resent.values()) == 0
    return dict(counts.sent)


@pytest.mark.parametrize("learn, sent", [(True, {"TS1-ours": 1, "TS2-ours": 0}),
                                         (False, {"TS1-ours": 1, "TS2-ours": 1})])
def test_a_name_asked_again_goes_to_its_owner_only_when_the_ls_learns(
        fleet: Fleet, split_pair: tuple[Server, Server], learn: bool, sent: dict[str, int]):
    ls = start_ls(fleet, "LS", split_pair, PROBES, learn=learn, metrics=True)
    assert ls.warms == learn
    name = hit_name(2)                                  # on TS1
    asked(ls, [name])       # once, to teach: who is asked first depends on which TS said NXDOMAIN to a probe
    assert asked(ls, [name]) == sent


@pytest.mark.parametrize("policy, sent", [("round-robin", {"replica-1": 3, "replica-2": 3}),
                                          ("first-available", {"replica-1": 6, "replica-2": 0})])
def test_an_ls_over_a_replica_group_asks_one_member_per_query(fleet: Fleet, tmp_path: Path, policy: str,
                                                              sent: dict[str, int]):
    zone = tmp_path / "all.zone"
    write_zone(zone, range(10))
    replicas = [start_ts(fleet, f"replica {i}", zone, hit_name(0)) for i in (1, 2)]
    ls = start_ls(fleet, "LS", replicas, PROBES, metrics=True, group_policy=policy)
    assert asked(ls, [hit_name(i) for i in range(2, 8)]) == sent
