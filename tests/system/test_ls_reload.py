"""SIGHUP on the LS: its command line and config file read again and swapped in whole.

Real LS processes over real TSes on loopback. A reload changes where new
queries go; a query already racing is answered under the config it started
with; a config that cannot be used keeps the old one serving, with one line;
counters and a backend's health carry over; every worker reloads.
"""
from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import dns.message
import dns.rcode
import pytest

from resolver.ls.backends import ROTATION_INTERVAL
from resolver.ls.settings import LsSettings
from support.relay import Relay
from support.servers import LISTENING, Server, query, scrape, value
from support.waiting import wait_until
from test_workers import asked_from_many_ports, worker_pids

ONE_NAME, TWO_NAME = "one.example", "two.example"     # each held by one TS only


@pytest.fixture
def one_and_two(start_server, tmp_path) -> tuple[Server, Server]:
    """Two TSes, each with a name of its own: the backend that answers a name says which config asked."""
    servers = []
    for name, address in ((ONE_NAME, "192.0.2.1"), (TWO_NAME, "192.0.2.2")):
        table = tmp_path / f"{name}.txt"
        table.write_text(f"{name} {address} A\n")
        servers.append(start_server("ts", "--table", str(table)))
    return servers[0], servers[1]


def write_config(path: Path, backends: dict[str, str], extra: str = "") -> Path:
    """An LS config naming ``backends`` (name -> ADDR:PORT), then ``extra`` TOML lines."""
    tables = ", ".join(f'{{ name = "{name}", address = "{address}" }}' for name, address in backends.items())
    path.write_text(f"backend = [{tables}]\n{extra}")
    return path


def rcode(server: Server, name: str) -> int:
    return query(server, name).rcode()


def reload(ls: Server, expect: str = "reloaded", count: int = 1) -> None:
    """SIGHUP, then wait (bounded) for its ``count``-th line saying ``expect``."""
    ls.proc.send_signal(signal.SIGHUP)
    ls.wait_for_line(expect, count=count)


def test_sighup_sends_new_queries_to_the_new_backends(start_server, one_and_two, tmp_path):
    one, two = one_and_two
    config = write_config(tmp_path / "ls.toml", {"one": one.hostport})
    ls = start_server("ls", "--config", str(config))
    assert rcode(ls, ONE_NAME) == dns.rcode.NOERROR
    assert rcode(ls, TWO_NAME) == dns.rcode.NXDOMAIN

    write_config(config, {"two": two.hostport})
    reload(ls)
    assert rcode(ls, TWO_NAME) == dns.rcode.NOERROR
    assert rcode(ls, ONE_NAME) == dns.rcode.NXDOMAIN         # "one" is asked no more
    assert query(ls, TWO_NAME, tcp=True).answer[0][0].address == "192.0.2.2"
    assert any("reloaded: racing two (timeout 5 s, then NXDOMAIN)" in line for line in ls.lines), ls.lines


def test_sighup_with_a_changed_route_takes_effect(start_server, one_and_two, tmp_path):
    one, two = one_and_two
    backends = {"one": one.hostport, "two": two.hostport}
    config = write_config(tmp_path / "ls.toml", backends, '[route]\n"example" = ["two"]\n')
    ls = start_server("ls", "--config", str(config))
    assert rcode(ls, ONE_NAME) == dns.rcode.NXDOMAIN        # example. goes to "two" only
    assert rcode(ls, TWO_NAME) == dns.rcode.NOERROR

    write_config(config, backends, '[route]\n"example" = ["one"]\n')
    reload(ls)
    ls.wait_for_line("reloaded: racing one, two (timeout 5 s, then NXDOMAIN, 1 route)")
    assert rcode(ls, ONE_NAME) == dns.rcode.NOERROR
    assert rcode(ls, TWO_NAME) == dns.rcode.NXDOMAIN        # "two" is asked no more for example.

    write_config(config, backends)                          # no route: every backend again
    reload(ls, count=2)
    assert rcode(ls, ONE_NAME) == dns.rcode.NOERROR and rcode(ls, TWO_NAME) == dns.rcode.NOERROR


def test_flags_on_the_command_line_still_win_after_a_reload(start_server, one_and_two, tmp_path):
    one, two = one_and_two
    config = write_config(tmp_path / "ls.toml", {"one": one.hostport})
    ls = start_server("ls", "--config", str(config), "--backend", f"two={two.hostport}")
    write_config(config, {"one": one.hostport}, 'listen = ["127.0.0.1:1"]\n')
    reload(ls)
    assert rcode(ls, TWO_NAME) == dns.rcode.NOERROR and rcode(ls, ONE_NAME) == dns.rcode.NXDOMAIN
    assert ls.count_lines("--listen changed but not reloaded") == 0     # the command line's --listen wins

    ls2 = start_server("ls", "--config", str(write_config(tmp_path / "ls2.toml", {"one": one.hostport})))
    write_config(tmp_path / "ls2.toml", {"one": one.hostport}, "tcp-timeout = 3\n")
    reload(ls2)
    ls2.wait_for_line("; --tcp-timeout changed but not reloaded (restart to apply)")


