"""Tables served by a TS process, asked with dig and the client over loopback: PTR records for
the table's addresses with ``--table-ptr`` (as dnsmasq answers from its hosts files), and
internationalised names, IDNA-encoded as the client encodes them."""
from __future__ import annotations

import subprocess
import sys

import dns.name
import pytest

from support.paths import ROOT
from support.tools import IN_CI, require_tool

TABLE = """\
www.example      192.0.2.1    A
alias.example    192.0.2.1    A      # the same address again: www, written first, keeps the PTR
www.example      2001:db8::1  AAAA
other.example    192.0.2.2    A
bücher.example   192.0.2.4    A
"""


def dig(server, *args: str) -> tuple[str, list[str], list[str]]:
    """dig's status, header flags and answer lines (``owner TTL class type rdata`` made single-spaced)."""
    argv = [require_tool("dig"), f"@{server.host}", "-p", str(server.port), "+time=2", "+tries=1", *args]
    text = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=True).stdout
    status = text.split("status: ", 1)[1].split(",", 1)[0]
    flags = text.split(";; flags: ", 1)[1].split(";", 1)[0].split()
    answer = text.split(";; ANSWER SECTION:\n", 1)[1].split("\n\n", 1)[0].splitlines() if "ANSWER SECTION" in text \
        else []
    return status, flags, [" ".join(line.split()) for line in answer]


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "hosts.txt"
    path.write_text(TABLE)
    return path


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
@pytest.mark.parametrize("address,ptr", [
    ("192.0.2.1", "1.2.0.192.in-addr.arpa. 300 IN PTR www.example."),
    ("192.0.2.2", "2.2.0.192.in-addr.arpa. 300 IN PTR other.example."),
    ("2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 300 IN PTR www.example."),
    ("192.0.2.4", "4.2.0.192.in-addr.arpa. 300 IN PTR xn--bcher-kva.example."),
])
def test_table_ptr_answers_dig_x_with_the_first_name_written_for_the_address(start_server, table, transport,
                                                                            address, ptr):
    ts = start_server("ts", "--table", str(table), "--table-ptr")
    status, flags, answer = dig(ts, "-x", address, transport)
    assert (status, "aa" in flags, answer) == ("NOERROR", True, [ptr])


def test_without_table_ptr_a_reverse_name_is_nxdomain_as_before(start_server, table):
    ts = start_server("ts", "--table", str(table))
    status, flags, answer = dig(ts, "-x", "192.0.2.1")
    assert (status, "aa" in flags, answer) == ("NXDOMAIN", True, [])
    assert dig(ts, "www.example", "A")[2] == ["www.example. 300 IN A 192.0.2.1"]


def test_an_address_not_in_the_table_is_nxdomain_with_table_ptr(start_server, table):
    ts = start_server("ts", "--table", str(table), "--table-ptr")
    assert dig(ts, "-x", "192.0.2.99")[0] == "NXDOMAIN"


def test_an_internationalised_table_name_answers_its_a_label_form_and_the_client_asking_it(start_server, table,
                                                                                           tmp_path):
    ts = start_server("ts", "--table", str(table))
    assert dig(ts, "xn--bcher-kva.example", "A")[2] == ["xn--bcher-kva.example. 300 IN A 192.0.2.4"]
    assert dig(ts, "XN--BCHER-KVA.example", "A")[0] == "NOERROR"
    hosts, out = tmp_path / "names.txt", tmp_path / "out.txt"
    hosts.write_text("bücher.example\nBÜCHER.example\n")
    result = subprocess.run([sys.executable, "-m", "resolver", "client", "--server", ts.hostport, str(hosts),
                             "--out", str(out)], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert out.read_text().splitlines() == ["bücher.example 192.0.2.4 A", "BÜCHER.example 192.0.2.4 A"]


@pytest.mark.parametrize("line,reason", [
    ("xn--zz-ü.example 192.0.2.9 A", "Label has disallowed hyphens in 3rd and 4th position"),
    ("☃.example 192.0.2.9 A", "Codepoint U+2603 at position 1"),
])
def test_a_table_name_that_is_not_valid_idna_is_one_line_naming_file_and_line(tmp_path, line, reason):
    if not dns.name.have_idna_2008 and not IN_CI:      # the test extra installs idna (through selenium)
        pytest.skip("IDNA 2008 needs the idna package; dnspython falls back to IDNA 2003")
    path = tmp_path / "bad.txt"
    path.write_text(f"ok.example 192.0.2.1 A\n{line}\n")
    result = subprocess.run([sys.executable, "-m", "resolver", "ts", "--listen", "127.0.0.1:0", "--table", str(path)],
                            capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith(f"resolver ts: error: {path}:2: bad hostname '{line.split()[0]}': "
                                    "not a valid internationalised name (IDNA): "), result.stderr
    assert reason in result.stderr
