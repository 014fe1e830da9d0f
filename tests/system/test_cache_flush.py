"""``POST /cache/flush[?name=NAME]`` on the LS's ``--metrics`` address: the operator's way to drop
cached answers. Real servers, real HTTP over loopback: the replies to each form of request, the
line each flush logs, the refusal of a request a web page sends, and 404 where no cache runs.
"""
from __future__ import annotations

import json
import socket

import dns.rcode
import pytest

from support.paths import ZONES
from support.servers import base_url, query, scrape, value

NAME = "www.google.com"         # TS2 has it


def request(server, method: str, target: str | bytes, headers: dict[str, str] | None = None
            ) -> tuple[int, dict[str, str], str]:
    """One HTTP/1.1 request to a server's --metrics address, ``target`` sent as given (bytes: unencoded),
    read to the end (the server closes): the status, the headers (lower-case names) and the body."""
    host, port = base_url(server).removeprefix("http://").rstrip("/").rsplit(":", 1)
    target = target.encode() if isinstance(target, str) else target
    lines = [f"{name}: {text}" for name, text in {"Host": "x", **(headers or {})}.items()]
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(method.encode() + b" " + target + b" HTTP/1.1\r\n" + "".join(
            line + "\r\n" for line in lines).encode() + b"\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    fields = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), {name.lower(): text for name, text in fields.items()}, body.decode()


@pytest.fixture
def cached(start_server):
    """TS2 and an LS in front of it with --metrics and the cache at its default size."""
    ts2 = start_server("ts", "--table", str(ZONES / "ts2.txt"))
    return start_server("ls", "--backend", f"ts2={ts2.hostport}", "--metrics", "127.0.0.1:0")


def test_a_flush_of_everything_and_of_a_name_says_how_many_in_one_json_line(cached):
    """A flush drops what the cache holds, all of it or a name's and those below, so that the next
    query for a name flushed is raced again; the metrics and the log follow."""
    ls = cached
    assert query(ls, NAME).rcode() == dns.rcode.NOERROR
    assert value(scrape(ls), "resolver_ls_cache_entries") == 1
    status, headers, body = request(ls, "POST", "/cache/flush")
    assert (status, headers["content-type"], body) == (200, "application/json", '{"flushed": 1}\n')
    samples = scrape(ls)
    assert value(samples, "resolver_ls_cache_flushed_total") == 1
    assert value(samples, "resolver_ls_cache_entries") == 0
    ls.wait_for_line("cache flushed: 1 answer")
    for name in (NAME, "nowhere.example"):      # an answer under google.com, an NXDOMAIN outside it
        query(ls, name)
    samples = scrape(ls)
    assert value(samples, "resolver_ls_cache_entries") == 2
    assert value(samples, "resolver_backend_requests_total", backend="ts2") == 3     # NAME raced again
    status, _, body = request(ls, "POST", "/cache/flush?name=Google.COM")
    assert (status, body) == (200, '{"flushed": 1}\n')
    samples = scrape(ls)
    assert value(samples, "resolver_ls_cache_entries") == 1                  # the NXDOMAIN stays
    assert value(samples, "resolver_ls_cache_flushed_total") == 2
    ls.wait_for_line("cache flushed: 1 answer at or below Google.COM")
    query(ls, "nowhere.example")
    query(ls, NAME)
    assert value(scrape(ls), "resolver_backend_requests_total", backend="ts2") == 4  # NAME only


def test_a_name_reads_as_utf8_raw_or_percent_encoded(cached):
    for raw in ("/cache/flush?name=bücher.example".encode(), b"/cache/flush?name=b%C3%BCcher.example"):
        status, _, body = request(cached, "POST", raw)
        assert (status, json.loads(body)) == (200, {"flushed": 0}), raw
    status, _, body = request(cached, "POST", b"/cache/flush?name=b%FCcher.example")     # Latin-1
    assert (status, body) == (400, "not a DNS name: the query string is not UTF-8\n")


@pytest.mark.parametrize("method, target, headers, status, allow, body", [
    ("GET", "/cache/flush", {}, 405, "POST", "only POST: curl -X POST 'http://ADDR:PORT/cache/flush[?name=NAME]'\n"),
    ("HEAD", "/cache/flush?name=corp.example", {}, 405, "POST", ""),
    ("POST", "/cache/flush?name=a..b", {}, 400, None, "not a DNS name: 'a..b' (A DNS label is empty.)\n"),
    ("POST", "/cache/flush?name=", {}, 400, None, "an empty name: leave name= out to flush every answer\n"),
    ("POST", "/cache/flush", {"Origin": "http://example.com"}, 403, None,
     "refused: a request from a web page (it has an Origin header); flush from a shell, with curl -X POST\n"),
    ("POST", "/cache/flush", {"origin": "null"}, 403, None,
     "refused: a request from a web page (it has an Origin header); flush from a shell, with curl -X POST\n"),
    ("POST", "/metrics", {}, 405, "GET, HEAD", "only GET and HEAD\n"),
    # A parameter other than one name would flush more or less than asked: every answer for a
    # misspelt name, only the first of two names.
    ("POST", "/cache/flush?nmae=google.com", {}, 400, None,
     "unknown parameter 'nmae': give name=NAME or nothing\n"),
    ("POST", "/cache/flush?Name=google.com", {}, 400, None,
     "unknown parameter 'Name': give name=NAME or nothing\n"),
    ("POST", "/cache/flush?foo=bar", {}, 400, None, "unknown parameter 'foo': give name=NAME or nothing\n"),
    ("POST", "/cache/flush?name=google.com&foo=bar", {}, 400, None,
     "unknown parameter 'foo': give name=NAME or nothing\n"),
    ("POST", "/cache/flush?name=google.com&name=example.com", {}, 400, None, "give one name, not 2\n"),
], ids=["get", "head", "bad_name", "blank_name", "from_a_page", "from_a_sandboxed_page", "post_elsewhere",
        "misspelt_name", "name_in_capitals", "unknown_parameter", "a_name_and_an_unknown_parameter", "two_names"])
def test_what_is_not_a_flush_flushes_nothing(cached, method, target, headers, status, allow, body):
    assert query(cached, NAME).rcode() == dns.rcode.NOERROR
    before = scrape(cached)
    assert value(before, "resolver_ls_cache_entries") == 1
    got_status, got_headers, got_body = request(cached, method, target, headers)
    assert (got_status, got_headers.get("allow"), got_body) == (status, allow, body)
    after = scrape(cached)
    for series in ("resolver_ls_cache_flushed_total", "resolver_ls_cache_entries"):
        assert value(after, series) == value(before, series), series
    assert cached.count_lines("cache flushed") == 0


def test_where_no_cache_runs_a_flush_is_404_saying_why(start_server):
    ts = start_server("ts", "--table", str(ZONES / "ts2.txt"), "--metrics", "127.0.0.1:0")
    uncached = start_server("ls", "--backend", ts.hostport, "--cache-size", "0", "--metrics", "127.0.0.1:0")
    status, _, body = request(uncached, "POST", "/cache/flush")
    assert (status, body) == (404, "the answer cache is off (ls --cache-size 0): nothing to flush\n")
    assert request(uncached, "POST", "/cache/flush?name=a..b")[0] == 400      # the name is read first
    status, _, body = request(ts, "POST", "/cache/flush")
    assert (status, body) == (404, "no answer cache here: only the LS caches answers\n")
