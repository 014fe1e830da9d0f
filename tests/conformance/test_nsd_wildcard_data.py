"""Wildcards met in record data and in odd labels, and the letter case of names, against NSD.

The kinds of difference the random differential (``test_random_differential.py``)
found, each as a small hand-written zone served by NSD and by the TS; every
query goes to both over UDP on loopback and the replies are compared field by
field, letter case included (``support.differential.compare``):

* ``data.example.``: record data that names a wildcard or a name below one
  (``MX 10 *.mx``, ``MX 20 x.*.mx``, a CNAME chain through ``*.cn`` to an MX
  naming ``*.cn``). The answer synthesised from the wildcard has the question
  as owner (RFC 4592 3.3.1), but the names in its data are written as they
  are, not as the question.
* ``labels.example.``: owners with ``*`` labels below the top (``www.*.esc``
  makes ``*.esc`` exist) and escaped labels (``\\032``, ``\\200``, ``\\.``),
  as plain address lines and not, with the names their wildcards cover; and MX,
  SRV and NS targets whose A and AAAA come from such names or wildcards.
* ``case.example.``: every type whose data holds names, written in mixed case.
  NSD 4.6 writes owners and those names in lower case, except the signer of an
  RRSIG and the next name of an NSEC; TXT is text, kept as written.

One difference is accepted, on purpose (README, protocol support): the owner
of an address record NSD adds for a target that only a wildcard covers, when
the target is more than one label below the wildcard's parent and its name is
not already in the reply (SRV, KX and RT data are written uncompressed), is
the target's first label on that parent; the TS writes the target.
:func:`test_wildcard_target_owner_is_the_target` pins what each server writes.
"""
from __future__ import annotations


import dns.message
import dns.name
import dns.rdatatype
import pytest

from support.differential import Case, Variant, compare
from support.nsd import Nsd
from support.servers import Server
from support.zone_servers import both, differences

EDNS0 = Variant("edns0")
NOEDNS = Variant("noedns", edns=None)

DATA = "data.example."
DATA_ZONE = f"""$ORIGIN {DATA}
$TTL 3600
@          IN SOA   ns1 hostmaster 1 7200 900 1209600 300
           IN NS    ns1
ns1        IN A     192.0.2.53
*.mx       IN MX    10 *.mx
*.mx       IN MX    20 x.*.mx
*.mx       IN A     192.0.2.1
x.*.mx     IN AAAA  2001:db8::1
*.cn       IN CNAME host
host       IN MX    10 *.cn
host       IN NS    *.cn
host       IN PTR   a.*.cn
*.ns       IN NS    *.ns
*.srv      IN SRV   0 5 5060 *.srv
*.srv      IN AAAA  2001:db8::2
"""
DATA_NAMES = [f"{label}.{DATA}" for label in
              "a.mx A.B.Mx *.mx x.*.mx y.x.*.mx a.cn Deep.CN host *.cn a.ns *.ns a.srv B.*.SRV".split()]
DATA_TYPES = ["A", "AAAA", "MX", "NS", "PTR", "SRV", "CNAME", "ANY"]

LABELS = "labels.example."
LABELS_ZONE = f"""$ORIGIN {LABELS}
$TTL 3600
@            IN SOA   ns1 hostmaster 1 7200 900 1209600 300
             IN NS    ns1
             IN NS    ns.*.esc
             IN MX    10 mx.*.esc
             IN MX    20 q.w6
ns1          IN A     192.0.2.53
www.*.esc    IN A     192.0.2.10
ns.*.esc     IN A     192.0.2.11
ns.*.esc     IN AAAA  2001:db8::11
mx.*.esc     IN AAAA  2001:db8::12
\\032.*.esc   IN A     192.0.2.13
*.\\200       IN A     192.0.2.14
*.\\200       IN AAAA  2001:db8::14
a\\.b.*.dot   IN A     192.0.2.15
*.\\032sp     IN TXT   "escaped parent"
*.w6         IN A     192.0.2.16
*.w6         IN AAAA  2001:db8::16
srv          IN SRV   0 5 443 x.\\200
srv          IN SRV   0 5 443 www.*.esc
far          IN SRV   0 5 443 a.b.\\200
"""
LABELS_NAMES = [f"{label}.{LABELS}" for label in (
    "@ x.esc *.esc www.*.esc WWW.*.ESC q.*.esc \\032.*.esc \\032.esc ns.*.esc mx.*.esc x.\\200 \\200 "
    "\\200.\\200 \\032.x.\\200 *.dot a\\.b.*.dot x.dot a.b.*.dot y.\\032sp \\032sp q.w6 z.W6 srv").split()]
LABELS_TYPES = ["A", "AAAA", "MX", "NS", "SRV", "TXT", "ANY"]

