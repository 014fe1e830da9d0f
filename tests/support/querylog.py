"""Reading a ``--query-log`` file (:mod:`resolver.obs.querylog`) in tests."""
from __future__ import annotations

import re
from pathlib import Path

LINE = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z 127\.0\.0\.1:\d+ (\S+) (\S+) (\S+) (\S+) [\d.]+ms (udp|tcp)(?: (\S+))?$")


def logged(path: Path) -> list[tuple[str, ...]]:
    """Each line of the log as (name, type, outcome, rcode, transport, via or None), for a client on
    127.0.0.1; a line of another form fails the test."""
    lines = path.read_text().splitlines() if path.exists() else []
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    return [match.groups() for match in matches]       # type: ignore[union-attr]
