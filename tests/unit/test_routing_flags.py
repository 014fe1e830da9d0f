"""``ls --route``, ``--group``, ``--group-policy``, ``--weight``, ``--learn`` and ``--learn-size``,
and their keys in a ``--config`` file: each form becomes the exact :class:`LsSettings`, and each
misuse is one line on stderr and exit 2, naming the flag or the key.
"""
from __future__ import annotations

import logging
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from support.paths import ROOT
from resolver import cli
from resolver.cli import build_parser, ls_settings, main
from resolver.config import parse_args
from resolver.ls.settings import POLICIES, GroupSettings, LearnSettings, LsSettings

# ts1b holds what ts1 holds; the fourth backend has no name, so it is named by its address.
BACKENDS = ["--backend", "ts1=127.0.0.1:5301", "--backend", "ts1b=127.0.0.1:5306",
            "--backend", "ts2=127.0.0.1:5302", "--backend", "127.0.0.1:5303"]
LISTEN = ["--listen", "127.0.0.1:5300"]


def settings(*argv: str) -> LsSettings:
    return ls_settings(parse_args(build_parser(), ["ls", *LISTEN, *BACKENDS, *argv]))


def from_file(directory: Path, text: str, *argv: str) -> LsSettings:
    path = directory / "ls.toml"
    path.write_text('listen = "127.0.0.1:5300"\nbackend = ["ts1=127.0.0.1:5301", "ts1b=127.0.0.1:5306", '
                    '"ts2=127.0.0.1:5302", "127.0.0.1:5303"]\n' + text)
    return ls_settings(parse_args(build_parser(), ["ls", "--config", str(path), *argv]))


REPLICAS = GroupSettings("replicas", ("ts1", "ts1b"))


# --- flags --------------------------------------------------------------------------------------


def test_without_the_flags_no_routes_no_groups_and_learned_routing_at_its_defaults():
    got = settings()
    assert (got.routes, got.groups, got.learn) == ((), (), LearnSettings())


def test_routes_keep_their_order_with_each_domain_absolute_and_lower_case():
    got = settings("--route", "Corp.Example=ts2", "--route", ".=ts1, 127.0.0.1:5303", "--route", "lab.example.=ts1b")
    assert got.routes == (("corp.example.", ("ts2",)), (".", ("ts1", "127.0.0.1:5303")),
                          ("lab.example.", ("ts1b",)))


def test_a_group_has_the_default_policy_and_a_route_may_name_it():
    got = settings("--group", "replicas=ts1,ts1b", "--route", "example.com=replicas,ts2")
    assert got.groups == (REPLICAS,)
    assert REPLICAS.policy == "round-robin"
    assert got.routes == (("example.com.", ("replicas", "ts2")),)


@pytest.mark.parametrize("policy", POLICIES)
def test_each_policy(policy):
    got = settings("--group", "replicas=ts1b,ts1", "--group-policy", f"replicas={policy}")
    assert got.groups == (GroupSettings("replicas", ("ts1b", "ts1"), policy),)


def test_weights_go_to_their_group_in_its_members_order():
    got = settings("--group", "pair=ts1,ts1b", "--group", "rest=ts2,127.0.0.1:5303", "--group-policy", "pair=random",
                   "--weight", "ts1b=2", "--weight", "ts1=3")
    assert got.groups == (GroupSettings("pair", ("ts1", "ts1b"), "random", (("ts1", 3), ("ts1b", 2))),
                          GroupSettings("rest", ("ts2", "127.0.0.1:5303")))


def test_a_weight_under_another_policy_is_kept_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="resolver"):
        got = settings("--group", "replicas=ts1,ts1b", "--weight", "ts1=3")
    assert got.groups == (GroupSettings("replicas", ("ts1", "ts1b"), "round-robin", (("ts1", 3),)),)
    assert [record.getMessage() for record in caplog.records] == [
        "--weight ts1=3: group replicas picks its member by round-robin, which uses no weights; "
        "they count under --group-policy replicas=random"]


