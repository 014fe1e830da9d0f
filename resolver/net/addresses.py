"""Addresses as users write them: ``ADDR:PORT``, ``[IPv6]:PORT`` or a bare port."""
from __future__ import annotations

import socket


def parse_hostport(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``127.0.0.1:53``, ``[::1]:53``, ``localhost:53`` or a bare port (on loopback)."""
    text = text.strip()
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"expected [IPv6]:PORT, got {text!r}")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    elif text.isdigit():
        host, port = default_host, text
    else:
        raise ValueError(f"expected ADDR:PORT, got {text!r}")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"bad port in {text!r}")
    return host or default_host, int(port)


def format_hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def address_family(host: str) -> socket.AddressFamily:
    """AF_INET6 for an IPv6 literal, else AF_INET (hostnames resolve to IPv4)."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET
