"""``python scripts/benchmark ARGS`` (what ``scripts/bench`` runs) or ``python -m benchmark ARGS``.

Run as a directory, Python puts ``scripts/benchmark`` itself first on
``sys.path``; it is replaced with ``scripts/`` so that the package imports
under its own name and its modules can import each other relatively.
"""
import sys
from pathlib import Path

if not __package__:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmark.cli import main  # noqa: E402  (after the path is set)

sys.exit(main())