def test_learn_off_and_its_size():
    assert settings("--learn", "off", "--learn-size", "50").learn == LearnSettings(enabled=False, size=50)
    assert settings("--learn", "on").learn == LearnSettings()
    assert settings("--learn-size", "10000000").learn.size == cli.MAX_LEARN_SIZE == 10_000_000


# --- the config file ----------------------------------------------------------------------------


def test_route_and_group_tables(tmp_path):
    got = from_file(tmp_path, """\
learn = false
learn-size = 1000

[route]
"corp.example" = ["127.0.0.1:5303"]
"." = "replicas,ts2"

[group.replicas]
members = ["ts1", "ts1b"]
policy = "random"
weights = { ts1 = 3 }
""")
    assert got.routes == (("corp.example.", ("127.0.0.1:5303",)), (".", ("replicas", "ts2")))
    assert got.groups == (GroupSettings("replicas", ("ts1", "ts1b"), "random", (("ts1", 3),)),)
    assert got.learn == LearnSettings(enabled=False, size=1000)


def test_the_flags_texts_as_lists_and_the_other_keys_as_tables(tmp_path):
    got = from_file(tmp_path, """\
route = ["corp.example=127.0.0.1:5303", ".=pair"]
group = ["pair=ts1,ts1b"]
group-policy = { pair = "random" }
weight = { ts1b = 4 }
learn = "off"
""")
    assert got.routes == (("corp.example.", ("127.0.0.1:5303",)), (".", ("pair",)))
    assert got.groups == (GroupSettings("pair", ("ts1", "ts1b"), "random", (("ts1b", 4),)),)
    assert not got.learn.enabled


def test_group_tables_and_plain_members_side_by_side(tmp_path):
    got = from_file(tmp_path, """\
group-policy = "a=first-available"

[group]
a = ["ts1", "ts1b"]
b = { members = ["ts2", "127.0.0.1:5303"], policy = "least-outstanding" }
""")
    assert got.groups == (GroupSettings("a", ("ts1", "ts1b"), "first-available"),
                          GroupSettings("b", ("ts2", "127.0.0.1:5303"), "least-outstanding"))


@pytest.mark.parametrize("value,enabled", [("true", True), ("false", False), ('"on"', True), ('"off"', False)])
def test_learn_takes_true_false_on_and_off(tmp_path, value, enabled):
    assert from_file(tmp_path, f"learn = {value}\n").learn.enabled is enabled


def test_flags_win_over_the_file(tmp_path):
    text = 'learn = false\nroute = { "corp.example" = "ts2" }\n'
    got = from_file(tmp_path, text, "--learn", "on", "--route", "lab.example=ts1")
    assert got.learn.enabled
    assert got.routes == (("lab.example.", ("ts1",)),)     # the file's whole list replaced


# --- misuse: one line, exit 2 -------------------------------------------------------------------


@pytest.fixture
def run_ls(capsys, monkeypatch):
    """``main(["ls", …])`` in this process, up to the usage error: SIGHUP stays unblocked here,
    and settings that pass serve nothing (exit 0)."""
    monkeypatch.setattr(cli, "hold_hangups_until_serving", lambda: None)
    monkeypatch.setattr(cli, "serve_with_workers", lambda args, serve: 0)

    def run(*argv: str) -> tuple[int, list[str]]:
        rc = main(["ls", *argv])
        return rc, capsys.readouterr().err.splitlines()
    return run


