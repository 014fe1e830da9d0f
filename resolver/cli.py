"""The command line: ``python -m resolver ts|ls|client|demo``.

Every failure a user can cause (a wrong flag, a bad zone file, a port in use,
a server that does not answer) ends in one line on stderr and a non-zero exit:
2 for usage errors, 1 for everything else.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import ipaddress
import logging
import os
import signal
import socket
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence, TypeVar

from . import __version__
from .client.settings import MAX_CONCURRENCY, ClientSettings
from .config import ON_OFF, ConfigError, ListOption, commands, parse_args
from .ls.backends import MAX_SOURCE_PORTS
from .ls.cache import ENTRY_OVERHEAD, PREFETCH_SHARE, STALE_TTL, TTL_SLOT
from .ls.settings import (CLIENT_SHARE, POLICIES, CacheSettings, GroupSettings, LearnSettings, LsSettings,
                          ProbeSettings, RetransmitSettings)
from .net.addresses import format_hostport, parse_hostport
from .net.lifecycle import run
from .net.listening import ListenError, ListenOptions
from .net.privileges import PrivilegeError, account, become
from .ts.settings import Remote, SecondaryZone, TransferAcl, TsSettings
from .ts.zones import ZoneError, ZoneFile
from .wire import NXDOMAIN, RCODE_NAMES, SERVFAIL

if TYPE_CHECKING:       # the client's modules are imported when the client runs
    from .client.output import ResultFile
    from .client.resolver import Resolution, Tally

log = logging.getLogger("resolver")
T = TypeVar("T")
Route = tuple[str, tuple[str, ...]]     # a domain and the backends or groups its names go to


class UsageError(Exception):
    """Raised instead of argparse's own exit, so the message stays one line."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see --help)")

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        """argparse's, but a flag the command does not have is named with the command, and the
        closest flag it has is suggested (``--timeuot``: did you mean ``--timeout``?)."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            raise UsageError(unrecognized(commands(self).get(getattr(parsed, "command", None) or "", self), extras))
        return parsed


def unrecognized(command: argparse.ArgumentParser, extras: list[str]) -> str:
    """One line for arguments ``command`` does not take, with the closest flag to the first one."""
    words = [flag.lstrip("-") for action in command._actions for flag in action.option_strings]
    first = next((extra.partition("=")[0] for extra in extras if extra.startswith("-")), None)
    # the words alone: the dashes every flag has would make any two flags look alike (--bogus, --user)
    closest = difflib.get_close_matches(first.lstrip("-"), words, n=1) if first else []
    hint = f" (did you mean --{closest[0]}?)" if closest else ""
    return f"{command.prog}: unrecognized arguments: {' '.join(extras)}{hint} (see --help)"


def hostport(text: str) -> tuple[str, int]:
    try:
        return parse_hostport(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def backend_named(text: str) -> tuple[str | None, str]:
    """``[BACKEND=]VALUE`` split at the last ``=``: the backend's name (None when not given) and VALUE."""
    name, _, value = text.rpartition("=")
    if "=" in text and not name.strip():
        raise argparse.ArgumentTypeError(f"empty backend name: {text!r}")
    return name.strip() or None, value


def backend(text: str) -> tuple[str, int] | tuple[str, int, str]:
    """``ADDR:PORT`` or ``NAME=ADDR:PORT``; the name labels the backend in logs and metrics."""
    name, address = backend_named(text)
    host, port = hostport(address)
    return (host, port, name) if name else (host, port)


def zone_file(text: str) -> ZoneFile:
    """``FILE``, ``NAME=FILE`` (split at the first ``=``) or ``=FILE`` (a path holding ``=``). A whole
    argument that names a file, where ``NAME=FILE`` finds none, gets the hint to write ``=FILE``."""
    try:
        zone: ZoneFile | None = ZoneFile.parse(text)
        problem = ""
    except ValueError as exc:
        zone, problem = None, str(exc)
    if (zone is None or zone.name is not None and not zone.path.exists()) and Path(text).is_file():
        raise argparse.ArgumentTypeError(f"{text!r} reads as NAME=FILE, and there is no file after its first '='; "
                                         f"for the file {text!r} itself, write ={text}")
    if zone is None:
        raise argparse.ArgumentTypeError(problem)
    return zone


KEY_PREFIX = "key="     # the TSIG key element of --secondary, --notify and --allow-transfer


def with_key(text: str) -> tuple[list[str], str | None]:
    """``ITEM[,ITEM…][,key=NAME]`` split at its commas, and the TSIG key's name if one is given."""
    items = [item.strip() for item in text.split(",")]
    keys = [item[len(KEY_PREFIX):] for item in items if item.startswith(KEY_PREFIX)]
    if len(keys) > 1 or any(not key for key in keys):
        raise argparse.ArgumentTypeError(f"one key=NAME at most, with a NAME: {text!r}")
    return [item for item in items if not item.startswith(KEY_PREFIX)], (keys[0] if keys else None)


def remote(text: str) -> Remote:
    """``ADDR:PORT[,key=NAME]``: a server to notify, and the TSIG key that signs the NOTIFY."""
    items, key = with_key(text)
    if len(items) != 1:
        raise argparse.ArgumentTypeError(f"expected ADDR:PORT[,key=NAME], got {text!r}")
    return Remote(*hostport(items[0]), key)


def secondary(text: str) -> SecondaryZone:
    """``ZONE=ADDR:PORT[,ADDR:PORT…][,key=NAME]``: a zone and its primaries, tried in order."""
    import dns.exception
    import dns.name
    zone, equals, rest = text.partition("=")
    items, key = with_key(rest)
    if not equals or not zone.strip() or not any(items):
        raise argparse.ArgumentTypeError(f"expected ZONE=ADDR:PORT[,ADDR:PORT…][,key=NAME], got {text!r}")
    try:
        name = dns.name.from_text(zone.strip())
    except dns.exception.DNSException as exc:
        raise argparse.ArgumentTypeError(f"{zone!r} is not a domain name ({exc})") from None
    return SecondaryZone(name, tuple(Remote(*hostport(item), key) for item in items))


def transfer_acl(text: str) -> TransferAcl:
    """``CIDR[,key=NAME]``, or ``key=NAME`` alone for any address with that key."""
    items, key = with_key(text)
    if len(items) > 1 or (not items and key is None):
        raise argparse.ArgumentTypeError(f"expected CIDR[,key=NAME] or key=NAME, got {text!r}")
    if not items:
        return TransferAcl(None, key)
    return TransferAcl(network(items[0]), key)


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 3600 seconds: {text!r}")
    return value


WORKERS = 1            # --workers: one process
LOG_LEVEL = "info"
LOG_LEVELS = ("debug", "info", "warning", "error")
TIMEOUT_RCODES = {"nxdomain": NXDOMAIN, "servfail": SERVFAIL}     # --on-timeout


