"""Summing workers' readings (resolver.obs.metrics.add and total), as the parent does with --workers:
counters and gauges add up, the config is one worker's, and a worker that ended keeps its counters."""
from __future__ import annotations

import dns.message

from resolver.obs.metrics import TsMetrics, add, total
from support.inprocess import make_ts
from support.paths import ZONES


def test_add_sums_numbers_lists_and_dicts_key_by_key():
    assert add({"n": 1, "list": [1, 2], "by": {"a": 1}, "bound": None},
               {"n": 2, "list": [3, 4], "by": {"b": 5}, "bound": None}) == \
        {"n": 3, "list": [4, 6], "by": {"a": 1, "b": 5}, "bound": None}
    assert add({}, {"by": {"a": [1, 2]}}) == {"by": {"a": [1, 2]}}      # a key only one has, as it is
    assert add(None, 3) == 3 and add(2.5, None) == 2.5 and add(0.25, 0.5) == 0.75


def answered(queries: int, tcp: int = 0) -> dict:
    """The reading of a TS of the demo's TS2 table that answered ``queries`` queries for one of its
    names, ``tcp`` of them over TCP."""
    ts = make_ts(ZONES / "ts2.txt")
    wire = dns.message.make_query("www.google.com", "A").to_wire()
    for n in range(queries):
        assert ts.reply(wire, stream=n < tcp) is not None
    return TsMetrics(ts).reading()


def test_the_sum_of_ts_workers_counts_every_query_and_each_zone_once():
    one, two, ended = answered(3, tcp=1), answered(4), answered(5)
    summed = total([one, two], ended["counters"])
    summary = TsMetrics.summary(summed)
    assert summary["queries"] == 12 == TsMetrics.queries(summed)
    zone = next(z for z in summary["zones"] if z["zone"] != "none")
    assert zone == {"zone": ".", "names": one["config"]["sizes"]["."], "queries": 12, "replies": {"NOERROR": 12}}
    assert summed["gauges"] == {"workers": 2}               # the workers running: not the one that ended
    samples = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
               for family in TsMetrics.families(summed) for sample in family.samples}
    assert samples[("resolver_ts_requests_total", (("proto", "udp"), ("zone", ".")))] == 11
    assert samples[("resolver_ts_requests_total", (("proto", "tcp"), ("zone", ".")))] == 1
    assert samples[("resolver_ts_zone_names", (("zone", "."),))] == one["config"]["sizes"]["."]   # not summed
    assert total([one]) == one                             # one worker: its own reading
