"""Query logs of the LS and the TS: one line per query, off unless ``--query-log`` is given.

A line reads ``TIME CLIENT NAME TYPE OUTCOME RCODE MSms TRANSPORT``, and on the LS ``VIA``
after them, for example::

    2026-11-24T06:58:04.123Z 127.0.0.1:40213 www.ibm.com. A won:ts2 NOERROR 0.21ms udp learned

TRANSPORT is ``udp`` or ``tcp``, what the query came over (after the latency,
so that a script splitting on blanks finds NAME third and RCODE sixth).

VIA says how the race chose the backends it asked (:func:`resolver.ls.race.via_of`):
``fanout`` (every backend), ``route=DOMAIN`` (the static route for DOMAIN),
``learned`` (the backends known to answer the name, or own its zone, first),
and ``hedge=silent`` or ``hedge=negative`` when the others were asked after them
because they stayed silent past their retransmission timeout or said no; several
are comma-separated (``route=corp.example.,learned``). A ``followed:BACKEND``
line has none: each of its links' lines has its own.

On the LS, OUTCOME is ``won:BACKEND`` (the first reply that answers), ``negative:BACKEND``
(every backend said no; the best no came from BACKEND), ``timeout``,
``all-down``, ``failed`` (a backend failed without a reply), ``overflow``,
``jostled`` (ended early, with the answer of its timeout, to make room for a
newer query) or
``followed:BACKEND`` (BACKEND's CNAME is followed to other backends; the
line is written when the client's reply goes, with the rcode it got, the
final target's (RFC 6604); each target is a race with a line of its own,
``link:BACKEND``, under the same client),
and the time runs from the query to the reply. A query the LS turns away
before any race has ``acl`` (outside ``--allow``: REFUSED) or ``rate-limit``
(over ``--rate-limit``: REFUSED over TCP, dropped over UDP with RCODE ``-``),
and no VIA; its time is not taken (``0.00ms``), so turning it away costs no
more. On the TS it is ``answered``,
or ``silent`` when no reply went out (``--silent-miss``, or a packet too
broken to answer; RCODE is then ``-``), and the time is the time taken to
answer. When the log is off the server holds ``None`` and pays one
comparison per query.
"""
from __future__ import annotations

import datetime
import sys
from typing import TextIO

import dns.name
import dns.rdatatype

from ..net.addresses import format_hostport
from ..wire import RCODE_NAMES


class QueryLog:
    """Writes query lines to a stream, line-buffered so that ``tail -f`` and grep see them at once."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    @classmethod
    def open(cls, target: str) -> "QueryLog":
        """``-`` for stderr, else a file appended to. Raises OSError, its text naming ``--query-log``
        and ``target``, when the file cannot be opened."""
        if target == "-":
            return cls(sys.stderr)
        try:
            return cls(open(target, "a", buffering=1, encoding="utf-8"))
        except OSError as exc:
            raise OSError(exc.errno, f"--query-log {target}: {exc.strerror}") from None

    def write(self, client: object, qname: bytes, qtype: int, outcome: str, rcode: int | None,
              seconds: float, stream: bool, via: str = "") -> None:
        """One line: ``client`` (a (host, port) tuple, else ``-``), the question (wire-format name,
        type), ``outcome``, ``rcode`` (None: no reply went out), ``seconds`` taken, ``stream``: the
        query came over TCP (else UDP), ``via`` on the LS."""
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        who = format_hostport(*client[:2]) if isinstance(client, tuple) else "-"
        name = dns.name.from_wire(qname, 0)[0].to_text() if qname else "-"
        kind = dns.rdatatype.to_text(qtype) if qname else "-"
        rcode_text = "-" if rcode is None else RCODE_NAMES.get(rcode, str(rcode))
        tail = f" {via}" if via else ""
        transport = "tcp" if stream else "udp"
        self.stream.write(f"{when} {who} {name} {kind} {outcome} {rcode_text} {seconds * 1000:.2f}ms {transport}{tail}\n")

    def close(self) -> None:
        if self.stream is not sys.stderr:
            self.stream.close()