@pytest.mark.parametrize("broken, says", [
    ("backend = [\n", "not valid TOML"),
    ("bogus = 1\n", "unknown key 'bogus'"),
    ("timeout = 0\n", "timeout: must be more than 0"),
    ('probe-name = "nobody=example.com"\n', "no backend is called 'nobody'"),
    ('query-log = "no-such-directory/queries.log"\n', "no-such-directory/queries.log: No such file or directory"),
    ('[route]\n"example" = ["three"]\n', "no backend or group is called 'three'"),
], ids=["toml", "unknown-key", "bad-value", "unknown-backend", "unopenable-log", "route-to-nobody"])
def test_a_broken_config_keeps_the_old_one_serving_and_says_so_in_one_line(start_server, one_and_two, tmp_path,
                                                                           broken, says):
    one, two = one_and_two
    config = write_config(tmp_path / "ls.toml", {"one": one.hostport})
    ls = start_server("ls", "--config", str(config))
    config.write_text(f'backend = ["two={two.hostport}"]\n{broken}')
    reload(ls, "reload failed")
    failed = [line for line in ls.lines if "reload failed" in line]
    assert len(failed) == 1 and failed[0].startswith("resolver ls: reload failed, still serving the old config: ")
    assert says in failed[0] and "resolver ls: error" not in failed[0] and "--help" not in failed[0], failed
    assert rcode(ls, ONE_NAME) == dns.rcode.NOERROR and rcode(ls, TWO_NAME) == dns.rcode.NXDOMAIN
    assert ls.proc.poll() is None and not any("Traceback" in line for line in ls.lines)

    write_config(config, {"two": two.hostport})          # mended: the next SIGHUP takes it
    reload(ls)
    assert rcode(ls, TWO_NAME) == dns.rcode.NOERROR and rcode(ls, ONE_NAME) == dns.rcode.NXDOMAIN


def test_backend_names_given_twice_keep_the_old_config(start_server, one_and_two, tmp_path):
    """A rule of the command, checked after the file's values each passed their flag's check."""
    one, two = one_and_two
    config = write_config(tmp_path / "ls.toml", {"one": one.hostport})
    ls = start_server("ls", "--config", str(config))
    config.write_text(f'backend = ["one={one.hostport}", "one={two.hostport}"]\n')
    reload(ls, "reload failed")
    ls.wait_for_line("reload failed, still serving the old config: backend name 'one' given twice")
    assert rcode(ls, ONE_NAME) == dns.rcode.NOERROR and rcode(ls, TWO_NAME) == dns.rcode.NXDOMAIN


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


# Sockets of a backend's UDP pool replaced (one a second) and still open for late replies: one
# for each second of the timeout, and one more about to be closed (resolver.ls.backends).
REPLACED_OPEN = int(LsSettings.timeout / ROTATION_INTERVAL) + 1


def reload_while_racing(ls: Server, client: socket.socket, config: Path, backends: dict[str, str]) -> None:
    """Send ONE_NAME from ``client``, wait until the LS races it, then rewrite ``config`` to name
    ``backends`` and reload."""
    client.sendto(dns.message.make_query(ONE_NAME, "A").to_wire(), (ls.host, ls.port))
    wait_until(lambda: value(scrape(ls), "resolver_ls_inflight") == 1, 1, "the query racing")
    write_config(config, backends)
    reload(ls)


def test_a_race_in_flight_across_a_reload_is_answered_under_the_old_config(start_server, one_and_two, tmp_path):
    """The old config's only backend is ONE behind a relay holding each query 2 s; the query sent
    before the SIGHUP is answered by it, the same name asked after gets the new config's NXDOMAIN,
    and the old config's sockets close once its race is over."""
    one, two = one_and_two
    with Relay(one.addresses[0], delay=2.0) as slow:
        config = write_config(tmp_path / "ls.toml", {"one": slow.hostport}, "probe-interval = 3\n")
        ls = start_server("ls", "--config", str(config), "--metrics", "127.0.0.1:0")
        baseline = open_fds(ls.proc.pid)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(5)
            reload_while_racing(ls, client, config, {"two": two.hostport})
            ls.wait_for_line("races in flight finishing under the old config: 1")
            assert rcode(ls, ONE_NAME) == dns.rcode.NXDOMAIN    # new queries: the new config
            reply = dns.message.from_wire(client.recv(65535))
        assert reply.rcode() == dns.rcode.NOERROR and reply.answer[0][0].address == "192.0.2.1"
        wait_until(lambda: open_fds(ls.proc.pid) <= baseline + REPLACED_OPEN, 3, "the old config's sockets closed")
        assert value(scrape(ls), "resolver_ls_inflight") == 0


