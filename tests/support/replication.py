"""Zones, peers and TSIG keys for the real primaries and secondaries the tests start.

:class:`ServedZone` says what a server (:class:`support.nsd.Nsd`,
:class:`support.knot.Knot`) does with one zone: serve it from a master file
(a primary, sending NOTIFY to and allowing transfers by its ``secondaries``),
or fill it by transfer from its ``primaries`` (a secondary, taking NOTIFY from
them). Each server writes these in its own config syntax. :func:`axfr_rrsets`
and :func:`rrsets_of` read a zone back for comparison.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import dns.name
import dns.query
import dns.rdataset
import dns.tsig
import dns.xfr
import dns.zone

from resolver.ts.tsig import ALGORITHMS


@dataclass(frozen=True)
class TsigKey:
    """A TSIG key (RFC 8945): ``name`` as in the configs, ``secret`` in base64, ``algorithm`` as
    NSD, Knot and the TS's config name it (``hmac-md5`` … ``hmac-sha512``)."""

    name: str
    secret: str
    algorithm: str = "hmac-sha256"

    @staticmethod
    def fresh(name: str, seed: bytes = b"") -> "TsigKey":
        """A key named ``name`` with a 32-octet secret derived from ``name`` and ``seed``."""
        raw = (name.encode() + seed + b"-secret-" * 4)[:32]
        return TsigKey(name, base64.b64encode(raw).decode())

    def keyring(self) -> dict[dns.name.Name, dns.tsig.Key]:
        """A dnspython keyring with this key alone."""
        return {dns.name.from_text(self.name): dns.tsig.Key(self.name, self.secret, ALGORITHMS[self.algorithm])}

    def toml(self) -> str:
        """The ``[key.NAME]`` table of a TS ``--config`` file for this key."""
        return f'[key."{self.name}"]\nsecret = "{self.secret}"\nalgorithm = "{self.algorithm}"\n'


@dataclass(frozen=True)
class Peer:
    """Another server: its address, and the name of the :class:`TsigKey` used with it (None: no key).

    A secondary with ``port`` None may transfer the zone but is sent no NOTIFY
    (a test reading a server's copy).
    """

    host: str
    port: int | None
    key: str | None = None

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ServedZone:
    """One zone of a test server.

    ``file``: the master file a primary serves (None: a secondary zone, filled
    by transfer from ``primaries``; the server keeps its copy in its workdir).
    ``primaries``: where a secondary transfers the zone from and whose NOTIFY
    it takes. ``secondaries``: who may transfer the zone and is sent NOTIFY on
    every change. ``options``: more lines for the zone's clause, verbatim in the
    server's own syntax. A secondary zone may have secondaries too.
    """

    name: str
    file: Path | None = None
    primaries: tuple[Peer, ...] = ()
    secondaries: tuple[Peer, ...] = ()
    options: tuple[str, ...] = ()

    @property
    def origin(self) -> str:
        return self.name if self.name.endswith(".") else self.name + "."


def axfr_rrsets(address: tuple[str, int], zone: str, key: TsigKey | None = None,
                timeout: float = 5.0) -> dict[tuple[str, int], tuple[int, frozenset[str]]]:
    """Every RRset of ``zone`` as served at ``address``, read by AXFR (RFC 5936).

    Raises what :func:`dns.query.inbound_xfr` raises (refused, timed out, bad TSIG).
    """
    z = dns.zone.Zone(zone)
    query, _ = dns.xfr.make_query(z, keyring=key.keyring() if key else None,
                                  keyname=key.name if key else None)
    dns.query.inbound_xfr(address[0], z, query, port=address[1], timeout=timeout, lifetime=timeout)
    return rrsets_of(z)


def rrsets_of(zone: dns.zone.Zone) -> dict[tuple[str, int], tuple[int, frozenset[str]]]:
    """``(absolute owner, rdtype) -> (TTL, {rdata text})`` of a dnspython zone, all in lower case."""
    out: dict[tuple[str, int], tuple[int, frozenset[str]]] = {}
    for name, node in zone.nodes.items():
        owner = name.derelativize(zone.origin).to_text().lower()
        rdataset: dns.rdataset.Rdataset
        for rdataset in node.rdatasets:
            out[(owner, rdataset.rdtype)] = (rdataset.ttl, frozenset(
                rd.to_text(origin=zone.origin, relativize=False).lower() for rd in rdataset))
    return out
