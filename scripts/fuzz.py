"""Fuzz the TS and the LS over real sockets on loopback.

Starts a TS (on ``zones/lab.example.zone`` and ``zones/ts1.txt``) and an LS in
front of it, sends each a bounded number of random and mutated packets over
UDP (every 500th also over TCP), then checks that both processes are alive, that
neither printed a traceback, and that both still answer a normal query.
Prints a summary; exits 1 if a server crashed, hung or stopped answering.

    scripts/fuzz [--packets 100000] [--seed 1]
"""
from __future__ import annotations

import argparse
import random
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import dns.message
import dns.query

from resolver.net.lifecycle import LISTENING

ROOT = Path(__file__).resolve().parent.parent
SEEDS = [
    dns.message.make_query("www.lab.example", "A").to_wire(),
    dns.message.make_query("big.lab.example", "TXT", use_edns=0, payload=512).to_wire(),
    dns.message.make_query("foo.wild.lab.example", "ANY", use_edns=0, want_dnssec=True).to_wire(),
    dns.message.make_query("x.delegated.lab.example", "NS").to_wire(),
    dns.message.make_query("www.ibm.com", "A").to_wire(),
]


def start(args: list[str]) -> tuple[subprocess.Popen, int]:
    """A server on a free loopback port, once it says it is listening."""
    proc = subprocess.Popen([sys.executable, "-m", "resolver", *args, "--listen", "127.0.0.1:0"],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    selector = selectors.DefaultSelector()
    selector.register(proc.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and selector.select(deadline - time.monotonic()):
        match = LISTENING.search(proc.stderr.readline())
        if match:
            return proc, int(match.group(2))
    proc.kill()
    raise SystemExit(f"fuzz: {args[0]} did not start")


def mutated(rng: random.Random) -> bytes:
    """Random bytes, or a real query with bytes changed, cut or appended."""
    if rng.random() < 0.3:
        return rng.randbytes(rng.randrange(0, 600))
    packet = bytearray(rng.choice(SEEDS))
    for _ in range(rng.randrange(1, 5)):
        packet[rng.randrange(len(packet))] = rng.randrange(256)
    packet = packet[:rng.randrange(len(packet) + 1)]
    return bytes(packet) + rng.randbytes(rng.randrange(0, 8))


def fuzz(port: int, count: int, rng: random.Random) -> Counter:
    """Send ``count`` packets over UDP (every 500th also over TCP); count the replies by rcode."""
    seen: Counter = Counter()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setblocking(False)
    for i in range(count):
        packet = mutated(rng)
        udp.sendto(packet, ("127.0.0.1", port))
        if i % 500 == 0:
            tcp_once(port, packet)
        if i % 50 == 49:        # pace the load and collect what came back
            time.sleep(0.001)
            seen.update(drain(udp))
    time.sleep(0.5)
    seen.update(drain(udp))
    udp.close()
    return seen


def tcp_once(port: int, packet: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=0.2) as tcp:
        tcp.sendall(len(packet).to_bytes(2, "big") + packet)
        try:
            tcp.recv(65535)
        except (socket.timeout, ConnectionResetError):
            pass


def drain(sock: socket.socket) -> Counter:
    seen: Counter = Counter()
    while True:
        try:
            reply = sock.recv(65535)
        except BlockingIOError:
            return seen
        seen[reply[3] & 0x0F if len(reply) >= 4 else "short"] += 1


def still_answers(port: int) -> bool:
    try:
        reply = dns.query.udp(dns.message.make_query("www.ibm.com", "A"), "127.0.0.1", port=port, timeout=3)
        return bool(reply.answer)
    except Exception:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=100000, help="packets per server (default 100000)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    ts, ts_port = start(["ts", "--zone", str(ROOT / "zones/lab.example.zone"), "--table", str(ROOT / "zones/ts1.txt")])
    ls, ls_port = start(["ls", "--backend", f"127.0.0.1:{ts_port}", "--timeout", "1"])
    ok = True
    try:
        for name, proc, port in (("TS", ts, ts_port), ("LS", ls, ls_port)):
            started = time.monotonic()
            seen = fuzz(port, args.packets, rng)
            alive, answers = proc.poll() is None, still_answers(port)
            ok &= alive and answers
            print(f"{name}: {args.packets:,} packets in {time.monotonic() - started:.1f} s; replies by rcode "
                  f"{dict(sorted(seen.items(), key=str))}; alive {alive}; answers a normal query {answers}")
    finally:
        for proc in (ls, ts):
            proc.send_signal(signal.SIGTERM)
        for name, proc in (("LS", ls), ("TS", ts)):
            _, err = proc.communicate(timeout=10)
            if "Traceback" in err:
                ok = False
                print(f"{name} printed a traceback:\n{err}")
            if proc.returncode != 0:
                ok = False
                print(f"{name} exited with {proc.returncode}")
    print("fuzz: no crash, no hang, both still answer" if ok else "fuzz: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