def shown(value: object) -> str:
    """A default as a help string prints it: ``5`` for 5.0 seconds."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE",
                        help="TOML file whose keys are these flags without the dashes (flags given here win)")
    tcp_idle = ListenOptions.tcp_idle
    parser.add_argument("--tcp-timeout", type=positive_seconds, default=tcp_idle, metavar="SECONDS",
                        help=f"close a TCP connection with no complete query for this long (default {shown(tcp_idle)})")
    parser.add_argument("--workers", type=small_count, default=WORKERS, metavar="N",
                        help=f"processes sharing the addresses with SO_REUSEPORT (default {WORKERS})")
    parser.add_argument("--metrics", type=hostport, metavar="ADDR:PORT",
                        help="serve Prometheus metrics on /metrics and a live status page on / "
                             "(default: off; with --workers, the parent serves them for every worker)")
    parser.add_argument("--user", type=account, metavar="USER[:GROUP]",
                        help="started as root, run as USER (with its supplementary groups, and GROUP, else its "
                             "own group) once the flags and config are read, before reading any other file, keeping "
                             "only the right to bind ports below 1024 until the sockets are bound; files must then be "
                             "readable by USER (default: stay as started)")


def add_query_log_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--query-log", metavar="FILE",
                        help="one line per query (client, name, type, outcome, rcode, latency) to FILE, or - "
                             "for stderr (default: off)")


def network(text: str):
    from .ls.acl import parse_networks
    try:
        return parse_networks([text])[0]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a network: {text!r} ({exc})") from None


def record_type(text: str) -> str:
    import dns.rdatatype
    try:
        return dns.rdatatype.to_text(dns.rdatatype.from_text(text.upper()))
    except (dns.rdatatype.UnknownRdatatype, ValueError):
        raise argparse.ArgumentTypeError(f"not a record type: {text!r}") from None


def dns_name(text: str) -> str:
    import dns.exception
    import dns.name
    try:
        dns.name.from_text(text)
    except dns.exception.DNSException as exc:
        raise argparse.ArgumentTypeError(f"not a domain name: {text!r} ({exc})") from None
    return text


def probe_name(text: str) -> tuple[str | None, str]:
    """``NAME`` (every backend's probe name) or ``BACKEND=NAME`` (one backend's, by its name or,
    unnamed, its ADDR:PORT), split at the last ``=`` as ``--backend`` splits its name off."""
    backend, name = backend_named(text)
    return backend, dns_name(name)


def domain(text: str) -> str:
    """A domain name as routes hold it: absolute, lower-cased text (``Corp.Example`` is ``corp.example.``)."""
    import dns.exception
    import dns.name
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty domain; the default route is '.'")
    try:
        return dns.name.from_text(text.strip()).canonicalize().to_text()
    except dns.exception.DNSException as exc:
        raise argparse.ArgumentTypeError(f"not a domain name: {text!r} ({exc})") from None


def named_list(text: str, form: str) -> tuple[str, tuple[str, ...]]:
    """``KEY=NAME[,NAME…]`` (written as ``form`` says) split at the first ``=``: KEY, and the
    names, at least one, each given once."""
    key, equals, listed = text.partition("=")
    names = tuple(name.strip() for name in listed.split(","))
    if not equals:
        raise argparse.ArgumentTypeError(f"not {form}: {text!r}")
    if not all(names):
        raise argparse.ArgumentTypeError(f"an empty name in {text!r} ({form})")
    twice = next((name for name in names if names.count(name) > 1), None)
    if twice:
        raise argparse.ArgumentTypeError(f"{text!r} names {twice} twice")
    return key, names


def route(text: str) -> Route:
    """``DOMAIN=NAME[,NAME…]``: the domain (:func:`domain`) and the backends or groups its names go to.
    A domain whose first label is ``*`` is refused: a route covers every name below its domain
    already (as dnsmasq's ``server=/example/``), and ``*`` would be taken as a literal label."""
    key, names = named_list(text, "DOMAIN=NAME[,NAME…]")
    first, _, rest = key.strip().partition(".")
    if first == "*":
        parent = rest.rstrip(".") or "."
        raise argparse.ArgumentTypeError(f"{key.strip()!r}: a route already covers every name below its domain "
                                         f"(write {parent!r})" + (f", as dnsmasq's server=/{parent}/ does"
                                                                  if parent != "." else ""))
    return domain(key), names


def group(text: str) -> tuple[str, tuple[str, ...]]:
    """``NAME=BACKEND[,BACKEND…]``: a replica group's name and its members, in order."""
    name, members = named_list(text, "NAME=BACKEND[,BACKEND…]")
    if not name.strip() or "," in name:
        raise argparse.ArgumentTypeError(f"a group needs a name, without commas: {text!r}")
    return name.strip(), members


def group_policy(text: str) -> tuple[str, str]:
    """``NAME=POLICY``: a group's name and one of :data:`resolver.ls.settings.POLICIES`."""
    name, _, policy = text.partition("=")
    if not name.strip():
        raise argparse.ArgumentTypeError(f"not NAME=POLICY: {text!r}")
    if policy.strip() not in POLICIES:
        raise argparse.ArgumentTypeError(f"unknown policy {policy.strip()!r} (choose from {', '.join(POLICIES)})")
    return name.strip(), policy.strip()


def whole_from(low: int, high: int, of: str = "", why: str = "") -> Callable[[str], int]:
    """The type of a flag that takes a whole number from ``low`` to ``high``; ``of`` says of what,
    ``why`` why the bound."""
    def whole(text: str) -> int:
        if not text.strip().isdigit() or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number{of} from {low} to {high:,}{why}: {text!r}")
        return int(text)
    return whole


MAX_WEIGHT = 1000               # --weight at most: a member 1000 times as likely to be asked as another
member_weight = whole_from(1, MAX_WEIGHT)


def weight(text: str) -> tuple[str, int]:
    """``BACKEND=N``, split at the last ``=`` as ``--backend`` splits its name off: a group member's weight,
    1 to :data:`MAX_WEIGHT`."""
    backend, value = backend_named(text)
    if backend is None:
        raise argparse.ArgumentTypeError(f"not BACKEND=N: {text!r}")
    return backend, member_weight(value)


MAX_LEARN_SIZE = 10_000_000     # entries; at about 250 octets each, some 2.5 GB of memory
learn_size = whole_from(1, MAX_LEARN_SIZE, why=" (about 250 octets an entry)")
source_ports = whole_from(1, MAX_SOURCE_PORTS)      # --source-ports, resolver.ls.backends.MAX_SOURCE_PORTS


MAX_CACHE_ENTRIES = 10_000_000  # answers; each counted as entry_size() gives it
MAX_CACHE_MIB = 65_536          # --cache-size NMiB at most: 64 GiB
MIB = 1 << 20


def cache_size(text: str) -> tuple[int, int | None]:
    """``N`` (answers kept at most, 0 to :data:`MAX_CACHE_ENTRIES`; 0: no cache) or ``NMiB`` (the
    octets they may take, 1 to :data:`MAX_CACHE_MIB` MiB, as :func:`resolver.ls.cache.entry_size` counts
    them, with at most :data:`MAX_CACHE_ENTRIES` answers as well): ``(entries, max_bytes)`` (--cache-size)."""
    number = text.strip()
    mib = number[-3:].lower() == "mib"
    number = number[:-3].strip() if mib else number
    if not number.isdigit():
        raise argparse.ArgumentTypeError(f"not N (entries) or NMiB: {text!r}")
    if mib:
        if not 1 <= int(number) <= MAX_CACHE_MIB:
            raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_CACHE_MIB:,} MiB: {text!r}")
        return MAX_CACHE_ENTRIES, int(number) * MIB
    if int(number) > MAX_CACHE_ENTRIES:
        raise argparse.ArgumentTypeError(f"at most {MAX_CACHE_ENTRIES:,} entries (or give NMiB), not {text!r}")
    return int(number), None


