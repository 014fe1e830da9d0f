"""Benchmark the TS and the LS against NSD and dnsdist, on loopback, in one run.

Run it through ``scripts/bench`` (which installs dnsperf, NSD and dnsdist as
root); that script runs ``python scripts/benchmark``. The package is called
``benchmark``, not ``bench``, because ``scripts/bench`` is already the command
the README tells users to run; ``python -m benchmark`` works too with
``scripts/`` on ``PYTHONPATH``. What it does, in order:

1. Generates a split-DNS zone ``bench.`` of ``--names`` A records: TS1 holds
   the even-numbered names, TS2 the odd ones, both authoritative for the same
   zone, so a name on one TS is NXDOMAIN on the other. Each name's address is
   computed from its number, so any answer can be checked without a table.
2. Serves the two zone files with our TS and with NSD (four backends), and puts
   in front of the NSD pair and of the TS pair: our LS with learned routing
   (its default), our LS with ``--learn off`` (the full fan-out), and dnsdist.
   Each LS serves ``/metrics``, read before and after each of its runs for
   the upstream queries it sent per client query.
3. Checks a sample of answers through every frontend and backend with
   dnspython: hits must carry the right address, misses must be NXDOMAIN.
4. Runs ``dnsperf -c 1 -T 1 -q 100`` against every target in alternation for
   ``--rounds`` rounds (45% TS1 names, 45% TS2 names, 10% missing, shuffled);
   before each run of a learning LS, an unmeasured pass over each name of the
   mix once teaches it the owners, so it is measured warm.
5. Low load (one query in flight, timed by a small UDP client): the latency
   the LS adds compared with dnsdist, and the time to answer a miss that
   every backend says NXDOMAIN to.
6. Replica groups: two more NSDs that each hold every name, as one replica
   group of an LS, one ``--group-duration`` run for each policy, with each
   member's share of the queries.
7. ``--workers``: TS and LS throughput with 1, 2, ... workers, when the
   product has that flag, measured with ``dnsperf -c 8``: SO_REUSEPORT spreads
   clients over the workers by address and port, so one client socket would
   always reach the same worker.
8. Size: load time, resident memory and queries/s of a TS on a 1,000-record
   zone and on a ``--big``-record zone.
9. Load time: start to first answer and peak memory of a TS on a signed zone
   (``--signed-names``), a ``$GENERATE 1-N`` zone (``--generate``), and a
   plain-address and a mixed-type zone of ``--big`` records (``load_zones``).

10. Transfer: queries/s of a TS on a ``--transfer-records`` zone before and while
    dnspython reads an AXFR of it (``transfer``).

11. Client memory: the client's peak memory and names/s on a hostfile of
    ``--client-names`` names through an LS over a table TS (``client_memory``).

``--phases`` picks among split (1-7), sizes (8), loads (9), transfer (10) and client-memory (11).

Then it prints markdown tables (and appends them to ``--write FILE``).
Every process it starts runs in its own process group and is stopped at the
end, on error and on Ctrl-C or SIGTERM too.

Modules: ``workload`` (zones and query files), ``load_zones`` (the load test's zones), ``answers`` (asking and
checking), ``procs`` (processes by PID and group), ``targets`` (TS, LS, NSD,
dnsdist), ``measure`` (dnsperf and the low-load client), ``machine`` (tools,
memory, CPU), ``runner`` (the phases), ``transfer`` (the transfer phase's reader), ``client_memory`` (the client's run),
``report`` (markdown), ``cli`` (flags and main).
"""
