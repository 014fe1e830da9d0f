"""The demo: TS1 and TS2 on the tables in ``zones/``, the LS in front, the client on the list.

Everything runs in one process on loopback ports the system picks, and stops
when the list is resolved.
"""
from __future__ import annotations

import logging
from pathlib import Path

from .ts.authority import Authority
from .client.resolver import Resolution, Resolver, read_hostnames
from .ls.balancer import LoadBalancer, LsSettings
from .net.listening import listen
from .ts.server import AuthoritativeServer
from .wire import NXDOMAIN
from .ts.zones import load_table

log = logging.getLogger("resolver.demo")
ZONES = Path(__file__).resolve().parent.parent / "zones"


async def run_demo(zones: Path = ZONES, out: Path = Path("RESOLVED.txt"), timeout: float = 5.0) -> list[Resolution]:
    """Resolve ``zones/hostnames.txt`` through the whole system and write ``out``."""
    listeners = []
    balancer = None
    try:
        backends = []
        for name in ("ts1", "ts2"):
            table = zones / f"{name}.txt"
            server = AuthoritativeServer(Authority([load_table(table)]))
            listener = await listen("127.0.0.1", 0, server.handle)
            listeners.append(listener)
            backends.append((listener.host, listener.port))
            log.info("%s listening on %s, serving %s", name.upper(), listener, table)
        balancer = await LoadBalancer.connect(LsSettings(tuple(backends), timeout, NXDOMAIN))
        ls = await listen("127.0.0.1", 0, balancer.handle)
        balancer.start_probes()
        listeners.append(ls)
        log.info("LS  listening on %s, racing TS1 and TS2 (timeout %g s)", ls, timeout)
        hostnames = read_hostnames((zones / "hostnames.txt").read_text(encoding="utf-8"))
        results = await Resolver(ls.host, ls.port).resolve_all(hostnames)
    finally:
        for listener in listeners:
            listener.close()
        if balancer is not None:
            balancer.close()
    lines = [line for result in results for line in result.lines()]
    out.write_text("".join(line + "\n" for line in lines))
    for line in lines:
        print(line)
    log.info("wrote %d lines for %d names to %s", len(lines), len(results), out)
    return results
