"""The workload: the split-DNS zone ``bench.`` and the dnsperf query files.

Name number ``i`` is ``h{i:07d}.bench`` with address ``address_of(i)``; TS1
holds the even numbers, TS2 the odd ones, and ``m{i:07d}.bench`` names exist
nowhere. So any answer can be checked by arithmetic (``expected_address``).
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence


ORIGIN = "bench."


def address_of(index: int) -> str:
    """The address of name number ``index``: derived, so every answer can be checked by arithmetic."""
    return f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"


def hit_name(index: int) -> str:
    """Name number ``index``, which exists (on TS1 when even, on TS2 when odd)."""
    return f"h{index:07d}.bench"


def miss_name(index: int) -> str:
    """A name that exists on no server: every answer for it must be NXDOMAIN."""
    return f"m{index:07d}.bench"


def expected_address(name: str) -> str | None:
    """The address a hit name must resolve to; None for a name that exists nowhere."""
    label = name.split(".", 1)[0]
    if label.startswith("h") and label[1:].isdigit():
        return address_of(int(label[1:]))
    return None


ZONE_HEADER = (
    f"$ORIGIN {ORIGIN}\n$TTL 300\n"
    "@ IN SOA ns1.bench. hostmaster.bench. 1 3600 900 604800 60\n"
    "@ IN NS ns1\n"
    "ns1 IN A 127.0.0.1\n"
)


CHUNK = 50000       # lines written at once


def write_zone(path: Path, indices: Iterable[int]) -> int:
    """A master file for ``bench.`` with one A record per index; returns the records (the header's not counted)."""
    return write_lines(path, (f"h{index:07d} IN A {address_of(index)}\n" for index in indices))


def write_lines(path: Path, lines: Iterable[str]) -> int:
    """A master file of ``ZONE_HEADER`` then ``lines`` (one or more records each, newline-ended), written
    in chunks to stay fast at a million records; returns the records of ``lines``."""
    count = 0
    with path.open("w") as out:
        out.write(ZONE_HEADER)
        chunk: list[str] = []
        for line in lines:
            chunk.append(line)
            count += line.count("\n")
            if len(chunk) >= CHUNK:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))
    return count


def write_queries(path: Path, names: Sequence[str]) -> None:
    """dnsperf's input format: ``name type`` a line."""
    path.write_text("".join(f"{name} A\n" for name in names))


def mixed_queries(ts1: Sequence[str], ts2: Sequence[str], misses: Sequence[str], count: int,
                  rng: random.Random) -> list[str]:
    """The issue's mix: 45% names on TS1, 45% on TS2, 10% missing, shuffled with a fixed seed."""
    n1 = n2 = round(count * 0.45)
    queries = ([rng.choice(ts1) for _ in range(n1)] + [rng.choice(ts2) for _ in range(n2)]
               + [rng.choice(misses) for _ in range(count - n1 - n2)])
    rng.shuffle(queries)
    return queries


@dataclass
class SplitData:
    """The split-DNS zone files and query files, and which names TS1 holds.

    ``sample`` and ``sample_after``: the first and last names of the mix, checked
    before and after the load runs; ``miss_sample``: misses checked through
    the LS; ``warm_file``: each name of the mix once, in the order first asked,
    to teach a learning LS every name's owner; ``seconds``: how long writing it all took.
    """
    ts1_zone: Path
    ts2_zone: Path
    ts1_names: frozenset[str]
    mix_file: Path
    miss_file: Path
    warm_file: Path
    sample: list[str]
    sample_after: list[str]
    miss_sample: list[str]
    seconds: float


def make_split(workdir: Path, names: int, queries: int, sample: int, seed: int) -> SplitData:
    """TS1 gets the even-numbered names and TS2 the odd ones; misses are names neither holds."""
    started = time.monotonic()
    rng = random.Random(seed)
    even, odd = range(0, names, 2), range(1, names, 2)
    ts1_zone, ts2_zone = workdir / "ts1.bench.zone", workdir / "ts2.bench.zone"
    write_zone(ts1_zone, even)
    write_zone(ts2_zone, odd)
    ts1 = [hit_name(i) for i in even]
    ts2 = [hit_name(i) for i in odd]
    misses = [miss_name(i) for i in range(max(1, names // 10))]
    mix = mixed_queries(ts1, ts2, misses, queries, rng)
    mix_file, miss_file, warm_file = workdir / "mix.queries", workdir / "miss.queries", workdir / "warm.queries"
    write_queries(mix_file, mix)
    write_queries(warm_file, list(dict.fromkeys(mix)))
    miss_queries = [rng.choice(misses) for _ in range(queries)]
    write_queries(miss_file, miss_queries)
    return SplitData(ts1_zone, ts2_zone, frozenset(ts1), mix_file, miss_file, warm_file,
                     mix[:sample], mix[-sample:] if sample else [], miss_queries[:max(1, sample // 10)],
                     time.monotonic() - started)
