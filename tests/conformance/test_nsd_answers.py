"""Answers on names without records of their own, CNAMEs into delegations, and signed zones, against NSD.

NSD and the TS serve the same zone files, written here, and every query goes
to both over UDP on loopback; the replies are compared field by field
(``support.differential.compare``). Three zones, one per kind of name:

* ``names.example.``: names that exist without records of their own. A
  wildcard whose owner is an empty non-terminal (``host.*.sub`` makes ``*.sub``
  exist: what it covers is NODATA), a wildcard with records below it, nested
  wildcards, CNAMEs to names a wildcard covers and to empty non-terminals, MX,
  SRV and NS targets that exist only through a wildcard, and names that exist
  only through plain address lines (the fast path) shadowing a wildcard.
* ``deleg.example.``: CNAMEs into delegations of the same zone (at the cut,
  below it, to glue, with and without glue, through a wildcard, chained), DS at
  the cut asked directly and through a CNAME, NS at and below cuts, loops and
  a chain of ten CNAMEs.
* ``nsec3.example.`` (an apex wildcard), ``nsec3b.example.`` (none) and
  ``nsec.example.``: one set of names signed with NSEC3 or NSEC
  (``support.signed_zone``). NSEC3 owner names are not names: asked for, they
  are covered by the apex wildcard or NXDOMAIN, and names below them are
  NXDOMAIN. Every type a signer adds is asked for at every name.

Each test is one name, asked for every type of its zone's list, with and
without EDNS (signed zones: with DO clear and with DO set). Letter case is
compared: some names are asked in mixed case, among them glue and the SOA's
names, which NSD writes in the question's letter case.

The one accepted difference: with DO set, NSD adds to a signed zone's replies
the DNSSEC records that prove them (RRSIGs in every section, NSEC or NSEC3 and
the DS of a delegation in the authority section). The TS serves no DNSSEC, so
:func:`without_dnssec_proofs` takes those out of NSD's reply before the
comparison; everything else must still agree.
"""
from __future__ import annotations


import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from support.differential import Case, Variant, compare, exchange
from support.nsd import Nsd
from support.servers import Server
from support.signed_zone import nsec3_owner, signed_zone, without_dnssec_proofs
from support.zone_servers import differences

EDNS0 = Variant("edns0")
NOEDNS = Variant("noedns", edns=None)
DO = Variant("do", do=True)
SMALL_UDP = Variant("edns700", payload=700)     # a signed apex's RRSIGs do not fit: TC, no partial RRset

NAMES = "names.example."
NAMES_ZONE = f"""$ORIGIN {NAMES}
$TTL 3600
@           IN SOA   ns1 hostmaster 1 7200 900 1209600 300
            IN NS    ns1
            IN NS    ns.wc
            IN MX    10 mx.wc
            IN MX    20 host.sub
ns1         IN A     192.0.2.53
; *.sub exists only because host.*.sub does: names it covers are NODATA
host.*.sub  IN A     192.0.2.10
; nothing at *.wild itself, records below it
a.*.wild    IN TXT   "below the wildcard"
; a wildcard with records, a name below it, and a sibling
*.kids      IN A     192.0.2.20
deep.*.kids IN A     192.0.2.21
kid.kids    IN A     192.0.2.22
; nested wildcards
*.nest      IN A     192.0.2.30
*.*.nest    IN A     192.0.2.31
*.wc        IN A     192.0.2.40
*.wc        IN AAAA  2001:db8::40
*.wc        IN TXT   "wc"
; CNAMEs to a covered name, to a name *.sub covers, to *.sub, chains to an ENT
cw          IN CNAME foo.wc
cent        IN CNAME x.sub
cstar       IN CNAME *.sub
chain       IN CNAME chain2
chain2      IN CNAME ent
a.ent       IN A     192.0.2.50
centmiss    IN CNAME q.a.ent
cwc         IN CNAME y.wcn
*.wcn       IN CNAME z.wc
; targets that exist only through a wildcard, or as an ENT
mx          IN MX    10 host.wc
mx          IN MX    20 host.sub
mx          IN MX    30 ent
srv         IN SRV   0 0 5060 sip.wc
nsd         IN NS    ns.wc
; fast-path address lines make b.fast exist (an ENT), which hides *.fast
a.b.fast    IN A     192.0.2.61
*.fast      IN A     192.0.2.60
mxfast      IN MX    10 b.fast
mxfast      IN MX    20 c.fast
cfast       IN CNAME b.fast
cfast2      IN CNAME c.b.fast
cfast3      IN CNAME d.fast
order       IN AAAA  2001:db8::70
order       IN A     192.0.2.70
"""
NAMES_NAMES = [NAMES] + [f"{n}.{NAMES}" for n in (
    "ns1 sub *.sub x.sub host.*.sub y.x.sub host.x.sub x.*.sub "
    "wild *.wild x.wild a.*.wild b.*.wild y.x.wild "
    "kids *.kids foo.kids deep.*.kids x.*.kids kid.kids x.kid.kids "
    "nest *.nest a.nest a.b.nest *.*.nest a.*.nest b.a.*.nest "
    "wc foo.wc cw cent cstar chain chain2 ent a.ent centmiss cwc y.wcn "
    "mx srv nsd x.nsd ns.nsd nosuch b.fast c.fast a.b.fast x.b.fast mxfast cfast cfast2 cfast3 order "
    "HoSt.*.SuB Foo.Wc CENT X.Sub").split()]
