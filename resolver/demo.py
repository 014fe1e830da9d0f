"""The demo: TS1 and TS2 on the tables in ``zones/``, the LS in front, the client on the list.

Everything runs in one process on loopback ports the system picks, and stops
when the list is resolved.
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from .client.resolver import Resolution, Resolver, read_hostnames
from .client.settings import ClientSettings
from .ls.serve import started as ls_started
from .ls.settings import LsSettings
from .ts.serve import started as ts_started
from .ts.settings import TsSettings

log = logging.getLogger("resolver.demo")
ZONES = Path(__file__).resolve().parent.parent / "zones"


async def run_demo(zones: Path = ZONES, out: Path = ClientSettings.out) -> list[Resolution]:
    """Resolve ``zones/hostnames.txt`` through the whole system, print the lines and write ``out``.

    ``zones`` holds ``ts1.txt``, ``ts2.txt`` and ``hostnames.txt``. Raises
    :class:`~resolver.ts.zones.ZoneError` for a broken table and OSError for an
    unreadable file.
    """
    async with contextlib.AsyncExitStack() as stack:
        backends = []
        for name in ("ts1", "ts2"):
            table = zones / f"{name}.txt"
            _, listener = await stack.enter_async_context(ts_started(TsSettings(tables=(table,))))
            backends.append((listener.host, listener.port))
            log.info("%s listening on %s, serving %s", name.upper(), listener, table)
        settings = LsSettings(tuple(backends))
        _, ls = await stack.enter_async_context(ls_started(settings))
        log.info("LS  listening on %s, racing TS1 and TS2 (timeout %g s)", ls, settings.timeout)
        hostnames = read_hostnames((zones / "hostnames.txt").read_text(encoding="utf-8"))
        results = await Resolver(ls.host, ls.port).resolve_all(hostnames)
    lines = [line for result in results for line in result.lines()]
    out.write_text("".join(line + "\n" for line in lines))
    for line in lines:
        print(line)
    log.info("wrote %d lines for %d names to %s", len(lines), len(results), out)
    return results
