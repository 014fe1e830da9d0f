"""DNAME (RFC 6672) answers against NSD: the same zone files to both, every reply compared.

NSD and the TS serve the zones written here; every query goes to both over
UDP on loopback and the replies are compared field by field, letter case
included (``support.differential.compare``). What NSD 4.6 does, and so the TS:

* a name below a DNAME's owner (one label or several) gets the DNAME, a CNAME
  synthesised for it (owner the question in the query's spelling, target the
  name with the owner replaced by the DNAME's target, in lower case but for a
  suffix that compresses against the question; TTL the DNAME's), and then what
  a CNAME to that target gets: the target's records (with the zone's NS RRset
  and the addresses of MX and NS targets), NODATA or NXDOMAIN with the SOA,
  a wildcard's records, a referral (AA set), another CNAME or DNAME followed
  in turn, or nothing more for a target outside the zone;
* CNAME asked below a DNAME gets the DNAME and the synthesised CNAME alone;
  ANY the first RRset NSD picks at the end of the chain, without the NS RRset;
* the DNAME's owner is answered as any name (RFC 6672 2.3), its DNAME when
  asked; a DNAME beside a delegation's NS or below a cut is not applied (the
  referral is); a wildcard DNAME answers for the names it covers only when
  DNAME is asked, and ``*.wd`` spelt out is a DNAME owner like any other;
* a CNAME whose target is below a DNAME goes on through it;
* a synthesised name longer than 255 octets gets YXDOMAIN with the chain so
  far and extended error 0, "DNAME expansion became too large" (RFC 6672 2.2);
* loops end with NOERROR: where a DNAME comes again whose target lies below
  its owner, or a synthesised CNAME would come twice.

Two differences are accepted, on purpose (README, protocol support). NSD
keeps no room for that extended error when it fits a reply to the client's
UDP size, so a YXDOMAIN whose chain just fits goes out up to 36 octets
larger than the size the client gave (513 octets to a client of 512); the TS
keeps within it (RFC 6891 6.2.3: the size is the largest the client can
take), and so truncates one record earlier. And in a cycle of DNAMEs whose
names grow, NSD gives up when it runs out of temporary domains and answers
NOERROR with the chain so far, where the TS goes on to YXDOMAIN (RFC 6672
2.2). :func:`test_an_extended_error_fits_the_clients_size` and
:func:`test_a_cycle_of_dnames_that_grows_ends_in_yxdomain` pin what each
server sends.

The zones: ``dname.example.`` (every shape above), ``apexdname.example.`` (a
DNAME at the apex, to a zone neither server has), and ``dnsec.example.`` and
``dnsec3.example.`` (DNAMEs in zones signed with NSEC and NSEC3) and
``apexsec3.example.`` (an apex DNAME signed with NSEC3: its NSEC3 owner names
are no names, so the DNAME answers for them, and names below them are
NXDOMAIN), asked with DO clear and set; what NSD adds for DO is taken out
first, as in ``test_nsd_answers.py``. Targets in another zone that both serve are left
out: NSD follows a chain into it, the TS ends it at its zone's edge (README,
"differs from NSD").
"""
from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from support.differential import Case, Variant, compare, exchange
from support.nsd import Nsd
from support.servers import Server
from support.signed_zone import nsec3_owner, signed_zone, without_dnssec_proofs
from support.zone_servers import both, differences

EDNS0 = Variant("edns0")
NOEDNS = Variant("noedns", edns=None)
EDNS512 = Variant("edns512", payload=512)
DO = Variant("do", do=True)

