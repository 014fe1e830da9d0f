"""The status page in a real browser: headless Chromium driven by ChromeDriver (selenium).

An LS with two named backends serves the page while queries flow; the test
reads what the page shows (health, queries per second and sent, win share,
latency, learned routing: upstream queries per query, learned entries,
how races chose their backends, hedges; and the answer cache), then stops a
backend, waits for the page to show it down and takes a screenshot. The screenshot is kept at
``build/status-page.png``.
"""
from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

import dns.message
import dns.query
import pytest

from resolver.cli import MAX_CACHE_ENTRIES
from resolver.ls.settings import LearnSettings
from support.paths import ROOT, ZONES
from support.ports import free_port
from support.servers import base_url, query
from support.tools import require_tool

SCREENSHOT = ROOT / "build" / "status-page.png"
TS2_NAMES = ["www.google.com", "cs.rutgers.edu", "api.example.net"]


@pytest.fixture
def browser(tmp_path: Path):
    chromium, chromedriver = require_tool("chromium"), require_tool("chromedriver")
    os.environ["SE_OFFLINE"] = "true"       # selenium must not look for drivers online
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1100,700", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    yield driver
    driver.quit()


class Traffic:
    """Queries to a server from a thread, bounded in count and time, until stopped."""

    def __init__(self, host: str, port: int, names: list[str], limit: int = 20000, seconds: float = 30.0):
        self.stopped = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, args=(host, port, names, limit, seconds), daemon=True)
        self.thread.start()

    def _run(self, host: str, port: int, names: list[str], limit: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopped.is_set() and self.sent < limit and time.monotonic() < deadline:
            name = names[self.sent % len(names)]
            try:
                dns.query.udp(dns.message.make_query(name, "A"), host, port=port, timeout=1)
            except Exception:       # a lost query does not matter here: the page shows rates
                pass
            self.sent += 1
            time.sleep(0.002)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(5)


def shown(driver, selector: str) -> str | None:
    """The text of an element, read in one step: the page rebuilds its rows every second, so an
    element found first and read afterwards may already be gone."""
    return driver.execute_script(
        "const found = document.querySelector(arguments[0]); return found ? found.textContent.trim() : null;",
        selector)


def cell(driver, row_id: str, column: int | str) -> str | None:
    """A cell of a row, by its position or, in the backends' table, its column's name."""
    where = f"[data-col='{column}']" if isinstance(column, str) else f":nth-child({column})"
    return shown(driver, f"tr[id='{row_id}'] td{where}")


def wait_for(driver, condition, timeout: float = 10.0, what: str = "") -> None:
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d), message=what)


def test_the_ls_page_shows_health_rate_win_share_latency_and_learned_routing_live(start_server, browser):
    ts1 = start_server("ts", "--table", str(ZONES / "ts1.txt"), "--silent-miss")
    ts2 = start_server("ts", "--table", str(ZONES / "ts2.txt"))
    ls = start_server("ls", "--backend", f"ts1={ts1.hostport}", "--backend", f"ts2={ts2.hostport}",
                      "--probe-interval", "0.2", "--cache-size", "0", "--metrics", "127.0.0.1:0")   # every query raced
    traffic = Traffic(ls.host, ls.port, TS2_NAMES)
    try:
        browser.get(base_url(ls))
        assert browser.title == "resolver LS status"
        # Rates need two readings: wait for the second refresh to show traffic.
        wait_for(browser, lambda d: cell(d, "backend-ts2", "queries/s") not in (None, "–", "0.0"),
                 what="ts2 queries/s")
        qps = float(shown(browser, "#qps"))
        assert qps > 10, qps
        assert cell(browser, "backend-ts1", "health") == "up" and cell(browser, "backend-ts2", "health") == "up"
        assert cell(browser, "backend-ts2", "win share").endswith("100%")     # TS2 has every name asked
        assert cell(browser, "backend-ts1", "win share").endswith("0%")
        assert cell(browser, "backend-ts2", "avg latency").endswith(" ms")
        assert cell(browser, "backend-ts2", "address") == ts2.hostport
        assert cell(browser, "backend-ts2", "group") is None         # no replica groups: no group column
        assert int(cell(browser, "backend-ts2", "sent")) > int(cell(browser, "backend-ts1", "sent")) > 0
        assert shown(browser, "#outcomes").startswith("won ")
        # Each name was asked of both once; TS2 answered, so it alone is asked from then on.
        wait_for(browser, lambda d: shown(d, "#upstream") == "1.00", what="one upstream query per query")
        assert shown(browser, "#learned") == f"{len(TS2_NAMES)} of {LearnSettings.size}"
        assert shown(browser, "#routing").endswith(f"fanout {len(TS2_NAMES)}")
        assert shown(browser, "#hedges") == "none yet"
        assert cell(browser, "backend-ts1", "hedges") == "0" and cell(browser, "backend-ts2", "failovers") == "0"
        assert browser.find_element("id", "routes-section").is_displayed() is False     # no routes, no groups
        assert browser.find_element("id", "groups-section").is_displayed() is False
        assert shown(browser, "#cache-off") == "off (--cache-size 0): every query is raced"
        assert browser.find_element("id", "cache-cards").is_displayed() is False
        ts1.stop()
        wait_for(browser, lambda d: cell(d, "backend-ts1", "health") == "down", what="ts1 shown down")
        assert cell(browser, "backend-ts2", "health") == "up"
        SCREENSHOT.parent.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(SCREENSHOT))
        assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and SCREENSHOT.stat().st_size > 10000
    finally:
        traffic.stop()