NAMES_TYPES = ["A", "AAAA", "TXT", "MX", "SRV", "NS", "CNAME", "ANY"]

DELEG = "deleg.example."
DELEG_ZONE = f"""$ORIGIN {DELEG}
$TTL 3600
@           IN SOA   ns1 hostmaster 1 7200 900 1209600 300
            IN NS    ns1
ns1         IN A     192.0.2.53
; a delegation with glue (A and AAAA), a DS, and a deeper cut below it
sub         IN NS    ns1.sub
sub         IN NS    ns.elsewhere.example.
sub         IN DS    12345 13 2 {"ab" * 32}
ns1.sub     IN A     192.0.2.100
ns1.sub     IN AAAA  2001:db8::100
deeper.sub  IN NS    ns.deeper.sub
ns.deeper.sub IN A   192.0.2.101
; without glue, and with its name server in the parent zone
nog         IN NS    ns.elsewhere.example.
inparent    IN NS    ns1
; CNAMEs into them
intocut     IN CNAME sub
intobelow   IN CNAME host.sub
intonoglue  IN CNAME www.nog
intoglue    IN CNAME ns1.sub
intodeeper  IN CNAME x.deeper.sub
intonog     IN CNAME nog
intoparent  IN CNAME inparent
chainin     IN CNAME intobelow
chaincut    IN CNAME intocut
*.wc        IN CNAME x.sub
; targets below a cut: no addresses for MX and SRV, glue for NS only
mx          IN MX    10 mail.sub
mx          IN MX    20 ns1
srv         IN SRV   0 0 5060 ns1.sub
kx          IN KX    10 ns1
rt          IN RT    10 relay
relay       IN A     192.0.2.54
relay       IN X25   "311061700956"
relay       IN ISDN  "150862028003217" "004"
; loops, and a chain longer than eight links
loop1       IN CNAME loop2
loop2       IN CNAME loop1
self        IN CNAME self
long1       IN CNAME long2
long2       IN CNAME long3
long3       IN CNAME long4
long4       IN CNAME long5
long5       IN CNAME long6
long6       IN CNAME long7
long7       IN CNAME long8
long8       IN CNAME long9
long9       IN CNAME long10
long10      IN CNAME ns1
*.wl        IN CNAME x.wl
"""
DELEG_NAMES = [DELEG] + [f"{n}.{DELEG}" for n in (
    "ns1 sub ns1.sub x.sub deeper.sub ns.deeper.sub y.deeper.sub nog x.nog inparent x.inparent "
    "intocut intobelow intonoglue intoglue intodeeper intonog intoparent chainin chaincut foo.wc "
    "mx srv kx rt relay loop1 self long1 x.wl nosuch SUB InToCuT Ns1.SuB NS1 X.Ns1 HostMaster").split()]
DELEG_TYPES = ["A", "AAAA", "TXT", "MX", "NS", "DS", "SOA", "CNAME", "RT", "ANY"]

