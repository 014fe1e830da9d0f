"""Network namespaces for tests that need hosts of their own: made, joined, cut, and always removed.

Every namespace's name holds the test process's PID and random hex
(:func:`unique`), so two runs at once, or one after a run that crashed and left
its namespaces behind, never meet. Interfaces are created straight inside
their namespaces (``ip link add … netns NS``), so a :class:`Network` puts
nothing in the machine's own namespace (:func:`veth_to_root` puts one end of
one link there, named by random hex): deleting a namespace deletes its ends of
every link. Addresses are from 198.18.0.0/15 (RFC 2544, benchmarking).

- :class:`Namespace`: one namespace with ``lo`` up. :attr:`Namespace.prefix`
  runs a command inside it (``ip netns exec NAME``; the command keeps its PID,
  so it is stopped by that PID), :meth:`Namespace.run` runs one to its end,
  and :meth:`Namespace.call` runs Python code in a thread that has entered the
  namespace (``setns(2)``), so sockets it opens and processes it starts
  (an ``Nsd``) are inside: a readiness check is a real query from there.
- :func:`namespace`: a context manager that deletes the namespace at its end,
  on failure too, and on SIGTERM (``kill``, a CI job's timeout), which it
  turns into KeyboardInterrupt, as Ctrl-C, while a namespace exists: by default
  SIGTERM ends the run at once, leaving the namespaces and the servers in them.
- :func:`veth_to_root`: a namespace joined to the machine's namespace by a
  veth pair, for a test that talks to a server across a real link.
- :class:`Network`: a "switch" namespace holding a bridge, and hosts, each a
  namespace with one veth port on it (``eth0``, one address of the subnet);
  :meth:`Network.cut` takes a host's port down (its cable pulled) and up again.
  :func:`network` removes everything at its end.
"""
from __future__ import annotations

import concurrent.futures
import ctypes
import ipaddress
import os
import secrets
import signal
import subprocess
import threading
from contextlib import ExitStack, contextmanager
from typing import Callable, Iterator, TypeVar

from support.tools import require_root, require_tool

T = TypeVar("T")

NETNS_DIR = "/run/netns"        # where ``ip netns add`` keeps a namespace's handle
CLONE_NEWNET = 0x40000000       # <sched.h>: setns(2) into a network namespace
IP_TIMEOUT = 30.0               # seconds one ``ip`` command may take
SUBNET = "198.18.0.0/24"        # the default for a Network's hosts

_libc = ctypes.CDLL(None, use_errno=True)


def ip(*args: str) -> None:
    """Run ``ip ARGS``; RuntimeError with its stderr when it fails."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")


def unique(tag: str) -> str:
    """``TAG-PID-HEX``: a name no other run (at once, or crashed earlier) has used."""
    return f"{tag}-{os.getpid()}-{secrets.token_hex(3)}"


def require_netns() -> None:
    """Skip the test unless it runs as root with ``ip``; fail instead in CI (:mod:`support.tools`)."""
    require_root()
    require_tool("ip")


def _enter(name: str) -> None:
    """Move the calling thread (only it) into network namespace ``name``."""
    fd = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns into {name}: {os.strerror(errno)}")
    finally:
        os.close(fd)


class Namespace:
    """A network namespace made by :func:`namespace`, its ``lo`` up.

    ``address``: the host's address on a :class:`Network`, else None.
    """

    def __init__(self, name: str, address: str | None = None) -> None:
        self.name = name
        self.address = address

    @property
    def prefix(self) -> list[str]:
        """The argv that runs a command inside: ``[*ns.prefix, "dig", …]``."""
        return ["ip", "netns", "exec", self.name]

    def run(self, *argv: str, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside, to its end (at most ``timeout`` seconds, else TimeoutExpired);
        its output as text."""
        return subprocess.run([*self.prefix, *argv], capture_output=True, text=True, timeout=timeout)

    def call(self, fn: Callable[..., T], *args, **kwargs) -> T:
        """``fn(*args, **kwargs)`` in a thread inside this namespace; its result, or its exception.

        Sockets opened and processes started there belong to the namespace, and
        stay there once the call returns.
        """
        with concurrent.futures.ThreadPoolExecutor(1, initializer=_enter, initargs=(self.name,)) as pool:
            return pool.submit(fn, *args, **kwargs).result()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


