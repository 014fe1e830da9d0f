"""Replica groups: backends that hold the same data, one of them asked per race.

The race (:mod:`resolver.ls.race`) runs across *units*: a backend in no group
is a unit of its own, and a group is one unit, which counts as one backend for
the race rule. Inside a group one member is asked, picked by the group's
:class:`Policy`, as dnsdist's load-balancing policies pick one server of a
pool:

``round-robin``
    each member in turn (skipping those that may not be asked);
``random``
    at random, weighted by ``--weight`` (1 unless told);
``least-outstanding``
    the member awaiting the fewest replies now, ties to the first in order
    (dnsdist's ``leastOutstanding``);
``first-available``
    the first member in the order given that may be asked (dnsdist's
    ``firstAvailable``, without its QPS limit).

Members that are down (:mod:`resolver.ls.health`) are never picked. A member
that fails within a race (silent past its retransmission timeout, SERVFAIL,
REFUSED, NOTIMP, FORMERR, its TCP connection lost, or down) is replaced by
another member not yet asked in that race, picked by the same policy; the
first definite reply from a member (an answer, NODATA, NXDOMAIN, a referral)
is the group's.
"""
from __future__ import annotations

import random
from typing import Protocol, Sequence

from ..obs.stats import BackendStats
from .settings import POLICIES, GroupSettings


class Member(Protocol):
    """A backend as a policy sees it (:class:`resolver.ls.backends.Backend`)."""

    index: int
    name: str
    stats: BackendStats


class Policy(Protocol):
    """How one member of a group is picked for a query, and another in place of one that failed."""

    name: str

    def pick(self, candidates: int) -> int:
        """The index of the backend to ask, among ``candidates`` (a non-empty mask of the
        group's members that may be asked, one bit per backend index)."""

    def replace(self, failed: int, candidates: int) -> int:
        """The index of the backend to ask in place of backend ``failed``, among ``candidates``
        (a non-empty mask of the members not asked yet in that race that may be asked)."""


class _Ordered:
    """The members in the order given, with their bits; a replacement is picked as the first
    member was (:meth:`replace`)."""

    def __init__(self, members: Sequence[Member]) -> None:
        self.members = list(members)
        self.bits = [(1 << member.index, member.index) for member in members]

    def pick(self, candidates: int) -> int:
        raise NotImplementedError

    def replace(self, failed: int, candidates: int) -> int:
        return self.pick(candidates)


class RoundRobin(_Ordered):
    name = "round-robin"

    def __init__(self, members: Sequence[Member]) -> None:
        super().__init__(members)
        self._turn = 0

    def pick(self, candidates: int) -> int:
        """The next in turn among the ``candidates``, as dnsdist's ``roundrobin`` counts over the
        servers available: one turn per query."""
        chosen = [index for bit, index in self.bits if candidates & bit]
        self._turn += 1
        return chosen[self._turn % len(chosen)]

    def replace(self, failed: int, candidates: int) -> int:
        """The member after ``failed`` in the group's order (wrapping round) among the
        ``candidates``, taking no turn: a member that fails must not be every query's first."""
        order = [index for _, index in self.bits]
        start = order.index(failed) + 1 if failed in order else 0
        for index in order[start:] + order[:start]:
            if candidates >> index & 1:
                return index
        raise ValueError("no member may be asked")


class WeightedRandom(_Ordered):
    name = "random"

    def __init__(self, members: Sequence[Member], weights: Sequence[int]) -> None:
        super().__init__(members)
        self.weights = list(weights)

    def pick(self, candidates: int) -> int:
        chosen = [(weight, index) for (bit, index), weight in zip(self.bits, self.weights) if candidates & bit]
        point = random.random() * sum(weight for weight, _ in chosen)
        for weight, index in chosen:
            point -= weight
            if point < 0:
                return index
        return chosen[-1][1]


class LeastOutstanding(_Ordered):
    name = "least-outstanding"

    def pick(self, candidates: int) -> int:
        return min((member.stats.outstanding, order, member.index) for order, member in enumerate(self.members)
                   if candidates & (1 << member.index))[2]


