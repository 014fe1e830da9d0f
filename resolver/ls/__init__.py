"""The LS: the split-DNS load balancer that races each query across its backends."""
