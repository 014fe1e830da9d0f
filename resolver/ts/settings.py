"""What the TS is told: every default of the TS lives here, once.

The command line (:mod:`resolver.cli`) and ``--config`` files build a
:class:`TsSettings`; :func:`resolver.ts.serve.load` reads the zones it names.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .zones import ZoneFile


@dataclass(frozen=True)
class TsSettings:
    """Everything the TS is told, apart from where it listens.

    ``zones``: RFC 1035 master files, each a path or a :class:`~resolver.ts.zones.ZoneFile`
    that may name its zone; ``tables``: ``hostname IP A`` tables, each
    served as the root zone; ``silent_miss``: reply only with positive answers
    (the assignment's TS); ``query_log``: ``-`` for stderr or a file (``None``: off).
    """

    zones: tuple[Path | ZoneFile, ...] = ()
    tables: tuple[Path, ...] = ()
    silent_miss: bool = False
    query_log: str | None = None
