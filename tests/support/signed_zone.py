"""Signed zones written as text: what a signer leaves in a zone file, without real signatures.

:func:`signed_zone` takes a zone's records and adds what ``ldns-signzone`` or
``dnssec-signzone`` would: DNSKEYs, an RRSIG for every authoritative RRset,
and an NSEC chain, or an NSEC3 chain (RFC 5155, with real hashes) and its
NSEC3PARAM. Signatures and keys are fixed filler bytes: neither NSD nor the TS
validates them, and what is compared is how the names are answered.
:func:`without_dnssec_proofs` takes out of NSD's replies to DO queries what NSD
adds for DO and the TS does not.
"""
from __future__ import annotations

import base64
from collections import defaultdict

import dns.dnssec
import dns.message
import dns.name
import dns.rdatatype

from support.differential import Case

SALT = "aabbccdd"
ITERATIONS = 1
TTL = 3600
KEY_TAG = 12345
_KEY = base64.b64encode(bytes(range(64))).decode()
_SIGNATURE = base64.b64encode(bytes(range(64, 128))).decode()


def nsec3_owner(name: str, origin: str) -> str:
    """The NSEC3 owner name that hashes ``name`` (RFC 5155 5), below ``origin``."""
    return f"{dns.dnssec.nsec3_hash(name, SALT, ITERATIONS, 'SHA1').lower()}.{origin}"


def signed_zone(origin: str, records: list[tuple[str, str, str]], nsec3: bool) -> str:
    """The text of a zone holding ``records`` (absolute owner, type, rdata) signed as a signer
    would sign it: every name's RRsets but delegation NS and glue get an RRSIG, every
    authoritative name (empty non-terminals too, for NSEC3) a link of the NSEC or NSEC3 chain."""
    apex = dns.name.from_text(origin)
    records = [*records, (origin, "DNSKEY", f"257 3 13 {_KEY}"), (origin, "DNSKEY", f"256 3 13 {_KEY}")]
    if nsec3:
        records.append((origin, "NSEC3PARAM", f"1 0 {ITERATIONS} {SALT}"))
    types: dict[dns.name.Name, list[str]] = defaultdict(list)
    for owner, rtype, _ in records:
        name = dns.name.from_text(owner)
        if rtype not in types[name]:
            types[name].append(rtype)
    cuts = {name for name, held in types.items() if "NS" in held and name != apex}
    authoritative = {name: held for name, held in types.items()
                     if not any(name.is_subdomain(cut) and name != cut for cut in cuts)}
    signed = [(name, rtype) for name, held in authoritative.items() for rtype in held
              if not (name in cuts and rtype == "NS")]
    chain = _nsec3_chain(origin, authoritative, cuts) if nsec3 else _nsec_chain(authoritative, cuts)
    signed += [(dns.name.from_text(owner), rtype) for owner, rtype, _ in chain]
    lines = [f"$ORIGIN {origin}", f"$TTL {TTL}"]
    lines += [f"{owner} {rtype} {rdata}" for owner, rtype, rdata in [*records, *chain]]
    lines += [f"{name} RRSIG {rtype} 13 {len(name) - 1} {TTL} 20300101000000 20200101000000 {KEY_TAG} "
              f"{origin} {_SIGNATURE}" for name, rtype in signed]
    return "\n".join(lines) + "\n"


def _bitmap(held: list[str], name_is_cut: bool, chain_type: str) -> str:
    """The types of an NSEC or NSEC3 record: the name's own, RRSIG where anything is signed."""
    present = list(held)
    signed = [t for t in held if not (name_is_cut and t == "NS")]
    if signed or chain_type == "NSEC":
        present.append("RRSIG")
    if chain_type == "NSEC":
        present.append("NSEC")
    return " ".join(sorted(set(present), key=dns.rdatatype.from_text))


def _nsec_chain(authoritative: dict[dns.name.Name, list[str]], cuts: set[dns.name.Name]) -> list[tuple[str, str, str]]:
    """An NSEC record at every authoritative name, in canonical order (RFC 4034 6.1)."""
    names = sorted(authoritative)
    return [(name.to_text(), "NSEC", f"{names[(i + 1) % len(names)]} "
                                      f"{_bitmap(authoritative[name], name in cuts, 'NSEC')}")
            for i, name in enumerate(names)]


def _nsec3_chain(origin: str, authoritative: dict[dns.name.Name, list[str]],
                 cuts: set[dns.name.Name]) -> list[tuple[str, str, str]]:
    """An NSEC3 record for every authoritative name and empty non-terminal, in hash order."""
    apex = dns.name.from_text(origin)
    held = dict(authoritative)
    for name in authoritative:
        while name != apex:
            name = name.parent()
            held.setdefault(name, [])
    hashed = sorted((dns.dnssec.nsec3_hash(name, SALT, ITERATIONS, "SHA1").lower(), name) for name in held)
    return [(f"{digest}.{origin}", "NSEC3",
             f"1 0 {ITERATIONS} {SALT} {hashed[(i + 1) % len(hashed)][0]} "
             f"{_bitmap(held[name], name in cuts, 'NSEC3')}".rstrip())
            for i, (digest, name) in enumerate(hashed)]


def without_dnssec_proofs(case: Case, wire: bytes) -> bytes:
    """NSD's reply to a DO query (``case``) less what it adds for DO in a signed zone: RRSIGs
    (but those asked for, which cover no RRset of the answer: a DNAME's signature comes with
    the DNAME), and the NSEC, NSEC3 and DS records of the authority section (RFC 4035 3.1).
    The TS serves no DNSSEC (README), so these are the accepted difference with DO set;
    replies to other queries are returned as they are."""
    if not case.variant.do:
        return wire
    message = dns.message.from_wire(wire, one_rr_per_rrset=True)
    asked = dns.rdatatype.from_text(case.qtype)
    proofs = {dns.rdatatype.RRSIG, dns.rdatatype.NSEC, dns.rdatatype.NSEC3, dns.rdatatype.DS}
    signed = {(r.name, r.rdtype) for r in message.answer if r.rdtype != dns.rdatatype.RRSIG}
    message.answer = [r for r in message.answer if r.rdtype != dns.rdatatype.RRSIG
                      or (asked == r.rdtype and (r.name, r.covers) not in signed)]
    message.authority = [r for r in message.authority if r.rdtype not in proofs]
    message.additional = [r for r in message.additional if r.rdtype != dns.rdatatype.RRSIG]
    return message.to_wire()
