"""``--config FILE``: TOML whose keys are the flags, with flags on the command line winning.

The example configs in ``examples/`` run as real servers, their addresses
replaced by ``--listen`` and ``--backend`` flags, and answer real queries.
The merge rules and every kind of bad file are checked through the command
line in-process: one line on stderr naming the file and the key, exit 2.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import dns.rcode
import pytest

from support.paths import ROOT
from support.servers import LISTENING, query
from resolver.cli import build_parser, main, probe_settings, ts_settings
from resolver.config import ListOption, commands, config_keys, parse_args
from resolver.ts.zones import ZoneFile

EXAMPLES = ROOT / "examples"


def parse(*argv: str, parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    return parse_args(parser or build_parser(), list(argv))


def write(directory: Path, text: str, name: str = "ls.toml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


def flag_type(command: str, key: str):
    """What the flag's own type makes of a text, so tests hold whatever that type returns."""
    parser = build_parser()
    return config_keys(commands(parser)[command], parser)[key].type


def addresses(answer) -> list[str]:
    return [rd.address for rrset in answer.answer for rd in rrset]


# --- the examples, as real servers -------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_example_parses_validates_and_finds_its_files_from_anywhere(path, tmp_path, monkeypatch):
    command = path.name[:2]
    assert command in ("ts", "ls"), f"{path.name}: examples are named ts*.toml or ls*.toml"
    monkeypatch.chdir(tmp_path)                 # paths in the file are relative to the file
    args = parse(command, "--config", str(path))
    assert args.listen
    if command == "ts":
        files = [zone.path for zone in args.zone] + [Path(name) for name in args.table]
        assert files or args.secondary
        assert all(file.is_file() for file in files), files
        settings = ts_settings(args)            # every key it names is one of its [key.NAME] tables
        assert all(secondary.primaries for secondary in settings.secondaries)
    else:
        assert len(args.backend) >= 2


# The keys examples/ls.toml shows, commented out, at the LS's defaults.
DEFAULTS_SHOWN = ("udp-retries", "source-ports", "on-overflow", "learn", "learn-size", "cache-size", "cache-min-ttl",
                  "cache-max-ttl", "negative-ttl-max", "servfail-ttl", "serve-stale", "stale-answer-timeout", "prefetch")


def test_the_ls_examples_commented_keys_are_valid_when_uncommented_and_show_the_defaults(tmp_path):
    """Every ``# key = value`` line of examples/ls.toml above its tables, uncommented, is a key and
    a value the LS takes, so the file still loads when an operator turns them on; those of
    :data:`DEFAULTS_SHOWN` give what the LS has without them."""
    text = (EXAMPLES / "ls.toml").read_text()
    keys_part, tables = text.split("\n# [route]", 1)
    commented = re.compile(r"^# ([a-z][a-z-]*) = ", re.MULTILINE)
    assert set(DEFAULTS_SHOWN) <= set(commented.findall(keys_part))
    uncommented = write(tmp_path, commented.sub(r"\1 = ", keys_part) + "\n# [route]" + tables)
    as_shipped, turned_on = parse("ls", "--config", str(EXAMPLES / "ls.toml")), parse("ls", "--config", str(uncommented))
    for key in DEFAULTS_SHOWN:
        dest = key.replace("-", "_")
        assert getattr(turned_on, dest) == getattr(as_shipped, dest), key


@pytest.fixture
def example_backends(start_server):
    """TS1 and TS2 from their example files, on ports the system picks."""
    def start(*extra: str):
        return tuple(start_server("ts", "--config", str(EXAMPLES / f"{name}.toml"), "--listen", "127.0.0.1:0", *extra)
                     for name in ("ts1", "ts2"))
    return start


def start_example_ls(start_server, backends, *extra: str):
    """The LS from ls.toml, with its address and its backends replaced by flags."""
    return start_server("ls", "--config", str(EXAMPLES / "ls.toml"), "--listen", "127.0.0.1:0",
                        "--backend", backends[0].hostport, "--backend", backends[1].hostport, *extra)


