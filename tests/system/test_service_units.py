"""The systemd units in examples/: ``systemd-analyze verify`` finds nothing to say about them, and
their command lines are commands and flags the program has.

No systemd runs here to start them, so each unit is checked offline: a copy
whose ``ExecStart`` names this venv's ``dns-fanout`` (the units name
``/opt/dns-fanout/bin/dns-fanout``, which verify wants to exist) must verify
without a line of output, and every ``--flag`` of its command line must be a
flag of its command. What a started unit does (READY=1, SIGHUP, the user it
runs as) tests/system/test_service_notify.py and tests/privileged/test_privileges.py check.
"""
from __future__ import annotations

import configparser
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from resolver.cli import build_parser
from support.paths import ROOT
from support.tools import require_tool

UNITS = sorted((ROOT / "examples").glob("*.service"))
INSTALLED = "/opt/dns-fanout/bin/dns-fanout"    # where the units' ExecStart looks for the program
VERIFY_TIMEOUT = 60.0                           # seconds for one systemd-analyze run


def service(unit: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str        # keys keep their case, as systemd reads them
    parser.read_string(unit.read_text())
    return parser["Service"]


def test_there_is_a_unit_for_the_ls_and_for_the_ts():
    assert [unit.name for unit in UNITS] == ["resolver-ls.service", "resolver-ts.service"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_systemd_analyze_verify_finds_nothing(unit, tmp_path):
    verify = require_tool("systemd-analyze")
    program = Path(sys.executable).parent / "dns-fanout"
    assert INSTALLED in unit.read_text() and program.is_file()
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text().replace(INSTALLED, str(program)))
    done = subprocess.run([verify, "verify", str(copy)], capture_output=True, text=True, timeout=VERIFY_TIMEOUT)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_the_unit_is_type_notify_reloads_with_sighup_and_binds_port_53_without_staying_root(unit):
    settings = service(unit)
    argv = shlex.split(settings["ExecStart"])
    assert argv[0] == INSTALLED and argv[1] == unit.stem.removeprefix("resolver-")
    assert settings["Type"] == "notify"
    assert settings["ExecReload"] == "kill -HUP $MAINPID"
    if "--user" in argv:        # started as root, dropping to the user itself
        assert "User" not in settings
    else:                       # started as the user, given the one right port 53 needs
        assert settings["User"] and settings["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_every_flag_of_execstart_is_a_flag_of_its_command(unit):
    argv = shlex.split(service(unit)["ExecStart"])
    commands = next(action for action in build_parser()._actions if action.choices and "ts" in action.choices)
    known = {flag for action in commands.choices[argv[1]]._actions for flag in action.option_strings}
    assert {word for word in argv[2:] if word.startswith("--")} <= known
