"""Which clients the LS answers: an allow-list of networks, the rest REFUSED.

The default is dnsdist's: loopback, the private and link-local ranges, and
carrier-grade NAT, so an LS started on a public address is not an open
resolver. Decisions are cached per client address (a bounded cache, cleared
when full), since parsing an address costs more than the rest of a query.
"""
from __future__ import annotations

import ipaddress
from typing import Iterable

DEFAULT_ALLOW = ("127.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12",
                 "192.168.0.0/16", "::1/128", "fc00::/7", "fe80::/10")
CACHE_LIMIT = 65536

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(texts: Iterable[str]) -> list[Network]:
    """Networks from CIDR text; a bare address is a network of one. Raises ValueError."""
    return [ipaddress.ip_network(text, strict=False) for text in texts]


class AccessList:
    """Answers whether a client address may be served."""

    def __init__(self, networks: Iterable[Network]) -> None:
        self.networks = list(networks)
        self._cache: dict[str, bool] = {}

    def allows(self, host: str) -> bool:
        allowed = self._cache.get(host)
        if allowed is None:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            address = ipaddress.ip_address(host.split("%", 1)[0])     # drop an IPv6 zone index
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                address = address.ipv4_mapped
            allowed = self._cache[host] = any(address in network for network in self.networks)
        return allowed
