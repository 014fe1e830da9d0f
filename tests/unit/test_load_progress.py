"""Long zone loads log their progress: a line every few seconds while records are read and names
compiled, and a last one with the count and time; a short load logs nothing.

The tests load with an interval of 0 and a look at the clock every few records, so that a small
generated zone shows every line a million-record zone would, with no timing in the test.
"""
from __future__ import annotations

import functools
import logging
import re

from resolver.ts import serve, settings
from resolver.ts.authority import Authority
from resolver.ts.load_progress import LoadProgress
from resolver.ts.settings import TsSettings
from resolver.ts.zones import load_sources

from support.zonegen import generate_zone

ORIGIN = "progress.test."
READ = re.compile(r"^loading (\S+): ([\d,]+) records read, [\d.]+ s$")
COMPILED = re.compile(r"^loading (\S+): ([\d,]+) of ([\d,]+) names compiled, [\d.]+ s$")
LOADED = re.compile(r"^loaded (\S+): ([\d,]+) records, ([\d,]+) names in [\d.]+ s$")
HOSTS = 100     # plain address lines, which the fast path compiles


def zone_file(tmp_path):
    """A generated zone with plain address names after it; returns its path and its record count."""
    text = generate_zone(17, 3).text(ORIGIN) + "".join(f"host{i} A 192.0.2.{i}\n" for i in range(HOSTS))
    path = tmp_path / "progress.zone"
    path.write_text(text)
    records = sum(1 for line in text.splitlines() if line and not line.startswith((";", "$")))
    return path, records


def messages(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "resolver.ts"]


def number(text: str) -> int:
    return int(text.replace(",", ""))


def every(records: int) -> functools.partial:
    """Progress whose every look at the clock, once every ``records``, finds a line due."""
    return functools.partial(LoadProgress, interval=0.0, every=records)


def test_a_long_load_logs_records_read_and_names_compiled_as_they_grow_then_the_totals(tmp_path, caplog):
    path, records = zone_file(tmp_path)
    with caplog.at_level(logging.INFO, logger="resolver.ts"):
        authority = Authority(load_sources([path], [], every(8)))
    lines = messages(caplog)
    read = [READ.match(line) for line in lines if line.startswith("loading") and "read" in line]
    compiled = [COMPILED.match(line) for line in lines if line.startswith("loading") and "compiled" in line]
    assert all(read) and all(compiled), lines
    assert {m[1] for m in read + compiled} == {str(path)}
    read_counts = [number(m[2]) for m in read]
    assert read_counts == list(range(8, records + 1, 8)), lines       # every 8 records, in order
    compiled_counts = [number(m[2]) for m in compiled]
    assert len(compiled_counts) >= HOSTS // 8 and compiled_counts == sorted(set(compiled_counts)), lines
    total = number(compiled[0][3])
    assert all(count <= total for count in compiled_counts)
    last = LOADED.match(lines[-1])
    assert last is not None, lines
    size = next(iter(authority.zones.values())).size
    assert (last[1], number(last[2]), number(last[3])) == (str(path), records, size)
    assert lines.index(lines[-1]) > max(lines.index(m[0]) for m in read + compiled)


def test_a_long_table_load_logs_its_lines_read(tmp_path, caplog):
    table = tmp_path / "hosts.txt"
    table.write_text("".join(f"h{i}.example 192.0.2.{i} A\n" for i in range(30)))
    with caplog.at_level(logging.INFO, logger="resolver.ts"):
        Authority(load_sources([], [table], every(10)))
    lines = messages(caplog)
    assert [number(m[2]) for m in map(READ.match, lines) if m] == [10, 20, 30], lines
    assert LOADED.match(lines[-1]) and " 30 records, 31 names " in lines[-1], lines


def test_the_ts_loads_with_the_settings_interval_and_a_short_load_logs_no_progress(tmp_path, caplog):
    assert serve.LOAD_PROGRESS.keywords == {"interval": settings.LOAD_PROGRESS_INTERVAL,
                                            "every": settings.LOAD_PROGRESS_RECORDS}
    assert settings.LOAD_PROGRESS_INTERVAL >= 2     # no lines for loads of a second or two
    path, _ = zone_file(tmp_path)
    with caplog.at_level(logging.INFO, logger="resolver.ts"):
        serve.load(TsSettings(zones=(path,)))
    assert not [line for line in messages(caplog) if line.startswith(("loading", "loaded"))]