def cache_size_shown(settings: CacheSettings) -> str:
    """The bound of ``settings`` as --cache-size takes it: ``100000`` entries, or ``64MiB``."""
    if settings.max_bytes is None:
        return str(settings.entries)
    return f"{settings.max_bytes // MIB}MiB"


def seconds_from(low: int, high: int, what: str = "") -> Callable[[str], int]:
    """The type of a flag that takes whole seconds from ``low`` to ``high``; ``what`` says why the bound."""
    def whole_seconds(text: str) -> int:
        if not text.strip().isdigit() or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"must be whole seconds from {low} to {high:,}{what}: {text!r}")
        return int(text)
    return whole_seconds


WEEK = 604_800          # seconds: the longest TTL a cache should keep (RFC 8767 4)
DAY = 86_400            # seconds: the longest negative TTL worth keeping (RFC 2308 5)
MAX_SERVFAIL_TTL = 30   # seconds, as BIND's servfail-ttl


small_count = whole_from(1, 64)         # --workers, --down-after
retry_count = whole_from(0, 16)         # --udp-retries
MAX_INFLIGHT = 1_000_000                # --max-inflight and --max-inflight-per-client at most: 50 times the default
inflight_count = whole_from(1, MAX_INFLIGHT)
MAX_RATE = 1_000_000                    # --rate-limit at most, queries a second: past what one LS answers
rate = whole_from(1, MAX_RATE, of=" of queries a second")      # below 1, the bucket never holds a whole query
client_concurrency = whole_from(1, MAX_CONCURRENCY, of=" of names")     # client --concurrency: names in flight


def add_cache_options(ls: argparse.ArgumentParser) -> None:
    """The answer cache's flags (:class:`resolver.ls.settings.CacheSettings`), defaults from there."""
    cache = CacheSettings()
    ls.add_argument("--cache-size", type=cache_size, default=(cache.entries, cache.max_bytes), metavar="N|NMiB",
                    help="the answer cache's bound: N answers, or NMiB of memory as the cache counts it "
                         f"({ENTRY_OVERHEAD} octets an entry, its message and {TTL_SLOT} a record; entries then up to "
                         f"{MAX_CACHE_ENTRIES:,}); the least recently used go first; 0 turns the cache off "
                         f"(default {cache_size_shown(cache)})")
    ls.add_argument("--cache-min-ttl", type=seconds_from(0, WEEK), default=cache.min_ttl, metavar="SECONDS",
                    help="each TTL of a cached answer is raised to at least this, a negative one's too "
                         f"(default {cache.min_ttl})")
    ls.add_argument("--cache-max-ttl", type=seconds_from(1, WEEK, ", a week, as RFC 8767 caps TTLs"),
                    default=cache.max_ttl, metavar="SECONDS",
                    help="each TTL of a cached answer is cut to at most this "
                         f"(default {cache.max_ttl})")
    ls.add_argument("--negative-ttl-max", type=seconds_from(0, DAY, ", a day (RFC 2308 5)"),
                    default=cache.negative_ttl_max, metavar="SECONDS",
                    help="an NXDOMAIN or NODATA every backend gave is cached for its SOA's TTL and MINIMUM, "
                         f"the lesser, at most this; 0: never cached (default {cache.negative_ttl_max})")
    ls.add_argument("--servfail-ttl", type=seconds_from(0, MAX_SERVFAIL_TTL, ", as BIND's servfail-ttl"),
                    default=cache.servfail_ttl, metavar="SECONDS",
                    help="a SERVFAIL from every backend is cached this long (RFC 2308 7.1); 0: never "
                         f"(default {cache.servfail_ttl})")
    ls.add_argument("--serve-stale", type=seconds_from(0, WEEK), default=cache.serve_stale, metavar="SECONDS",
                    help=f"an answer past its TTL is kept this long more, and goes back with TTL {STALE_TTL} when "
                         "every backend fails (RFC 8767, which suggests 1 to 3 days); 0: never "
                         f"(default {cache.serve_stale})")
    ls.add_argument("--stale-answer-timeout", type=positive_seconds, default=cache.stale_answer_timeout,
                    metavar="SECONDS",
                    help="with --serve-stale, how long a client whose answer has gone stale waits for the backends "
                         "before it gets the stale answer (RFC 8767's client response timer, "
                         f"default {shown(cache.stale_answer_timeout)})")
    prefetch = "on" if cache.prefetch else "off"
    ls.add_argument("--prefetch", choices=ON_OFF, default=prefetch,
                    help=f"refresh a cached answer asked for in the last {PREFETCH_SHARE:.0%}% of its TTL, so "
                         f"popular names do not expire in front of clients (default {prefetch})")


def add_log_level(parser: argparse.ArgumentParser, default: str) -> None:
    """``--log-level``, taken before the command (``default`` :data:`LOG_LEVEL`) and after it (``default``
    argparse.SUPPRESS, so that a command's parser leaves the value given before it, or by a config file)."""
    parser.add_argument("--log-level", default=default, choices=LOG_LEVELS,
                        help=f"what goes to stderr, before or after the command (default {LOG_LEVEL})")


