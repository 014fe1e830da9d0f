"""DS, CDS, DLV, TLSA, SMIMEA and ZONEMD records read as NSD 4.6 reads them.

dnspython refuses a digest whose length does not fit its type: a DS (CDS, DLV)
digest other than 20 octets for SHA-1, 32 for SHA-256 and GOST, 48 for
SHA-384, a TLSA or SMIMEA association other than 32 octets for matching type 1
and 64 for type 2; and it refuses DS digest type 0 and ZONEMD scheme or hash
algorithm 0, which the registries keep reserved. NSD loads every one of them as
written (BIND loads the TLSA, SMIMEA and reserved ones too), and once
:func:`register` has run, so does the TS. A server publishes what the zone
says: a digest that matches nothing is the validator's to judge (RFC 4035
5.2, RFC 6698 2.1), and RFCs 4034 and 6698 set no length of their own for the
field.

ZONEMD digests keep dnspython's checks, which are RFC 8976's rules for the
field: at least 12 octets, 48 for SHA-384 and 64 for SHA-512 (2.2.4). NSD loads
any length; the TS, like BIND, refuses what the RFC says a digest never is.
"""
from __future__ import annotations

import dns.dnssectypes
import dns.immutable
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.ZONEMD
import dns.rdtypes.dsbase
import dns.rdtypes.tlsabase
import dns.zonetypes

ZONEMD_PRIVATE_USE = 240    # a hash algorithm dnspython has no length for: only RFC 8976's 12 octets apply


@dns.immutable.immutable
class DigestAsWritten(dns.rdtypes.dsbase.DSBase):
    """DS, CDS and DLV with any digest type and a digest of any length."""

    def __init__(self, rdclass: int, rdtype: int, key_tag: int, algorithm: int, digest_type: int,
                 digest: bytes) -> None:
        dns.rdata.Rdata.__init__(self, rdclass, rdtype)     # DSBase's length and type checks left out
        self.key_tag = self._as_uint16(key_tag)
        self.algorithm = dns.dnssectypes.Algorithm.make(algorithm)
        self.digest_type = dns.dnssectypes.DSDigest.make(self._as_uint8(digest_type))
        self.digest = self._as_bytes(digest)


@dns.immutable.immutable
class AssociationAsWritten(dns.rdtypes.tlsabase.TLSABase):
    """TLSA and SMIMEA with certificate association data of any length."""

    _cert_length_by_mtype: dict[int, int] = {}


@dns.immutable.immutable
class ZoneDigest(dns.rdtypes.ANY.ZONEMD.ZONEMD):
    """ZONEMD whose scheme and hash algorithm may be 0 (reserved), with RFC 8976's digest lengths."""

    def __init__(self, rdclass: int, rdtype: int, serial: int, scheme: int, hash_algorithm: int,
                 digest: bytes) -> None:
        # dnspython's checks of the digest's length, with 0s (which it refuses) standing in as a private-use code.
        super().__init__(rdclass, rdtype, serial, scheme or ZONEMD_PRIVATE_USE,
                         hash_algorithm or ZONEMD_PRIVATE_USE, digest)
        self.scheme = dns.zonetypes.DigestScheme.make(scheme)
        self.hash_algorithm = dns.zonetypes.DigestHashAlgorithm.make(hash_algorithm)


READ_AS_WRITTEN = {dns.rdatatype.DS: DigestAsWritten, dns.rdatatype.CDS: DigestAsWritten,
                   dns.rdatatype.DLV: DigestAsWritten, dns.rdatatype.TLSA: AssociationAsWritten,
                   dns.rdatatype.SMIMEA: AssociationAsWritten, dns.rdatatype.ZONEMD: ZoneDigest}


def register() -> None:
    """Make dnspython read these types in class IN (text and wire) with the classes above.

    dnspython has no public way to replace a type it knows, so its registry is written to."""
    for rdtype, implementation in READ_AS_WRITTEN.items():
        dns.rdata._rdata_classes[(dns.rdataclass.IN, rdtype)] = implementation   # noqa: SLF001