KNOWN = "backends: ts1, ts1b, ts2, 127.0.0.1:5303"
FLAG_ERRORS = [
    ("route_to_no_backend", ["--route", "corp.example=ts9"],
     f"--route corp.example.=ts9: no backend or group is called 'ts9' ({KNOWN})"),
    ("route_to_a_named_backend_by_address", ["--route", "corp.example=127.0.0.1:5301"],
     f"--route corp.example.=127.0.0.1:5301: no backend or group is called '127.0.0.1:5301' ({KNOWN})"),
    ("route_to_no_group", ["--group", "pair=ts1,ts1b", "--route", ".=pairs"],
     f"--route .=pairs: no backend or group is called 'pairs' ({KNOWN}; groups: pair)"),
    ("second_route_for_a_domain", ["--route", "corp.example=ts2", "--route", "CORP.example.=ts1"],
     "--route corp.example.=ts1: a second route for corp.example. (the first goes to ts2)"),
    ("route_to_a_group_member", ["--group", "replicas=ts1,ts1b", "--route", "example.com=ts1b"],
     "--route example.com.=ts1b: ts1b is in group replicas: route to its group replicas"),
    ("route_without_names", ["--route", "corp.example="],
     "argument --route: an empty name in 'corp.example=' (DOMAIN=NAME[,NAME…]) (see --help)"),
    ("route_naming_one_twice", ["--route", "corp.example=ts1,ts2,ts1"],
     "argument --route: 'corp.example=ts1,ts2,ts1' names ts1 twice (see --help)"),
    ("route_without_a_domain", ["--route", "=ts1"],
     "argument --route: an empty domain; the default route is '.' (see --help)"),
    ("route_to_a_bad_domain", ["--route", "a..b=ts1"],
     "argument --route: not a domain name: 'a..b' (A DNS label is empty.) (see --help)"),
    ("route_without_equals", ["--route", "corp.example"],
     "argument --route: not DOMAIN=NAME[,NAME…]: 'corp.example' (see --help)"),
    ("group_of_no_backend", ["--group", "pair=ts1,ts9"],
     f"--group pair=ts1,ts9: no backend is called 'ts9' ({KNOWN})"),
    ("backend_in_two_groups", ["--group", "a=ts1,ts1b", "--group", "b=ts2,ts1"],
     "--group b=ts2,ts1: ts1 is in group a already; a backend can be in one group only"),
    ("group_named_as_a_backend", ["--group", "ts2=ts1,ts1b"],
     "--group ts2=ts1,ts1b: 'ts2' is a backend's name; a group needs a name of its own"),
    ("second_group_of_a_name", ["--group", "a=ts1", "--group", "a=ts2"], "--group a=ts2: a second group called 'a'"),
    ("group_without_members", ["--group", "pair="],
     "argument --group: an empty name in 'pair=' (NAME=BACKEND[,BACKEND…]) (see --help)"),
    ("group_with_a_member_twice", ["--group", "pair=ts1,ts1"],
     "argument --group: 'pair=ts1,ts1' names ts1 twice (see --help)"),
    ("group_without_a_name", ["--group", "=ts1,ts1b"],
     "argument --group: a group needs a name, without commas: '=ts1,ts1b' (see --help)"),
    ("unknown_policy", ["--group", "pair=ts1,ts1b", "--group-policy", "pair=fastest"],
     "argument --group-policy: unknown policy 'fastest' (choose from round-robin, random, least-outstanding, "
     "first-available) (see --help)"),
    ("policy_for_no_group", ["--group", "pair=ts1,ts1b", "--group-policy", "pairs=random"],
     "--group-policy pairs=random: no group is called 'pairs' (groups: pair)"),
    ("two_policies_for_a_group", ["--group", "pair=ts1,ts1b", "--group-policy", "pair=random",
                                  "--group-policy", "pair=first-available"],
     "--group-policy pair=first-available: pair is given a value twice (first pair=random)"),
    ("weight_outside_every_group", ["--group", "pair=ts1,ts1b", "--weight", "ts2=3"],
     "--weight ts2=3: ts2 is in no group (groups: pair)"),
    ("weight_without_groups", ["--weight", "ts2=3"], "--weight ts2=3: ts2 is in no group (groups: none)"),
    ("weight_of_zero", ["--weight", "ts1=0"],
     "argument --weight: must be a whole number from 1 to 1,000: '0' (see --help)"),
    ("weight_without_a_backend", ["--weight", "3"], "argument --weight: not BACKEND=N: '3' (see --help)"),
    ("learn_neither_on_nor_off", ["--learn", "yes"],
     "argument --learn: invalid choice: 'yes' (choose from 'on', 'off') (see --help)"),
    ("learn_size_of_zero", ["--learn-size", "0"],
     "argument --learn-size: must be a whole number from 1 to 10,000,000 (about 250 octets an entry): '0' (see --help)"),
    ("learn_size_past_its_bound", ["--learn-size", "10000001"],
     "argument --learn-size: must be a whole number from 1 to 10,000,000 (about 250 octets an entry): '10000001' "
     "(see --help)"),
    ("wildcard_route", ["--route", "*.example=ts1"],
     "argument --route: '*.example': a route already covers every name below its domain (write 'example'), "
     "as dnsmasq's server=/example/ does (see --help)"),
    ("wildcard_default_route", ["--route", "*=ts1"],
     "argument --route: '*': a route already covers every name below its domain (write '.') (see --help)"),
]


