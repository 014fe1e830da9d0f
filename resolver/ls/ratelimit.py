"""An optional per-client rate limit for the LS (``--rate-limit QPS``).

A token bucket per client address, refilled on each query rather than by a
timer: ``qps`` tokens a second, up to one second's worth saved. Over the
limit a UDP query is dropped, as dnsdist's MaxQPSIPRule with DropAction
does. A reply, even REFUSED, would still send packets to a possibly spoofed
source. The table of clients is bounded: when full it is emptied, which at
worst lets a few queries through.
"""
from __future__ import annotations

import time

TABLE_LIMIT = 65536


class RateLimiter:
    """Queries per second allowed per client address."""

    def __init__(self, qps: float) -> None:
        self.qps = qps
        self.buckets: dict[str, list[float]] = {}   # host -> [tokens, last refill]
        self.dropped = 0

    def allows(self, host: str) -> bool:
        now = time.monotonic()
        bucket = self.buckets.get(host)
        if bucket is None:
            if len(self.buckets) >= TABLE_LIMIT:
                self.buckets.clear()
            bucket = self.buckets[host] = [self.qps, now]
        tokens = min(self.qps, bucket[0] + (now - bucket[1]) * self.qps)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            self.dropped += 1
            return False
        bucket[0] = tokens - 1.0
        return True
