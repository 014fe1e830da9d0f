"""``--config FILE`` for ``ts`` and ``ls``: a TOML file whose keys are the command's flags.

The keys are read off the parser itself (every long option of the command, and the
top-level ones such as ``--log-level``), and every value goes through its flag's own
type and choices, so a flag added to cli.py is a config key with no change here.
The file's values become the flags' defaults, which is why a flag on the command
line wins; :class:`ListOption` makes a repeated flag replace the file's list
instead of adding to it. Besides its flags, a ``ts`` file may hold ``[key.NAME]``
tables: TSIG keys (:mod:`resolver.ts.tsig`), which no flag takes.
"""
from __future__ import annotations

import argparse
import difflib
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from .ts.tsig import read_keys

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 reads TOML with the backport tomllib came from
    import tomli as tomllib

CONFIG = "config"   # the option that names the file is not a key in it
KEY, KEYS = "key", "keys"   # [key.NAME] tables: TSIG keys, for commands whose parser has a ``keys`` default
ON_OFF = ("on", "off")  # the choices of a flag that also takes TOML's true and false (--learn)


class ConfigError(Exception):
    """A config file that cannot be used; the message is the whole line for stderr."""


class ListOption(argparse.Action):
    """A repeatable option, like ``action="append"``, except that its first use on the
    command line replaces the default (a config file's list) instead of adding to it."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        items = getattr(namespace, self.dest, None)
        first = items is None or items is self.default
        setattr(namespace, self.dest, [values] if first else [*items, values])


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv``; when the command has ``--config FILE``, the file's values become the defaults.

    The first pass only finds the command and the file, so it does not insist on
    required options: the file may hold them. The second pass is the real one, and
    argparse still reports a required option that neither the file nor ``argv`` gives.
    """
    with required_options_relaxed(parser):
        first = parser.parse_args(argv)
    path = getattr(first, CONFIG, None)
    if path is not None:
        for action, value in load(Path(path), commands(parser)[first.command], parser).items():
            action.default = value
            action.required = False
    return parser.parse_args(argv)


