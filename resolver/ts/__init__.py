"""The TS: an authoritative DNS server answering from zone files and tables, as NSD does."""