@pytest.mark.parametrize("argv,expected", [(a, e) for _, a, e in FLAG_ERRORS], ids=[n for n, _, _ in FLAG_ERRORS])
def test_misused_flag_gives_one_line_and_exit_2(run_ls, argv, expected):
    assert run_ls(*LISTEN, *BACKENDS, *argv) == (2, [f"resolver ls: {expected}"])


GROUP_TABLE = "(a group's table holds members, and policy and weights if it needs them)"
FILE_ERRORS = [
    ("dotted_domain_unquoted", '[route]\ncorp.example = ["ts2"]',
     "route: 'corp' holds a table: TOML splits a key at its dots, so write it in quotes, as \"corp.example\""),
    ("route_to_a_switch", '[route]\n"corp.example" = true',
     "route: corp.example: must be a string, a number or a list of strings, not True"),
    ("group_table_with_a_misspelt_key", '[group.pair]\nmember = ["ts1"]',
     f"group.pair: unknown key 'member' {GROUP_TABLE}"),
    ("group_table_with_another_key", '[group.pair]\nmembers = ["ts1"]\nweight = 3',
     f"group.pair: unknown key 'weight' {GROUP_TABLE}"),
    ("group_table_with_a_stray_key", '[group.pair]\nmembers = ["ts1"]\npolicy = "random"\nbogus-key = 1',
     f"group.pair: unknown key 'bogus-key' {GROUP_TABLE}"),
    ("group_table_without_members", '[group.pair]\npolicy = "random"', f"group.pair: no members key {GROUP_TABLE}"),
    ("wildcard_route_in_a_table", '[route]\n"*.corp.example" = ["ts2"]',
     "route: '*.corp.example': a route already covers every name below its domain (write 'corp.example'), "
     "as dnsmasq's server=/corp.example/ does"),
    ("learn_size_past_its_bound", "learn-size = 20_000_000",
     "learn-size: must be a whole number from 1 to 10,000,000 (about 250 octets an entry): '20000000'"),
    ("group_table_unknown_policy", '[group.pair]\nmembers = ["ts1", "ts1b"]\npolicy = "fastest"',
     "group.pair.policy: unknown policy 'fastest' (choose from round-robin, random, least-outstanding, "
     "first-available)"),
    ("group_table_bad_weight", '[group.pair]\nmembers = ["ts1", "ts1b"]\nweights = { ts1 = 0 }',
     "group.pair.weights: must be a whole number from 1 to 1,000: '0'"),
    ("learn_neither_on_nor_off", 'learn = "yes"', "learn: invalid choice: 'yes' (choose from 'on', 'off')"),
    ("learn_size_as_text", 'learn-size = "many"', "learn-size: must be a whole number from 1 to 10,000,000 (about 250 octets an entry): "
     "'many'"),
    ("weight_as_a_switch", "[weight]\nts1 = true", "weight: ts1: must be a string, a number or a list of strings, "
                                                   "not True"),
]


