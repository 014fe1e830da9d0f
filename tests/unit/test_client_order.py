"""The client's in-order stream of results (:meth:`resolver.client.resolver.Resolver.resolve_in_order`),
with each name's resolution scripted: names are given out in input order as soon as every name
before them is done, and when the run is cancelled (Ctrl-C) the names done behind an unfinished
one are handed to ``on_stop``, in input order, so that none is lost."""
from __future__ import annotations

import asyncio

from resolver.client.resolver import Resolution, Resolver

NAMES = ["a.example", "b.example", "slow.example", "c.example", "d.example", "e.example"]


class Scripted(Resolver):
    """Every name resolves at once, except ``slow.example``, which never does."""

    def __init__(self) -> None:
        super().__init__("127.0.0.1", 9, concurrency=10)
        self.never = asyncio.Event()

    async def resolve(self, hostname: str) -> Resolution:
        if hostname == "slow.example":
            await self.never.wait()
        return Resolution(hostname, ["192.0.2.1"])


def test_a_cancelled_run_hands_on_the_names_done_behind_an_unfinished_one_in_input_order():
    given: list[str] = []
    stopped: list[str] = []

    async def run() -> None:
        resolver = Scripted()
        finished = 0
        all_but_slow = asyncio.Event()

        def on_done() -> None:
            nonlocal finished
            finished += 1
            if finished == len(NAMES) - 1:
                all_but_slow.set()

        async def consume() -> None:
            async for result in resolver.resolve_in_order(NAMES, on_done, on_stop=lambda r: stopped.append(r.hostname)):
                given.append(result.hostname)
        work = asyncio.ensure_future(consume())
        await asyncio.wait_for(all_but_slow.wait(), 5)
        work.cancel()
        await asyncio.gather(work, return_exceptions=True)
    asyncio.run(run())
    assert given == ["a.example", "b.example"]
    assert stopped == ["c.example", "d.example", "e.example"]


def test_a_run_that_ends_hands_nothing_to_on_stop():
    stopped: list[str] = []

    async def run() -> list[str]:
        resolver = Scripted()
        names = [name for name in NAMES if name != "slow.example"]
        return [r.hostname async for r in resolver.resolve_in_order(names, on_stop=lambda r: stopped.append(r.hostname))]
    assert asyncio.run(run()) == [name for name in NAMES if name != "slow.example"]
    assert stopped == []
