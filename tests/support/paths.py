"""Where the project's files are: the checkout's root and its example zones."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
ZONES = ROOT / "zones"