CASE = "case.example."
CASE_ZONE = f"""$ORIGIN {CASE}
$TTL 3600
@       IN SOA    NS1.Case.Example. HostMaster.CASE.example. 1 7200 900 1209600 300
        IN NS     NS1
NS1     IN A      192.0.2.53
Mail    IN A      192.0.2.25
Names   IN MX     10 Mail
Names   IN RP     Admin.Case.Example. Info.Case.Example.
Names   IN AFSDB  1 Mail
Names   IN RT     10 Mail
Names   IN KX     10 Mail
Names   IN NAPTR  100 10 "S" "SIP+D2U" "" _Sip._Udp.Case.Example.
Names   IN TXT    "Mixed Case Text"
Names   IN PTR    Host.Elsewhere.Example.
Srv     IN SRV    0 5 5060 Mail
Alias   IN CNAME  Mail.Case.Example.
Tree    IN DNAME  Other.Example.
Deleg   IN NS     NS.Deleg
NS.Deleg IN A     192.0.2.54
Signed  IN A      192.0.2.80
Signed  IN RRSIG  A 13 3 3600 20300101000000 20200101000000 12345 Case.Example. AAAA
Signed  IN NSEC   Zebra.Case.Example. A RRSIG NSEC
"""
CASE_QUESTIONS = [("@", "SOA"), ("@", "NS"), ("Names", "MX"), ("Names", "RP"), ("Names", "AFSDB"),
                  ("Names", "RT"), ("Names", "KX"), ("Names", "NAPTR"), ("Names", "TXT"), ("Names", "PTR"),
                  ("Srv", "SRV"), ("Alias", "A"), ("Alias", "CNAME"), ("Tree", "DNAME"), ("x.Deleg", "A"),
                  ("Signed", "RRSIG"), ("Signed", "NSEC"), ("Names", "ANY")]
# The record-data names NSD 4.6 keeps as written; every other one it writes in lower case.
KEPT_AS_WRITTEN = {"Case.Example.", "Zebra.Case.Example."}

ZONE_TEXTS = {DATA: DATA_ZONE, LABELS: LABELS_ZONE, CASE: CASE_ZONE}
CASES = ([(name, DATA_TYPES) for name in DATA_NAMES] + [(name, LABELS_TYPES) for name in LABELS_NAMES])


# --------------------------------------------------------------------------- servers


# ``zone_files``, ``nsd`` and ``ts`` serve ZONE_TEXTS (conftest.py); ``both`` and ``differences``
# ask them (support/zone_servers.py).


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("name,types", CASES, ids=[name for name, _ in CASES])
def test_answers_match_nsd(name: str, types: list[str], nsd: Nsd, ts: Server) -> None:
    """Every type asked at one name, with and without EDNS: the TS's reply is NSD's, field by field."""
    cases = [Case(name, qtype, variant) for variant in (EDNS0, NOEDNS) for qtype in types]
    problems = differences(cases, nsd, ts)
    assert not problems, f"{len(problems)} of {len(cases)} differ\n" + "\n\n".join(problems)


def test_data_spelt_as_the_wildcard_is_not_the_question(nsd: Nsd, ts: Server) -> None:
    """``*.mx MX 10 *.mx`` asked as ``a.mx``: the owner is the question, the exchange stays ``*.mx``."""
    reference, ours = both(Case(f"a.mx.{DATA}", "MX", EDNS0), nsd, ts)
    for reply in (reference, ours):
        exchanges = {rdata.exchange.to_text() for rdata in dns.message.from_wire(reply).answer[0]}
        assert exchanges == {f"*.mx.{DATA}", f"x.*.mx.{DATA}"}


def test_record_data_names_in_lower_case_as_nsd(nsd: Nsd, ts: Server) -> None:
    """NSD writes owners and the names in record data in lower case, but the signer of an RRSIG and
    the next name of an NSEC as written, and TXT as written; the TS writes each reply as NSD does.
    (Questions are asked in lower case, so no name takes the question's spelling.)"""
    cases = [Case(dns.name.from_text(owner, dns.name.from_text(CASE)).to_text().lower(), qtype, EDNS0)
             for owner, qtype in CASE_QUESTIONS]
    problems = differences(cases, nsd, ts)
    assert not problems, "\n\n".join(problems)
    kept, lowered = set(), set()
    for case in cases:
        reference, _ = both(case, nsd, ts)
        message = dns.message.from_wire(reference)
        for rrset in message.answer + message.authority + message.additional:
            assert rrset.name.to_text() == rrset.name.to_text().lower(), rrset
            for rdata in rrset:
                for name in _names(rdata):
                    (kept if name.to_text() in KEPT_AS_WRITTEN else lowered).add(name.to_text())
    assert kept == KEPT_AS_WRITTEN
    assert lowered and all(name == name.lower() for name in lowered), lowered
    txt, _ = both(Case(f"names.{CASE}", "TXT", EDNS0), nsd, ts)
    assert b"Mixed Case Text" in txt


def _names(rdata: dns.rdata.Rdata) -> list[dns.name.Name]:
    """The names in a record's data."""
    slots = [slot for cls in type(rdata).__mro__ for slot in getattr(cls, "__slots__", ())]
    return [value for value in (getattr(rdata, slot) for slot in slots) if isinstance(value, dns.name.Name)]


def test_wildcard_target_owner_is_the_target(nsd: Nsd, ts: Server) -> None:
    """The accepted difference: ``far SRV 0 5 443 a.b.\\200`` where only ``*.\\200`` covers the target.
    NSD writes the owner of the target's A and AAAA as its first label on the wildcard's parent
    (``a.\\200``: its temporary domain's parent, query.c add_additional_rrsets); the TS writes the
    target, the name the records are synthesised for (RFC 4592 3.3.1). All else is the same."""
    reference, ours = both(Case(f"far.{LABELS}", "SRV", EDNS0), nsd, ts)
    nsd_owners = {rrset.name.to_text() for rrset in dns.message.from_wire(reference).additional}
    ts_owners = {rrset.name.to_text() for rrset in dns.message.from_wire(ours).additional}
    assert nsd_owners == {f"a.\\200.{LABELS}", f"ns1.{LABELS}", f"ns.*.esc.{LABELS}"}
    assert ts_owners == {f"a.b.\\200.{LABELS}", f"ns1.{LABELS}", f"ns.*.esc.{LABELS}"}
    assert [d.field for d in compare(reference, ours)] == ["additional"]
