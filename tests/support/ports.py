"""Loopback ports for tests."""
from __future__ import annotations

import socket

HOST = "127.0.0.1"


def free_port(host: str = HOST, attempts: int = 50) -> int:
    """A port on ``host`` with nothing bound to it for UDP or TCP at the time of asking.

    Used for an address that nobody answers on (a closed port), or for a server
    that is told its port in advance (NSD). Tries at most ``attempts`` ports.
    """
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
        return port
    raise RuntimeError(f"no port free for UDP and TCP on {host} in {attempts} attempts")
