"""Helpers the tests share: server processes, fake backends, NSD runs, waiting."""
