"""The RFC 1035 types dnspython reads only in the generic form (``\\# length hex``).

MD, MF, MB, MG and MR hold one domain name, MINFO two (RFC 1035 3.3). They
are obsolete or experimental, but NSD, BIND and Knot read them in a zone file
(NSD warns for MB, MD and MF) and serve them as they are; so does the TS once
this module is imported. Their names may be compressed on the wire (RFC 3597 4).
NULL (3.3.10) has no text form but the generic one, which dnspython reads already.
"""
from __future__ import annotations

import dns.immutable
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.RP
import dns.rdtypes.nsbase


@dns.immutable.immutable
class _OneName(dns.rdtypes.nsbase.NSBase):
    """MD, MF, MB, MG, MR: one domain name, compressible, like NS (RFC 1035 3.3.4-3.3.8)."""


@dns.immutable.immutable
class MINFO(dns.rdtypes.ANY.RP.RP):
    """RMAILBX and EMAILBX (RFC 1035 3.3.7): two names, compressible unlike RP's."""

    def _to_wire(self, file, compress=None, origin=None, canonicalize=False):
        self.mbox.to_wire(file, compress, origin, canonicalize)
        self.txt.to_wire(file, compress, origin, canonicalize)


ONE_NAME_TYPES = (dns.rdatatype.MD, dns.rdatatype.MF, dns.rdatatype.MB, dns.rdatatype.MG, dns.rdatatype.MR)


def register() -> None:
    """Teach dnspython these types, once; nothing happens when it knows them already."""
    for rdtype in ONE_NAME_TYPES:
        if dns.rdata.get_rdata_class(dns.rdataclass.IN, rdtype) is dns.rdata.GenericRdata:
            dns.rdata.register_type(_OneName, rdtype, dns.rdatatype.to_text(rdtype))
    if dns.rdata.get_rdata_class(dns.rdataclass.IN, dns.rdatatype.MINFO) is dns.rdata.GenericRdata:
        dns.rdata.register_type(MINFO, dns.rdatatype.MINFO, "MINFO")
