"""A backend's round-trip time (RTT) and retransmission timeout (RTO), as RFC 6298 computes them.

Per backend the LS keeps a smoothed RTT (SRTT) and its mean deviation (RTTVAR),
in seconds, as Unbound's infrastructure cache does (``util/rtt.c``):

* before any sample the RTO is 376 ms, Unbound's ``rtt_init`` (SRTT 0, RTTVAR
  94 ms), where RFC 6298 (2.1) starts TCP at 1 s;
* the first sample R sets SRTT = R and RTTVAR = R/2 (RFC 6298 2.2); each later
  one moves RTTVAR a quarter and SRTT an eighth of the way (2.3, the gains of
  Unbound's ``rtt_update``);
* RTO = SRTT + 4 * RTTVAR, kept between a floor and a ceiling (2.4, 2.5).
  Unbound's are 50 ms and 120 s (``RTT_MIN_TIMEOUT``, ``RTT_MAX_TIMEOUT``), for
  servers across the Internet; an LS's backends sit on its LAN or host and
  reply within a millisecond, so its floor is lower, and its ceiling stays
  below a race's timeout, so that a race gets a retransmission even to a
  backend whose RTO has backed off
  (:class:`resolver.ls.settings.RetransmitSettings`).

Karn's algorithm: a reply to a query that went to the backend more than once
is no sample, since it cannot tell which copy it answers; the caller gives
only replies to queries sent once (:mod:`resolver.ls.race`).

Backoff: past :data:`BACKOFF_AFTER` queries in a row whose first copy the
backend left unanswered for an RTO, each further one doubles the RTO, up to
the ceiling, until the next query answered in time (RFC 6298 5.5 and 5.7;
Knot Resolver backs off by its count of timeouts in a row). Only while the
backend has answered no query in time, and no health probe, for
:data:`BACKOFF_QUIET` do its timeouts count (a backend asked rarely for its
own names still answers its probes every ``--probe-interval``): a backend that answers some names and stays silent on the
others (``--silent-miss``) is not slow, and its lost datagrams must not wait
a backed-off RTO. Without it Karn's rule would keep a
too-short RTO for ever: once a backend's RTT has grown past its RTO, every
query is retransmitted and none gives a sample. The few tolerated in a row
keep random loss from lengthening the next queries' first wait: Unbound's
``rtt_lost`` doubles the RTO at every timeout, which, simulated with 20% loss
each way and one query at a time, leaves 1.2% of the names unanswered within
1 s, where this leaves 0.1%.
"""
from __future__ import annotations

INITIAL_RTTVAR = 0.094      # seconds: Unbound's rtt_init, so the first RTO is 4 * 94 ms
SRTT_GAIN = 1 / 8           # RFC 6298's alpha (Unbound: g)
RTTVAR_GAIN = 1 / 4         # RFC 6298's beta (Unbound: h)
DEVIATIONS = 4              # RFC 6298's K: the RTO is SRTT plus this many RTTVARs
BACKOFF_AFTER = 3           # queries in a row left unanswered for an RTO before the RTO doubles
BACKOFF_QUIET = 3.0         # seconds without a query or probe answered before unanswered ones count


class RttEstimator:
    """One backend's SRTT, RTTVAR and RTO, in seconds; the RTO within [``floor``, ``ceiling``].

    :meth:`sample` takes a reply's round-trip time, :meth:`timed_out` a query's
    first copy left unanswered for an RTO, :meth:`answered` a query answered
    in time; :attr:`rto` is the RTO to use now.
    """

    __slots__ = ("floor", "ceiling", "srtt", "rttvar", "rto", "timeouts", "answered_at")

    def __init__(self, floor: float, ceiling: float) -> None:
        """Raises ValueError unless 0 < ``floor`` <= ``ceiling``."""
        if not 0 < floor <= ceiling:
            raise ValueError(f"the RTO's floor ({floor:g} s) must be above 0 and at most its ceiling ({ceiling:g} s)")
        self.floor = floor
        self.ceiling = ceiling
        self.srtt: float | None = None     # no sample yet
        self.rttvar = INITIAL_RTTVAR
        self.timeouts = 0                   # queries in a row left unanswered for an RTO
        self.answered_at = float("-inf")    # when a query was last answered in time (perf_counter())
        self.rto = min(ceiling, max(floor, DEVIATIONS * INITIAL_RTTVAR))

    def sample(self, seconds: float, now: float) -> None:
        """A reply ``seconds`` after its query, which went out once, at ``now`` (perf_counter()): update
        SRTT and RTTVAR, and the RTO from them, which ends any backoff (RFC 6298 2.2, 2.3, 5.7)."""
        srtt = self.srtt
        if srtt is None:
            srtt, rttvar = seconds, seconds / 2
        else:
            delta = seconds - srtt
            rttvar = self.rttvar + ((delta if delta >= 0 else -delta) - self.rttvar) * RTTVAR_GAIN
            srtt += delta * SRTT_GAIN
        self.srtt, self.rttvar = srtt, rttvar
        self.answered(now)

    def answered(self, now: float) -> None:
        """A query that went out once was answered before its RTO passed, at ``now`` (perf_counter()):
        end any backoff, the RTO back to SRTT + 4 RTTVAR (RFC 6298 2.3). The backend answers at its
        usual round trip, so the queries left unanswered around it were lost, or names it stays
        silent on (``--silent-miss``), not a backend grown slow; a backend that answers only after
        its RTO gives no such reply."""
        self.timeouts = 0
        self.answered_at = now
        rto = (self.srtt or 0.0) + DEVIATIONS * self.rttvar
        self.rto = self.floor if rto < self.floor else self.ceiling if rto > self.ceiling else rto

    def timed_out(self, now: float, alive_at: float = float("-inf")) -> None:
        """A query's first copy went unanswered for an RTO, seen at ``now`` (perf_counter()): past
        :data:`BACKOFF_AFTER` such queries in a row, double the RTO (at most the ceiling) until the
        next query answered in time. Queries unanswered within :data:`BACKOFF_QUIET` of one answered
        in time, or of ``alive_at`` (when the backend last answered a health probe), do not count:
        the backend is answering, and stays silent on names it lacks."""
        if now - max(self.answered_at, alive_at) < BACKOFF_QUIET:
            return
        self.timeouts += 1
        if self.timeouts > BACKOFF_AFTER:
            self.rto = min(self.ceiling, 2 * self.rto)
