"""TSIG (RFC 8945) for zone transfers and NOTIFY: keys, checking requests, signing replies.

Keys are read from a config file's ``[key.NAME]`` tables (:func:`read_keys`).
A table gives ``secret`` (base64, as ``tsig-keygen`` and ``keymgr -t`` print it)
and ``algorithm`` (default ``hmac-sha256``; the HMAC algorithms of RFC 8945 6
that NSD and Knot offer). Keys live in the config file only: a secret on the
command line would show in every user's process list.

A signed request, a transfer's or a NOTIFY, is checked by dnspython
(:func:`read_signed`); one that fails gets :func:`failure_reply`, as NSD and
Knot answer it; the replies to one that verifies are signed by a :class:`Signer`.
"""
from __future__ import annotations

import base64
import binascii
import logging
import struct
import time

import dns.exception
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TSIG
import dns.tsig

from ..wire import Query, error_reply
from .settings import TSIG_FUDGE

log = logging.getLogger("resolver.ts")

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


TSIG_TYPE, ANY = dns.rdatatype.TSIG, dns.rdataclass.ANY
RR_FIXED = struct.Struct("!HHIH")
# A TSIG record's rdata besides its algorithm name and MAC: time (6), fudge, MAC size, original
# ID, error, other length (2 each), and 6 octets of other data (BADTIME's).
TSIG_FIXED = 22
LARGEST_MAC = 64    # HMAC-SHA512's
ERROR_NAMES = {dns.rcode.BADSIG: "BADSIG", dns.rcode.BADKEY: "BADKEY", dns.rcode.BADTIME: "BADTIME"}


class Signer:
    """Signs the messages of one reply to a TSIG-signed request (RFC 8945 5.3): the first with the
    request's MAC, each next one chained to the one before (5.3.1), every message signed.

    ``error`` and ``other``: the TSIG error of a signed error reply (BADTIME, with this TS's time).
    """

    def __init__(self, key: dns.tsig.Key, request: dns.message.Message, error: int = 0, other: bytes = b"") -> None:
        tsig = request.tsig[0]      # type: ignore[index]
        self.key = key
        self.request_mac = tsig.mac
        self.template = dns.rdtypes.ANY.TSIG.TSIG(ANY, TSIG_TYPE, key.algorithm, 0, TSIG_FUDGE, b"",
                                                  tsig.original_id, error, other)
        self.owner = key.name.to_wire()
        self.context: object = None
        # Room a TSIG record takes at most: owner, type to rdata length, algorithm, the rest.
        self.room = len(self.owner) + 10 + len(key.algorithm.to_wire()) + TSIG_FIXED + LARGEST_MAC

    def sign(self, message: bytes) -> bytes:
        """``message`` (a whole DNS message without TSIG) with its TSIG record added."""
        tsig, self.context = dns.tsig.sign(message, self.key, self.template, int(time.time()), self.request_mac,
                                           self.context, multi=True)
        return with_tsig(message, self.owner, tsig.to_wire())


def with_tsig(message: bytes, owner: bytes, rdata: bytes) -> bytes:
    """``message`` with a TSIG record of that owner and rdata appended, its ARCOUNT one more."""
    arcount = int.from_bytes(message[10:12], "big") + 1
    return (message[:10] + arcount.to_bytes(2, "big") + message[12:]
            + owner + RR_FIXED.pack(TSIG_TYPE, ANY, 0, len(rdata)) + rdata)


def read_signed(data: bytes, keyring: dict[dns.name.Name, dns.tsig.Key]) -> tuple[dns.message.Message | None, int]:
    """The request ``data`` parsed, its TSIG (if any) checked with ``keyring`` by dnspython (RFC 8945
    5.2), and the TSIG error: 0, or BADKEY (a key or algorithm not here), BADSIG, BADTIME (more
    than its fudge, 300 s, from this TS's clock). The message is None for an error, or for a
    request that does not parse (error 0)."""
    try:
        return dns.message.from_wire(data, keyring=keyring), 0
    except (dns.message.UnknownTSIGKey, dns.tsig.BadKey, dns.tsig.BadAlgorithm):
        return None, dns.rcode.BADKEY
    except dns.tsig.BadSignature:
        return None, dns.rcode.BADSIG
    except dns.tsig.BadTime:
        return None, dns.rcode.BADTIME
    except dns.exception.DNSException:
        return None, 0


def failure_reply(data: bytes, q: Query, error: int, keyring: dict[dns.name.Name, dns.tsig.Key], host: str,
                  extra_flags: int = 0, level: int = logging.INFO) -> bytes:
    """NOTAUTH (with ``extra_flags``) and a TSIG record that says why, for a request whose TSIG
    failed with ``error`` (:func:`read_signed`), as RFC 8945 5.2.1-5.2.3 ask and NSD answers:
    unsigned for BADKEY and BADSIG; signed for BADTIME, with this TS's time as Other Data, for
    the client to compare. Logs one line at ``level`` naming the client at ``host`` and the key."""
    request = dns.message.from_wire(data, keyring=False)
    tsig = request.tsig[0]      # type: ignore[index]
    reply = error_reply(data, q, dns.rcode.NOTAUTH, extra_flags)
    what = "NOTIFY" if request.opcode() == dns.opcode.NOTIFY else dns.rdatatype.to_text(q.qtype)
    log.log(level, "%s from %s refused: TSIG %s (key %s)", what, host, ERROR_NAMES[error], request.keyname)
    if error == dns.rcode.BADTIME:
        now = int(time.time())
        return Signer(keyring[request.keyname], request, error,
                      struct.pack("!HI", now >> 32, now & 0xFFFFFFFF)).sign(reply)
    unsigned = tsig.replace(time_signed=int(time.time()), mac=b"", error=error, other=b"")
    return with_tsig(reply, request.keyname.to_wire(), unsigned.to_wire())  # type: ignore[union-attr]
