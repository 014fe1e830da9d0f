"""Every numeric flag of ``ts`` and ``ls``: its bounds are taken, a value just past either is refused
with one line that names the flag and its range, and ``--log-level`` comes before or after the command."""
from __future__ import annotations

import pytest

from resolver.cli import UsageError, build_parser
from resolver.config import parse_args

TS = ["ts", "--listen", "5300"]
LS = ["ls", "--listen", "5300", "--backend", "5301"]

# (command, flag, lowest taken, highest taken, below it, above it, the error's range)
RANGES = [
    (TS, "--tcp-timeout", "0.001", "3600", "0", "3600.5", "more than 0 and at most 3600 seconds"),
    (TS, "--workers", "1", "64", "0", "65", "a whole number from 1 to 64"),
    (LS, "--workers", "1", "64", "0", "65", "a whole number from 1 to 64"),
    (LS, "--timeout", "0.001", "3600", "0", "3601", "more than 0 and at most 3600 seconds"),
    (LS, "--max-inflight", "1", "1000000", "0", "1000001", "a whole number from 1 to 1,000,000"),
    (LS, "--max-inflight", "1", "1000000", "-5", "2.5", "a whole number from 1 to 1,000,000"),
    (LS, "--max-inflight-per-client", "1", "1000000", "0", "1000001",
     "a whole number from 1 to 1,000,000"),
    (LS, "--jostle-timeout", "0.01", "3600", "0", "3601", "more than 0 and at most 3600 seconds"),
    (LS, "--nodata-grace", "0.01", "3600", "-1", "3601", "more than 0 and at most 3600 seconds"),
    (LS, "--udp-retries", "0", "16", "-1", "17", "a whole number from 0 to 16"),
    (LS, "--source-ports", "1", "256", "0", "257", "a whole number from 1 to 256"),
    (LS, "--rate-limit", "1", "1000000", "0", "1000001",
     "a whole number of queries a second from 1 to 1,000,000"),
    (LS, "--rate-limit", "1", "1000000", "0.5", "3600.5",
     "a whole number of queries a second from 1 to 1,000,000"),
    (LS, "--probe-interval", "0.1", "3600", "0", "3601", "more than 0 and at most 3600 seconds"),
    (LS, "--down-after", "1", "64", "0", "65", "a whole number from 1 to 64"),
    (LS, "--learn-size", "1", "10000000", "0", "10000001",
     "a whole number from 1 to 10,000,000 (about 250 octets an entry)"),
    (LS, "--cache-min-ttl", "0", "604800", "-1", "604801", "whole seconds from 0 to 604,800"),
    (LS, "--cache-max-ttl", "1", "604800", "0", "604801", "whole seconds from 1 to 604,800"),
    (LS, "--negative-ttl-max", "0", "86400", "-1", "86401", "whole seconds from 0 to 86,400"),
    (LS, "--servfail-ttl", "0", "30", "-1", "31", "whole seconds from 0 to 30"),
    (LS, "--serve-stale", "0", "604800", "-1", "604801", "whole seconds from 0 to 604,800"),
    (LS, "--stale-answer-timeout", "0.01", "3600", "0", "3601",
     "more than 0 and at most 3600 seconds"),
]


def parse(*argv: str):
    return parse_args(build_parser(), list(argv))


def ls_help() -> str:
    """``resolver ls --help``, its lines joined by single spaces."""
    return " ".join(build_parser()._subparsers._group_actions[0].choices["ls"].format_help().split())


@pytest.mark.parametrize("command,flag,low,high,below,above,wording", RANGES,
                         ids=[f"{r[0][0]}{r[1]}{'_' + r[4] if r[4].startswith(('-', '0.')) else ''}" for r in RANGES])
def test_numeric_flag_takes_its_range_and_names_it_when_refused(command, flag, low, high, below, above, wording):
    dest = flag[2:].replace("-", "_")
    assert getattr(parse(*command, flag, low), dest) == float(low)
    assert getattr(parse(*command, flag, high), dest) == float(high)
    for wrong in (below, above):
        with pytest.raises(UsageError) as refused:
            parse(*command, f"{flag}={wrong}")
        message = str(refused.value)
        assert f"argument {flag}: " in message and wording in message and repr(wrong) in message, message


def test_cache_size_and_weight_are_bounded():
    assert parse(*LS, "--cache-size", "10000000").cache_size == (10_000_000, None)
    with pytest.raises(UsageError, match="argument --cache-size: at most 10,000,000 entries"):
        parse(*LS, "--cache-size", "10000001")
    assert parse(*LS, "--weight", "ts1=1000").weight == [("ts1", 1000)]
    with pytest.raises(UsageError, match="argument --weight: must be a whole number from 1 to 1,000: '1001'"):
        parse(*LS, "--weight", "ts1=1001")
    with pytest.raises(UsageError, match="argument --weight: must be a whole number from 1 to 1,000: '0'"):
        parse(*LS, "--weight", "ts1=0")


def test_the_rate_limit_speaks_of_queries_not_seconds():
    assert "queries per second allowed per client address, from 1 to 1,000,000" in ls_help()
    with pytest.raises(UsageError) as refused:
        parse(*LS, "--rate-limit", "0")
    assert "seconds:" not in str(refused.value)


def test_on_timeout_says_what_each_choice_does():
    help_text = ls_help()
    assert "nxdomain says the name does not exist" in help_text
    assert "servfail says the lookup failed" in help_text
    assert "Split DNS, where a name one backend lacks may be another's, is better served by servfail" in help_text


@pytest.mark.parametrize("argv,line", [
    (["ls", "--listen", "5300", "--backend", "5301", "--timeuot", "3"],
     "resolver ls: unrecognized arguments: --timeuot 3 (did you mean --timeout?) (see --help)"),
    (["ts", "--listen", "5300", "--tabel=x"], "resolver ts: unrecognized arguments: --tabel=x (did you mean --table?)"),
    (["client", "--server", "127.0.0.1:5300", "hosts.txt", "extra"],
     "resolver client: unrecognized arguments: extra (see --help)"),
    (["ts", "--listen", "5300", "--bogus"], "resolver ts: unrecognized arguments: --bogus (see --help)")])
def test_a_flag_the_command_lacks_is_named_with_the_command_and_the_closest_flag(argv, line):
    with pytest.raises(UsageError) as refused:
        parse(*argv)
    assert str(refused.value).startswith(line)