def build_parser() -> Parser:
    parser = Parser(prog="resolver", description="A DNS load-balancing resolver over authoritative servers.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_log_level(parser, LOG_LEVEL)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    ts = commands.add_parser("ts", help="authoritative server for zone files and tables")
    ts.add_argument("--listen", action=ListOption, type=hostport, required=True, metavar="ADDR:PORT",
                    help="UDP and TCP address (repeatable; [::1]:PORT for IPv6, [fe80::1%%eth0]:PORT "
                         "scoped to an interface; port 0 picks one)")
    ts.add_argument("--zone", action=ListOption, type=zone_file, default=[], metavar="[NAME=]FILE",
                    help="RFC 1035 master file (repeatable); NAME is its zone's name, else the file's SOA or "
                         "file name gives it. Split at the first '=': a path that holds '=' is given as "
                         "NAME=FILE, or =FILE to leave the name to the file")
    ts.add_argument("--table", action=ListOption, default=[], metavar="FILE",
                    help="'hostname IP A' table, served as the root zone")
    ts.add_argument("--table-ptr", action="store_true",
                    help="answer reverse lookups (dig -x) for the tables' addresses: each gets a PTR record "
                         "in in-addr.arpa or ip6.arpa to the first name written for it, as dnsmasq does for "
                         "its hosts files (default: off, NXDOMAIN)")
    ts.add_argument("--round-robin", action="store_true",
                    help="turn the order of the records of each answer's RRsets on successive queries (A, "
                         "AAAA, TXT…), as NSD's round-robin: yes and BIND's rrset-order cyclic: clients that take "
                         "the first address spread over all of them (default: off, the zone's order)")
    ts.add_argument("--secondary", action=ListOption, type=secondary, default=[],
                    metavar="ZONE=ADDR:PORT[,ADDR:PORT…][,key=NAME]",
                    help="serve ZONE as a secondary: transferred from these primaries (AXFR, then IXFR), kept "
                         "fresh by its SOA timers and NOTIFY (repeatable); key=NAME signs with a TSIG key of "
                         "the config's [key.NAME] tables")
    ts.add_argument("--allow-transfer", action=ListOption, type=transfer_acl, default=[],
                    metavar="CIDR[,key=NAME]",
                    help="let clients in CIDR transfer the zones (AXFR, IXFR over TCP), only with that TSIG key "
                         "when key=NAME is given; key=NAME alone: any address with the key (repeatable; "
                         "default: nobody)")
    ts.add_argument("--notify", action=ListOption, type=remote, default=[], metavar="ADDR:PORT[,key=NAME]",
                    help="send NOTIFY (RFC 1996) to this secondary whenever a zone changes (repeatable)")
    ts.add_argument("--zone-dir", type=Path, metavar="DIR",
                    help="keep each secondary zone's last good copy in DIR, so a restart serves it at once "
                         "(default: memory only)")
    ts.set_defaults(keys={})
    ts.add_argument("--silent-miss", action="store_true", help="reply only for names this TS has (answers, and NODATA for other types); "
                         "stay silent on the rest")
    add_query_log_option(ts)
    add_server_options(ts)
    add_log_level(ts, argparse.SUPPRESS)

    ls = commands.add_parser("ls", help="load balancer racing every query across the backends")
    ls.add_argument("--listen", action=ListOption, type=hostport, required=True, metavar="ADDR:PORT",
                    help="UDP and TCP address (repeatable; a bare port means loopback)")
    ls.add_argument("--backend", action=ListOption, type=backend, required=True, metavar="[NAME=]ADDR:PORT",
                    help="an authoritative server to race (repeatable); NAME labels it in logs and metrics")
    ls.add_argument("--timeout", type=positive_seconds, default=LsSettings.timeout, metavar="SECONDS",
                    help=f"how long to wait for a positive answer (default {shown(LsSettings.timeout)})")
    on_timeout = RCODE_NAMES[LsSettings.timeout_rcode].lower()
    ls.add_argument("--on-timeout", choices=list(TIMEOUT_RCODES), default=on_timeout,
                    help="what a query gets when no positive answer came within --timeout: nxdomain says the "
                         "name does not exist, a made-up answer (with no SOA) that some stubs and caches keep "
                         "all the same; servfail says the lookup failed, which they ask again. Split DNS, where "
                         "a name one backend lacks may be another's, is better served by servfail "
                         f"(default {on_timeout})")
    ls.add_argument("--max-inflight", type=inflight_count, default=LsSettings.max_inflight, metavar="N",
                    help="queries waiting at once; beyond it a new one takes the place of the oldest if that has "
                         f"waited --jostle-timeout, else gets SERVFAIL (default {LsSettings.max_inflight}, "
                         f"from 1 to {MAX_INFLIGHT:,})")
    ls.add_argument("--max-inflight-per-client", type=inflight_count, default=LsSettings.max_inflight_per_client,
                    metavar="N",
                    help="queries one client address may have waiting at once; beyond it a new one takes the "
                         "place of that client's oldest if that has waited --jostle-timeout, else gets SERVFAIL "
                         f"(default {CLIENT_SHARE:.0%}% of --max-inflight, from 1 to {MAX_INFLIGHT:,})")
    ls.add_argument("--jostle-timeout", type=positive_seconds, default=LsSettings.jostle_timeout, metavar="SECONDS",
                    help="how long a query must have waited before a new one that finds no room may end it early "
                         "with SERVFAIL, as Unbound's jostle-timeout "
                         f"(default {shown(LsSettings.jostle_timeout)})")
    ls.add_argument("--nodata-grace", type=positive_seconds, default=LsSettings.nodata_grace, metavar="SECONDS",
                    help="how long a NODATA (the name exists, not with that type) waits for backends still "
                         "silent until they have sent 20 replies; then twice the time within which the slowest "
                         f"sent 99%% of its latest replies, at least 10 ms (default {shown(LsSettings.nodata_grace)})")
    retransmit = RetransmitSettings()
    ls.add_argument("--udp-retries", type=retry_count, default=retransmit.retries, metavar="N",
                    help="times a UDP query is sent again to a backend that has not replied within its "
                         "retransmission timeout, learned from its reply times (at least "
                         f"{shown(retransmit.floor * 1000)} ms), each wait twice the last, never past --timeout; "
                         f"0: never (default {retransmit.retries})")
    ls.add_argument("--source-ports", type=source_ports, default=LsSettings.source_ports, metavar="N",
                    help="UDP sockets per backend, each on a random port, one of them replaced by a new one every "
                         "second; a query leaves on one picked by its random ID, and its reply counts only there "
                         f"(RFC 5452). 1: one socket (default {LsSettings.source_ports}, at most {MAX_SOURCE_PORTS})")
    on_overflow = "drop" if LsSettings.drop_overflow else "servfail"
    ls.add_argument("--on-overflow", choices=["servfail", "drop"], default=on_overflow,
                    help="what a UDP query that finds no room gets: SERVFAIL, or no reply "
                         f"(default {on_overflow})")
    ls.add_argument("--allow", action=ListOption, type=network, metavar="CIDR",
                    help="clients served (repeatable); others get REFUSED. Default: loopback and the "
                         "private ranges, as dnsdist")
    ls.add_argument("--rate-limit", type=rate, default=None, metavar="QPS",
                    help="queries per second allowed per client address, from 1 to "
                         f"{MAX_RATE:,}; UDP queries past it are dropped (default: no limit)")
    add_query_log_option(ls)
    probe = ProbeSettings()
    ls.add_argument("--probe-name", action=ListOption, type=probe_name, default=[], metavar="[BACKEND=]NAME",
                    help=f"health probe: an SOA query for NAME (default {probe.name!r}), or with BACKEND= for that "
                         "backend only (repeatable); any reply counts as alive, so each --silent-miss backend "
                         "needs a name it answers")
    ls.add_argument("--probe-interval", type=positive_seconds, default=probe.interval, metavar="SECONDS",
                    help=f"seconds between health probes (default {shown(probe.interval)})")
    ls.add_argument("--down-after", type=small_count, default=probe.down_after, metavar="N",
                    help=f"unanswered probes in a row that mark a backend down (default {probe.down_after})")
    ls.add_argument("--route", action=ListOption, type=route, default=[], metavar="DOMAIN=NAME[,NAME…]",
                    help="names at or below DOMAIN go only to these backends or groups (repeatable, the longest "
                         "DOMAIN that matches wins; '.' sets the default route); names no route covers go to "
                         "every backend. A backend is named by its NAME, or its ADDR:PORT when it has none")
    ls.add_argument("--group", action=ListOption, type=group, default=[], metavar="NAME=BACKEND[,BACKEND…]",
                    help="a replica group: backends holding the same data, which count as one in the race; "
                         "one member is asked, another when it fails (repeatable)")
    ls.add_argument("--group-policy", action=ListOption, type=group_policy, default=[], metavar="NAME=POLICY",
                    help=f"how group NAME picks the member it asks: {', '.join(POLICIES)} "
                         f"(repeatable; default {GroupSettings.policy})")
    ls.add_argument("--weight", action=ListOption, type=weight, default=[], metavar="BACKEND=N",
                    help=f"a group member's weight under the random policy, from 1 to {MAX_WEIGHT:,} (repeatable; "
                         "a member not given one weighs 1)")
    learn = LearnSettings()
    learning = "on" if learn.enabled else "off"
    ls.add_argument("--learn", choices=ON_OFF, default=learning,
                    help="learned routing: ask first the backends that answered a name or hold its zone, the "
                         "others only when they say no or stay silent past their retransmission timeout; off: "
                         f"every query to every backend its route allows (default {learning})")
    ls.add_argument("--learn-size", type=learn_size, default=learn.size, metavar="N",
                    help=f"names and zones learned routing keeps at most, the least recently used dropped "
                         f"first (default {learn.size}, at most {MAX_LEARN_SIZE:,}; about 250 octets an entry)")
    add_cache_options(ls)
    add_server_options(ls)
    add_log_level(ls, argparse.SUPPRESS)

    client = commands.add_parser("client", help="resolve a file of hostnames through a server, or explain "
                                                "one name's race with --explain")
    client.add_argument("--server", type=hostport, metavar="ADDR:PORT",
                        help="the server to ask (required with HOSTFILE; with --explain, the LS to compare)")
    client.add_argument("hostfile", type=Path, nargs="?", metavar="HOSTFILE",
                        help="one hostname a line, or - for standard input (required unless --explain is given); "
                             "a line of several words is skipped with a warning")
    defaults = ClientSettings()
    client.add_argument("--out", type=Path, default=defaults.out, metavar="FILE",
                        help=f"the file written (default {defaults.out})")
    client.add_argument("--timeout", type=positive_seconds, metavar="SECONDS",
                        help=f"per name, retries included (default {shown(defaults.timeout)}, longer than the LS's "
                             f"{shown(LsSettings.timeout)}); with --explain, how long to wait for each backend "
                             f"(default {shown(defaults.explain_timeout)})")
    client.add_argument("--concurrency", type=client_concurrency, default=defaults.concurrency, metavar="N",
                        help=f"names in flight at once, from 1 to {MAX_CONCURRENCY:,} (default "
                             f"{defaults.concurrency}, fewer if the open-files limit is lower)")
    client.add_argument("--type", type=record_type, default=defaults.rdtype, metavar="TYPE",
                        help=f"record type to ask for (default {defaults.rdtype}); lines are 'hostname DATA TYPE'")
    client.add_argument("--format", choices=["text", "json"], default=defaults.format,
                        help="text: RESOLVED.txt lines; json: a list of {name, type, status, answers}; with "
                             "--explain, one JSON object of the plan, races, verdict and LS answer "
                             f"(default {defaults.format})")
    client.add_argument("--explain", type=dns_name, metavar="NAME",
                        help="ask every --backend for NAME at once, show each reply and which one the LS's "
                             "rule makes win; exit 0 if the name resolves, 1 if not, 3 if the --server LS disagrees")
    client.add_argument("--backend", action="append", type=backend, default=[], metavar="[NAME=]ADDR:PORT",
                        help="with --explain: a backend of the LS (repeatable)")
    client.add_argument("--ls-config", type=Path, metavar="FILE",
                        help="with --explain: take the backends, the LS to compare, its --status and its routes "
                             "from the LS's config file (--backend, --server and --status win)")
    client.add_argument("--status", type=hostport, metavar="ADDR:PORT",
                        help="with --explain: the LS's --metrics address, to show how it would route NAME now: its "
                             "route, learned owner, the backends asked first and those asked on a hedge (whether a "
                             "race hedged is in the LS's --query-log)")
    add_log_level(client, argparse.SUPPRESS)

    demo = commands.add_parser("demo", help="run TS1, TS2, the LS and the client on zones/")
    demo.add_argument("--zones", type=Path, default=None, metavar="DIR",
                      help="holds ts1.txt, ts2.txt and hostnames.txt (default: the project's zones/)")
    demo.add_argument("--out", type=Path, default=ClientSettings.out, metavar="FILE",
                      help=f"the file written (default {ClientSettings.out})")
    add_log_level(demo, argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status.

    Until a command's loop takes SIGINT over, SIGINT has its default action, which ends the
    process in the kernel: a config or zones still being read stop at once, even when started
    with SIGINT ignored (as a script's ``&`` starts it), and even while blocked in a read (a Python
    handler would only run once the read returned). The handler found is put back at the end.
    """
    previous = signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGINT, previous)


def _main(argv: Sequence[str] | None) -> int:
    try:
        args = parse_args(build_parser(), argv)
        args.argv = sys.argv[1:] if argv is None else list(argv)     # read again on an LS's SIGHUP
    except (UsageError, ConfigError) as exc:
        print(exc, file=sys.stderr)
        return 2
    prog = f"resolver {args.command}"
    logging.basicConfig(level=args.log_level.upper(), format=f"{prog}: %(message)s", stream=sys.stderr)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, ())
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (ZoneError, ListenError, PrivilegeError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
    except OSError as exc:
        print(f"{prog}: error: {exc.strerror or exc}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    finally:
        # A server's hold on SIGHUP ends with the command, however it ends: a caller that runs
        # main() in its own process keeps SIGHUP, and so do the programs it starts after.
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    return 1


def hold_hangups_until_serving() -> None:
    """SIGHUP kills a process by default, so until a server's loop handles it a SIGHUP is held
    (blocked, so pending) rather than delivered; the server's loop takes it once its handler is
    in (:func:`resolver.net.lifecycle.serve_until_stopped`), so a reload asked for during start-up
    happens once serving. Forked workers inherit the mask (:class:`resolver.net.workers.Workers`)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})


