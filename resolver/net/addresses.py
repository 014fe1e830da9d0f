"""Addresses as users write them: ``ADDR:PORT``, ``[IPv6]:PORT`` or a bare port."""
from __future__ import annotations

import ipaddress
import socket
from typing import Iterable


def parse_hostport(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``127.0.0.1:53``, ``[::1]:53``, ``[fe80::1%eth0]:53`` (an IPv6 address scoped to an interface,
    by name or index, RFC 4007 11), ``localhost:53`` or a bare port (on loopback). Raises ValueError
    for any other text, and for a scope that names no interface here."""
    text = text.strip()
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"expected [IPv6]:PORT, got {text!r}")
        if "%" in host:
            scoped(host, text)
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    elif text.isdigit():
        host, port = default_host, text
    else:
        raise ValueError(f"expected ADDR:PORT, got {text!r}")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"bad port in {text!r}")
    return host or default_host, int(port)


def scoped(host: str, text: str) -> tuple[str, int]:
    """A scoped IPv6 literal (``fe80::1%eth0``, ``::1%lo``, ``fe80::1%2``) split into its address
    and its interface's index. Raises ValueError when ``host`` is not one, or its interface does
    not exist (``text``, the whole argument, names it in the message)."""
    address, _, scope = host.partition("%")
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        raise ValueError(f"not an IPv6 address before its %scope: {text!r}") from None
    if scope.isdigit():
        return address, int(scope)
    try:
        return address, socket.if_nametoindex(scope)
    except OSError:
        raise ValueError(f"no network interface {scope!r} here: {text!r}") from None


def socket_address(host: str, port: int) -> tuple:
    """The address a socket binds or connects to: ``(host, port)``, or ``(address, port, 0, index)``
    for a scoped IPv6 literal, since Python leaves the scope of one given as ``(host, port)`` unset
    (a link-local bind then fails with EINVAL, and glibc refuses ``::1%lo`` outright). Raises
    ValueError as :func:`scoped` does."""
    if "%" not in host:
        return host, port
    address, index = scoped(host, host)
    return address, port, 0, index


def format_hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def address_family(host: str) -> socket.AddressFamily:
    """AF_INET6 for an IPv6 literal, else AF_INET (hostnames resolve to IPv4)."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def is_wildcard(host: str) -> bool:
    """Whether ``host`` is the unspecified address, ``0.0.0.0`` or ``::`` (every local address)."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False            # a hostname


def ipv4_on_port(port: int, addresses: Iterable[tuple[str, int]]) -> bool:
    """Whether one of a server's ``addresses`` is IPv4 on ``port`` (never for port 0, which
    each address picks for itself): then its IPv6 sockets on that port take IPv6 only
    (IPV6_V6ONLY), so that ``[::]:P`` is bound beside ``0.0.0.0:P`` or ``127.0.0.1:P``."""
    return port != 0 and any(p == port and address_family(h) == socket.AF_INET for h, p in addresses)


def client_address(peer: tuple) -> tuple:
    """A peer's address as the server reports it: an IPv4-mapped IPv6 address (``::ffff:192.0.2.1``,
    an IPv4 client of a dual-stack ``[::]`` socket, RFC 4291 2.5.5.2) becomes ``(IPv4, port)``;
    any other is returned as it is."""
    host = peer[0]
    if host.startswith("::ffff:") and "." in host:
        return host[7:], peer[1]
    return peer
