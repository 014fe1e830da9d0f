"""Shared fixtures: real server processes on loopback.

The helpers behind them (the :class:`~support.servers.Server` process, queries,
required tools) live in ``tests/support``; tests import them from there.
"""
from __future__ import annotations

from typing import Callable, Iterator

import pytest
from dnslib import RCODE

from support.fakes import FakeBackend, negative
from support.paths import ZONES
from support.servers import Server


@pytest.fixture
def start_server() -> Iterator[Callable[..., Server]]:
    """Factory: ``start_server("ts", "--table", path)``; stops every server at teardown.

    ``listen`` is added as ``--listen`` unless the arguments have one; other
    keywords go to :class:`Server`.
    """
    started: list[Server] = []

    def start(*args: str, listen: str = "127.0.0.1:0", **kw) -> Server:
        argv = list(args)
        if "--listen" not in argv:
            argv += ["--listen", listen]
        server = Server(argv, **kw)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def routed_group(start_server) -> Iterator[Server]:
    """An LS with ``--metrics`` over TS1 (silent on misses) and a replica group ``pair``, first
    available, of ``broken`` (a fake backend that says SERVFAIL to everything) and TS2, with
    example.net routed to the group: a query under example.net fails over from broken to ts2."""
    ts1 = start_server("ts", "--table", str(ZONES / "ts1.txt"), "--silent-miss")
    ts2 = start_server("ts", "--table", str(ZONES / "ts2.txt"))
    with FakeBackend(negative(RCODE.SERVFAIL)) as broken:
        yield start_server("ls", "--backend", f"ts1={ts1.hostport}", "--backend", f"broken={broken.hostport}",
                           "--backend", f"ts2={ts2.hostport}", "--group", "pair=broken,ts2",
                           "--group-policy", "pair=first-available", "--route", "example.net=pair",
                           "--timeout", "1", "--metrics", "127.0.0.1:0")


@pytest.fixture
def demo_backends(start_server) -> tuple[Server, Server]:
    """TS1 and TS2 serving the demo tables."""
    ts1 = start_server("ts", "--table", str(ZONES / "ts1.txt"))
    ts2 = start_server("ts", "--table", str(ZONES / "ts2.txt"))
    return ts1, ts2


LAYERS = ("unit", "system", "conformance", "privileged")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Results by layer: the NSD matrix alone is thousands of cases, and a single total would hide
    how many tests each other layer has."""
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            if outcome == "passed" and report.when != "call":
                continue        # a passing test also reports a passing setup and teardown
            layer = next((part for part in report.nodeid.split("/") if part in LAYERS), "other")
            per_layer = counts.setdefault(layer, {})
            per_layer[outcome] = per_layer.get(outcome, 0) + 1
    if not counts:
        return
    terminalreporter.section("tests by layer")
    for layer in (*LAYERS, "other"):
        if layer in counts:
            terminalreporter.write_line(f"{layer:12} " + ", ".join(f"{n} {outcome}"
                                                                  for outcome, n in sorted(counts[layer].items())))