def cmd_ts(args: argparse.Namespace) -> int:
    if not args.zone and not args.table and not args.secondary:
        raise UsageError("resolver ts: give at least one --zone, --table or --secondary (see --help)")
    settings = ts_settings(args)
    hold_hangups_until_serving()
    become(args.user)
    from .ts.serve import load, provider_for, serve
    provider = provider_for(settings, args.workers)
    publish = provider.publish if provider is not None else None
    # Compiled before any fork, so workers share the answers; the parsed zones are dropped.
    authority = load(settings, publish=publish)

    def load_for_new_workers() -> None:
        """SIGHUP with --workers (each worker reloads itself): load here too, so that a worker
        started in place of a dead one begins with the last zones that loaded, as its peers serve."""
        nonlocal authority
        try:
            authority = load(settings, publish=publish)
        except ZoneError:
            pass        # each worker says so in its one line, and keeps its zones, as this keeps its own
    return serve_with_workers(args, lambda addresses, options: run(
        serve(addresses, settings, authority, options, metrics=args.metrics, provider=provider)), load_for_new_workers)


def ts_settings(args: argparse.Namespace) -> TsSettings:
    """The TS's settings from its flags; raises UsageError for a TSIG key no ``[key.NAME]`` table
    gives, for a zone given to ``--secondary`` twice (in any letter case: NSD and Knot refuse a
    zone configured twice), and for ``--secondary`` with ``--workers`` (one process keeps a
    secondary zone fresh)."""
    remotes = [*args.notify, *(primary for zone in args.secondary for primary in zone.primaries)]
    for key in [*(r.key for r in remotes), *(acl.key for acl in args.allow_transfer)]:
        if key is not None and key not in args.keys:
            known = ", ".join(sorted(args.keys)) or "none"
            raise UsageError(f"resolver ts: no TSIG key {key!r} in the config's [key.NAME] tables (known: {known})")
    names = [zone.name for zone in args.secondary]
    twice = next((name for index, name in enumerate(names) if name in names[:index]), None)
    if twice is not None:
        raise UsageError(f"resolver ts: --secondary {twice.to_text()} is given twice: give its primaries once, "
                         "comma-separated")
    if args.secondary and args.workers > 1:
        raise UsageError("resolver ts: --secondary needs --workers 1: one process keeps a secondary zone fresh")
    return TsSettings(zones=tuple(args.zone), tables=tuple(Path(path) for path in args.table),
                      table_ptr=args.table_ptr, round_robin=args.round_robin,
                      silent_miss=args.silent_miss, query_log=args.query_log,
                      secondaries=tuple(args.secondary), allow_transfer=tuple(args.allow_transfer),
                      notify=tuple(args.notify), keys=dict(args.keys), zone_dir=args.zone_dir)


