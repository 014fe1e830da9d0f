"""Progress of long zone loads, logged: a million records take some seconds to read and as many
to compile, and an operator watching the log should see the TS is working, not hung.

A :class:`LoadProgress` follows one zone (or the tables) from its first record read to its last
name compiled. The loops call :meth:`LoadProgress.tick` for every record or name, which looks at
the clock only once every ``every`` of them; an INFO line comes every ``interval`` seconds, and a
last one when the zone is compiled, only for a load that wrote a line on the way: a short load logs
nothing. :func:`resolver.ts.serve.load` gives the defaults of :mod:`resolver.ts.settings`.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

log = logging.getLogger("resolver.ts")


class LoadProgress:
    """The progress of loading the zone read from ``source`` (a file name, for the lines): a line every
    ``interval`` seconds, the clock looked at once every ``every`` records or names."""

    __slots__ = ("source", "started", "due", "every", "interval", "logged")

    def __init__(self, source: str, interval: float, every: int) -> None:
        self.source = source
        self.interval = interval
        self.every = every
        self.started = time.monotonic()
        self.due = self.started + self.interval
        self.logged = False

    def tick(self, done: int, what: str) -> None:
        """``done`` records read or names compiled so far (``what`` says which): a line when one is due,
        looked at only when ``done`` is a multiple of ``every``."""
        if done % self.every:
            return
        now = time.monotonic()
        if now >= self.due:
            log.info("loading %s: %s %s, %.1f s", self.source, f"{done:,}", what, now - self.started)
            self.due = now + self.interval
            self.logged = True

    def finish(self, records: int, names: int) -> None:
        """The zone is compiled: ``records`` read and ``names`` served; a last line when the load wrote any."""
        if self.logged:
            log.info("loaded %s: %s records, %s names in %.1f s", self.source, f"{records:,}", f"{names:,}",
                     time.monotonic() - self.started)


Progress = Callable[[str], LoadProgress]     # a file's name -> the LoadProgress of its load