def test_demo_from_example_configs(example_backends, start_server):
    ts1, ts2 = example_backends()
    ls = start_example_ls(start_server, (ts1, ts2), "--timeout", "1")

    assert addresses(query(ls, "www.ibm.com")) == ["129.42.38.10"]            # in ts1.txt
    assert addresses(query(ls, "WWW.GOOGLE.COM")) == ["8.8.8.8"]              # in ts2.txt
    assert query(ls, "www.amazon.com").rcode() == dns.rcode.NXDOMAIN         # in neither
    for server in (ts1, ts2, ls):
        server.stop()
        assert server.count_lines(LISTENING) == 1, server.lines


def test_flags_beat_the_files_timeout_answer_with_silent_backends(example_backends, start_server):
    ts1, ts2 = example_backends("--silent-miss")
    ls = start_example_ls(start_server, (ts1, ts2), "--timeout", "0.3", "--on-timeout", "servfail")

    assert addresses(query(ls, "www.ibm.com")) == ["129.42.38.10"]
    start = time.monotonic()
    assert query(ls, "www.amazon.com").rcode() == dns.rcode.SERVFAIL         # --on-timeout beat the file
    assert 0.25 < time.monotonic() - start < 2.0                             # --timeout beat the file's 5 s


# --- merge rules -------------------------------------------------------------------------------


LS_FILE = """\
listen = ["127.0.0.1:5300", "127.0.0.1:5310"]
backend = ["127.0.0.1:5301", "127.0.0.1:5302"]
timeout = 2
log-level = "warning"
"""


def test_file_values_are_used_when_no_flag_is_given(tmp_path):
    args = parse("ls", "--config", str(write(tmp_path, LS_FILE)))
    assert args.listen == [("127.0.0.1", 5300), ("127.0.0.1", 5310)]
    assert args.backend == [("127.0.0.1", 5301), ("127.0.0.1", 5302)]
    assert args.timeout == 2.0
    assert args.log_level == "warning"
    assert args.on_timeout == "nxdomain"                                      # not in the file: the default


def test_a_scalar_flag_wins_over_the_file(tmp_path):
    path = str(write(tmp_path, LS_FILE))
    args = parse("--log-level", "error", "ls", "--timeout", "3", "--config", path)
    assert (args.timeout, args.log_level) == (3.0, "error")
    assert parse("ls", "--config", path, "--timeout", "0.5").timeout == 0.5  # before or after --config
    assert parse("ls", "--config", path, "--log-level", "debug").log_level == "debug"  # after the command too


@pytest.mark.parametrize("command", [["ts", "--listen", "5300"], ["ls", "--listen", "5300", "--backend", "5301"],
                                     ["client", "--server", "127.0.0.1:5300", "hosts.txt"], ["demo"]])
def test_log_level_is_taken_before_or_after_the_command(command):
    assert parse(*command, "--log-level", "debug").log_level == "debug"
    assert parse("--log-level", "error", *command).log_level == "error"
    assert parse(*command).log_level == "info"


def test_a_repeated_flag_replaces_the_files_whole_list(tmp_path):
    path = str(write(tmp_path, LS_FILE))
    assert parse("ls", "--config", path, "--listen", "127.0.0.1:1").listen == [("127.0.0.1", 1)]
    args = parse("ls", "--backend", "127.0.0.1:7", "--config", path, "--backend", "127.0.0.1:8")
    assert args.backend == [("127.0.0.1", 7), ("127.0.0.1", 8)]
    assert args.listen == [("127.0.0.1", 5300), ("127.0.0.1", 5310)]


def test_without_a_file_repeated_flags_add_up_as_before():
    args = parse("ts", "--listen", "1", "--listen", "2", "--table", "a", "--table", "b", "--zone", "c")
    assert (args.listen, args.table) == ([("127.0.0.1", 1), ("127.0.0.1", 2)], ["a", "b"])
    assert args.zone == [ZoneFile(Path("c"))]
    assert parse("ts", "--listen", "1", "--zone", "z").table == []


def test_backend_tables_and_strings_go_through_the_flags_type(tmp_path):
    path = write(tmp_path, 'listen = "5300"\nbackend = [{ name = "ts1", address = "127.0.0.1:5301" }, '
                           '"127.0.0.1:5302", "ts3=127.0.0.1:5303"]\n')
    backend = flag_type("ls", "backend")
    assert parse("ls", "--config", str(path)).backend == [
        backend("ts1=127.0.0.1:5301"), backend("127.0.0.1:5302"), backend("ts3=127.0.0.1:5303")]


