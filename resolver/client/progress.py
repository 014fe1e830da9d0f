"""The client's progress bar: one line on a terminal, nothing anywhere else.

A list of thousands of names takes seconds, and someone watching a terminal
wants to see it move. A file, a pipe or a test gets nothing, so stderr
stays exactly the summary lines that scripts read.
"""
from __future__ import annotations

import time
from typing import Callable, TextIO

MIN_NAMES = 200          # shorter lists finish before a bar is worth reading
REDRAW_SECONDS = 0.1     # at most ten frames a second, however fast names finish
WIDTH = 20               # cells between the brackets


class ProgressBar:
    """``[#####     ] 5,120/10,000 names  2.3 s``, redrawn in place with ``\\r``.

    It is fed one :meth:`advance` per finished name and draws only when the
    last frame is at least :data:`REDRAW_SECONDS` old: no timer, no thread.
    """

    def __init__(self, total: int, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.clock = clock
        self.enabled = total >= MIN_NAMES and stream.isatty()
        self.started = clock()
        self._next_frame = self.started     # the first finished name draws at once
        self._width = 0                      # characters on screen, 0 when nothing is drawn

    def advance(self) -> None:
        """One more name finished."""
        self.done += 1
        if not self.enabled:
            return
        now = self.clock()
        if now >= self._next_frame:
            self._next_frame = now + REDRAW_SECONDS
            self._draw(now)

    def clear(self) -> None:
        """Blank the bar's line, so what is printed next starts on a clean one."""
        if self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def _draw(self, now: float) -> None:
        filled = WIDTH * self.done // self.total
        line = (f"[{'#' * filled}{' ' * (WIDTH - filled)}] {self.done:,}/{self.total:,} names"
                f"  {now - self.started:.1f} s")
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = max(self._width, len(line))