def backend_names(args: argparse.Namespace) -> list[str]:
    """Each ``--backend``'s name, or its ADDR:PORT when it has none: how the other flags of ``ls`` name it."""
    return [backend[2] if len(backend) == 3 else format_hostport(*backend[:2]) for backend in args.backend]


def probe_settings(args: argparse.Namespace) -> ProbeSettings:
    """The probe settings of ``ls``: the last bare ``--probe-name`` for every backend, and a
    ``BACKEND=NAME`` for each backend named (by its name, or its ADDR:PORT when it has none)."""
    known = set(backend_names(args))
    default = ProbeSettings.name
    names: dict[str, str] = {}
    for backend, name in args.probe_name:
        if backend is None:
            default = name
        elif backend not in known:
            raise UsageError(f"resolver ls: --probe-name {backend}={name}: no backend is called {backend!r} "
                             f"(backends: {', '.join(sorted(known))})")
        else:
            names[backend] = name
    return ProbeSettings(default, args.probe_interval, args.down_after, tuple(names.items()))


def once_each(pairs: list[tuple[str, T]], flag: str) -> dict[str, T]:
    """``(key, value)`` pairs of a repeatable flag as a dict; raises UsageError for a key given twice."""
    values: dict[str, T] = {}
    for key, value in pairs:
        if key in values:
            raise UsageError(f"resolver ls: {flag} {key}={value}: {key} is given a value twice "
                             f"(first {key}={values[key]})")
        values[key] = value
    return values


def group_settings(args: argparse.Namespace) -> tuple[GroupSettings, ...]:
    """The replica groups of ``ls``, from ``--group``, ``--group-policy`` and ``--weight``.

    Raises UsageError for a member that is no backend (named as :func:`backend_names`
    names it) or is in another group already, a group named as a backend or twice, a
    policy for no group, or a weight for a backend in no group. A weight in a group
    whose policy is not ``random`` is logged as a warning and kept, unused.
    """
    backends = backend_names(args)
    policies = once_each(args.group_policy, "--group-policy")
    weights = once_each(args.weight, "--weight")
    group_of: dict[str, str] = {}
    groups: dict[str, GroupSettings] = {}
    for name, members in args.group:
        flag = f"resolver ls: --group {name}={','.join(members)}"
        if name in backends:
            raise UsageError(f"{flag}: {name!r} is a backend's name; a group needs a name of its own")
        if name in groups:
            raise UsageError(f"{flag}: a second group called {name!r}")
        for member in members:
            if member not in backends:
                raise UsageError(f"{flag}: no backend is called {member!r} (backends: {', '.join(backends)})")
            if member in group_of:
                raise UsageError(f"{flag}: {member} is in group {group_of[member]} already; a backend can be "
                                 "in one group only")
            group_of[member] = name
        groups[name] = GroupSettings(name, members, policies.get(name, GroupSettings.policy),
                                     tuple((member, weights[member]) for member in members if member in weights))
    for name, policy in policies.items():
        if name not in groups:
            raise UsageError(f"resolver ls: --group-policy {name}={policy}: no group is called {name!r} "
                             f"(groups: {', '.join(groups) or 'none'})")
    for backend, value in weights.items():
        if backend not in group_of:
            raise UsageError(f"resolver ls: --weight {backend}={value}: {backend} is in no group "
                             f"(groups: {', '.join(groups) or 'none'})")
        if groups[group_of[backend]].policy != "random":
            log.warning("--weight %s=%s: group %s picks its member by %s, which uses no weights; "
                        "they count under --group-policy %s=random",
                        backend, value, group_of[backend], groups[group_of[backend]].policy, group_of[backend])
    return tuple(groups.values())


def route_settings(args: argparse.Namespace, groups: tuple[GroupSettings, ...]) -> tuple[Route, ...]:
    """The routes of ``ls``, ``(domain, names)`` in the order given.

    Raises UsageError for a second route for one domain, or a name that is neither a
    backend nor a group, or is a backend in a group (the route goes to the group).
    """
    backends = backend_names(args)
    group_names = [group.name for group in groups]
    group_of = {member: group.name for group in groups for member in group.members}
    known = f"backends: {', '.join(backends)}" + (f"; groups: {', '.join(group_names)}" if groups else "")
    routes: dict[str, tuple[str, ...]] = {}
    for zone, names in args.route:
        flag = f"resolver ls: --route {zone}={','.join(names)}"
        if zone in routes:
            raise UsageError(f"{flag}: a second route for {zone} (the first goes to {','.join(routes[zone])})")
        for name in names:
            if name in group_of:
                raise UsageError(f"{flag}: {name} is in group {group_of[name]}: route to its group {group_of[name]}")
            if name not in backends and name not in group_names:
                raise UsageError(f"{flag}: no backend or group is called {name!r} ({known})")
        routes[zone] = names
    return tuple(routes.items())


