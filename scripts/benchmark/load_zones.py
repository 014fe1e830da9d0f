"""The zones of the load-time test: a signed zone, a ``$GENERATE`` zone and a mixed-type zone.

Each writer makes a master file for ``bench.`` and returns a :class:`LoadZone`:
the file, its record count, and a name that exists in it (asked until the TS
answers, which is when its load is over). The names follow :mod:`.workload`
(``h{i:07d}.bench`` holds ``address_of(i)``), so the probe's answer can be checked.

* :func:`write_signed_zone`: ``names`` names, each with an A record, its RRSIG
  and its NSEC3 record (and that record's RRSIG) at a hashed owner, as a signer
  writes them (RFC 4034 3, RFC 5155 3); the signatures and hashes are random
  bytes written as text, since loading does not check them.
* :func:`write_generate_zone`: one ``$GENERATE 1-N`` line of A records.
* :func:`write_plain_zone`: plain A records, the yardstick for the mixed zone;
* :func:`write_mixed_zone`: ``records`` records, four in five plain A records,
  the fifth of each five in turn an MX (whose exchange is an A name of the
  zone), a TXT, a CNAME (to an A name), a delegation (NS to a name below the
  cut, with its glue A) or a wildcard A.
"""
from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .workload import ORIGIN, ZONE_HEADER, address_of, hit_name, write_lines, write_zone

SIGNATURE_TIMES = "20300101000000 20200101000000"
KEY_TAG = 12345
HEADER_RECORDS = ZONE_HEADER.count("\n") - 2      # ZONE_HEADER's SOA, NS and A, not its $ORIGIN and $TTL


@dataclass
class LoadZone:
    """A zone of the load-time test: its file, what it is, its records, and a name it holds."""
    label: str
    path: Path
    records: int
    probe: str


def _base64(rng: random.Random, size: int) -> str:
    return base64.b64encode(rng.randbytes(size)).decode()


def _rrsig(rng: random.Random, covered: str, labels: int) -> str:
    """The rdata of an RRSIG by an RSA/SHA-256 key of 2048 bits (a 256-byte signature), in text."""
    return f"RRSIG {covered} 8 {labels} 300 {SIGNATURE_TIMES} {KEY_TAG} {ORIGIN} {_base64(rng, 256)}"


def _signed_lines(names: int, rng: random.Random) -> Iterator[str]:
    yield f"@ IN {_rrsig(rng, 'SOA', 1)}\n@ IN {_rrsig(rng, 'NS', 1)}\n"
    yield f"@ IN DNSKEY 257 3 8 {_base64(rng, 260)}\n@ IN DNSKEY 256 3 8 {_base64(rng, 260)}\n"
    yield f"@ IN {_rrsig(rng, 'DNSKEY', 1)}\n"
    yield f"@ IN NSEC3PARAM 1 0 0 -\n@ IN {_rrsig(rng, 'NSEC3PARAM', 1)}\n"
    yield f"ns1 IN {_rrsig(rng, 'A', 2)}\n"
    hashes = sorted(base64.b32hexencode(rng.randbytes(20)).decode().lower() for _ in range(names))
    for index in range(names):
        owner = hit_name(index).split(".", 1)[0]
        yield f"{owner} IN A {address_of(index)}\n{owner} IN {_rrsig(rng, 'A', 2)}\n"
    for index, hashed in enumerate(hashes):
        following = hashes[(index + 1) % len(hashes)]
        yield f"{hashed} IN NSEC3 1 0 0 - {following.upper()} A RRSIG\n{hashed} IN {_rrsig(rng, 'NSEC3', 2)}\n"


def write_signed_zone(path: Path, names: int, seed: int) -> LoadZone:
    """A signed zone of ``names`` names (and as many NSEC3 owners), written as a signer writes it."""
    count = write_lines(path, _signed_lines(names, random.Random(seed))) + HEADER_RECORDS
    return LoadZone(f"signed, {names:,} names", path, count, hit_name(names - 1))


def write_generate_zone(path: Path, count: int) -> LoadZone:
    """``$GENERATE 1-count`` of A records ``h{i:07d}`` (BIND's syntax: ``${0,7,d}`` pads to 7 digits)."""
    with path.open("w") as out:
        out.write(ZONE_HEADER + f"$GENERATE 1-{count} h${{0,7,d}} A 10.0.0.1\n")
    return LoadZone(f"$GENERATE 1-{count}", path, count + HEADER_RECORDS, hit_name(count))


def write_plain_zone(path: Path, records: int) -> LoadZone:
    """The yardstick of the mixed zone: ``records`` plain A records (the size test's zone)."""
    count = write_zone(path, range(records)) + HEADER_RECORDS
    return LoadZone(f"plain addresses, {records:,} records", path, count, hit_name(records - 1))


def _mixed_lines(records: int) -> Iterator[str]:
    written = HEADER_RECORDS
    index = 0
    while written < records:
        line = _mixed_line(index)
        yield line
        written += line.count("\n")        # one record a line
        index += 1


def _mixed_line(index: int) -> str:
    """Record ``index`` of the mixed zone: a plain address, or one in five of another kind."""
    kind = index % 25
    if kind % 5 != 4:
        return f"{hit_name(index).split('.', 1)[0]} A {address_of(index)}\n"
    if kind == 4:
        return f"mx{index:07d} MX 10 {hit_name(index - 1)}.\n"
    if kind == 9:
        return f't{index:07d} TXT "v=spf1 ip4:{address_of(index)} -all" "record {index}"\n'
    if kind == 14:
        return f"c{index:07d} CNAME {hit_name(index - 1)}.\n"
    if kind == 19:
        return f"d{index:07d} NS ns.d{index:07d}\nns.d{index:07d} A {address_of(index)}\n"
    return f"*.w{index:07d} A {address_of(index)}\n"


def write_mixed_zone(path: Path, records: int) -> LoadZone:
    """About ``records`` records, one in five not a plain address (see the module's docstring)."""
    count = write_lines(path, _mixed_lines(records)) + HEADER_RECORDS
    return LoadZone(f"mixed types, {records:,} records", path, count, hit_name(0))
