"""The zone the round-robin tests serve (``ts --round-robin``, NSD's ``round-robin: yes``): RRsets
of two and three records of the kinds that turn (addresses, TXT of different lengths, MX with
in-zone targets, a wildcard's), a CNAME and a DNAME into one, and an NS RRset whose glue has two addresses."""
from __future__ import annotations

ORIGIN = "rr.test."
WWW = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
SIX = ["2001:db8::1", "2001:db8::2"]
TXT = ['"one"', '"three three three"', '"two two"']
APPS = ["198.51.100.1", "198.51.100.2"]
MX = ["10 mx1.rr.test.", "20 mx2.rr.test."]
GLUE = ["192.0.2.53", "192.0.2.54"]
MAIL = ["192.0.2.25", "192.0.2.26"]

ZONE_TEXT = "\n".join([
    f"$ORIGIN {ORIGIN}",
    "$TTL 300",
    "@ IN SOA ns hostmaster 1 7200 900 1209600 60",
    "@ IN NS ns",
    *(f"ns IN A {address}" for address in GLUE),
    *(f"www IN A {address}" for address in WWW),
    "alias IN CNAME www",
    f"dn IN DNAME {ORIGIN}",
    *(f"six IN AAAA {address}" for address in SIX),
    *(f"txt IN TXT {text}" for text in TXT),
    *(f"*.apps IN A {address}" for address in APPS),
    *(f"@ IN MX {mx}" for mx in ("10 mx1", "20 mx2")),
    *(f"mx{i} IN A {address}" for i, address in enumerate(MAIL, 1)),
]) + "\n"