def looked_up(flag: str, host: str, port: int, name: str | None = None) -> str:
    """The address ``host`` stands for: itself when it is an IP literal (a scoped IPv6 one such as
    ``::1%lo`` included, which glibc's getaddrinfo refuses though sockets take it), else the first
    address getaddrinfo gives, as dig takes the first. Raises UsageError naming ``flag`` (``resolver
    ls: --backend``) and the value as given (``name=`` too) when the name does not resolve."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][4][0]
    except socket.gaierror as exc:
        given = (f"{name}=" if name else "") + format_hostport(host, port)
        raise UsageError(f"{flag} {given}: cannot resolve {host!r} ({exc.strerror})") from None


def ls_settings(args: argparse.Namespace) -> LsSettings:
    """The LS's settings from its parsed flags (and config file); raises UsageError for what
    argparse cannot check: names given twice, routes and groups that do not fit, a
    --cache-min-ttl above --cache-max-ttl."""
    from .ls.acl import AccessList
    names = [backend[2] for backend in args.backend if len(backend) == 3]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UsageError(f"resolver ls: backend name {twice[0]!r} given twice (see --help)")
    for backend in args.backend:
        looked_up("resolver ls: --backend", *backend)
    groups = group_settings(args)
    entries, max_bytes = args.cache_size
    if args.max_inflight_per_client is not None and args.max_inflight_per_client > args.max_inflight:
        raise UsageError(f"resolver ls: --max-inflight-per-client {args.max_inflight_per_client} is more than "
                         f"--max-inflight {args.max_inflight} (see --help)")
    if args.cache_min_ttl > args.cache_max_ttl:
        raise UsageError(f"resolver ls: --cache-min-ttl {args.cache_min_ttl} is more than --cache-max-ttl "
                         f"{args.cache_max_ttl} (see --help)")
    cache = CacheSettings(entries=entries, max_bytes=max_bytes, min_ttl=args.cache_min_ttl,
                          max_ttl=args.cache_max_ttl, negative_ttl_max=args.negative_ttl_max,
                          servfail_ttl=args.servfail_ttl, serve_stale=args.serve_stale,
                          stale_answer_timeout=args.stale_answer_timeout, prefetch=args.prefetch == "on")
    return LsSettings(
        backends=tuple(args.backend), timeout=args.timeout, timeout_rcode=TIMEOUT_RCODES[args.on_timeout],
        max_inflight=args.max_inflight, drop_overflow=args.on_overflow == "drop", nodata_grace=args.nodata_grace,
        max_inflight_per_client=args.max_inflight_per_client, jostle_timeout=args.jostle_timeout,
        probe=probe_settings(args), retransmit=RetransmitSettings(retries=args.udp_retries),
        routes=route_settings(args, groups), groups=groups,
        learn=LearnSettings(enabled=args.learn == "on", size=args.learn_size), cache=cache,
        source_ports=args.source_ports,
        rate_limit=args.rate_limit, query_log=args.query_log,
        **({"acl": AccessList(args.allow)} if args.allow else {}))


def cmd_ls(args: argparse.Namespace) -> int:
    hold_hangups_until_serving()
    from .ls.serve import ReloadError, serve
    settings = ls_settings(args)
    become(args.user)
    config = getattr(args, "config", None)
    if args.user is not None and config is not None and not os.access(config, os.R_OK):
        log.warning("--config %s: %s cannot read it, so SIGHUP will not reload it", config, args.user.text)
    reread = ls_rereader(args)

    def reread_for_new_workers() -> None:
        """SIGHUP with --workers (each worker reloads itself): read the config here too, so that a
        worker started in place of a dead one begins with the config its peers serve."""
        nonlocal settings
        with contextlib.suppress(ReloadError):     # each worker says so in its one line
            settings = reread()[0]
    return serve_with_workers(args, lambda addresses, options: run(
        serve(addresses, settings, options, metrics=args.metrics, reread=reread)), reread_for_new_workers)


# Flags a reload leaves as they were at start: the sockets, the processes, the log's level, the user.
NOT_RELOADED = ("listen", "workers", "tcp_timeout", "metrics", "log_level", "user")


def ls_rereader(args: argparse.Namespace) -> Callable[[], tuple[LsSettings, list[str]]]:
    """The LS's SIGHUP (:data:`resolver.ls.serve.Reread`): the command line it started with parsed
    again, so ``--config FILE`` is read again and the flags given still win, through the same
    checks as at start; what fails them raises ReloadError with the message it has at start,
    less the program's name and the pointer to --help."""
    from .ls.serve import ReloadError

    def reread() -> tuple[LsSettings, list[str]]:
        try:
            fresh = parse_args(build_parser(), args.argv)
            settings = ls_settings(fresh)
        except (UsageError, ConfigError) as exc:
            raise ReloadError(str(exc).removeprefix("resolver ls: ").removeprefix("error: ")
                              .removesuffix(" (see --help)")) from None
        return settings, [f"--{dest.replace('_', '-')}" for dest in NOT_RELOADED
                          if getattr(fresh, dest) != getattr(args, dest)]
    return reread


def serve_with_workers(args: argparse.Namespace, serve, on_hangup=None) -> int:
    """Serve in this process, or in ``--workers`` forked processes sharing the addresses.

    Whatever the caller prepared before (the TS's compiled zones) the workers
    share copy-on-write; ``on_hangup`` runs in the parent on SIGHUP
    (:func:`resolver.net.workers.run_workers`). With ``--metrics`` the parent
    serves it for every worker, their figures summed (:class:`resolver.obs.hub.Hub`).
    Raises UsageError for an address given twice (port 0 aside: each is a port of its own), and
    OSError for a ``--query-log`` that cannot be opened: said once here, before any worker starts,
    rather than by every worker as it dies and is started again.
    """
    if args.workers > 1 and args.query_log not in (None, "-"):
        from .obs.querylog import QueryLog
        QueryLog.open(args.query_log).stream.close()
    given = [address for address in args.listen if address[1] != 0]
    twice = next((address for address in given if given.count(address) > 1), None)
    if twice is not None:
        raise UsageError(f"resolver {args.command}: --listen {format_hostport(*twice)} given twice (see --help)")
    if args.workers == 1:
        serve(args.listen, ListenOptions(args.tcp_timeout))
        return 0
    from .net.workers import run_workers
    from .obs.hub import Hub
    options = ListenOptions(args.tcp_timeout, reuse_port=True)
    return run_workers(args.workers, args.listen, lambda addresses: serve(addresses, options),
                       f"resolver {args.command}", on_hangup, Hub(args.metrics) if args.metrics else None)




def client_usage_problem(args: argparse.Namespace) -> str | None:
    """The rules argparse cannot say: a HOSTFILE or --explain, never both, and what each needs."""
    if args.explain is not None:
        if args.hostfile is not None:
            return "--explain takes no HOSTFILE"
        if not args.backend and args.ls_config is None:
            return "--explain needs --backend ADDR:PORT (once per backend of the LS) or --ls-config FILE"
        return None
    if args.hostfile is None:
        return "give a HOSTFILE, or --explain NAME"
    if args.backend or args.ls_config is not None or args.status is not None:
        return "--backend, --ls-config and --status go only with --explain"
    if args.server is None:
        return "--server ADDR:PORT is required with a HOSTFILE"
    return None


CLOSED_PIPE = 141      # the status a shell reports for a process SIGPIPE killed (128 + 13)


def cmd_client(args: argparse.Namespace) -> int:
    problem = client_usage_problem(args)
    if problem:
        raise UsageError(f"resolver client: {problem} (see --help)")
    if args.server is not None:
        args.server = (looked_up("resolver client: --server", *args.server), args.server[1])
    args.backend = [(looked_up("resolver client: --backend", *entry), *entry[1:]) for entry in args.backend]
    try:
        return cmd_explain(args) if args.explain is not None else resolve_hostfile(args)
    except BrokenPipeError:
        # The reader went away (`| head`): stop without a traceback, as a tool SIGPIPE ends, and
        # point stdout at /dev/null so that the interpreter's last flush finds nothing to fail on.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return CLOSED_PIPE


