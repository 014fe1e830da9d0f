"""Zone files for tests, and a real NSD and our TS serving the same ones, for the conformance tests
that compare them: writing the files, starting both servers, and asking both the same questions."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Iterable, Iterator

from support.differential import Case, compare, exchange, mismatch_report
from support.nsd import Nsd
from support.servers import Server
from support.tools import require_tool


def write_zone_files(folder: Path, texts: dict[str, str]) -> list[Path]:
    """One ``ORIGINzone`` file in ``folder`` per origin (absolute, with its dot) of ``texts``."""
    paths = []
    for origin, text in texts.items():
        path = folder / f"{origin}zone"
        path.write_text(text)
        paths.append(path)
    return paths


def small_zone(directory: Path, origin: str, *records: str) -> Path:
    """``directory/ORIGIN.zone``: a master file for ``origin`` (no dot) with an SOA, NS ``ns`` and its
    address, then ``records``, one a line (owners relative to the origin or absolute)."""
    path = directory / f"{origin}.zone"
    path.write_text(f"$ORIGIN {origin}.\n$TTL 300\n@ IN SOA ns hostmaster 1 7200 900 1209600 60\n"
                    f"@ IN NS ns\nns IN A 192.0.2.53\n" + "".join(f"{record}\n" for record in records))
    return path


@contextlib.contextmanager
def nsd_serving(workdir: Path, zone_files: list[Path]) -> Iterator[Nsd]:
    """A real NSD (working in ``workdir``) serving ``zone_files`` on loopback, stopped afterwards."""
    server = Nsd(require_tool("nsd"), workdir, zone_files)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def ts_serving(zone_files: list[Path]) -> Iterator[Server]:
    """``python -m resolver ts`` serving ``zone_files`` on a free loopback port, stopped afterwards."""
    server = Server(["ts", *[arg for path in zone_files for arg in ("--zone", str(path))], "--listen", "127.0.0.1:0"])
    try:
        yield server
    finally:
        server.stop()


def both(case: Case, nsd: Nsd, ts: Server) -> tuple[bytes | None, bytes | None]:
    """NSD's reply and the TS's reply to the same query bytes."""
    wire = case.wire()
    return exchange(wire, nsd.address), exchange(wire, (ts.host, ts.port))


def differences(cases: Iterable[Case], nsd: Nsd, ts: Server,
                adjust: Callable[[Case, bytes], bytes] | None = None) -> list[str]:
    """A report for each case whose replies differ, field by field (``support.differential.compare``).
    ``adjust`` rewrites NSD's reply first: takes out what the TS is known not to serve."""
    problems = []
    for case in cases:
        reference, ours = both(case, nsd, ts)
        if adjust is not None and reference is not None:
            reference = adjust(case, reference)
        diffs = compare(reference, ours)
        if diffs:
            problems.append(mismatch_report(case, diffs, "NSD", reference, "TS", ours))
    return problems