ORIGIN = "dname.example."
# 3 x 63 + 40 octets of labels: with the origin, the target is 248 octets long, so a name of
# 6 letters below ``long`` makes a target of 255 octets, one of 7 letters a target too long.
LONG_TARGET = ".".join(["a" * 63] * 3 + ["b" * 40])
# Below ``long``: a name redirected there by ``long2`` is redirected again, too long by then, in a
# YXDOMAIN too large for 512 octets.
LONG2_TARGET = ".".join(["c" * 63] * 2 + ["d" * 50, "long"])
ZONE = f"""$ORIGIN {ORIGIN}
$TTL 3600
@             IN SOA   ns1 hostmaster 1 7200 900 1209600 300
              IN NS    ns1
              IN MX    10 a.tree
ns1           IN A     192.0.2.53
www           IN A     192.0.2.80
www           IN AAAA  2001:db8::80
alias         IN CNAME www
; the SOA's rname, asked in mixed case for NSEC3: NODATA, its SOA in the question's spelling
hostmaster    IN CNAME www
*.wc          IN A     192.0.2.99
*.wc          IN TXT   "wild"
sub           IN NS    ns1.sub
ns1.sub       IN A     192.0.2.100
a.ent         IN A     192.0.2.9
; what the DNAMEs point at
target        IN A     192.0.2.1
a.target      IN A     192.0.2.2
a.target      IN MX    10 www
a.target      IN TXT   "a"
b.c.target    IN A     192.0.2.3
back.target   IN MX    10 back.tree
cn.target     IN CNAME www
dangle.target IN CNAME nowhere
cut.target    IN NS    ns1.sub
srv.target    IN SRV   0 0 53 www
; the DNAMEs: to data, beside data, out of the zone, to a cut, a wildcard, another DNAME
tree          300 IN DNAME target
both          IN DNAME target
both          IN A     192.0.2.7
both          IN TXT   "beside"
out           IN DNAME example.net.
tocut         IN DNAME sub
towc          IN DNAME wc
todn          IN DNAME tree
tonx          IN DNAME nosuch
toent         IN DNAME ent
toapex        IN DNAME {ORIGIN}
dn.deep       IN DNAME {ORIGIN}
dn.mid.top    IN DNAME top
up            IN DNAME example.
tocname       IN DNAME alias
*.wd          IN DNAME target
long          IN DNAME {LONG_TARGET}
tolong        IN DNAME long
long2         IN DNAME {LONG2_TARGET}
; loops
loop1         IN DNAME loop2
loop2         IN DNAME loop1
self          IN DNAME self
grow          IN DNAME x.grow
loopa         IN DNAME loopb
a.loopb       IN CNAME a.loopa
; a cycle whose names grow: a.gr1, a.x.gr1, a.x.x.gr1, ... (see the last test)
gr1           IN DNAME x.gr2
gr2           IN DNAME gr1
; back below the DNAME through a wildcard: the second synthesised owner is written anew, not
; compressed against the question's spelling of b.wrap (NSD's temporary domain)
wrap          IN DNAME wrapt
*.wrapt       IN CNAME b.wrap
; back to a name below the question (b.loopq asked): NSD numbers its temporary domain for the
; question as the question, and the second synthesised owner ends in a pointer to it
loopq         IN DNAME t3
*.t3          IN CNAME c.b.loopq
; not applied: beside a delegation, below one
nsdn          IN NS    ns.elsewhere.example.
nsdn          IN DNAME target
deleg         IN NS    ns.elsewhere.example.
x.deleg       IN DNAME target
; CNAMEs and record data into DNAMEs
c2dn          IN CNAME x.tree
c2dn2         IN CNAME a.tree
clong         IN CNAME xxxxxxx.long
cloop         IN CNAME a.loopa
mxdn          IN MX    10 a.tree
mxdn          IN MX    20 a.target
srvdn         IN SRV   0 0 53 a.tree
"""
NAMES = [ORIGIN] + [f"{name}.{ORIGIN}" for name in (
    "x.tree a.tree b.c.tree c.tree y.b.c.tree cn.tree dangle.tree cut.tree x.cut.tree srv.tree back.tree tree "
    "X.Tree A.TREE Y.B.C.Tree Back.Tree "
    "both x.both a.both out x.out a.b.out tocut x.tocut ns1.tocut towc x.towc x.y.towc todn x.todn a.todn "
    "abc.tree a.b.tree A.B.Tree xyz.out x.y.out X.Y.Out abcdef.dn.deep x.deep.dn.deep x.deep.Dn.DEEP "
    "abcde.dn.mid.top x.mid.dn.mid.top x.mid.dn.MID.TOP x.ns1.toapex abcde.toapex "
    "x.up abcde.up dname.up www.dname.up wwwwwwwww.up Www.DName.Up "
    "x.tonx x.toent a.toent b.a.toent ns1.toapex toapex.toapex x.toapex.toapex sub.toapex x.sub.toapex "
    "alias.toapex tree.toapex a.tree.toapex Ns1.ToApex x.tocname wd x.wd a.x.wd a.*.wd "
    "long x.long a.b.long xxxxxx.long xxxxxxx.long a.xxxxxx.long XXXXXXX.Long xxxxxx.tolong "
    "a.long2 "
    "loop1 x.loop1 x.self self a.grow a.loopa kid.a.b.wrap Kid.A.B.wrap b.loopq B.LoopQ "
    "nsdn x.nsdn x.deleg y.x.deleg c2dn c2dn2 clong cloop mxdn srvdn HostMaster").split()]
