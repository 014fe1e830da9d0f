"""TSIG keys (RFC 8945) for zone transfers and NOTIFY, read from a config file's ``[key.NAME]`` tables.

A table gives ``secret`` (base64, as ``tsig-keygen`` and ``keymgr -t`` print it)
and ``algorithm`` (default ``hmac-sha256``; the HMAC algorithms of RFC 8945 6
that NSD and Knot offer). Keys live in the config file only: a secret on the
command line would show in every user's process list.
"""
from __future__ import annotations

import base64
import binascii

import dns.exception
import dns.name
import dns.tsig

DEFAULT_ALGORITHM = "hmac-sha256"
ALGORITHMS = {
    "hmac-md5": dns.tsig.HMAC_MD5,
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}
TABLE_KEYS = frozenset({"secret", "algorithm"})


def read_keys(tables: object) -> dict[str, dns.tsig.Key]:
    """The keys of a config's ``key`` table (``{NAME: {secret, algorithm}}``), by NAME.

    NAME is the key's name on the wire (a domain name, as in NSD's and Knot's
    configs). Raises ValueError naming the table for anything else: a missing or
    non-base64 secret, an unknown algorithm, a stray key, a NAME that is not a name.
    """
    if not isinstance(tables, dict):
        raise ValueError("key: must hold tables, [key.NAME] with secret and algorithm")
    return {name: _key(name, table) for name, table in tables.items()}


def _key(name: str, table: object) -> dns.tsig.Key:
    where = f"key.{name}"
    if not isinstance(table, dict):
        raise ValueError(f"{where}: must be a table with secret and algorithm")
    stray = sorted(set(table) - TABLE_KEYS)
    if stray:
        raise ValueError(f"{where}: unknown key {stray[0]!r} (a key's table holds secret and algorithm)")
    secret, algorithm = table.get("secret"), table.get("algorithm", DEFAULT_ALGORITHM)
    if not isinstance(secret, str) or not secret:
        raise ValueError(f"{where}: no secret (base64, as tsig-keygen or keymgr -t print it)")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"{where}: unknown algorithm {algorithm!r} (choose from {', '.join(ALGORITHMS)})")
    try:
        base64.b64decode(secret, validate=True)
        return dns.tsig.Key(dns.name.from_text(name), secret, ALGORITHMS[algorithm])
    except (binascii.Error, ValueError):
        raise ValueError(f"{where}: the secret is not base64") from None
    except dns.exception.DNSException as exc:
        raise ValueError(f"{where}: {name!r} is not a domain name ({exc})") from None