def test_a_backend_table_may_give_its_own_probe_name_after_the_files_probe_names(tmp_path):
    path = write(tmp_path, 'listen = "5300"\nprobe-name = [".", "ts2=lab.example."]\nbackend = [{ name = "ts1", address = '
                           '"127.0.0.1:5301", probe-name = "corp.example." }, "ts2=127.0.0.1:5302"]\n')
    args = parse("ls", "--config", str(path))
    assert args.probe_name == [(None, "."), ("ts2", "lab.example."), ("ts1", "corp.example.")]
    assert probe_settings(args).names == (("ts2", "lab.example."), ("ts1", "corp.example."))
    assert parse("ls", "--config", str(path), "--probe-name", "x.").probe_name == [(None, "x.")]


def test_numbers_switches_and_single_values(tmp_path):
    path = write(tmp_path, 'listen = 5301\ntable = "t.txt"\nsilent-miss = true\nworkers = 2\ntcp-timeout = 0.5\n',
                 "ts.toml")
    args = parse("ts", "--config", str(path))
    assert (args.listen, args.silent_miss, args.workers, args.tcp_timeout) == ([("127.0.0.1", 5301)], True, 2, 0.5)
    assert args.table == [str(tmp_path / "t.txt")]
    path.write_text('listen = 5301\ntable = "t.txt"\nsilent-miss = false\n')
    assert parse("ts", "--config", str(path), "--silent-miss").silent_miss is True
    assert parse("ts", "--config", str(path)).silent_miss is False


