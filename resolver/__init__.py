"""A DNS load-balancing resolver (LS) over authoritative servers (TS), with a client."""

__version__ = "0.1.0"
