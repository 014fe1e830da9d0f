"""A backend's state summed over workers (resolver.obs.metrics.LsMetrics.state on resolver.obs.metrics.add):
down when a worker finds it down, else starting while a worker has not judged it, else up."""
from __future__ import annotations

import pytest

from resolver.obs.metrics import LsMetrics, add

# One worker's gauges for a backend, in each state (as LsMetrics.reading gives them); starting with
# its port found unreachable in the first round is not asked (up 0) but still starting.
WORKER = {"up": {"up": 1, "starting": 0, "down": 0}, "down": {"up": 0, "starting": 0, "down": 1},
          "starting": {"up": 1, "starting": 1, "down": 0}, "unreachable": {"up": 0, "starting": 1, "down": 0}}


def summed(*states: str) -> dict:
    gauges = [{"workers": 1, "backends": {"b": WORKER[state]}} for state in states]
    total = gauges[0]
    for more in gauges[1:]:
        total = add(total, more)
    return {"gauges": total}


@pytest.mark.parametrize("states, shown", [
    (("up",), "up"), (("down",), "down"), (("starting",), "starting"), (("unreachable",), "starting"),
    (("up", "up"), "up"), (("up", "starting"), "starting"), (("starting", "unreachable"), "starting"),
    (("starting", "down"), "down"), (("up", "down"), "down"), (("down", "down"), "down"),
])
def test_a_backend_is_down_if_a_worker_finds_it_down_else_starting_if_one_has_not_judged_it(states, shown):
    figures = summed(*states)
    assert LsMetrics.state(figures, "b") == shown
    assert LsMetrics.is_up(figures, "b") == all(WORKER[state]["up"] for state in states)   # resolver_backend_up as before