@contextmanager
def _terminate_unwinds() -> Iterator[None]:
    """For the block, SIGTERM raises KeyboardInterrupt (in the main thread, where Python handles
    signals), so the blocks around it unwind as on Ctrl-C; the handler before it comes back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


@contextmanager
def namespace(name: str, address: str | None = None) -> Iterator[Namespace]:
    """A new namespace called ``name`` (see :func:`unique`) with ``lo`` up, deleted at the end,
    SIGTERM included (see the module's docstring)."""
    with _terminate_unwinds():
        ip("netns", "add", name)
        try:
            ip("-n", name, "link", "set", "lo", "up")
            yield Namespace(name, address)
        finally:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=IP_TIMEOUT)


@contextmanager
def veth_to_root(ns: Namespace, root_address: str, ns_address: str, prefixlen: int = 30) -> Iterator[str]:
    """A veth pair between the machine's namespace (``root_address``) and ``ns`` (``ns_address``).

    Yields the name of the machine's end, for ``ip link set NAME down``; the
    pair is deleted at the end (deleting the namespace would delete it too).
    """
    root_end = f"v{secrets.token_hex(5)}"
    ip("link", "add", root_end, "type", "veth", "peer", "name", "eth0", "netns", ns.name)
    try:
        ip("addr", "add", f"{root_address}/{prefixlen}", "dev", root_end)
        ip("link", "set", root_end, "up")
        ip("-n", ns.name, "addr", "add", f"{ns_address}/{prefixlen}", "dev", "eth0")
        ip("-n", ns.name, "link", "set", "eth0", "up")
        yield root_end
    finally:
        subprocess.run(["ip", "link", "del", root_end], capture_output=True, timeout=IP_TIMEOUT)


class Network:
    """A bridge in a switch namespace and hosts on it, one subnet (made by :func:`network`).

    Every namespace's name starts with :attr:`prefix`, ``TAG-PID-HEX``. Each host is a
    namespace whose ``eth0`` is joined by a veth pair to the bridge's port ``p-LABEL`` in the
    switch namespace; :attr:`hosts` holds them by label.
    """

    def __init__(self, stack: ExitStack, tag: str, subnet: str) -> None:
        self._stack = stack
        self.prefix = unique(tag)
        self._subnet = ipaddress.ip_network(subnet)
        self._free = self._subnet.hosts()
        self.switch = stack.enter_context(namespace(f"{self.prefix}-switch"))
        ip("-n", self.switch.name, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch.name, "link", "set", "br0", "up")
        self.hosts: dict[str, Namespace] = {}

    def add(self, label: str) -> Namespace:
        """A new host ``label`` (at most 12 characters) with the subnet's next address."""
        address = str(next(self._free))
        host = self._stack.enter_context(namespace(f"{self.prefix}-{label}", address))
        port, switch = f"p-{label}", self.switch.name
        ip("-n", switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", host.name)
        ip("-n", switch, "link", "set", port, "master", "br0")
        ip("-n", switch, "link", "set", port, "up")
        ip("-n", host.name, "addr", "add", f"{address}/{self._subnet.prefixlen}", "dev", "eth0")
        ip("-n", host.name, "link", "set", "eth0", "up")
        self.hosts[label] = host
        return host

    def _port(self, host: Namespace, state: str) -> None:
        label = next(label for label, h in self.hosts.items() if h is host)
        ip("-n", self.switch.name, "link", "set", f"p-{label}", state)

    @contextmanager
    def cut(self, host: Namespace) -> Iterator[None]:
        """``host``'s port on the switch down (no frame in or out) for the block, up again after it."""
        self._port(host, "down")
        try:
            yield
        finally:
            self._port(host, "up")


@contextmanager
def network(tag: str, subnet: str = SUBNET) -> Iterator[Network]:
    """A :class:`Network` whose namespaces are all deleted at the end, on failure too.

    Skips (or fails in CI) without root or ``ip``.
    """
    require_netns()
    with ExitStack() as stack:
        yield Network(stack, tag, subnet)