TYPES = ["A", "AAAA", "TXT", "MX", "NS", "SOA", "CNAME", "DNAME", "SRV", "DS", "NSEC3", "ANY"]

APEX = "apexdname.example."
APEX_ZONE = f"""$ORIGIN {APEX}
$TTL 3600
@    IN SOA   ns.elsewhere.example. hostmaster.elsewhere.example. 1 7200 900 1209600 300
     IN NS    ns.elsewhere.example.
     IN DNAME elsewhere.example.
"""
APEX_NAMES = [APEX, f"www.{APEX}", f"a.b.{APEX}", f"WWW.ApexDname.Example."]

SIGNED = [("dnsec.example.", False), ("dnsec3.example.", True)]
SIGNED_TYPES = ["A", "TXT", "CNAME", "DNAME", "ANY", "RRSIG", "NSEC", "NSEC3", "DS"]


def signed_records(origin: str) -> list[tuple[str, str, str]]:
    """A signed zone's records before signing: DNAMEs to data and out of the zone, a CNAME into one."""
    o = origin
    return [(o, "SOA", "ns1 hostmaster 1 7200 900 1209600 300"), (o, "NS", "ns1"), (f"ns1.{o}", "A", "192.0.2.53"),
            (f"target.{o}", "A", "192.0.2.1"), (f"a.target.{o}", "A", "192.0.2.2"),
            (f"tree.{o}", "DNAME", "target"), (f"out.{o}", "DNAME", "example.net."), (f"alias.{o}", "CNAME", "a.tree")]


SIGNED_NAMES = "tree a.tree x.tree A.Tree target out x.out alias".split()
SIGNED_TEXTS = {origin: signed_zone(origin, signed_records(origin), nsec3) for origin, nsec3 in SIGNED}
SIGNED_APEX = "apexsec3.example."
SIGNED_APEX_TEXT = signed_zone(SIGNED_APEX, [
    (SIGNED_APEX, "SOA", "ns.elsewhere.example. hostmaster 1 7200 900 1209600 300"),
    (SIGNED_APEX, "NS", "ns.elsewhere.example."), (SIGNED_APEX, "DNAME", "elsewhere.example.")], nsec3=True)
APEX_HASH = nsec3_owner(SIGNED_APEX, SIGNED_APEX)
SIGNED_APEX_NAMES = [SIGNED_APEX, f"www.{SIGNED_APEX}", APEX_HASH, APEX_HASH.upper(), f"x.{APEX_HASH}"]
ZONE_TEXTS = {ORIGIN: ZONE, APEX: APEX_ZONE, **SIGNED_TEXTS, SIGNED_APEX: SIGNED_APEX_TEXT}
# YXDOMAIN with a chain too long for 512 octets: asked with a 512-octet EDNS size, the one difference.
OVERSIZED = f"abcdefgh.long2.{ORIGIN}"
CASES = ([(name, TYPES, (EDNS0, NOEDNS, EDNS512)) for name in NAMES + APEX_NAMES]
         + [(OVERSIZED, TYPES, (EDNS0, NOEDNS))]
         + [(f"{label}.{origin}", SIGNED_TYPES, (EDNS0, DO)) for origin in SIGNED_TEXTS for label in SIGNED_NAMES]
         + [(name, SIGNED_TYPES, (EDNS0, DO)) for name in SIGNED_APEX_NAMES])


# --------------------------------------------------------------------------- servers


# ``zone_files``, ``nsd`` and ``ts`` serve ZONE_TEXTS (conftest.py); ``both`` and ``differences``
# ask them (support/zone_servers.py).


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("name,types,variants", CASES, ids=[name for name, _, _ in CASES])
def test_answers_match_nsd(name: str, types: list[str], variants: tuple[Variant, ...], nsd: Nsd, ts: Server) -> None:
    """Every type asked at one name: the TS's reply is NSD's, field by field."""
    cases = [Case(name, qtype, variant) for variant in variants for qtype in types]
    problems = differences(cases, nsd, ts, without_dnssec_proofs)
    assert not problems, f"{len(problems)} of {len(cases)} differ\n" + "\n\n".join(problems)


