"""The answer cache's flags on ``ls`` (``--cache-size``, ``--cache-min-ttl``, ``--cache-max-ttl``,
``--negative-ttl-max``, ``--servfail-ttl``, ``--serve-stale``, ``--stale-answer-timeout``,
``--prefetch``) and their keys in a ``--config`` file: each form becomes the exact
:class:`CacheSettings`, each misuse is one line on stderr and exit 2 naming the flag or the key,
the help and the README's table print the defaults :class:`CacheSettings` holds, and a SIGHUP's
reread takes a changed file.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from support.paths import ROOT

from resolver import cli
from resolver.cli import build_parser, ls_rereader, ls_settings, main
from resolver.config import commands, parse_args
from resolver.ls.settings import CacheSettings, LsSettings

LISTEN_AND_BACKEND = ["--listen", "127.0.0.1:5300", "--backend", "ts1=127.0.0.1:5301"]
MIB = 1 << 20


def settings(*argv: str) -> LsSettings:
    return ls_settings(parse_args(build_parser(), ["ls", *LISTEN_AND_BACKEND, *argv]))


def config(directory: Path, text: str) -> Path:
    path = directory / "ls.toml"
    path.write_text('listen = "127.0.0.1:5300"\nbackend = "ts1=127.0.0.1:5301"\n' + text)
    return path


def from_file(directory: Path, text: str, *argv: str) -> LsSettings:
    return ls_settings(parse_args(build_parser(), ["ls", "--config", str(config(directory, text)), *argv]))


# --- flags --------------------------------------------------------------------------------------


def test_without_the_flags_the_cache_has_its_defaults():
    assert settings().cache == CacheSettings()
    assert CacheSettings().entries > 0         # on by default


@pytest.mark.parametrize("text,entries,max_bytes", [
    ("5000", 5000, None),
    ("0", 0, None),                            # off
    ("10000000", cli.MAX_CACHE_ENTRIES, None),
    ("64MiB", cli.MAX_CACHE_ENTRIES, 64 * MIB),
    ("1 mib", cli.MAX_CACHE_ENTRIES, MIB),
    ("65536MiB", cli.MAX_CACHE_ENTRIES, 65536 * MIB),
])
def test_cache_size_in_entries_or_mib(text, entries, max_bytes):
    cache = settings("--cache-size", text).cache
    assert (cache.entries, cache.max_bytes) == (entries, max_bytes)


def test_every_flag_lands_in_its_setting():
    got = settings("--cache-size", "2000", "--cache-min-ttl", "30", "--cache-max-ttl", "600",
                   "--negative-ttl-max", "60", "--servfail-ttl", "5", "--serve-stale", "86400",
                   "--stale-answer-timeout", "0.5", "--prefetch", "off").cache
    assert got == CacheSettings(entries=2000, max_bytes=None, min_ttl=30, max_ttl=600, negative_ttl_max=60,
                                servfail_ttl=5, serve_stale=86400, stale_answer_timeout=0.5, prefetch=False)


def test_the_bounds_themselves_are_taken():
    got = settings("--cache-min-ttl", "604800", "--cache-max-ttl", "604800", "--negative-ttl-max", "0",
                   "--servfail-ttl", "30", "--serve-stale", "0", "--prefetch", "on").cache
    assert (got.min_ttl, got.max_ttl, got.negative_ttl_max, got.servfail_ttl, got.serve_stale, got.prefetch) == \
        (604800, 604800, 0, 30, 0, True)
    assert settings("--servfail-ttl", "0", "--cache-min-ttl", "0").cache.servfail_ttl == 0


def test_the_help_prints_the_defaults_of_cache_settings():
    cache = CacheSettings()
    helps = {action.option_strings[0]: action.help for action in commands(build_parser())["ls"]._actions}
    for flag, default in [("--cache-size", cli.cache_size_shown(cache)), ("--cache-min-ttl", cache.min_ttl),
                          ("--cache-max-ttl", cache.max_ttl), ("--negative-ttl-max", cache.negative_ttl_max),
                          ("--servfail-ttl", cache.servfail_ttl), ("--serve-stale", cache.serve_stale),
                          ("--stale-answer-timeout", cli.shown(cache.stale_answer_timeout)),
                          ("--prefetch", "on" if cache.prefetch else "off")]:
        assert helps[flag].endswith(f"default {default})"), (flag, helps[flag])


def test_a_memory_bound_is_shown_as_the_flag_takes_it():
    assert cli.cache_size_shown(CacheSettings(entries=cli.MAX_CACHE_ENTRIES, max_bytes=64 * MIB)) == "64MiB"


# --- the config file ----------------------------------------------------------------------------


def test_every_key_in_a_config_file(tmp_path):
    got = from_file(tmp_path, """\