def test_the_ls_page_shows_routes_replica_groups_and_failovers(routed_group, browser):
    ls = routed_group
    query(ls, "api.example.net")        # broken says SERVFAIL: ts2 is asked in its place
    browser.get(base_url(ls))
    wait_for(browser, lambda d: cell(d, "group-pair", 3) == "broken, ts2", what="the group's members")
    assert cell(browser, "group-pair", 2) == "first-available"
    assert [cell(browser, "route-example.net.", column) for column in (1, 2)] == ["example.net.", "pair"]
    assert cell(browser, "backend-ts2", "group") == "pair" and cell(browser, "backend-ts1", "group") == "–"
    assert cell(browser, "backend-ts2", "failovers") == "1" and cell(browser, "backend-broken", "failovers") == "0"
    assert shown(browser, "#routing") == "route 1"


def test_the_ls_page_shows_a_backend_starting_until_its_first_probes_judge_it(start_server, browser):
    """Started before its backends, with a first probe round of 6 s: the page shows each backend
    starting (not up, not down), then up for the one started meanwhile, and down for the one that
    never comes once the round is over."""
    late, never = free_port(), free_port()
    ls = start_server("ls", "--backend", f"late=127.0.0.1:{late}", "--backend", f"never=127.0.0.1:{never}",
                      "--probe-interval", "6", "--metrics", "127.0.0.1:0")
    started = time.monotonic()
    browser.get(base_url(ls))
    wait_for(browser, lambda d: cell(d, "backend-late", "health") is not None, what="the backends' rows")
    assert [cell(browser, f"backend-{name}", "health") for name in ("late", "never")] == ["starting", "starting"]
    assert shown(browser, "tr[id='backend-never'] .badge.starting") == "starting"
    start_server("ts", "--table", str(ZONES / "ts1.txt"), listen=f"127.0.0.1:{late}")
    wait_for(browser, lambda d: cell(d, "backend-late", "health") == "up", 8, "late shown up")
    assert time.monotonic() - started < 6, "the TS came up after the first round: the test proves nothing"
    assert cell(browser, "backend-never", "health") == "starting"
    wait_for(browser, lambda d: cell(d, "backend-never", "health") == "down", 10, "never shown down")
    assert time.monotonic() - started >= 5


def test_the_ls_page_shows_the_cache_answering_live(start_server, browser):
    """Each name is raced once and answered from the cache from then on: the page shows the answers
    held against the bound, their memory against its bound, and a hit ratio that reaches 100%."""
    ts2 = start_server("ts", "--table", str(ZONES / "ts2.txt"))
    ls = start_server("ls", "--backend", f"ts2={ts2.hostport}", "--cache-size", "8MiB", "--metrics", "127.0.0.1:0")
    traffic = Traffic(ls.host, ls.port, TS2_NAMES)
    try:
        browser.get(base_url(ls))
        wait_for(browser, lambda d: shown(d, "#cache-hit-ratio") == "100.0%", what="every lookup a hit")
        assert shown(browser, "#cache-entries") == f"{len(TS2_NAMES)} of {MAX_CACHE_ENTRIES}"
        assert re.fullmatch(r"\d+\.\d KiB of 8\.00 MiB", shown(browser, "#cache-memory"))
        assert re.fullmatch(r"\d+\.\d% since start", shown(browser, "#cache-hit-ratio-overall"))
        assert [shown(browser, f"#cache-{key}") for key in ("stale", "evictions")] == ["0", "0"]
        assert shown(browser, "#cache-prefetches").isdigit()
        assert browser.find_element("id", "cache-off").is_displayed() is False
        assert "cache " in shown(browser, "#outcomes")         # races ended: answered from the cache
    finally:
        traffic.stop()


def test_the_ts_page_shows_its_zones(start_server, browser):
    ts = start_server("ts", "--zone", str(ZONES / "example.com.zone"), "--metrics", "127.0.0.1:0")
    traffic = Traffic(ts.host, ts.port, ["web.example.com", "nope.example.com"])
    try:
        browser.get(base_url(ts))
        wait_for(browser, lambda d: cell(d, "zone-example.com.", 3) not in (None, "–", "0.0"),
                 what="zone queries/s")
        assert shown(browser, "#title") == "resolver TS: zones"
        replies = cell(browser, "zone-example.com.", 5)
        assert "NOERROR" in replies and "NXDOMAIN" in replies
        assert browser.find_element("id", "cache-section").is_displayed() is False     # only the LS caches
    finally:
        traffic.stop()
