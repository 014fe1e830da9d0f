"""SIGTERM and SIGINT: the server exits within a second with code 0 and frees its port.

"Frees its port" is checked two ways: plain sockets bind the same UDP and TCP
port right after the exit (as any program would, the TCP one with SO_REUSEADDR
as every server sets it), and a new server of the same kind starts on that very
port and answers.
"""
from __future__ import annotations

import signal
import socket
import time

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from support.paths import ZONES
from support.servers import Server, assert_still_answers

SIGNALS = pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])


def server_args(kind: str, backends: tuple[Server, Server]) -> list[str]:
    if kind == "ts":
        return ["ts", "--table", str(ZONES / "ts1.txt")]
    return ["ls", "--backend", backends[0].hostport, "--backend", backends[1].hostport]


def stop_and_time(server: Server, sig: int) -> tuple[int, float]:
    start = time.monotonic()
    server.proc.send_signal(sig)
    try:
        rc = server.proc.wait(5)
    except Exception:
        server.proc.kill()
        server.proc.wait()
        pytest.fail(f"{server.args[0]} did not exit within 5 s of {signal.Signals(sig).name}")
    elapsed = time.monotonic() - start
    server.stop()                       # joins the stderr reader
    return rc, elapsed


def bind_udp_and_tcp(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", port))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind(("127.0.0.1", port))
        tcp.listen()


@SIGNALS
@pytest.mark.parametrize("kind", ["ts", "ls"])
def test_signal_exits_fast_with_code_0_and_frees_port(demo_backends, start_server, kind, sig):
    server = start_server(*server_args(kind, demo_backends))
    assert_still_answers(server)                          # UDP and TCP sockets in use before the signal
    port = server.port

    rc, elapsed = stop_and_time(server, sig)

    assert rc == 0, f"exit code {rc}; stderr: {server.lines}"
    assert elapsed < 1.0, f"took {elapsed:.2f} s to exit"
    assert not any("Traceback" in line for line in server.lines), server.lines
    bind_udp_and_tcp(port)


@SIGNALS
@pytest.mark.parametrize("kind", ["ts", "ls"])
def test_same_port_serves_again_right_after_signal(demo_backends, start_server, kind, sig):
    server = start_server(*server_args(kind, demo_backends))
    port = server.port
    # An idle TCP client still connected at shutdown: the server closes that
    # connection itself, the case where a port is hardest to take again.
    idle = socket.create_connection((server.host, port), timeout=2)
    try:
        assert_still_answers(server)
        rc, elapsed = stop_and_time(server, sig)
    finally:
        idle.close()
    assert rc == 0, f"exit code {rc}; stderr: {server.lines}"
    assert elapsed < 1.0, f"took {elapsed:.2f} s to exit"

    again = start_server(*server_args(kind, demo_backends), listen=f"127.0.0.1:{port}")
    assert again.port == port
    assert_still_answers(again)


@SIGNALS
def test_ls_exits_fast_with_queries_waiting_on_a_silent_backend(start_server, sig):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        ls = start_server("ls", "--backend", f"127.0.0.1:{blackhole.getsockname()[1]}", "--timeout", "30")
        port = ls.port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            for i in range(50):
                q = dns.message.make_query(f"n{i}.example.com", dns.rdatatype.A)
                client.sendto(q.to_wire(), (ls.host, ls.port))
            blackhole.settimeout(2)
            blackhole.recvfrom(65535)           # the LS is now waiting on its backend
            tcp_waiting = socket.create_connection((ls.host, ls.port), timeout=2)
            wire = dns.message.make_query("tcp.example.com", dns.rdatatype.A).to_wire()
            tcp_waiting.sendall(len(wire).to_bytes(2, "big") + wire)
            try:
                rc, elapsed = stop_and_time(ls, sig)
            finally:
                tcp_waiting.close()
    assert rc == 0, f"exit code {rc}; stderr: {ls.lines}"
    assert elapsed < 1.0, f"took {elapsed:.2f} s to exit with queries in flight"
    assert not any("Traceback" in line for line in ls.lines), ls.lines
    bind_udp_and_tcp(port)


@SIGNALS
def test_ts_signal_during_open_tcp_connections(start_server, sig):
    ts = start_server("ts", "--table", str(ZONES / "ts1.txt"))
    port = ts.port
    half = [socket.create_connection((ts.host, port), timeout=2) for _ in range(3)]
    try:
        for sock in half:
            sock.sendall(b"\x00\x40\x12\x34")          # half a message, never finished
        assert_still_answers(ts)
        rc, elapsed = stop_and_time(ts, sig)
    finally:
        for sock in half:
            sock.close()
    assert rc == 0, f"exit code {rc}; stderr: {ts.lines}"
    assert elapsed < 1.0, f"took {elapsed:.2f} s to exit"
    bind_udp_and_tcp(port)


def test_sigterm_answers_the_queries_in_flight_before_the_ls_exits(start_server):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        ls = start_server("ls", "--backend", f"127.0.0.1:{blackhole.getsockname()[1]}", "--timeout", "30")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            waiting = dns.message.make_query("waiting.example", "A")
            client.sendto(waiting.to_wire(), (ls.host, ls.port))
            blackhole.settimeout(2)
            while dns.message.from_wire(blackhole.recv(512)).question[0].name.to_text() != "waiting.example.":
                pass                                   # skip health probes: the query is now in flight
            started = time.monotonic()
            ls.proc.send_signal(signal.SIGTERM)
            client.settimeout(2)
            reply = dns.message.from_wire(client.recv(512))
            assert reply.id == waiting.id and reply.rcode() == dns.rcode.NXDOMAIN     # the timeout answer
            assert ls.proc.wait(2) == 0 and time.monotonic() - started < 1.0


@pytest.mark.parametrize("argv", [["ts", "--listen", "127.0.0.1:0", "--zone", "/nonexistent/lab.example.zone"],
                                  ["ls", "--listen", "127.0.0.1:0", "--backend", "127.0.0.1:53",
                                   "--route", "lab.example=nobody"]], ids=["ts", "ls"])
def test_a_command_that_ends_leaves_sighup_as_it_found_it(argv: list[str]) -> None:
    """The servers hold SIGHUP back until they serve; run in a caller's own process (as a test or
    an embedding program runs ``main``), a command that fails must not leave it held there, where
    every program started afterwards (an NSD told to reload with SIGHUP) would inherit the hold."""
    from resolver.cli import main
    assert signal.SIGHUP not in signal.pthread_sigmask(signal.SIG_BLOCK, ())
    assert main(argv) != 0
    assert signal.SIGHUP not in signal.pthread_sigmask(signal.SIG_BLOCK, ())


@pytest.mark.parametrize("kind", ["ts", "ls"])
def test_sigint_stops_a_server_still_loading_though_started_with_it_ignored(tmp_path, kind):
    """A script's ``&`` starts a job with SIGINT ignored; ``kill -INT PID`` must still stop the server
    while it loads (before, it was lost until the serving loop took SIGINT over), ended by the
    signal as a shell reports it (130). The load is held on a FIFO (a table, or the LS's config
    file) whose writer is this test, so it is loading, blocked in a read, for sure."""
    import os
    import subprocess
    import sys

    from support.paths import ROOT
    from support.waiting import wait_until
    fifo = tmp_path / "held"
    os.mkfifo(fifo)
    args = (["ts", "--listen", "127.0.0.1:0", "--table", str(fifo)] if kind == "ts"
            else ["ls", "--config", str(fifo)])
    proc = subprocess.Popen([sys.executable, "-m", "resolver", *args], cwd=ROOT, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    writer: list[int] = []

    def reader_is_there() -> bool:      # a FIFO opens for writing without blocking once its reader has
        try:
            writer.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            return False
        return True
    try:
        wait_until(reader_is_there, timeout=20, what="the server reading the FIFO")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(5) == -signal.SIGINT, proc.stderr.read()
    finally:
        for fd in writer:
            os.close(fd)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