SIGNED = [("nsec3.example.", True, True), ("nsec3b.example.", True, False), ("nsec.example.", False, True)]
SIGNED_TYPES = ["A", "AAAA", "TXT", "MX", "NS", "SOA", "CNAME", "DS", "ANY", "RRSIG", "NSEC", "NSEC3",
                "NSEC3PARAM", "DNSKEY", "CAA"]
SIGNED_LABELS = ("ns1 www mail alias dangling towild tohash *.w foo.w y x.y sub ns1.sub a.sub insecure caa srv "
                 "txtonly tocut nosuch WwW").split()


def signed_records(origin: str, apex_wildcard: bool) -> list[tuple[str, str, str]]:
    """The records of a signed test zone before signing: one of each kind of name."""
    o = origin
    records = [
        (o, "SOA", "ns1 hostmaster 1 7200 900 1209600 300"), (o, "NS", "ns1"), (o, "MX", "10 mail"),
        (o, "TXT", '"apex"'), (f"ns1.{o}", "A", "192.0.2.53"), (f"www.{o}", "A", "192.0.2.80"),
        (f"www.{o}", "AAAA", "2001:db8::80"), (f"mail.{o}", "A", "192.0.2.25"), (f"alias.{o}", "CNAME", "www"),
        (f"dangling.{o}", "CNAME", "nowhere"), (f"towild.{o}", "CNAME", "foo.w"),
        # a CNAME to an NSEC3 owner name: as missing as the name itself
        (f"tohash.{o}", "CNAME", nsec3_owner(f"www.{o}", o)),
        (f"*.w.{o}", "TXT", '"wild"'), (f"*.w.{o}", "A", "192.0.2.99"), (f"x.y.{o}", "A", "192.0.2.7"),
        (f"sub.{o}", "NS", "ns1.sub"), (f"sub.{o}", "DS", "12345 13 2 " + "ab" * 32),
        (f"ns1.sub.{o}", "A", "192.0.2.100"), (f"insecure.{o}", "NS", "ns.elsewhere.example."),
        # ANY at a signed name with no preferred type: the CAA, not an RRSIG or the NSEC
        (f"caa.{o}", "CAA", '0 issue "ca.example"'), (f"srv.{o}", "SRV", "0 0 5060 www"),
        (f"txtonly.{o}", "TXT", '"t"'), (f"tocut.{o}", "CNAME", "sub"),
    ]
    if apex_wildcard:
        records.append((f"*.{o}", "TXT", '"apex wildcard"'))
    return records


def signed_names(origin: str, text: str) -> list[str]:
    """The names to ask in a signed zone: its owners, its NSEC3 owner names, and names
    beside and below them, some in upper case."""
    names = [origin] + [f"{label}.{origin}" for label in SIGNED_LABELS]
    hashes = [line.split()[0] for line in text.splitlines() if " NSEC3 " in line]
    if hashes:
        names += hashes + [f"x.{hashes[0]}", hashes[1].upper(), f"{'0' * 32}.{origin}"]
    return names


# A parent and its child zone served by one server: what the parent holds at and below the cut
# (glue, glue for no NS record, an empty non-terminal above a deeper cut) is the child's to answer.
PARENT = "parent.example."
PARENT_ZONE = f"""$ORIGIN {PARENT}
$TTL 3600
@           IN SOA   ns1 hostmaster 1 7200 900 1209600 300
            IN NS    ns1
ns1         IN A     192.0.2.53
child       IN NS    ns.child
ns.child    IN A     192.0.2.50
ns2.child   IN A     192.0.2.51
a.b.child   IN NS    ns.child
www         IN A     192.0.2.1
"""
CHILD = f"child.{PARENT}"
CHILD_ZONE = f"""$ORIGIN {CHILD}
$TTL 300
@           IN SOA   ns hostmaster 1 7200 900 1209600 60
            IN NS    ns
ns          IN A     192.0.2.50
www         IN A     192.0.2.7
"""
PARENT_NAMES = [PARENT, f"www.{PARENT}", CHILD] + [f"{label}.{CHILD}" for label in ("ns", "x.a.b", "www", "nope")]
# Names only the parent's data holds below the cut: NXDOMAIN from the child zone (README, "differs from NSD").
PARENT_ONLY_NAMES = [f"{label}.{CHILD}" for label in ("NS2", "ns2", "b", "a.b")]
PARENT_TYPES = ["A", "NS", "DS", "SOA", "ANY"]

