"""The client's progress bar: one line on a terminal, nothing anywhere else.

A list of thousands of names takes seconds, and someone watching a terminal
wants to see it move. A file, a pipe or a test gets nothing, so stderr
stays exactly the summary lines that scripts read.
"""
from __future__ import annotations

import os
import time
from typing import Callable, TextIO

MIN_NAMES = 200          # shorter lists finish before a bar is worth reading
REDRAW_SECONDS = 0.1     # at most ten frames a second, however fast names finish
WIDTH = 20               # cells between the brackets on a terminal wide enough
MIN_CELLS = 5            # fewer cells than this tell nothing: the bar is left out
FALLBACK_COLUMNS = 80    # when the stream's width cannot be known


def terminal_columns(stream: TextIO) -> int:
    """The width of the terminal ``stream`` writes to, in characters: ``COLUMNS`` when it is a
    positive number (as :func:`shutil.get_terminal_size` takes it), else the terminal's own
    (TIOCGWINSZ on the stream's descriptor), else 80."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns or FALLBACK_COLUMNS
    except (OSError, ValueError, AttributeError):    # no descriptor (io.UnsupportedOperation is an OSError)
        return FALLBACK_COLUMNS


def frame(done: int, total: int | None, seconds: float, room: int) -> str:
    """One line of at most ``room`` characters: ``[#####     ] 5,120/10,000 names  2.3 s``.

    As the room shrinks the bar loses cells, then goes, then the time goes, and
    what is left is cut; without a ``total`` (names read from a pipe) there is
    no bar, only ``5,120 names  2.3 s``.
    """
    count = f"{done:,}/{total:,} names" if total else f"{done:,} names"
    tail = f"{count}  {seconds:.1f} s"
    cells = min(WIDTH, room - len(tail) - 3)       # the brackets and the space after them
    if total and cells >= MIN_CELLS:
        filled = cells * done // total
        return f"[{'#' * filled}{' ' * (cells - filled)}] {tail}"
    return (tail if len(tail) <= room else count)[:room]


class ProgressBar:
    """``[#####     ] 5,120/10,000 names  2.3 s``, redrawn in place with ``\\r``.

    It is fed one :meth:`advance` per finished name and draws only when the
    last frame is at least :data:`REDRAW_SECONDS` old: no timer, no thread.
    Each frame fits the terminal's width as it is then (:func:`terminal_columns`,
    or ``columns``), one character short of it so that the cursor never
    reaches the margin, where a terminal would wrap onto a new line. ``total``
    None (names read from a pipe, not counted first): the count alone, drawn
    once :data:`MIN_NAMES` have finished.
    """

    def __init__(self, total: int | None, stream: TextIO, clock: Callable[[], float] = time.monotonic,
                 columns: Callable[[], int] | None = None) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.clock = clock
        self.columns = columns or (lambda: terminal_columns(stream))
        self.enabled = (total is None or total >= MIN_NAMES) and stream.isatty()
        self.started = clock()
        self._next_frame = self.started     # the first finished name draws at once
        self._width = 0                      # characters on screen, 0 when nothing is drawn

    def advance(self) -> None:
        """One more name finished."""
        self.done += 1
        if not self.enabled or (self.total is None and self.done < MIN_NAMES):
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
        room = max(1, self.columns() - 1)
        line = frame(self.done, self.total, now - self.started, room).ljust(min(self._width, room))
        self.stream.write("\r" + line)
        self.stream.flush()
        self._width = len(line)
