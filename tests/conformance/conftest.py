"""Fixtures of the conformance tests that compare our TS with a real NSD on zones a test module writes.

A module that defines ``ZONE_TEXTS`` (origin with its dot -> master file text) gets ``zone_files``,
``nsd`` and ``ts`` serving them for the module's length; a module with fixtures of those names
keeps its own.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from support.nsd import Nsd
from support.servers import Server
from support.zone_servers import nsd_serving, ts_serving, write_zone_files


@pytest.fixture(scope="module")
def zone_files(request, tmp_path_factory) -> list[Path]:
    return write_zone_files(tmp_path_factory.mktemp("zones"), request.module.ZONE_TEXTS)


@pytest.fixture(scope="module")
def nsd(tmp_path_factory, zone_files) -> Iterator[Nsd]:
    with nsd_serving(tmp_path_factory.mktemp("nsd"), zone_files) as server:
        yield server


@pytest.fixture(scope="module")
def ts(zone_files) -> Iterator[Server]:
    with ts_serving(zone_files) as server:
        yield server