def test_the_synthesised_cname_as_nsd_writes_it(nsd: Nsd, ts: Server) -> None:
    """Asked as ``Y.B.C.Tree``: the DNAME's owner and the CNAME's owner in the query's spelling,
    the CNAME's target in lower case but for the zone's name, which compresses against the
    question; the TTL is the DNAME's. So the cases above compare something."""
    for reply in both(Case(f"Y.B.C.Tree.{ORIGIN.replace('dname', 'DName')}", "A", EDNS0), nsd, ts):
        message = dns.message.from_wire(reply)
        assert message.rcode() == dns.rcode.NXDOMAIN
        assert [(rrset.name.to_text(), rrset.ttl, rrset[0].to_text()) for rrset in message.answer] == [
            ("Tree.DName.example.", 300, f"target.{ORIGIN}"),
            ("Y.B.C.Tree.DName.example.", 300, "y.b.c.target.DName.example.")]


def test_a_target_too_long_is_yxdomain_with_nsds_extended_error(nsd: Nsd, ts: Server) -> None:
    """RFC 6672 2.2: YXDOMAIN, the DNAME in the answer, extended error 0 with NSD's text."""
    for reply in both(Case(f"xxxxxxx.long.{ORIGIN}", "A", EDNS0), nsd, ts):
        message = dns.message.from_wire(reply)
        assert message.rcode() == dns.rcode.YXDOMAIN and len(message.answer) == 1
        assert [(o.code, o.text) for o in message.options if isinstance(o, dns.edns.EDEOption)] == [
            (dns.edns.EDECode.OTHER, "DNAME expansion became too large")]


def test_an_extended_error_fits_the_clients_size(nsd: Nsd, ts: Server) -> None:
    """The accepted difference: a YXDOMAIN chain of two DNAMEs and a CNAME, asked with an EDNS size
    of 512. Both truncate (TC) and add the extended error; NSD's reply is 513 octets, with the
    DNAME and the CNAME; the TS's fits in 512, with the DNAME alone. All else is the same."""
    reference, ours = both(Case(OVERSIZED, "A", EDNS512), nsd, ts)
    assert len(reference) == 513 and len(ours) <= 512
    for reply, answers in ((reference, ["DNAME", "CNAME"]), (ours, ["DNAME"])):
        message = dns.message.from_wire(reply)
        assert message.rcode() == dns.rcode.YXDOMAIN and message.flags & dns.flags.TC
        assert [dns.rdatatype.to_text(rrset.rdtype) for rrset in message.answer] == answers
        assert [o.code for o in message.options if isinstance(o, dns.edns.EDEOption)] == [dns.edns.EDECode.OTHER]
    assert [d.field for d in compare(reference, ours)] == ["answer"]


def test_a_cycle_of_dnames_that_grows_ends_in_yxdomain(nsd: Nsd, ts: Server) -> None:
    """The accepted difference: ``gr1 DNAME x.gr2`` and ``gr2 DNAME gr1`` lead a.gr1 to a.x.gr2,
    a.x.gr1, a.x.x.gr2 and on (over TCP, where nothing is truncated). The TS goes on until a name
    would pass 255 octets: YXDOMAIN with the extended error (RFC 6672 2.2). NSD gives up when
    its 1,024 temporary domains of a query are spent (nsd.h EXTRA_DOMAIN_NUMBERS) and answers
    NOERROR with the chain so far, every record of which the TS's answer holds too."""
    wire = Case(f"a.gr1.{ORIGIN}", "A", EDNS0).wire()
    reference, ours = (dns.message.from_wire(exchange(wire, address, tcp=True))
                       for address in (nsd.address, (ts.host, ts.port)))
    assert reference.rcode() == dns.rcode.NOERROR and ours.rcode() == dns.rcode.YXDOMAIN
    assert [o.code for o in ours.options if isinstance(o, dns.edns.EDEOption)] == [dns.edns.EDECode.OTHER]
    assert 20 < len(reference.answer) < len(ours.answer)
    assert all(rrset in ours.answer for rrset in reference.answer)
    assert len(ours.answer[-1].name.to_wire()) + 2 > 255 - len(f"gr1.{ORIGIN}")
