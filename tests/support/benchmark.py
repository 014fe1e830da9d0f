"""The benchmark's package (``scripts/benchmark``), imported for its tests under its own name, ``benchmark``."""
from __future__ import annotations

import importlib.util
import sys

from .paths import ROOT

PACKAGE = ROOT / "scripts" / "benchmark"


def load_benchmark() -> None:
    """Import ``scripts/benchmark`` as the package ``benchmark`` from its path, without touching sys.path."""
    if "benchmark" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location("benchmark", PACKAGE / "__init__.py",
                                                  submodule_search_locations=[str(PACKAGE)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["benchmark"] = module
    spec.loader.exec_module(module)