class FirstAvailable(_Ordered):
    name = "first-available"

    def pick(self, candidates: int) -> int:
        for bit, index in self.bits:
            if candidates & bit:
                return index
        raise ValueError("no member may be asked")


def make_policy(settings: GroupSettings, members: Sequence[Member]) -> Policy:
    """The policy ``settings.policy`` names, over ``members``. Raises ValueError for an unknown one."""
    if settings.policy == "round-robin":
        return RoundRobin(members)
    if settings.policy == "random":
        weights = dict(settings.weights)
        return WeightedRandom(members, [weights.get(member.name, 1) for member in members])
    if settings.policy == "least-outstanding":
        return LeastOutstanding(members)
    if settings.policy == "first-available":
        return FirstAvailable(members)
    raise ValueError(f"unknown policy {settings.policy!r} (one of {', '.join(POLICIES)})")


class Group:
    """One replica group: its ``name``, the ``mask`` of its members, and its ``policy``."""

    __slots__ = ("name", "mask", "policy")

    def __init__(self, name: str, mask: int, policy: Policy) -> None:
        self.name = name
        self.mask = mask
        self.policy = policy


class Groups:
    """The LS's replica groups over its backends, and the unit each backend belongs to."""

    def __init__(self, groups: Sequence[GroupSettings], backends: Sequence[Member]) -> None:
        """Raises ValueError for a member that is no backend (by name, or ADDR:PORT when it has
        none), a backend in two groups, an empty group, or an unknown policy."""
        by_name = {backend.name: backend for backend in backends}
        self.groups: list[Group] = []
        self._unit_name = [backend.name for backend in backends]     # per backend: its group's name, or its own
        self.unit = [1 << backend.index for backend in backends]    # per backend: its unit's mask
        self.grouped = 0            # the backends in a group
        self.counted = 0            # the members whose outstanding replies a policy counts
        for settings in groups:
            unknown = [name for name in settings.members if name not in by_name]
            if unknown or not settings.members:
                raise ValueError(f"group {settings.name}: no backend named {unknown[0]!r}" if unknown
                                 else f"group {settings.name}: no members")
            members = [by_name[name] for name in settings.members]
            mask = 0
            for member in members:
                bit = 1 << member.index
                if self.grouped & bit or mask & bit:
                    raise ValueError(f"group {settings.name}: backend {member.name} is in a group already")
                mask |= bit
            policy = make_policy(settings, members)
            self.groups.append(Group(settings.name, mask, policy))
            self.grouped |= mask
            for member in members:
                self.unit[member.index] = mask
                self._unit_name[member.index] = settings.name
            if isinstance(policy, LeastOutstanding):
                self.counted |= mask

    def __bool__(self) -> bool:
        return bool(self.groups)

    def names(self, mask: int) -> list[str]:
        """The units of ``mask`` (one bit per backend) by name, in the backends' order, each once: a
        group's name for any of its members, a backend's own name otherwise."""
        names: list[str] = []
        for index, name in enumerate(self._unit_name):
            if mask >> index & 1 and name not in names:
                names.append(name)
        return names

    def by_name(self) -> dict[str, int]:
        """Each group's members' mask, by the group's name."""
        return {group.name: group.mask for group in self.groups}

    def choose(self, mask: int) -> int:
        """``mask`` (one bit per backend; a group's bits are the members that may be asked) with one
        member picked in each group it holds, by the group's policy; other bits unchanged."""
        if not mask & self.grouped:
            return mask
        for group in self.groups:
            candidates = mask & group.mask
            if candidates:
                mask = (mask & ~group.mask) | 1 << group.policy.pick(candidates)
        return mask

    def replacement(self, index: int, candidates: int) -> int:
        """The bit of the member to ask in place of backend ``index``, which failed, among
        ``candidates`` (the members that may be asked: up, not asked yet in this race); 0 when
        ``index`` is in no group or no other member may be asked."""
        if not self.grouped >> index & 1:
            return 0
        for group in self.groups:
            if group.mask >> index & 1:
                others = candidates & group.mask & ~(1 << index)
                return 1 << group.policy.replace(index, others) if others else 0
        return 0