def unwritable(path: Path) -> str | None:
    """Why ``path`` cannot be written (found before any name is resolved), or None."""
    directory = path.parent
    if path.is_dir():
        return "is a directory"
    if not directory.is_dir():
        return f"no directory {directory}"
    if not os.access(path if path.exists() else directory, os.W_OK):
        return "Permission denied"
    return None


def resolve_hostfile(args: argparse.Namespace) -> int:
    """``client --server ADDR:PORT HOSTFILE``: resolve every name and write ``--out``.

    The hostfile is read as names are taken on and each line written once it
    and every name before it are done (:meth:`Resolver.resolve_in_order`), so
    a million names take little memory. A HOSTFILE is counted first, for the
    progress bar's total; standard input is not.
    """
    from .client.output import ResultFile, is_the_input
    from .client.progress import ProgressBar
    from .client.resolver import NameStream, Resolver, Tally, hostnames_in
    settings = ClientSettings(timeout=args.timeout or ClientSettings.timeout, concurrency=args.concurrency,
                              rdtype=args.type, format=args.format, out=args.out)
    timeout = settings.timeout
    from_stdin = str(args.hostfile) == "-"
    source = "<stdin>" if from_stdin else str(args.hostfile)

    def cannot_read(exc: Exception) -> int:
        print(f"resolver client: error: cannot read {source}: {getattr(exc, 'strerror', exc)}", file=sys.stderr)
        return 1
    try:
        stream = sys.stdin.buffer if from_stdin else args.hostfile.open("rb")
        regular = not from_stdin and stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
        if regular:     # counted first for the progress bar; a pipe or FIFO can be read only once
            with args.hostfile.open(encoding="utf-8-sig", errors="surrogateescape") as text:
                total: int | None = sum(1 for _ in hostnames_in(text))
        else:
            total = None
    except OSError as exc:
        return cannot_read(exc)
    out_problem = (f"is {source}, the hostfile being read" if is_the_input(settings.out, stream.fileno())
                   else unwritable(settings.out))
    if out_problem:
        print(f"resolver client: error: --out {settings.out}: {out_problem}; nothing resolved", file=sys.stderr)
        return 1
    try:
        out = ResultFile(settings.out, settings.format == "json")
    except OSError as exc:
        print(f"resolver client: error: --out {settings.out}: {exc.strerror}; nothing resolved", file=sys.stderr)
        return 1
    host, port = args.server
    resolver = Resolver(host, port, timeout, settings.concurrency, settings.rdtype)
    bar = ProgressBar(total, sys.stderr)

    def warn(problem: str) -> None:
        bar.clear()
        print(f"resolver client: warning: {problem}", file=sys.stderr)
    tally, names = Tally(), NameStream(stream, source, warn)
    stopped_by: list[signal.Signals] = []

    def keep(result: Resolution) -> None:
        out.write(result)
        tally.add(result)

    async def write_all() -> None:
        async for result in resolver.resolve_in_order(names, bar.advance, on_stop=keep):
            keep(result)

    async def run_all() -> None:
        # SIGINT (Ctrl-C) and SIGTERM end the run where it is: the names in flight are dropped and
        # every name done is written, in input order.
        work = asyncio.ensure_future(write_all())

        def stop(signum: signal.Signals) -> None:
            stopped_by.append(signum)
            work.cancel()
            for other in STOP_SIGNALS:      # a second Ctrl-C must not cut short the writing of what is done
                loop.remove_signal_handler(other)
                signal.signal(other, signal.SIG_IGN)
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, stop, signum)
        try:
            await work
        except asyncio.CancelledError:
            if not stopped_by:
                raise
    try:
        asyncio.run(run_all())
    except OSError as exc:
        out.discard()
        if exc is not names.error:
            raise
        return cannot_read(exc)
    except BaseException:
        out.discard()
        raise
    finally:
        bar.clear()
        if regular:     # not a pipe: its reading thread may still wait in read(), holding the stream
            stream.close()
    server = format_hostport(host, port)
    if stopped_by:
        return interrupted(stopped_by[0], out, tally, total, names.found)
    if tally.total == 0:
        out.discard()
        print(f"resolver client: error: {source} names no hostname; nothing written", file=sys.stderr)
        return 1
    if tally.unanswered == tally.total:
        out.discard()
        print(f"resolver client: error: no answer from {server} within {timeout:g} s "
              f"for any of {tally.total} names; nothing written", file=sys.stderr)
        return 1
    out.finish()
    print_summary(tally, settings.out)
    if tally.unanswered:
        print(f"resolver client: error: {server} did not answer {tally.unanswered} of {tally.total} names",
              file=sys.stderr)
        return 1
    return 0


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)      # Ctrl-C, kill, a terminal closed


def print_summary(tally: Tally, out: Path) -> None:
    """The line scripts read: how many names came to what, and the file written."""
    print(f"resolver client: {tally.resolved} resolved, {tally.not_found} not found"
          + (f", {tally.failed} refused or failed by the server" if tally.failed else "")
          + (f", {tally.invalid} not domain names (INVALID NAME)" if tally.invalid else "")
          + (f", {tally.unanswered} without answer" if tally.unanswered else "")
          + f"; wrote {out}", file=sys.stderr)


def interrupted(signum: signal.Signals, out: ResultFile, tally: Tally, total: int | None, read: int) -> int:
    """A run ended by ``signum``: FILE gets the lines of every name done, in input order (a whole
    file, a JSON array closed), stderr how many names were left; the status is 128 + the signal's
    number, 130 for SIGINT, as a shell reports a process the signal ended."""
    if tally.total:
        out.finish()
        print_summary(tally, out.path)
    else:
        out.discard()
    left = (f"{total - tally.total} of {total} names left unresolved" if total is not None else
            f"{read - tally.total} names read and left unresolved, the rest of the input not read")
    print(f"resolver client: interrupted ({signum.name}): {left}" + ("" if tally.total else "; nothing written"),
          file=sys.stderr)
    return 128 + signum


def cmd_explain(args: argparse.Namespace) -> int:
    from .client.explain import configured_routes, explain
    backends, server, status, routes = args.backend, args.server, args.status, None
    if args.ls_config is not None:
        ls = read_ls_config(args.ls_config)
        backends = backends or ls.backend
        server = server or (ls.listen or [None])[0]
        status = status or ls.metrics
        routes = configured_routes(ls_settings(ls)) if ls.backend else None
    if not backends:
        raise UsageError(f"resolver client: {args.ls_config} names no backend (see --help)")
    return asyncio.run(explain(args.explain, args.type, backends, args.timeout or ClientSettings.explain_timeout,
                               server, sys.stdout, status, routes, args.format == "json"))


def read_ls_config(path: Path) -> argparse.Namespace:
    """An LS config file read as ``ls --config FILE`` reads it, with the same checks, except that it
    need not name the LS's ``listen`` and ``backend``."""
    from .config import required_options_relaxed
    parser = build_parser()
    try:
        with required_options_relaxed(parser):
            return parse_args(parser, ["ls", "--config", str(path)])
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import ZONES, run_demo
    run(run_demo(args.zones or ZONES, args.out))
    return 0


COMMANDS = {"ts": cmd_ts, "ls": cmd_ls, "client": cmd_client, "demo": cmd_demo}
