"""The client's ``--out`` file, written line by line as the names are done, in input order.

A regular file (or one not there yet) is written under a temporary name
beside it and renamed over it once the run is over, as ``rsync`` and
``sort -o`` leave a file whole: a run that writes nothing (the server never
answered) leaves an older FILE as it was, and no reader sees half a file
(when no temporary file can be made beside it, FILE itself is written, as
the shell's ``>`` writes it). What
is not a regular file (``/dev/stdout``, a named pipe), and a symbolic link,
is written in place, a line at a time, so that a reader gets each line as
soon as it is known and a link stays a link. ``-``, ``/dev/stdout`` and
``/dev/stderr`` are written to the descriptor itself, as the shell opened it
(so ``>> log`` appends), and a FILE written again keeps its owner and mode.
"""
from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path

from .resolver import Resolution

BUFFER = 1 << 20        # octets written at a time to the temporary file
STANDARD = {"-": 1, "/dev/stdout": 1, "/dev/stderr": 2}    # --out names written to the descriptor itself


def keep_owner_and_mode(fd: int, path: Path) -> None:
    """Give the file ``fd`` the mode, and when allowed the owner, of ``path`` if it is there, so
    that a FILE written again keeps them, as the shell's ``>`` and ``sed -i`` keep them."""
    try:
        old = path.stat()
    except FileNotFoundError:
        return
    with contextlib.suppress(PermissionError):
        os.fchown(fd, old.st_uid, old.st_gid)
    os.fchmod(fd, old.st_mode & 0o7777)        # after the owner: a chown clears the set-ID bits


def is_the_input(path: Path, input_fd: int) -> bool:
    """Whether writing ``path`` (``-`` and ``/dev/stdout`` are descriptor 1) would write over the
    regular file open as ``input_fd``: the same file, through a link or a descriptor."""
    standard = STANDARD.get(str(path))
    try:
        out = os.fstat(standard) if standard is not None else path.stat()
        source = os.fstat(input_fd)
    except OSError:
        return False
    return stat.S_ISREG(source.st_mode) and (out.st_dev, out.st_ino) == (source.st_dev, source.st_ino)


class ResultFile:
    """``--out``: text lines (:meth:`Resolution.lines`) or one JSON array (:meth:`Resolution.as_json`,
    laid out as ``json.dumps(list, indent=1)`` lays it out), written as results come.

    Raises OSError when the temporary file cannot be made (the directory is
    not writable); the caller says so before any name is asked.
    """

    def __init__(self, path: Path, json_format: bool) -> None:
        self.path = path
        self.json = json_format
        self.items = 0
        standard = STANDARD.get(str(path))
        in_place = standard is not None or path.is_symlink() or (path.exists() and not path.is_file())
        self.staged = None if in_place else path.with_name(f".{path.name}.{os.getpid()}.part")
        if standard is not None:    # as the shell opened it: `>> log` still appends
            self.file = open(standard, "w", encoding="utf-8", buffering=1, closefd=False)
        elif self.staged is None:      # a reader may be watching: each line as it is done
            self.file = open(path, "w", encoding="utf-8", buffering=1)
        else:       # O_EXCL: never through a link someone left under that name; 0o666 less the umask
            try:
                fd = os.open(self.staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except OSError:     # no room for it beside FILE (a directory not ours, a name near 255 octets)
                if not path.is_file():
                    raise
                self.staged = None      # FILE itself then, written in place as the shell's > writes it
                self.file = open(path, "w", encoding="utf-8", buffering=BUFFER)
                return
            self.file = open(fd, "w", encoding="utf-8", buffering=BUFFER)

    def write(self, result: Resolution) -> None:
        """Write ``result``'s lines (or JSON item). Raises OSError naming ``--out`` (a full disk)."""
        if not self.json:
            self._write("".join(line + "\n" for line in result.lines()))
            return
        item = json.dumps([result.as_json()], indent=1)[2:-2]     # the item as the whole list indents it
        self._write(("[\n" if not self.items else ",\n") + item)
        self.items += 1

    def finish(self) -> None:
        """End the file (a JSON array's bracket) and put it in FILE's place. Raises OSError naming
        ``--out``."""
        if self.json:
            self._write("\n]\n" if self.items else "[]\n")
        try:
            if self.staged is not None:     # once written: a write clears set-ID bits
                self.file.flush()
                keep_owner_and_mode(self.file.fileno(), self.path)
            self.file.close()
            if self.staged is not None:
                os.replace(self.staged, self.path)
        except OSError as exc:
            raise self._named(exc) from None

    def _write(self, text: str) -> None:
        try:
            self.file.write(text)
        except OSError as exc:
            raise self._named(exc) from None

    def _named(self, exc: OSError) -> OSError:
        return OSError(exc.errno, f"--out {self.path}: {exc.strerror}")

    def discard(self) -> None:
        """Nothing is written: FILE stays as it was (written in place, what is there stays there)."""
        with contextlib.suppress(OSError):      # what could not be written is not wanted
            self.file.close()
        if self.staged is not None:
            self.staged.unlink(missing_ok=True)