@pytest.mark.parametrize("text,expected", [(t, e) for _, t, e in FILE_ERRORS], ids=[n for n, _, _ in FILE_ERRORS])
def test_misused_key_gives_one_line_naming_the_file_and_key(run_ls, tmp_path, text, expected):
    path = tmp_path / "ls.toml"
    path.write_text(text + "\n")
    rc, err = run_ls("--config", str(path), *LISTEN, *BACKENDS)
    assert (rc, err) == (2, [f"resolver ls: error: {path}: {expected}"])


def test_a_group_tables_weight_for_a_backend_outside_it_is_the_weight_flags_error(run_ls, tmp_path):
    path = tmp_path / "ls.toml"
    path.write_text('[group.pair]\nmembers = ["ts1", "ts1b"]\npolicy = "random"\nweights = { ts2 = 3 }\n')
    assert run_ls("--config", str(path), *LISTEN, *BACKENDS) == (
        2, ["resolver ls: --weight ts2=3: ts2 is in no group (groups: pair)"])


@pytest.mark.parametrize("argv,expected", [
    (["--route", "corp.example=ts1", "--group", "pair=ts1,ts1b"],
     "resolver ls: --route corp.example.=ts1: ts1 is in group pair: route to its group pair\n"),
    (["--group-policy", "pair=fastest"], "resolver ls: argument --group-policy: unknown policy 'fastest' "
     "(choose from round-robin, random, least-outstanding, first-available) (see --help)\n"),
], ids=["after_parsing", "while_parsing"])
def test_the_real_command_exits_2_with_one_line_and_no_traceback(argv, expected):
    proc = subprocess.run([sys.executable, "-m", "resolver", "ls", "--listen", "127.0.0.1:0", *BACKENDS, *argv],
                          capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert (proc.returncode, proc.stderr, proc.stdout) == (2, expected, "")


# --- the README's examples ----------------------------------------------------------------------


def readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## Routing and load balancing\n")
    return text[start:text.index("\n## ", start + 1)]


def test_the_readmes_ls_commands_give_the_settings_it_describes():
    shell = "\n".join(re.findall(r"^```sh\n(.*?)^```", readme_section(), re.M | re.S)).replace("\\\n", " ")
    commands = [shlex.split(line, comments=True) for line in shell.splitlines()
                if line.startswith("python -m resolver ls")]
    got = [ls_settings(parse_args(build_parser(), argv[3:-1])) for argv in commands if argv[-1] == "&"]
    assert len(got) == len(commands) == 8
    assert [each.routes for each in got[:2]] == [(("corp.example.", ("corp",)),),
                                                 (("corp.example.", ("corp",)), (".", ("ts1", "ts2")))]
    assert [each.groups for each in got[2:6]] == [(GroupSettings("replicas", ("ts1", "ts1b"), policy,
                                                                 (("ts1", 3),) if policy == "random" else ()),)
                                                  for policy in POLICIES]
    assert [each.learn.enabled for each in got[6:]] == [True, False]


def test_the_readmes_config_file_gives_the_settings_it_describes(tmp_path):
    [toml] = re.findall(r"^```toml\n(.*?)^```", readme_section(), re.M | re.S)
    path = tmp_path / "ls.toml"
    path.write_text(toml)
    got = ls_settings(parse_args(build_parser(), ["ls", "--config", str(path)]))
    assert got.routes == (("corp.example.", ("corp",)), (".", ("replicas", "ts2")))
    assert got.groups == (GroupSettings("replicas", ("ts1", "ts1b"), "random", (("ts1", 3),)),)
    assert got.learn == LearnSettings(enabled=True, size=100_000)


def test_the_readmes_routing_section_points_to_the_venv_before_its_first_command():
    """The venv is activated once, under "Two commands" (tests/unit/test_readme.py); the section
    says so before its first command."""
    section = readme_section()
    assert section.index('in the virtual environment (see "Two commands")') < section.index("python -m resolver")
