"""What the client is told: every default of ``client`` lives here, once.

The command line (:mod:`resolver.cli`) builds a :class:`ClientSettings`; the
flags' help strings print these defaults.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..ls.settings import LsSettings

# Each name in flight holds a UDP socket, and so a local port: Linux's default
# ephemeral range (net.ipv4.ip_local_port_range, 32768 to 60999) has 28,232.
MAX_CONCURRENCY = 28_232


@dataclass(frozen=True)
class ClientSettings:
    """How the client asks and what it writes.

    ``timeout``: seconds per name, retries included, longer than the LS's own
    timeout so that its timeout answer arrives; ``concurrency``: names in flight
    at once (fewer if the open-files limit is lower); ``rdtype``: the record type
    asked; ``format``: ``text`` (RESOLVED.txt lines) or ``json``; ``out``: the
    file written; ``explain_timeout``: seconds ``--explain`` waits for each backend.
    """

    timeout: float = LsSettings.timeout + 2.0
    concurrency: int = 1000
    rdtype: str = "A"
    format: str = "text"
    out: Path = Path("RESOLVED.txt")
    explain_timeout: float = 2.0     # a backend on a working network answers in milliseconds
