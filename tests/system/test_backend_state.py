"""A backend's health as /status.json and /metrics report it: starting, then up or down.

The LS is started before its backends, with a long first probe round (6 s: room
for a TS to start on a busy machine). One backend's port has nothing listening
until a TS is started on it a moment later; the other's never has. Both are
starting until the first round has judged them: the late one is up once it
answers, the other down when the round ends. With ``--workers 2`` the parent's
sum says the same (a backend is down when a worker finds it down, else
starting while a worker has not judged it yet).
"""
from __future__ import annotations

import json
import time

import pytest

from resolver.net.lifecycle import LISTENING
from support.paths import ZONES
from support.ports import free_port
from support.servers import base_url, http, scrape, value
from support.waiting import wait_until

ROUND = 6.0         # seconds: the LS's first probe round (--probe-interval)
STATES = ("starting", "up", "down")


def states(server) -> dict[str, str]:
    """Each backend's ``state`` in /status.json, by name."""
    code, _, body = http(base_url(server) + "status.json")
    assert code == 200, body
    return {backend["name"]: backend["state"] for backend in json.loads(body)["backends"]}


def gauges(server, backend: str) -> dict[str, float]:
    """``resolver_backend_state`` for ``backend``, by state."""
    samples = scrape(server)
    return {state: value(samples, "resolver_backend_state", backend=backend, state=state) for state in STATES}


def shown(server, backend: str) -> str:
    """The one state /metrics gives ``backend``: 1 for it, 0 for the two others."""
    by_state = gauges(server, backend)
    assert sorted(by_state.values()) == [0, 0, 1], by_state
    return next(state for state, one in by_state.items() if one)


@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "two-workers"])
def test_backends_are_starting_until_the_first_round_judges_them_then_up_or_down(start_server, workers):
    late, never = free_port(), free_port()
    ls = start_server("ls", "--backend", f"late=127.0.0.1:{late}", "--backend", f"never=127.0.0.1:{never}",
                      "--probe-interval", str(ROUND), "--metrics", "127.0.0.1:0", "--workers", str(workers))
    started = time.monotonic()
    ls.wait_for_line(LISTENING, count=workers)
    wait_until(lambda: http(base_url(ls) + "status.json")[0] == 200, 5, "the workers' first readings", interval=0.05)
    assert states(ls) == {"late": "starting", "never": "starting"}
    assert shown(ls, "late") == shown(ls, "never") == "starting"
    start_server("ts", "--table", str(ZONES / "ts1.txt"), listen=f"127.0.0.1:{late}")
    wait_until(lambda: states(ls)["late"] == "up", ROUND + 2, "late shown up", interval=0.05)
    assert time.monotonic() - started < ROUND, "the TS came up after the first round: the test proves nothing"
    assert shown(ls, "late") == "up" and value(scrape(ls), "resolver_backend_up", backend="late") == 1
    assert states(ls)["never"] == "starting"        # its port is unreachable, but the round is not over
    wait_until(lambda: states(ls)["never"] == "down", ROUND + 3, "never shown down", interval=0.05)
    assert time.monotonic() - started >= ROUND - 1      # not before the round ends
    assert shown(ls, "never") == "down" and value(scrape(ls), "resolver_backend_up", backend="never") == 0
    assert states(ls)["late"] == "up"
