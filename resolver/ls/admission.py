"""Who gets a place in the LS's table of races when it runs short: the per-client share and jostling.

The table (:attr:`resolver.ls.race.Race.pending`) holds ``--max-inflight``
races at once. Two rules keep a flood of queries nobody answers (random names
to ``--silent-miss`` backends, each waiting its whole ``--timeout``) from
locking every other client out of it:

* **The per-client share.** One client address holds at most
  ``--max-inflight-per-client`` races (by default a quarter of the table,
  :data:`resolver.ls.settings.CLIENT_SHARE`), so a single source cannot take
  the whole table, whatever it sends.
* **Jostling**, as Unbound's ``jostle-timeout``: a query that finds no room
  (the table full, or its client at its share) takes the place of the oldest
  race, its client's own oldest when the client is at its share, provided that
  race has waited ``--jostle-timeout`` (0.2 s, Unbound's default). That race
  ends at once with SERVFAIL (:meth:`resolver.ls.race.Race._jostle` says why
  not its timeout answer), counted as ``jostled``. A query that finds nothing old enough is refused as
  ``overflow`` (SERVFAIL, or no reply with ``--on-overflow drop``).

Why 0.2 s: a race that has waited that long is almost surely one no backend
will answer, since an answer comes within milliseconds and a NODATA within its
grace. And a client's race is jostled by other clients' queries only when the
whole table is full; under a flood that fills it, a race has then waited
about ``--max-inflight`` divided by the query rate (a second at 20,000
queries a second), however short the jostle timeout, so a backend that
answers in hundreds of milliseconds keeps its answers. The jostle timeout
only sets the floor.

A CNAME chain the LS follows (:mod:`resolver.ls.chase`) counts under its
client's address: each link's race takes the place the race before it has
just left, so a chase never needs more room than its client's query had.

Cost per query: a dict lookup, a counter and a deque append when a race starts,
a dict lookup and a counter when it ends; the deque drops the client's ended
races at its left as new ones come, so it holds no more than the races that
started since the client's oldest running one.
"""
from __future__ import annotations

from collections import deque
from time import perf_counter
from typing import Hashable, Protocol


class Entry(Protocol):
    """A race as admission sees it (:class:`resolver.ls.race.Pending`)."""

    done: bool          # the race is over
    started: float      # perf_counter() when it started


def oldest_running(order: deque[Entry]) -> Entry | None:
    """The first entry of ``order`` (races in start order) still running, the ended ones before it
    dropped from ``order``; None when every one has ended."""
    while order and order[0].done:
        order.popleft()
    return order[0] if order else None


class ClientRaces:
    """One client address's running races: how many, and in start order (ended ones may linger)."""

    __slots__ = ("held", "order")

    def __init__(self) -> None:
        self.held = 0
        self.order: deque[Entry] = deque()


class Admission:
    """The per-client share of the race table and the jostle rule.

    ``per_client``: races one client address may hold at once (at least 1);
    ``jostle_timeout``: seconds a race must have waited before a query that
    finds no room may take its place.
    """

    def __init__(self, per_client: int, jostle_timeout: float) -> None:
        self.per_client = per_client
        self.jostle_timeout = jostle_timeout
        self.clients: dict[Hashable, ClientRaces] = {}     # only clients with a race running

    def at_share(self, client: Hashable) -> bool:
        """Whether ``client`` (an address) holds all the races it may."""
        races = self.clients.get(client)
        return races is not None and races.held >= self.per_client

    def admit(self, client: Hashable, entry: Entry) -> None:
        """``entry`` started, for ``client``."""
        races = self.clients.get(client)
        if races is None:
            races = self.clients[client] = ClientRaces()
        races.held += 1
        order = races.order
        order.append(entry)
        if order[0].done:       # drop the ended races at its left, so that it stays short
            oldest_running(order)

    def release(self, client: Hashable) -> None:
        """One race of ``client`` ended. Raises KeyError for a client with none running."""
        races = self.clients[client]
        races.held -= 1
        if not races.held:
            del self.clients[client]

    def oldest(self, client: Hashable) -> Entry | None:
        """The oldest race of ``client`` still running, or None when it has none."""
        races = self.clients.get(client)
        return oldest_running(races.order) if races is not None else None

    def may_jostle(self, entry: Entry | None) -> bool:
        """Whether ``entry`` has waited long enough to give its place to a new query."""
        return entry is not None and perf_counter() - entry.started >= self.jostle_timeout
