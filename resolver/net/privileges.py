"""Running as another user: ``--user USER[:GROUP]`` of ``ts`` and ``ls`` (Linux).

Started as root, a server becomes the user once it has read its flags and
config file (which may name the user), before it reads another file or
binds a socket (:func:`become`): supplementary groups (the user's, as
``initgroups(3)`` gives them), then the group, then the user, in that order
(after ``setuid`` there would be no right left to change groups). Of root's
rights it keeps only ``CAP_NET_BIND_SERVICE``, which binding a port below
1024 needs: the right systemd's ``AmbientCapabilities=CAP_NET_BIND_SERVICE``
gives a server started as the user. Each process that serves gives that up
too once its sockets are bound (:func:`settle`); the parent of ``--workers``
keeps it, to start a worker in place of one that dies, which binds its own
sockets (with SO_REUSEPORT, which wants every socket of a port made by the
same user: they all are). So every other file, at start and on every SIGHUP
alike, is opened as the user: zone files, tables, ``--zone-dir``, the query
log and the LS's config file (read again on SIGHUP) must be readable
(writable, for the directory and the log) by it.

Not root, ``--user`` naming the user already running is taken as it is
(a unit with ``User=`` and a config file that says ``user`` too); naming
another is an error, since only root can switch users.
"""
from __future__ import annotations

import argparse
import ctypes
import grp
import logging
import os
import pwd
import sysconfig
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("resolver")

PR_SET_KEEPCAPS = 8                 # prctl(2): keep the permitted capabilities across setuid from root
CAP_NET_BIND_SERVICE = 10           # <linux/capability.h>: bind ports below 1024
CAPABILITY_VERSION_3 = 0x20080522   # _LINUX_CAPABILITY_VERSION_3: two 32-bit words a set


class PrivilegeError(Exception):
    """The user cannot be taken on, or root's rights cannot be given up; the message is one line."""


@dataclass(frozen=True)
class Account:
    """Who ``--user USER[:GROUP]`` names: the user, its IDs, the group's ID (the user's own
    unless GROUP is given) and the user's supplementary groups."""

    text: str
    uid: int
    gid: int
    groups: tuple[int, ...]


def account(text: str) -> Account:
    """``--user``'s type: ``USER`` or ``USER:GROUP``, by name, looked up when the flag is read
    (so an unknown one stops the server before it binds anything). Raises
    argparse.ArgumentTypeError naming what is unknown."""
    user, colon, group = text.partition(":")
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise argparse.ArgumentTypeError(f"no such user: {user!r}") from None
    gid = entry.pw_gid
    if colon:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise argparse.ArgumentTypeError(f"no such group: {group!r}") from None
    return Account(text, entry.pw_uid, gid, tuple(os.getgrouplist(user, gid)))


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_libc = ctypes.CDLL(None, use_errno=True)


def _keep_only(capabilities: int) -> None:
    """Make the effective and permitted sets ``capabilities`` (a bit mask of the low 32), the
    inheritable one empty (capset(2)). Raises OSError."""
    data = (_CapData * 2)(_CapData(capabilities, capabilities, 0), _CapData(0, 0, 0))
    if _libc.capset(ctypes.byref(_CapHeader(CAPABILITY_VERSION_3, 0)), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def become(who: Account | None) -> None:
    """Run as ``who`` from now on (None: as now), keeping only ``CAP_NET_BIND_SERVICE``.

    Then checks that root cannot be had back (``setuid(0)`` and ``setgid(0)``
    must fail), and that the user can read the Python library, the venv's
    packages and this package, from which modules are still imported (a
    Python under ``/root``, as pyenv installs it, is not). Raises
    PrivilegeError: not root and not already ``who``, or a step or check that fails.
    """
    if who is None or who.uid == 0:
        return
    if os.geteuid() != 0:
        if (os.getuid(), os.getgid()) == (who.uid, who.gid):
            return
        raise PrivilegeError(f"--user {who.text} needs root (running as uid {os.getuid()})")
    paths = sysconfig.get_paths()       # read now: sysconfig imports a module of its own to find them
    imported_from = (paths["stdlib"], paths["purelib"], Path(__file__).parents[1])
    try:
        _libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)
        os.setgroups(list(who.groups))
        os.setresgid(who.gid, who.gid, who.gid)
        os.setresuid(who.uid, who.uid, who.uid)
        _libc.prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0)
        _keep_only(1 << CAP_NET_BIND_SERVICE)
    except OSError as exc:
        raise PrivilegeError(f"--user {who.text}: cannot switch: {exc.strerror or exc}") from None
    for regain in (os.setuid, os.setgid):
        try:
            regain(0)
        except PermissionError:
            continue
        raise PrivilegeError(f"--user {who.text}: root could be had back after switching; stopping")
    for place in imported_from:
        if not os.access(place, os.R_OK | os.X_OK):
            raise PrivilegeError(f"--user {who.text}: that user cannot read {place}, from which Python imports as "
                                 "it serves; run a Python and a venv it can read")
    log.debug("running as uid %d, gid %d", who.uid, who.gid)


def settle() -> None:
    """Once a serving process's sockets are bound: not root, it gives up every capability left
    (the one :func:`become` kept, or the one systemd's ``AmbientCapabilities=`` gave); as root
    (no ``--user``), nothing changes."""
    if os.getuid() != 0:
        _keep_only(0)