def test_sigterm_while_the_old_config_still_races_answers_and_stops_within_a_second(start_server, one_and_two,
                                                                                    tmp_path):
    one, two = one_and_two
    with Relay(one.addresses[0], delay=3.0) as slow:
        config = write_config(tmp_path / "ls.toml", {"one": slow.hostport}, "probe-interval = 10\n")
        ls = start_server("ls", "--config", str(config), "--metrics", "127.0.0.1:0")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(3)
            reload_while_racing(ls, client, config, {"two": two.hostport})
            started = time.monotonic()
            assert ls.stop() == 0
            assert time.monotonic() - started < 1.0
            reply = dns.message.from_wire(client.recv(65535))
        assert reply.rcode() == dns.rcode.NXDOMAIN         # the old config's timeout answer, not none
        assert ls.count_lines("stopping: 1 queries still waiting get the timeout answer") == 1


def test_counters_carry_over_by_backend_name(start_server, one_and_two, tmp_path):
    one, two = one_and_two
    config = write_config(tmp_path / "ls.toml", {"one": one.hostport, "two": two.hostport}, "cache-size = 0\n")
    ls = start_server("ls", "--config", str(config), "--metrics", "127.0.0.1:0")
    for _ in range(3):
        assert rcode(ls, ONE_NAME) == dns.rcode.NOERROR
    before = scrape(ls)
    assert value(before, "resolver_backend_wins_total", backend="one") == 3

    write_config(config, {"one": one.hostport, "three": two.hostport}, "cache-size = 0\n")
    reload(ls)
    assert rcode(ls, ONE_NAME) == dns.rcode.NOERROR
    after = scrape(ls)
    assert value(after, "resolver_backend_wins_total", backend="one") == 4
    assert value(after, "resolver_backend_requests_total", backend="one") > \
        value(before, "resolver_backend_requests_total", backend="one")
    assert value(after, "resolver_ls_requests_total", proto="udp") == 4
    assert value(after, "resolver_ls_races_total", outcome="won") == 4
    three = value(after, "resolver_backend_requests_total", backend="three")    # new: from zero, not two's 3
    assert three - value(after, "resolver_backend_retransmissions_total", backend="three") == 1
    assert not any(dict(labels).get("backend") == "two" for _, labels in after)     # gone with its name


def test_a_backend_down_before_a_reload_stays_down_after_it(start_server, one_and_two, tmp_path):
    """A backend silent to every datagram (a TS behind a relay that loses them all) is down; after a
    reload that keeps it, a miss is answered at once, not after the probes find it down again."""
    one, _ = one_and_two
    with Relay(one.addresses[0], loss=1.0) as lost:
        config = write_config(tmp_path / "ls.toml", {"one": one.hostport, "lost": lost.hostport})
        ls = start_server("ls", "--config", str(config))
        ls.wait_for_line("backend lost is down", timeout=8)
        write_config(config, {"one": one.hostport, "lost": lost.hostport}, "timeout = 4\n")
        reload(ls)
        started = time.monotonic()
        assert rcode(ls, "missing.example") == dns.rcode.NXDOMAIN
        assert time.monotonic() - started < 1.0         # else it waits ~2 s for two probe rounds
        assert ls.count_lines("backend lost is down") == 1     # no second report: it never came up


def test_sighup_reaches_every_worker_and_a_new_worker_starts_with_the_new_config(start_server, one_and_two,
                                                                                 tmp_path):
    one, two = one_and_two
    config = write_config(tmp_path / "ls.toml", {"one": one.hostport})
    ls = start_server("ls", "--config", str(config), "--workers", "2")
    ls.wait_for_line(LISTENING, count=2)
    write_config(config, {"two": two.hostport})
    reload(ls, count=2)
    answers = [reply.rcode() for reply in asked_from_many_ports(ls, TWO_NAME)]
    assert answers == [dns.rcode.NOERROR] * len(answers)

    config.write_text("bogus = 1\n")            # broken: every worker keeps the good reload, and so does the parent
    reload(ls, "reload failed", count=2)
    os.kill(min(worker_pids(ls)), signal.SIGKILL)
    ls.wait_for_line("in its place (restart 1)")
    ls.wait_for_line(LISTENING, count=3)
    answers = [reply.rcode() for reply in asked_from_many_ports(ls, TWO_NAME)]
    assert answers == [dns.rcode.NOERROR] * len(answers)