def test_file_paths_are_relative_to_the_config_file(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    write(tmp_path / "conf", 'listen = "5300"\nzone = ["../z/a.zone", "/abs/b.zone"]\n', "ts.toml")
    monkeypatch.chdir(tmp_path)
    assert parse("ts", "--config", "conf/ts.toml").zone == [ZoneFile(Path("conf/../z/a.zone")),
                                                            ZoneFile(Path("/abs/b.zone"))]
    write(tmp_path / "conf", 'listen = "5300"\nsecondary = "lab.example=127.0.0.1:53"\nzone-dir = "copies"\n', "ts.toml")
    assert parse("ts", "--config", "conf/ts.toml").zone_dir == Path("conf/copies")
    base = 'listen = "5300"\nbackend = "127.0.0.1:5301"\nquery-log = '
    assert parse("ls", "--config", str(write(tmp_path, base + '"q.log"\n'))).query_log == str(tmp_path / "q.log")
    assert parse("ls", "--config", str(write(tmp_path, base + '"-"\n'))).query_log == "-"


def test_a_flag_added_later_is_a_key_with_no_change_to_the_config_module(tmp_path):
    parser = build_parser()
    commands(parser)["ls"].add_argument("--new-port", type=flag_type("ls", "listen"))
    path = write(tmp_path, 'listen = "5300"\nbackend = "127.0.0.1:5301"\nnew-port = "127.0.0.1:9153"\n')
    assert parse("ls", "--config", str(path), parser=parser).new_port == ("127.0.0.1", 9153)


def test_every_repeatable_flag_of_ts_and_ls_replaces_the_files_list():
    """A plain action="append" would add to a file's list instead of replacing it."""
    parser = build_parser()
    for command in ("ts", "ls"):
        for key, action in config_keys(commands(parser)[command], parser).items():
            assert not isinstance(action, argparse._AppendAction), f"{command} --{key}: use ListOption"
    assert isinstance(config_keys(commands(parser)["ts"], parser)["table"], ListOption)


# --- errors: one line, exit 2, the file and the key named ---------------------------------------


def run_main(capsys, *argv: str) -> tuple[int, list[str]]:
    rc = main(list(argv))
    return rc, capsys.readouterr().err.splitlines()


BAD_LS_FILES = [
    ("unknown_key", "colour = 1", ["unknown key 'colour'", "(known: allow, backend, "]),
    ("misspelt_key", 'querylog = "-"', ["unknown key 'querylog' (did you mean 'query-log'?)"]),
    ("misspelt_key_timeout", "timout = 1", ["unknown key 'timout' (did you mean 'timeout'?)"]),
    ("the_config_key", 'config = "other.toml"', ["unknown key 'config'"]),
    ("ts_key_in_ls_file", 'zone = ["a.zone"]', ["'zone' is a key for resolver ts, not resolver ls"]),
    ("client_flag_in_ls_file", 'server = "127.0.0.1:53"', ["unknown key 'server'"]),     # the client reads no config
    ("out_of_range", "timeout = -1", ["timeout: must be more than 0 and at most 3600 seconds: '-1'"]),
    ("not_a_number", 'timeout = "soon"', ["timeout: not a number of seconds: 'soon'"]),
    ("bool_for_a_value", "timeout = true", ["timeout: must be a string or a number, not true"]),
    ("list_for_a_value", "timeout = [1, 2]", ["timeout: takes one value, not a list"]),
    ("not_an_int", "max-inflight = 2.5", ["max-inflight: must be a whole number from 1 to 1,000,000: '2.5'"]),
    ("bad_choice", 'on-timeout = "refused"', ["on-timeout: invalid choice: 'refused'"]),
    ("bad_address", 'listen = ["127.0.0.1:99999"]', ["listen: bad port"]),
    ("bad_network", 'allow = ["10.0.0.0/33"]', ["allow: not a network: '10.0.0.0/33'"]),
    ("empty_list", "allow = []", ["allow: an empty list"]),
    ("bad_backend_table", 'backend = [{ name = "ts1" }]', ["backend: a table here needs exactly"]),
    ("bad_log_level", 'log-level = "loud"', ["log-level: invalid choice: 'loud'"]),
    ("toml_syntax", 'listen = ["127.0.0.1:5300"]\ntimeout = ', ["not valid TOML", "(at line 2, column 11)"]),
]


@pytest.mark.parametrize("text,expected", [(t, e) for _, t, e in BAD_LS_FILES], ids=[n for n, _, _ in BAD_LS_FILES])
def test_bad_file_gives_one_line_naming_file_and_key(capsys, tmp_path, text, expected):
    path = write(tmp_path, text + "\n")
    rc, err = run_main(capsys, "ls", "--config", str(path), "--listen", "5300", "--backend", "127.0.0.1:5301")
    assert rc == 2
    assert len(err) == 1, err
    assert err[0].startswith(f"resolver ls: error: {path}: "), err
    for fragment in expected:
        assert fragment in err[0]


def test_ls_key_in_ts_file_and_switch_value(capsys, tmp_path):
    for text, expected in [('backend = ["127.0.0.1:5301"]', "'backend' is a key for resolver ls, not resolver ts"),
                           ('silent-miss = "yes"', "silent-miss: must be true or false, not 'yes'")]:
        path = write(tmp_path, text + "\n", "ts.toml")
        rc, err = run_main(capsys, "ts", "--config", str(path), "--listen", "5301", "--table", "t.txt")
        assert (rc, len(err)) == (2, 1), err
        assert err[0] == f"resolver ts: error: {path}: {expected}"


@pytest.mark.parametrize("name", ["missing.toml", "."], ids=["missing", "directory"])
def test_unreadable_file(capsys, tmp_path, name):
    path = tmp_path / name
    rc, err = run_main(capsys, "ts", "--config", str(path), "--listen", "5301", "--table", "t.txt")
    assert (rc, len(err)) == (2, 1), err
    assert err[0].startswith(f"resolver ts: error: {path}: cannot read: ")


def test_required_flag_in_neither_file_nor_command_line(capsys, tmp_path):
    path = write(tmp_path, 'listen = "5300"\n')
    rc, err = run_main(capsys, "ls", "--config", str(path))
    assert (rc, err) == (2, ["resolver ls: the following arguments are required: --backend (see --help)"])
    rc, err = run_main(capsys, "ls", "--backend", "127.0.0.1:5301")
    assert (rc, err) == (2, ["resolver ls: the following arguments are required: --listen (see --help)"])


def test_bad_file_through_the_real_command_prints_no_traceback(tmp_path):
    path = write(tmp_path, "timeout = [\n")
    proc = subprocess.run([sys.executable, "-m", "resolver", "ls", "--config", str(path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"resolver ls: error: {path}: not valid TOML: "), proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
