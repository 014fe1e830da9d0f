"""Static routes: names at or below a domain go only to the backends named for it (``--route``).

As dnsmasq's ``server=/corp.example/10.0.0.1``, systemd-resolved's routing
domains and Unbound's forward zones: ``--route corp.example=ts2`` sends every
name at or below ``corp.example`` to ``ts2`` only. The longest matching domain
wins (``a.corp.example`` routed to ``corp.example``'s backends, not to
``example``'s), ``.`` is the default route, and a name no route covers goes to
every backend. A route may name replica groups (:mod:`resolver.ls.groups`),
which then count as one backend each.

The lookup is by the question's name in wire form, lower-cased (RFC 4343:
DNS names compare without regard to ASCII case), one dict lookup per label.
"""
from __future__ import annotations

from typing import Iterator, Mapping

import dns.name


class Route:
    """One route: the ``domain`` in text form (absolute, as the query log shows it) and the
    ``mask`` of backends (one bit per backend index) its names may go to."""

    __slots__ = ("domain", "mask")

    def __init__(self, domain: str, mask: int) -> None:
        self.domain = domain
        self.mask = mask

    def __repr__(self) -> str:
        return f"Route({self.domain!r}, {self.mask:#x})"


class RouteTable:
    """Routes by domain, looked up by the longest domain at or above a name."""

    def __init__(self, routes: Mapping[str, int]) -> None:
        """``routes``: backend masks by domain in text form (``.`` for the default route).
        Raises :class:`dns.exception.DNSException` for a domain that is not a DNS name."""
        self._by_wire: dict[bytes, Route] = {}
        for domain, mask in routes.items():
            name = dns.name.from_text(domain)
            self._by_wire[name.to_wire().lower()] = Route(name.to_text().lower(), mask)

    def __bool__(self) -> bool:
        return bool(self._by_wire)

    def __len__(self) -> int:
        return len(self._by_wire)

    def __iter__(self) -> Iterator[Route]:
        """The routes, in the order given."""
        return iter(self._by_wire.values())

    def lookup(self, qname: bytes) -> Route | None:
        """The route for ``qname`` (a name in wire form, uncompressed, lower-cased): the one whose
        domain is the longest at or above it, or None when no route covers it."""
        table = self._by_wire
        pos = 0
        while True:
            route = table.get(qname[pos:] if pos else qname)
            if route is not None:
                return route
            length = qname[pos]
            if not length:
                return None
            pos += length + 1