# --------------------------------------------------------------------------- the cases

SIGNED_TEXTS = {origin: signed_zone(origin, signed_records(origin, wildcard), nsec3)
                for origin, nsec3, wildcard in SIGNED}
ZONE_TEXTS = {NAMES: NAMES_ZONE, DELEG: DELEG_ZONE, PARENT: PARENT_ZONE, CHILD: CHILD_ZONE, **SIGNED_TEXTS}
CASES = ([(NAMES, name, NAMES_TYPES, (EDNS0, NOEDNS)) for name in NAMES_NAMES]
         + [(DELEG, name, DELEG_TYPES, (EDNS0, NOEDNS)) for name in DELEG_NAMES]
         + [(PARENT, name, PARENT_TYPES, (EDNS0,)) for name in PARENT_NAMES]
         + [(origin, name, SIGNED_TYPES, (EDNS0, DO, NOEDNS, SMALL_UDP))
            for origin, text in SIGNED_TEXTS.items() for name in signed_names(origin, text)])


# --------------------------------------------------------------------------- servers


# ``zone_files``, ``nsd`` and ``ts`` serve ZONE_TEXTS (conftest.py); ``differences`` asks them
# (support/zone_servers.py), and ``without_dnssec_proofs`` (support/signed_zone.py) takes what
# NSD adds for DO out of its replies first.


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("origin,name,types,variants", CASES, ids=[f"{c[0]}/{c[1]}" for c in CASES])
def test_answers_match_nsd(origin: str, name: str, types: list[str], variants: tuple[Variant, ...],
                           nsd: Nsd, ts: Server) -> None:
    """Every type asked at one name: the TS's reply is NSD's, field by field."""
    cases = [Case(name, qtype, variant) for variant in variants for qtype in types]
    problems = differences(cases, nsd, ts, without_dnssec_proofs)
    assert not problems, f"{len(problems)} of {len(cases)} differ\n" + "\n\n".join(problems)


def test_do_replies_of_signed_zones_differ_only_in_dnssec_records(nsd: Nsd, ts: Server) -> None:
    """The accepted difference is what NSD adds for DO, and NSD does add it here: without
    the stripping, a DO query at a signed name differs (so the DO cases compare something)."""
    case = Case("www.nsec3.example.", "A", DO)
    reference = exchange(case.wire(), nsd.address)
    ours = exchange(case.wire(), (ts.host, ts.port))
    assert compare(reference, ours) and not compare(without_dnssec_proofs(case, reference), ours)


@pytest.mark.parametrize("name", PARENT_ONLY_NAMES)
def test_a_name_only_the_parent_holds_below_a_served_child_is_nxdomain_from_the_child(name: str, nsd: Nsd,
                                                                                     ts: Server) -> None:
    """Stale glue (``ns2.child``), an empty non-terminal above a deeper cut (``b.child``) and that
    cut: the child zone, which this server also serves, answers for them, not a referral to itself.
    The child's data has no such name (RFC 1034 4.3.2), so NXDOMAIN; NSD, whose one name tree
    holds both zones' names, answers NODATA from the child."""
    for qtype in PARENT_TYPES:
        if qtype == "DS" and name.startswith("a.b."):
            continue        # DS at the parent's cut: the parent's answer, the same from both
        wire = Case(name, qtype, EDNS0).wire()
        ours = dns.message.from_wire(exchange(wire, (ts.host, ts.port)))
        reference = dns.message.from_wire(exchange(wire, nsd.address))
        assert ours.rcode() == dns.rcode.NXDOMAIN and ours.flags & dns.flags.AA, (name, qtype)
        assert [(r.name.to_text(), r.rdtype) for r in ours.authority] == [(CHILD, dns.rdatatype.SOA)]
        assert reference.rcode() == dns.rcode.NOERROR and reference.authority[0].name == ours.authority[0].name
