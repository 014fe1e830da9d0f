"""What the TS is told: every default of the TS lives here, once.

The command line (:mod:`resolver.cli`) and ``--config`` files build a
:class:`TsSettings`; :func:`resolver.ts.serve.load` reads the zones it names.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Union

import dns.name

if TYPE_CHECKING:
    import dns.tsig

    from .zones import ZoneFile

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

# Secondary zones (resolver.ts.secondary), in seconds.
SOA_QUERY_TIMEOUT = 5.0     # a refresh's SOA query to one primary (UDP, then TCP when truncated)
TRANSFER_IDLE_TIMEOUT = 10.0    # an inbound AXFR or IXFR: to connect, and between two reads (NSD 120, Knot 5)
FIRST_RETRY = 5.0           # between attempts while a zone has no copy (no SOA to give its retry)
SHORTEST_TIMER = 1.0        # the least refresh or retry taken from a zone's SOA

# Zone transfers out (resolver.ts.provide), and the NOTIFY this TS sends (resolver.ts.notify).
TRANSFER_MESSAGE_OCTETS = 16384     # a transfer's messages at most, TSIG included, as NSD's (RFC 5936 2.2)
TRANSFERS_AT_ONCE = 10              # transfers out in progress at once; past that REFUSED, as a busy xfrd
IXFR_VERSIONS = 100                 # differences kept per zone for IXFR (RFC 1995), and no more octets than the zone
NOTIFY_TRIES = 5                    # NOTIFY sent this often to a silent secondary, as NSD (RFC 1996 3.6)
NOTIFY_TIMEOUT = 2.0                # seconds to wait for each NOTIFY's answer (NSD waits 15)
TSIG_FUDGE = 300                    # seconds of clock skew a TSIG signature allows (RFC 8945 10)

# Long loads (resolver.ts.load_progress): a line this often, in seconds, while a zone is read and compiled;
# the clock is looked at once every LOAD_PROGRESS_RECORDS records, off the per-record cost.
LOAD_PROGRESS_INTERVAL = 5.0
LOAD_PROGRESS_RECORDS = 8192


@dataclass(frozen=True)
class Remote:
    """Another server this TS transfers zones with: a primary it asks, or a secondary it notifies.

    ``key``: the name of the TSIG key (RFC 8945) that signs the messages to it and
    must sign its replies, as named in the config's ``[key.NAME]`` tables; ``None``: unsigned.
    """

    host: str
    port: int
    key: str | None = None


@dataclass(frozen=True)
class SecondaryZone:
    """A zone served as a secondary (RFC 1996's slave): transferred from ``primaries``, tried in order."""

    name: dns.name.Name
    primaries: tuple[Remote, ...]


@dataclass(frozen=True)
class TransferAcl:
    """Who may transfer zones out of this TS: clients in ``network`` (``None``: any address) and,
    when ``key`` is given, only with a request signed by that TSIG key (NSD's ``provide-xfr: NETWORK KEY``)."""

    network: Network | None
    key: str | None = None


@dataclass(frozen=True)
class TsSettings:
    """Everything the TS is told, apart from where it listens.

    ``zones``: RFC 1035 master files, each a path or a :class:`~resolver.ts.zones.ZoneFile`
    that may name its zone; ``tables``: ``hostname IP A`` tables, each
    served as the root zone; ``table_ptr``: the tables' addresses get PTR records, as dnsmasq
    gives its hosts files; ``round_robin``: the records of each answer's RRsets turn on
    successive queries (NSD's ``round-robin: yes``, :mod:`resolver.ts.rotation`); ``silent_miss``: reply only with positive answers
    (the assignment's TS); ``query_log``: ``-`` for stderr or a file (``None``: off).

    Replication: ``secondaries``: zones transferred in from primaries;
    ``allow_transfer``: who may transfer zones out (nobody by default);
    ``notify``: secondaries sent a NOTIFY (RFC 1996) whenever a zone changes;
    ``keys``: the TSIG keys by name, from the config file only (never the
    command line, where any user's ``ps`` would show them); ``zone_dir``: where
    secondary zones are saved, so a restart serves them at once (``None``: kept in memory only).
    """

    zones: tuple[Path | ZoneFile, ...] = ()
    tables: tuple[Path, ...] = ()
    table_ptr: bool = False
    round_robin: bool = False
    silent_miss: bool = False
    query_log: str | None = None
    secondaries: tuple[SecondaryZone, ...] = ()
    allow_transfer: tuple[TransferAcl, ...] = ()
    notify: tuple[Remote, ...] = ()
    keys: Mapping[str, dns.tsig.Key] = field(default_factory=dict)
    zone_dir: Path | None = None