def load(path: Path, command: argparse.ArgumentParser, top: argparse.ArgumentParser) -> dict[argparse.Action, Any]:
    """The file's values, each converted and checked by its flag, keyed by the flag's action."""
    def fail(message: str) -> ConfigError:
        return ConfigError(f"{command.prog}: error: {path}: {message}")
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise fail(f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise fail("not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise fail(f"not valid TOML: {exc}") from None
    if KEY in data and command.get_default(KEYS) is not None:
        try:
            command.set_defaults(**{KEYS: read_keys(data.pop(KEY))})
        except ValueError as exc:
            raise fail(str(exc)) from None
    keys = config_keys(command, top)
    extra: list[tuple[str, str, object]] = []
    if GROUP in keys:
        try:
            data, extra = group_tables(data)
        except ValueError as exc:
            raise fail(str(exc)) from None
    values: dict[argparse.Action, Any] = {}
    for name, raw in data.items():
        if name not in keys:
            raise fail(unknown_key(name, keys, command, top))
        try:
            values[keys[name]] = convert(keys[name], raw, path.parent)
        except ValueError as exc:
            raise fail(f"{name}: {exc}") from None
    for where, name, raw in extra:             # after the key's own values, as a backend's probe-name
        try:
            values[keys[name]] = [*values.get(keys[name], []), *convert(keys[name], raw, path.parent)]
        except ValueError as exc:
            raise fail(f"{where}: {exc}") from None
    probes = backend_probe_names(data.get("backend", []))
    if probes and BACKEND_PROBE in keys:       # after the probe-name key's own values, so a backend's wins
        action = keys[BACKEND_PROBE]
        try:
            values[action] = [*values.get(action, []), *(checked(action, text) for text in probes)]
        except ValueError as exc:
            raise fail(f"backend: {BACKEND_PROBE}: {exc}") from None
    return values


def group_tables(data: dict) -> tuple[dict, list[tuple[str, str, object]]]:
    """The file's keys with each ``[group.NAME]`` table of the ``group`` key split up.

    A table ``{members, policy, weights}`` stays in ``group`` as ``NAME = members``
    (``NAME=B1,B2`` to ``--group``); its ``policy`` and ``weights`` come back as
    ``(where, key, value)``, ``{NAME = policy}`` for ``group-policy`` and ``weights``
    as they are for ``weight``, to be added after those keys' own values.
    Raises ValueError, naming the table and the key, for a table with another key or no members.
    """
    groups = data.get(GROUP)
    if not isinstance(groups, dict) or not any(isinstance(value, dict) for value in groups.values()):
        return data, []
    members: dict[str, object] = {}
    extra: list[tuple[str, str, object]] = []
    for name, value in groups.items():
        if not isinstance(value, dict):
            members[name] = value
            continue
        where = f"{GROUP}.{name}"
        stray = sorted(set(value) - set(GROUP_TABLE))
        if stray or "members" not in value:
            wrong = f"unknown key {stray[0]!r}" if stray else "no members key"
            raise ValueError(f"{where}: {wrong} (a group's table holds members, and policy and weights if it "
                             "needs them)")
        members[name] = value["members"]
        if "policy" in value:
            extra.append((f"{where}.policy", GROUP_TABLE["policy"], {name: value["policy"]}))
        if "weights" in value:
            extra.append((f"{where}.weights", GROUP_TABLE["weights"], value["weights"]))
    return {**data, GROUP: members}, extra


def config_keys(command: argparse.ArgumentParser, top: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Every option of ``command`` and of the top level, by its long name without the dashes.

    Options that hold no value (``--help``, ``--version``) are left out, and so is ``--config``.
    """
    keys: dict[str, argparse.Action] = {}
    for parser in (top, command):
        for action in parser._actions:      # argparse has no public list of a parser's options
            name = next((option[2:] for option in action.option_strings if option.startswith("--")), None)
            if name and name != CONFIG and action.default is not argparse.SUPPRESS:
                keys[name] = action
    return keys


def commands(top: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands' parsers by name."""
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def takes_config(command: argparse.ArgumentParser) -> bool:
    return any(action.dest == CONFIG for action in command._actions)


@contextmanager
def required_options_relaxed(top: argparse.ArgumentParser) -> Iterator[None]:
    """Every required option of every command made optional for the duration."""
    relaxed = [action for parser in (top, *commands(top).values()) for action in parser._actions
               if action.option_strings and action.required]
    for action in relaxed:
        action.required = False
    try:
        yield
    finally:
        for action in relaxed:
            action.required = True


def unknown_key(name: str, keys: dict[str, argparse.Action], command: argparse.ArgumentParser,
                top: argparse.ArgumentParser) -> str:
    """Says whose key it is when another command that reads config files has it (``zone`` in an LS's file),
    else the closest known key (difflib's ratio, at least 0.6: ``querylog`` for ``query-log``), else them all."""
    owners = [other.prog for other in commands(top).values()
              if other is not command and takes_config(other) and name in config_keys(other, top)]
    if owners:
        return f"{name!r} is a key for {' and '.join(owners)}, not {command.prog}"
    closest = difflib.get_close_matches(name, keys, n=1)
    if closest:
        return f"unknown key {name!r} (did you mean {closest[0]!r}?)"
    return f"unknown key {name!r} (known: {', '.join(sorted(keys))})"


def convert(action: argparse.Action, raw: object, base: Path) -> Any:
    """A TOML value as the flag would hold it: true/false for a switch, a list for a
    repeatable option (one value alone is a list of one; a table of ``KEY = VALUE``
    for one whose values are ``KEY=VALUE``, :data:`MAP_VALUES`), else one value."""
    if action.nargs == 0:
        if not isinstance(raw, bool):
            raise ValueError(f"must be true or false, not {raw!r}")
        return action.const if raw else action.default
    if isinstance(action, ListOption):
        if isinstance(raw, dict) and action.metavar in MAP_VALUES:
            items: list = map_items(raw)
        else:
            items = raw if isinstance(raw, list) else [raw]
        if not items:
            raise ValueError("an empty list; leave the key out instead")
        return [checked(action, as_text(item, action, base)) for item in items]
    if isinstance(raw, list):
        raise ValueError(f"takes one value, not a list: {raw!r}")
    return checked(action, as_text(raw, action, base))


PATH_METAVARS = ("FILE", "[NAME=]FILE", "DIR")    # values read as paths, relative to the config's directory
BACKEND_PROBE = "probe-name"    # a backend table's own probe name: a BACKEND=NAME of the probe-name key


@dataclass(frozen=True)
class TableForm:
    """A flag's value written as a table ``{name, VALUE}``, meaning ``NAME=VALUE``."""

    value: str                      # the key of VALUE
    required: frozenset[str]        # the keys it must have
    allowed: frozenset[str]         # the keys it may have
    wanted: str                     # how an error says so


# Flags whose value may be a table: a named backend (with its own probe name, if any), a named zone's file.
TABLE_VALUES = {
    "[NAME=]ADDR:PORT": TableForm("address", frozenset({"name", "address"}),
                                  frozenset({"name", "address", BACKEND_PROBE}),
                                  "exactly the strings name and address (and probe-name, if it has one)"),
    "[NAME=]FILE": TableForm("file", frozenset({"file"}), frozenset({"name", "file"}), "the strings file and name"),
}


# Flags whose values may be given as one table, each key and value meaning KEY=VALUE (a list
# of names as NAME,NAME): [route] "corp.example" = ["corp"], group-policy = { web = "random" },
# [secondary] "lab.example." = ["192.0.2.53:53", "key=xfr."].
MAP_VALUES = frozenset({"DOMAIN=NAME[,NAME…]", "NAME=BACKEND[,BACKEND…]", "NAME=POLICY", "BACKEND=N",
                        "ZONE=ADDR:PORT[,ADDR:PORT…][,key=NAME]"})

GROUP = "group"     # its [group.NAME] tables also give the group's policy and weights (group_tables)
GROUP_TABLE = {"members": GROUP, "policy": "group-policy", "weights": "weight"}    # each key's flag


def map_items(raw: dict) -> list[str]:
    """A table ``{KEY = VALUE}`` as the texts ``KEY=VALUE``: a list of strings as ``A,B``, a number
    as written. Raises ValueError for any other value, and says to quote a key that TOML split at
    its dots into tables (``corp.example = …`` for ``"corp.example" = …``)."""
    items = []
    for key, value in raw.items():
        if isinstance(value, dict):
            dotted = ".".join([key, *value][:2])
            raise ValueError(f"{key!r} holds a table: TOML splits a key at its dots, so write it in quotes, "
                             f"as \"{dotted}\"")
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            value = ",".join(value)
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"{key}: must be a string, a number or a list of strings, not {value!r}")
        items.append(f"{key}={value}")
    return items


def backend_probe_names(raw: object) -> list[str]:
    """The ``probe-name`` of each backend table of a ``backend`` key, as ``BACKEND=NAME``."""
    items = raw if isinstance(raw, list) else [raw]
    return [f"{item['name']}={item[BACKEND_PROBE]}" for item in items
            if isinstance(item, dict) and isinstance(item.get(BACKEND_PROBE), str)]


def as_text(raw: object, action: argparse.Action, base: Path) -> str:
    """The text the flag would get on the command line.

    Strings and numbers as written; true and false as on and off for a flag with
    those choices (:data:`ON_OFF`); a table ``{name, address}`` as ``NAME=ADDRESS``
    (a named backend), ``{name, file}`` as ``NAME=FILE`` (a named zone; ``{file}``
    alone as ``=FILE``); a FILE or DIR relative to ``base``, the config file's directory,
    so that a config works from any working directory (``-`` stays stdio), in
    ``NAME=FILE`` the part after the first ``=``.
    """
    if isinstance(raw, dict):
        return table_text(raw, action, base)
    if isinstance(raw, bool):
        if tuple(action.choices or ()) == ON_OFF:
            return ON_OFF[0] if raw else ON_OFF[1]
        raise ValueError(f"must be a string or a number, not {str(raw).lower()}")
    if not isinstance(raw, (str, int, float)):
        raise ValueError(f"must be a string or a number, not {raw!r}")
    text = str(raw)
    if action.metavar == "[NAME=]FILE" and "=" in text:
        name, _, path = text.partition("=")
        return f"{name}={base / path}"
    return str(base / text) if action.metavar in PATH_METAVARS and text != "-" else text


def table_text(raw: dict, action: argparse.Action, base: Path) -> str:
    """A table ``{name, VALUE}`` as ``NAME=VALUE`` (VALUE named by :data:`TABLE_VALUES`); a zone's
    table may leave the name out, a backend's may add its ``probe-name`` (:func:`backend_probe_names`)."""
    form = TABLE_VALUES.get(str(action.metavar))
    if form is None:
        raise ValueError(f"takes no table: {raw!r}")
    if not form.required <= set(raw) <= form.allowed or not all(isinstance(v, str) for v in raw.values()):
        raise ValueError(f"a table here needs {form.wanted}: {raw!r}")
    text = raw[form.value]
    return f"{raw.get('name', '')}={base / text if form.value == 'file' else text}"


def checked(action: argparse.Action, text: str) -> Any:
    """``text`` through the flag's type and choices, with argparse's own wording."""
    try:
        value = action.type(text) if callable(action.type) else text
    except argparse.ArgumentTypeError as exc:
        raise ValueError(str(exc)) from None
    except (TypeError, ValueError):
        raise ValueError(f"invalid {getattr(action.type, '__name__', 'value')} value: {text!r}") from None
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"invalid choice: {text!r} (choose from {', '.join(map(repr, action.choices))})")
    return value
