"""Which sockets a server's addresses get: wildcards, IPv6-only sockets, and IPv4-mapped clients."""
from __future__ import annotations

import pytest

from resolver.net.addresses import client_address, ipv4_on_port, is_wildcard


@pytest.mark.parametrize("host,wildcard", [
    ("0.0.0.0", True), ("::", True), ("0:0::0", True),
    ("127.0.0.1", False), ("::1", False), ("localhost", False),
])
def test_only_the_unspecified_address_is_a_wildcard(host, wildcard):
    assert is_wildcard(host) is wildcard


def test_an_ipv6_socket_takes_ipv6_only_beside_ipv4_on_its_port():
    assert ipv4_on_port(53, [("::", 53), ("0.0.0.0", 53)])
    assert ipv4_on_port(53, [("::", 53), ("localhost", 53)])       # a hostname is IPv4
    assert not ipv4_on_port(53, [("::", 53)])
    assert not ipv4_on_port(53, [("::", 53), ("0.0.0.0", 5353), ("::1", 53)])
    assert not ipv4_on_port(0, [("::", 0), ("0.0.0.0", 0)])       # each picks a port of its own


def test_an_ipv4_mapped_client_is_its_ipv4_address():
    assert client_address(("::ffff:192.0.2.1", 5300, 0, 0)) == ("192.0.2.1", 5300)
    assert client_address(("2001:db8::ffff:1", 5300, 0, 0)) == ("2001:db8::ffff:1", 5300, 0, 0)
    assert client_address(("192.0.2.1", 5300)) == ("192.0.2.1", 5300)
