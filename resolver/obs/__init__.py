"""Observability: counters, Prometheus metrics, the status page and query logs.

Nothing here imports :mod:`resolver.ls.balancer` or :mod:`resolver.ts.server`: each server hands
its counters over through the small protocols that :mod:`.metrics` defines.
"""