cache-size = "16MiB"
cache-min-ttl = 10
cache-max-ttl = 3600
negative-ttl-max = 300
servfail-ttl = 2
serve-stale = 3600
stale-answer-timeout = 1
prefetch = false
""")
    assert got.cache == CacheSettings(entries=cli.MAX_CACHE_ENTRIES, max_bytes=16 * MIB, min_ttl=10, max_ttl=3600,
                                      negative_ttl_max=300, servfail_ttl=2, serve_stale=3600,
                                      stale_answer_timeout=1.0, prefetch=False)


@pytest.mark.parametrize("value,entries", [("0", 0), ("5000", 5000), ('"5000"', 5000)])
def test_cache_size_as_a_number_or_a_string(tmp_path, value, entries):
    assert from_file(tmp_path, f"cache-size = {value}\n").cache.entries == entries


@pytest.mark.parametrize("value,prefetch", [("true", True), ("false", False), ('"on"', True), ('"off"', False)])
def test_prefetch_takes_true_false_on_and_off(tmp_path, value, prefetch):
    assert from_file(tmp_path, f"prefetch = {value}\n").cache.prefetch is prefetch


def test_flags_win_over_the_file(tmp_path):
    got = from_file(tmp_path, 'cache-size = "8MiB"\nprefetch = false\nserve-stale = 60\n',
                    "--cache-size", "100", "--prefetch", "on")
    assert (got.cache.entries, got.cache.max_bytes, got.cache.prefetch, got.cache.serve_stale) == (100, None, True, 60)


def test_a_reload_reads_the_cache_keys_again(tmp_path):
    """SIGHUP parses the command line again (:func:`resolver.cli.ls_rereader`), the file with it."""
    path = config(tmp_path, "cache-size = 1000\n")
    args = parse_args(build_parser(), ["ls", "--config", str(path)])
    args.argv = ["ls", "--config", str(path)]
    assert ls_settings(args).cache.entries == 1000
    config(tmp_path, 'cache-size = "32MiB"\nserve-stale = 600\n')
    fresh, unreloaded = ls_rereader(args)()
    assert (fresh.cache.max_bytes, fresh.cache.serve_stale, unreloaded) == (32 * MIB, 600, [])


# --- misuse: one line, exit 2 -------------------------------------------------------------------


@pytest.fixture
def run_ls(capsys, monkeypatch):
    """``main(["ls", …])`` in this process, up to the usage error: SIGHUP stays unblocked here,
    and settings that pass serve nothing (exit 0)."""
    monkeypatch.setattr(cli, "hold_hangups_until_serving", lambda: None)
    monkeypatch.setattr(cli, "serve_with_workers", lambda args, serve, on_hangup=None: 0)

    def run(*argv: str) -> tuple[int, list[str]]:
        rc = main(["ls", *argv])
        return rc, capsys.readouterr().err.splitlines()
    return run


FLAG_ERRORS = [
    ("size_negative", ["--cache-size", "-1"], "argument --cache-size: not N (entries) or NMiB: '-1'"),
    ("size_in_other_units", ["--cache-size", "64MB"], "argument --cache-size: not N (entries) or NMiB: '64MB'"),
    ("size_of_no_mib", ["--cache-size", "0MiB"], "argument --cache-size: must be from 1 to 65,536 MiB: '0MiB'"),
    ("size_past_its_mib", ["--cache-size", "65537MiB"],
     "argument --cache-size: must be from 1 to 65,536 MiB: '65537MiB'"),
    ("size_past_its_entries", ["--cache-size", "10000001"],
     "argument --cache-size: at most 10,000,000 entries (or give NMiB), not '10000001'"),
    ("min_ttl_negative", ["--cache-min-ttl", "-5"],
     "argument --cache-min-ttl: must be whole seconds from 0 to 604,800: '-5'"),
    ("max_ttl_zero", ["--cache-max-ttl", "0"],
     "argument --cache-max-ttl: must be whole seconds from 1 to 604,800, a week, as RFC 8767 caps TTLs: '0'"),
    ("max_ttl_fraction", ["--cache-max-ttl", "1.5"],
     "argument --cache-max-ttl: must be whole seconds from 1 to 604,800, a week, as RFC 8767 caps TTLs: '1.5'"),
    ("negative_ttl_past_a_day", ["--negative-ttl-max", "86401"],
     "argument --negative-ttl-max: must be whole seconds from 0 to 86,400, a day (RFC 2308 5): '86401'"),
    ("servfail_ttl_past_bind", ["--servfail-ttl", "31"],
     "argument --servfail-ttl: must be whole seconds from 0 to 30, as BIND's servfail-ttl: '31'"),
    ("serve_stale_past_a_week", ["--serve-stale", "604801"],
     "argument --serve-stale: must be whole seconds from 0 to 604,800: '604801'"),
    ("serve_stale_as_a_switch", ["--serve-stale", "on"],
     "argument --serve-stale: must be whole seconds from 0 to 604,800: 'on'"),
    ("stale_answer_timeout_zero", ["--stale-answer-timeout", "0"],
     "argument --stale-answer-timeout: must be more than 0 and at most 3600 seconds: '0'"),
    ("prefetch_neither_on_nor_off", ["--prefetch", "yes"],
     "argument --prefetch: invalid choice: 'yes' (choose from 'on', 'off')"),
]


@pytest.mark.parametrize("argv,expected", [(a, e) for _, a, e in FLAG_ERRORS], ids=[n for n, _, _ in FLAG_ERRORS])
def test_misused_flag_gives_one_line_and_exit_2(run_ls, argv, expected):
    assert run_ls(*LISTEN_AND_BACKEND, *argv) == (2, [f"resolver ls: {expected} (see --help)"])


def test_a_min_ttl_above_the_max_is_one_usage_error(run_ls):
    assert run_ls(*LISTEN_AND_BACKEND, "--cache-min-ttl", "600", "--cache-max-ttl", "300") == (
        2, ["resolver ls: --cache-min-ttl 600 is more than --cache-max-ttl 300 (see --help)"])


FILE_ERRORS = [
    ("size_as_a_switch", "cache-size = true", "cache-size: must be a string or a number, not true"),
    ("size_in_other_units", 'cache-size = "1GiB"', "cache-size: not N (entries) or NMiB: '1GiB'"),
    ("size_past_its_entries", "cache-size = 20_000_000",
     "cache-size: at most 10,000,000 entries (or give NMiB), not '20000000'"),
    ("servfail_ttl_past_bind", "servfail-ttl = 60",
     "servfail-ttl: must be whole seconds from 0 to 30, as BIND's servfail-ttl: '60'"),
    ("serve_stale_as_a_switch", "serve-stale = true", "serve-stale: must be a string or a number, not true"),
    ("prefetch_neither_on_nor_off", 'prefetch = "yes"', "prefetch: invalid choice: 'yes' (choose from 'on', 'off')"),
    ("prefetch_as_a_number", "prefetch = 1", "prefetch: invalid choice: '1' (choose from 'on', 'off')"),
]


@pytest.mark.parametrize("text,expected", [(t, e) for _, t, e in FILE_ERRORS], ids=[n for n, _, _ in FILE_ERRORS])
def test_misused_key_gives_one_line_naming_the_file_and_key(run_ls, tmp_path, text, expected):
    path = tmp_path / "ls.toml"
    path.write_text(text + "\n")
    assert run_ls("--config", str(path), *LISTEN_AND_BACKEND) == (2, [f"resolver ls: error: {path}: {expected}"])


def test_a_min_ttl_above_the_max_in_the_file_is_the_flags_error(run_ls, tmp_path):
    path = config(tmp_path, "cache-min-ttl = 7200\ncache-max-ttl = 3600\n")
    assert run_ls("--config", str(path)) == (
        2, ["resolver ls: --cache-min-ttl 7200 is more than --cache-max-ttl 3600 (see --help)"])


# --- the README ---------------------------------------------------------------------------------


def readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## The answer cache\n")
    return text[start:text.index("\n## ", start + 1)]


def test_the_readmes_table_gives_the_defaults_of_cache_settings():
    rows = dict(re.findall(r"^\| `(--[a-z-]+)[^`]*`[^|]*\| ([^|]+) \|", readme_section(), re.M))
    cache = CacheSettings()
    assert rows == {"--cache-size": cli.cache_size_shown(cache), "--cache-min-ttl": str(cache.min_ttl),
                    "--cache-max-ttl": str(cache.max_ttl), "--negative-ttl-max": str(cache.negative_ttl_max),
                    "--servfail-ttl": str(cache.servfail_ttl), "--serve-stale": str(cache.serve_stale),
                    "--stale-answer-timeout": cli.shown(cache.stale_answer_timeout),
                    "--prefetch": "on" if cache.prefetch else "off"}


def test_the_readmes_ls_command_gives_the_settings_it_describes():
    shell = "\n".join(re.findall(r"^```sh\n(.*?)^```", readme_section(), re.M | re.S)).replace("\\\n", " ")
    [argv] = [shlex.split(line, comments=True) for line in shell.splitlines()
              if line.startswith("python -m resolver ls")]
    got = ls_settings(parse_args(build_parser(), argv[3:-1])).cache
    assert (got.entries, got.max_bytes, got.serve_stale) == (cli.MAX_CACHE_ENTRIES, 64 * MIB, 86400)
