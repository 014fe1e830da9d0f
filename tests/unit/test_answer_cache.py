"""The answer cache (resolver/ls/cache.py): keys, serving, TTLs, negative and failure entries,
serve-stale, prefetch, bounds and flushes, on DNS messages built with dnspython."""
from __future__ import annotations

import gc
import tracemalloc

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resolver.ls.cache import (ANSWER, FAILURE, NEGATIVE, STALE_TTL, AnswerCache, at_or_below,
                               cache_key, key_name)
from resolver.ls.settings import CacheSettings
from resolver.wire import Query, scan_query

NOW = 1000.0        # seconds on the caller's monotonic clock when an entry is stored
SOA = "ns.example.com. hostmaster.example.com. 1 7200 3600 1209600 {minimum}"


def query(name: str | dns.name.Name = "www.example.com", rdtype: str = "A", *, qid: int = 4660, rd: bool = True,
          cd: bool = False, rdclass: str = "IN", **edns) -> tuple[bytes, Query]:
    """A client query in wire form and as the LS scans it."""
    msg = dns.message.make_query(name, rdtype, rdclass, id=qid, **edns)
    if not rd:
        msg.flags &= ~dns.flags.RD
    if cd:
        msg.flags |= dns.flags.CD
    data = msg.to_wire()
    return data, scan_query(data)


def key(name: str = "www.example.com", rdtype: str = "A", **kw) -> bytes:
    return cache_key(*query(name, rdtype, **kw))


def rrsets(records) -> list[dns.rrset.RRset]:
    """(owner, ttl, type, rdata...) tuples as rrsets, the owner a Name or text (absolute)."""
    return [dns.rrset.from_text(dns.name.from_text(owner) if isinstance(owner, str) else owner, ttl, "IN", rdtype,
                                *rdata)
            for owner, ttl, rdtype, *rdata in records]


def reply(data: bytes, answer=(), authority=(), additional=(), rcode: int = dns.rcode.NOERROR,
          do: bool = False) -> bytes:
    """The reply to client query ``data`` holding the given records (owners that are the question
    name are written as compression pointers to it)."""
    msg = dns.message.make_response(dns.message.from_wire(data))
    msg.answer += rrsets(answer)
    msg.authority += rrsets(authority)
    msg.additional += rrsets(additional)
    msg.set_rcode(rcode)
    if do:
        msg.want_dnssec(True)
    return msg.to_wire()


def a_reply(data: bytes, ttl: int = 300, name: str | dns.name.Name = "www.example.com",
            address: str = "192.0.2.1") -> bytes:
    return reply(data, answer=[(name, ttl, "A", address)])


def soa(minimum: int) -> str:
    return SOA.format(minimum=minimum)


def served(cache: AnswerCache, entry, data: bytes, q: Query, now: float, stale: bool = False) -> dns.message.Message:
    return dns.message.from_wire(cache.serve(entry, data, q, now, stale))


def ttls(msg: dns.message.Message) -> dict[tuple[str, str, str], int]:
    """Every rrset's TTL by (section, owner, type), owners lower-cased."""
    return {(section, rrset.name.to_text().lower(), dns.rdatatype.to_text(rrset.rdtype)): rrset.ttl
            for section, rrsets_ in (("answer", msg.answer), ("authority", msg.authority),
                                     ("additional", msg.additional))
            for rrset in rrsets_}


def cache_of(**values) -> AnswerCache:
    return AnswerCache(CacheSettings(**values))


def stored(cache: AnswerCache, name: str | dns.name.Name = "www.example.com", ttl: int = 300, now: float = NOW, **kw):
    """Store a one-record A answer for ``name``; returns its key and entry."""
    data, q = query(name, **kw)
    k = cache_key(data, q)
    return k, cache.store(k, a_reply(data, ttl, name), ANSWER, now)


# --- the key ---------------------------------------------------------------------------------

def test_key_ignores_letter_case():
    """0x20 spellings of one name share an entry (RFC 4343)."""
    spellings = ["www.example.com", "WWW.EXAMPLE.COM", "wWw.ExAmPlE.cOm"]
    assert len({key(name) for name in spellings}) == 1
    cache = cache_of()
    _, entry = stored(cache, "WwW.example.COM")
    assert cache.lookup(key("www.EXAMPLE.com"), NOW) is entry


def test_key_tells_types_and_classes_apart():
    keys = {key(rdtype=rdtype, rdclass=rdclass) for rdtype in ("A", "AAAA", "MX") for rdclass in ("IN", "CH")}
    assert len(keys) == 6


def test_key_tells_do_cd_and_edns_apart():
    """What changes the answer: DNSSEC records asked for (DO), checking disabled (CD), EDNS or not."""
    variants = [
        key(),
        key(cd=True),
        key(use_edns=0),
        key(use_edns=0, cd=True),
        key(use_edns=0, want_dnssec=True),
        key(use_edns=0, want_dnssec=True, cd=True),
    ]
    assert len(set(variants)) == len(variants)
    cache = cache_of()
    stored(cache, use_edns=0)
    assert cache.lookup(key(use_edns=0, want_dnssec=True), NOW) is None
    assert cache.lookup(key(), NOW) is None
    assert cache.lookup(key(use_edns=0), NOW) is not None


def test_key_ignores_the_id_and_rd_but_not_the_size_the_reply_may_take():
    """A backend fits its reply to the client's size (glue left out first), so replies for different
    sizes differ: the size is part of the key, as the LS caps it (RFC 6891 6.2.5), and TCP's is its own."""
    assert key(use_edns=0, payload=1232, qid=1) == key(use_edns=0, payload=4096, qid=2, rd=False)
    assert key(use_edns=0, payload=512) == key(use_edns=0, payload=100) != key(use_edns=0, payload=1232)
    data, q = query(use_edns=0, payload=1232)
    assert cache_key(data, q) != cache_key(data, q, stream=True)
    data, q = query()                                   # no EDNS: 512 octets over UDP (RFC 1035 4.2.1)
    assert cache_key(data, q)[-2:] == (512).to_bytes(2, "big")


# --- serving ---------------------------------------------------------------------------------

def test_served_with_the_clients_id_spelling_and_rd():
    cache = cache_of()
    data, q = query("www.example.com", qid=1, rd=True)
    entry = cache.store(cache_key(data, q), a_reply(data), ANSWER, NOW)
    client, cq = query("WwW.ExAmPlE.CoM", qid=0xBEEF, rd=False)
    wire = cache.serve(entry, client, cq, NOW)
    msg = dns.message.from_wire(wire)
    assert msg.id == 0xBEEF
    assert not msg.flags & dns.flags.RD
    assert msg.flags & dns.flags.QR
    assert msg.question[0].name.to_text() == "WwW.ExAmPlE.CoM."
    # The answer's owner is a pointer to the question: it reads back in the client's spelling.
    assert wire[12 + len(cq.question):][:2] == b"\xc0\x0c"
    assert msg.answer[0].name.to_text() == "WwW.ExAmPlE.CoM."
    client, cq = query("www.example.com", qid=7, rd=True)
    assert served(cache, entry, client, cq, NOW).flags & dns.flags.RD


def test_owner_spelled_out_keeps_its_own_spelling():
    """Only the question and the names pointing into it take the client's spelling."""
    cache = cache_of()
    data, q = query("www.example.com")
    entry = cache.store(cache_key(data, q), reply(data, answer=[
        ("www.example.com", 300, "CNAME", "Web.Example.NET."), ("Web.Example.NET", 300, "A", "192.0.2.1")]),
        ANSWER, NOW)
    client, cq = query("WWW.EXAMPLE.COM")
    out = served(cache, entry, client, cq, NOW)
    assert [rrset.name.to_text() for rrset in out.answer] == ["WWW.EXAMPLE.COM.", "Web.Example.NET."]
    assert out.answer[0][0].target.to_text() == "Web.Example.NET."


def test_every_ttl_counts_down_by_whole_seconds():
    cache = cache_of()
    data, q = query()
    entry = cache.store(cache_key(data, q), reply(
        data,
        answer=[("www.example.com", 300, "A", "192.0.2.1")],
        authority=[("example.com", 3600, "NS", "ns.example.com.")],
        additional=[("ns.example.com", 200, "A", "192.0.2.53"), ("ns.example.com", 7200, "AAAA", "2001:db8::53")],
    ), ANSWER, NOW)
    assert ttls(served(cache, entry, data, q, NOW)) == {
        ("answer", "www.example.com.", "A"): 300, ("authority", "example.com.", "NS"): 3600,
        ("additional", "ns.example.com.", "A"): 200, ("additional", "ns.example.com.", "AAAA"): 7200}
    assert ttls(served(cache, entry, data, q, NOW + 10.99)) == {
        ("answer", "www.example.com.", "A"): 290, ("authority", "example.com.", "NS"): 3590,
        ("additional", "ns.example.com.", "A"): 190, ("additional", "ns.example.com.", "AAAA"): 7190}
    assert entry.ttl_left(NOW + 10.99) == 189


def test_ttls_never_go_below_zero():
    cache = cache_of()
    data, q = query()
    entry = cache.store(cache_key(data, q), reply(
        data, answer=[("www.example.com", 5, "A", "192.0.2.1")],
        authority=[("example.com", 3600, "NS", "ns.example.com.")]), ANSWER, NOW)
    later = ttls(served(cache, entry, data, q, NOW + 100))
    assert later == {("answer", "www.example.com.", "A"): 0, ("authority", "example.com.", "NS"): 3500}
    assert not entry.fresh(NOW + 5) and entry.fresh(NOW + 4.99)
    assert entry.ttl_left(NOW + 100) == 0


def test_opt_ttl_field_is_flags_and_left_alone():
    """The OPT record's TTL field holds the extended rcode, version and DO (RFC 6891 6.1.3): it is
    neither counted down nor taken for a TTL (an OPT without DO has 0 there)."""
    cache = cache_of()
    for do in (True, False):
        data, q = query(use_edns=0, want_dnssec=do)
        original = reply(data, answer=[("www.example.com", 300, "A", "192.0.2.1")], do=do)
        entry = cache.store(cache_key(data, q), original, ANSWER, NOW)
        assert entry is not None and entry.ttl_left(NOW) == 300
        out = served(cache, entry, data, q, NOW + 20)
        assert out.ednsflags == dns.message.from_wire(original).ednsflags
        assert bool(out.ednsflags & dns.flags.DO) is do
        assert out.answer[0].ttl == 280


def test_opt_keeps_an_extended_error_but_not_one_clients_cookie_nsid_or_padding():
    """A backend's COOKIE echoes the client's own (RFC 7873 5.2): served to another client, it would
    not match. Options of one exchange go; an extended error (RFC 8914), about the answer, stays."""
    cookie = dns.edns.GenericOption(dns.edns.COOKIE, bytes(range(8)) + bytes(range(16)))
    nsid = dns.edns.GenericOption(dns.edns.NSID, b"backend-1")
    padding = dns.edns.GenericOption(dns.edns.PADDING, bytes(40))
    ede = dns.edns.EDEOption(dns.edns.EDECode.FORGED_ANSWER, "kept")
    cache = cache_of()
    for options, kept in (([cookie, nsid, padding, ede], [ede]), ([cookie], []), ([ede], [ede]), ([], [])):
        data, q = query(use_edns=0)
        msg = dns.message.from_wire(reply(data, answer=[("www.example.com", 300, "A", "192.0.2.1")]))
        msg.use_edns(0, options=options)
        entry = cache.store(cache_key(data, q), msg.to_wire(), ANSWER, NOW)
        assert entry is not None
        out = served(cache, entry, data, q, NOW + 20)
        assert list(out.options) == kept and out.answer[0].ttl == 280


def test_an_option_that_runs_past_its_opt_record_is_not_kept():
    data, q = query(use_edns=0)
    msg = dns.message.from_wire(reply(data, answer=[("www.example.com", 300, "A", "192.0.2.1")]))
    msg.use_edns(0, options=[dns.edns.GenericOption(dns.edns.COOKIE, bytes(8))])
    wire = bytearray(msg.to_wire())
    wire[-9] = 200          # the option's length (its low octet) past the record's end
    assert cache_of().store(cache_key(data, q), bytes(wire), ANSWER, NOW) is None


def test_rrsig_original_ttl_is_left_alone():
    cache = cache_of()
    data, q = query(use_edns=0, want_dnssec=True)
    sig = "A 13 3 3600 20300101000000 20200101000000 12345 example.com. " + "AAAA" * 16
    entry = cache.store(cache_key(data, q), reply(data, answer=[
        ("www.example.com", 300, "A", "192.0.2.1"), ("www.example.com", 300, "RRSIG", sig)], do=True), ANSWER, NOW)
    out = served(cache, entry, data, q, NOW + 50)
    rrsig = out.find_rrset(out.answer, out.answer[0].name, dns.rdataclass.IN, dns.rdatatype.RRSIG,
                           dns.rdatatype.A)
    assert rrsig.ttl == 250 and out.answer[0].ttl == 250
    assert rrsig[0].original_ttl == 3600


# --- TTL clamping ----------------------------------------------------------------------------

@pytest.mark.parametrize("ttl, min_ttl, max_ttl, kept", [
    (10, 60, 86_400, 60),           # raised to min_ttl
    (3600, 0, 100, 100),            # lowered to max_ttl
    (300, 60, 3600, 300),           # inside the bounds: as it is
])
def test_ttls_clamped_when_stored(ttl, min_ttl, max_ttl, kept):
    cache = cache_of(min_ttl=min_ttl, max_ttl=max_ttl)
    _, entry = stored(cache, ttl=ttl)
    data, q = query()
    assert served(cache, entry, data, q, NOW).answer[0].ttl == kept
    assert entry.ttl_left(NOW) == kept


@pytest.mark.parametrize("short", ["answer", "authority", "additional"])
def test_lifetime_is_the_shortest_ttl_of_any_section(short):
    cache = cache_of()
    data, q = query(use_edns=0, want_dnssec=True)
    sections = {"answer": [("www.example.com", 3600, "A", "192.0.2.1")],
                "authority": [("example.com", 3600, "NS", "ns.example.com.")],
                "additional": [("ns.example.com", 3600, "A", "192.0.2.53")]}
    owner, _, rdtype, rdata = sections[short][0]
    sections[short] = [(owner, 42, rdtype, rdata)]
    entry = cache.store(cache_key(data, q), reply(data, do=True, **sections), ANSWER, NOW)
    assert entry.ttl_left(NOW) == 42
    assert entry.fresh(NOW + 41.9) and not entry.fresh(NOW + 42)


@pytest.mark.parametrize("section", ["answer", "authority", "additional"])
def test_a_ttl_of_zero_is_not_kept_unless_min_ttl_raises_it(section):
    records = {"answer": [("www.example.com", 300, "A", "192.0.2.1")],
               "authority": [("example.com", 3600, "NS", "ns.example.com.")],
               "additional": [("ns.example.com", 3600, "A", "192.0.2.53")]}
    owner, _, rdtype, rdata = records[section][0]
    records[section] = [(owner, 0, rdtype, rdata)]
    data, q = query()
    cache = cache_of()
    assert cache.store(cache_key(data, q), reply(data, **records), ANSWER, NOW) is None
    assert len(cache) == 0 and cache.bytes == 0 and cache.stats.inserts == 0
    cache = cache_of(min_ttl=5)
    entry = cache.store(cache_key(data, q), reply(data, **records), ANSWER, NOW)
    assert entry.ttl_left(NOW) == 5
    assert ttls(served(cache, entry, data, q, NOW))[(section, owner + ".", rdtype)] == 5


def with_ttl(wire: bytes, ttl: int, field: bytes = b"\x00\x00\x01\x2c") -> bytes:
    """``wire`` with every 4-octet ``field`` (by default a TTL of 300) made ``ttl``."""
    return wire.replace(field, ttl.to_bytes(4, "big"))


@pytest.mark.parametrize("ttl", [0x80000000, 0xFFFFFFFF])
def test_a_ttl_with_its_top_bit_set_is_zero(ttl):
    """RFC 2181 8: not kept for max_ttl, but as a TTL of 0 (kept only when min_ttl raises it)."""
    data, q = query()
    wire = with_ttl(a_reply(data, 300), ttl)
    assert ttl.to_bytes(4, "big") in wire
    assert cache_of().store(cache_key(data, q), wire, ANSWER, NOW) is None
    cache = cache_of(min_ttl=5)
    entry = cache.store(cache_key(data, q), wire, ANSWER, NOW)
    assert entry.ttl_left(NOW) == 5
    assert served(cache, entry, data, q, NOW).answer[0].ttl == 5


# --- negative answers (RFC 2308) -------------------------------------------------------------

@pytest.mark.parametrize("rcode", [dns.rcode.NXDOMAIN, dns.rcode.NOERROR])
@pytest.mark.parametrize("soa_ttl, minimum, cap, kept", [
    (300, 60, 3600, 60),            # the SOA's MINIMUM
    (30, 600, 3600, 30),            # the SOA's own TTL
    (7200, 86_400, 3600, 3600),     # negative_ttl_max
])
def test_negative_kept_by_soa_ttl_and_minimum(rcode, soa_ttl, minimum, cap, kept):
    """NXDOMAIN and NODATA live min(SOA TTL, SOA MINIMUM, negative_ttl_max) (RFC 2308 3, 5), and
    the SOA goes back with that TTL counted down."""
    cache = cache_of(negative_ttl_max=cap)
    data, q = query("nx.example.com")
    entry = cache.store(cache_key(data, q), reply(data, authority=[("example.com", soa_ttl, "SOA", soa(minimum))],
                                                  rcode=rcode), NEGATIVE, NOW)
    assert entry.kind == NEGATIVE and entry.rcode == rcode
    assert entry.ttl_left(NOW) == kept
    out = served(cache, entry, data, q, NOW + 7.5)
    assert out.rcode() == rcode and not out.answer
    assert out.authority[0].ttl == kept - 7
    assert out.authority[0][0].minimum == minimum


@pytest.mark.parametrize("soa_ttl, minimum, bounds, kept", [
    (300, 5, {"min_ttl": 60}, 60),                                  # raised to min_ttl
    (300, 5, {"min_ttl": 600, "negative_ttl_max": 100}, 100),       # negative_ttl_max caps min_ttl too
    (300, 600, {"max_ttl": 30}, 30),                                # lowered to max_ttl
    (300, 0x80000000, {}, None),                                    # a MINIMUM with its top bit set is 0
    (300, 0x80000000, {"min_ttl": 7}, 7),
])
def test_negative_ttl_clamped_like_any(soa_ttl, minimum, bounds, kept):
    """``min_ttl`` and ``max_ttl`` bound every TTL, the negative TTL included (as Unbound's
    ``cache-min-ttl``); ``negative_ttl_max`` is the most a negative is kept, whatever they say."""
    cache = cache_of(**bounds)
    data, q = query("nx.example.com")
    wire = reply(data, authority=[("example.com", soa_ttl, "SOA", soa(77))], rcode=dns.rcode.NXDOMAIN)
    entry = cache.store(cache_key(data, q), with_ttl(wire, minimum, (77).to_bytes(4, "big")), NEGATIVE, NOW)
    if kept is None:
        assert entry is None and len(cache) == 0
    else:
        assert entry.ttl_left(NOW) == kept
        assert served(cache, entry, data, q, NOW).authority[0].ttl == kept


@pytest.mark.parametrize("rcode", [dns.rcode.NXDOMAIN, dns.rcode.NOERROR])
def test_negative_without_soa_is_not_kept(rcode):
    """Without an SOA there is no negative TTL (RFC 2308 5): a referral-shaped NODATA either."""
    cache = cache_of()
    data, q = query("nx.example.com")
    for authority in ([], [("example.com", 3600, "NS", "ns.example.com.")]):
        assert cache.store(cache_key(data, q), reply(data, authority=authority, rcode=rcode), NEGATIVE, NOW) is None
    assert len(cache) == 0 and cache.bytes == 0


@pytest.mark.parametrize("rcode", [dns.rcode.NXDOMAIN, dns.rcode.NOERROR])
@pytest.mark.parametrize("chain_ttl, kept", [(20, 20), (600, 60)])
def test_negative_at_the_end_of_a_chain_lives_as_its_shortest_ttl(rcode, chain_ttl, kept):
    """An alias chain ending in NXDOMAIN (RFC 6604) or NODATA: the shorter of the chain's TTLs and
    the negative TTL."""
    cache = cache_of()
    data, q = query("alias.example.com")
    entry = cache.store(cache_key(data, q), reply(
        data, answer=[("alias.example.com", chain_ttl, "CNAME", "gone.example.com."),
                      ("gone.example.com", 3600, "CNAME", "nx.example.com.")],
        authority=[("example.com", 3600, "SOA", soa(60))], rcode=rcode), NEGATIVE, NOW)
    assert entry.ttl_left(NOW) == kept
    out = served(cache, entry, data, q, NOW + 10)
    assert [rrset.ttl for rrset in out.answer] == [chain_ttl - 10, 3590]
    assert out.authority[0].ttl == 50


def test_negative_offered_for_an_answer_is_not_kept():
    """A NOERROR holding records of the question's type answers it: offered as NEGATIVE it is a
    mistake, and keeping it for the negative TTL would be wrong either way."""
    cache = cache_of()
    data, q = query()
    assert cache.store(cache_key(data, q), reply(
        data, answer=[("www.example.com", 300, "A", "192.0.2.1")],
        authority=[("example.com", 3600, "SOA", soa(60))]), NEGATIVE, NOW) is None
    assert cache.store(cache_key(data, q), reply(
        data, answer=[("www.example.com", 300, "CNAME", "web.example.com."),
                      ("web.example.com", 300, "A", "192.0.2.1")],
        authority=[("example.com", 3600, "SOA", soa(60))]), NEGATIVE, NOW) is None
    assert len(cache) == 0


@pytest.mark.parametrize("rcode, answer", [
    (dns.rcode.NOERROR, []),                                            # NODATA
    (dns.rcode.NXDOMAIN, []),
    (dns.rcode.NXDOMAIN, [("www.example.com", 300, "CNAME", "nx.example.com.")]),
    (dns.rcode.REFUSED, []),
])
def test_answer_offered_for_a_negative_is_not_kept(rcode, answer):
    """An answer is a NOERROR with answer records: a NODATA or NXDOMAIN offered as ANSWER would
    be kept by its SOA's own TTL, not its negative TTL."""
    cache = cache_of()
    data, q = query()
    assert cache.store(cache_key(data, q), reply(data, answer=answer, authority=[("example.com", 3600, "SOA", soa(60))],
                                                 rcode=rcode), ANSWER, NOW) is None
    assert len(cache) == 0


@pytest.mark.parametrize("rcode", [dns.rcode.REFUSED, dns.rcode.SERVFAIL, dns.rcode.FORMERR, dns.rcode.NOTIMP])
def test_negative_with_another_rcode_is_not_kept(rcode):
    cache = cache_of()
    data, q = query("nx.example.com")
    assert cache.store(cache_key(data, q), reply(data, authority=[("example.com", 3600, "SOA", soa(60))],
                                                 rcode=rcode), NEGATIVE, NOW) is None


# --- SERVFAIL --------------------------------------------------------------------------------

def test_servfail_kept_servfail_ttl_seconds():
    cache = cache_of(servfail_ttl=3, serve_stale=600)
    data, q = query()
    k = cache_key(data, q)
    entry = cache.store(k, reply(data, rcode=dns.rcode.SERVFAIL), FAILURE, NOW)
    assert entry.kind == FAILURE and entry.rcode == dns.rcode.SERVFAIL and entry.ttl_left(NOW) == 3
    client, cq = query("WWW.example.com", qid=99)
    out = served(cache, entry, client, cq, NOW + 1)
    assert out.rcode() == dns.rcode.SERVFAIL and out.id == 99
    assert cache.lookup(k, NOW + 2.9) is entry
    # Never served stale, whatever serve_stale says.
    assert cache.lookup(k, NOW + 3) is None
    assert len(cache) == 0 and cache.stats.expired == 1


@pytest.mark.parametrize("rcode", [dns.rcode.NOERROR, dns.rcode.NXDOMAIN, dns.rcode.REFUSED])
def test_failure_kept_only_for_servfail(rcode):
    cache = cache_of(servfail_ttl=3)
    data, q = query()
    assert cache.store(cache_key(data, q), reply(data, rcode=rcode), FAILURE, NOW) is None


def test_servfail_ttl_zero_keeps_no_failure():
    cache = cache_of(servfail_ttl=0)
    data, q = query()
    assert cache.store(cache_key(data, q), reply(data, rcode=dns.rcode.SERVFAIL), FAILURE, NOW) is None
    assert len(cache) == 0


def test_servfail_offered_as_an_answer_is_not_kept():
    cache = cache_of(servfail_ttl=3)
    data, q = query()
    for kind in (ANSWER, NEGATIVE):
        assert cache.store(cache_key(data, q), reply(data, rcode=dns.rcode.SERVFAIL), kind, NOW) is None


# --- what is never kept ----------------------------------------------------------------------

def test_truncated_reply_is_not_kept():
    """TC set: a TCP client must never get it (RFC 2181 9)."""
    cache = cache_of()
    data, q = query()
    msg = dns.message.from_wire(a_reply(data))
    msg.flags |= dns.flags.TC
    assert cache.store(cache_key(data, q), msg.to_wire(), ANSWER, NOW) is None
    assert len(cache) == 0


def _good(data: bytes, kind: str) -> bytes:
    """A reply that is kept as ``kind``, its last record an A record (RDLENGTH 4)."""
    glue = [("ns.example.com", 3600, "A", "192.0.2.53")]
    if kind == ANSWER:
        return reply(data, answer=[("www.example.com", 300, "A", "192.0.2.1")], additional=glue)
    return reply(data, authority=[("example.com", 3600, "SOA", soa(60))], additional=glue,
                 rcode=dns.rcode.NXDOMAIN)


def _soa_rdlength(good: bytes, change: int) -> bytes:
    """``good`` with its SOA's RDATA ``change`` octets longer (filled with zeros) or shorter."""
    at = good.index(b"\x00\x06\x00\x01") + 8       # the RDLENGTH after the SOA's type, class and TTL
    rdlength = int.from_bytes(good[at:at + 2], "big")
    rdata = good[at + 2:at + 2 + rdlength]
    rdata = rdata + bytes(change) if change > 0 else rdata[:rdlength + change]
    return good[:at] + len(rdata).to_bytes(2, "big") + rdata + good[at + 2 + rdlength:]


def _mangled(good: bytes, qend: int, kind: str) -> dict[str, bytes]:
    """``good`` made into replies whose sections do not parse."""
    out = {
        "a short header": good[:11],
        "cut in the question": good[:qend - 2],
        "cut in a record's fixed part": good[:qend + 2 + 6],
        "cut in the rdata": good[:-3],
        "an answer count too high": good[:6] + b"\x00\x05" + good[8:],
        "an additional count too high": good[:10] + b"\x00\x02" + good[12:],
        "an rdlength past the end": good[:-6] + b"\x00\x05" + good[-4:],
        "a pointer forward": good[:qend] + b"\xc0\xff" + good[qend + 2:],
        "a bad label type": good[:qend] + b"\x80" + good[qend + 1:],
        "no question": good[:4] + b"\x00\x00" + good[6:12] + good[qend:],
        "two questions": good[:4] + b"\x00\x02" + good[6:qend] + good[12:],
        "octets after the last record": good + b"\x00\x00\x00",
    }
    if kind == ANSWER:
        out["an OPT record for the answer"] = (good[:qend] + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"
                                               + good[good.index(b"\x02ns"):])
    if kind == NEGATIVE:
        out["an SOA rdata cut short"] = _soa_rdlength(good, -3)
        out["an SOA rdata with octets past MINIMUM"] = _soa_rdlength(good, 4)
    return out


@pytest.mark.parametrize("kind", [ANSWER, NEGATIVE])
def test_reply_whose_sections_do_not_parse_is_not_kept(kind):
    data, q = query()
    good = _good(data, kind)
    assert cache_of().store(cache_key(data, q), good, kind, NOW) is not None
    cache = cache_of()
    for why, wire in _mangled(good, 12 + len(q.question), kind).items():
        assert cache.store(cache_key(data, q), wire, kind, NOW) is None, why
    assert len(cache) == 0 and cache.bytes == 0


def test_reply_to_another_question_is_not_kept():
    """The entry is served with the client's question spliced in: it must be that question's."""
    cache = cache_of()
    data, q = query("www.example.com")
    other, _ = query("ftp.example.com")
    mx, _ = query("www.example.com", "MX")
    assert cache.store(cache_key(data, q), a_reply(other, name="ftp.example.com"), ANSWER, NOW) is None
    assert cache.store(cache_key(data, q), reply(mx, answer=[("www.example.com", 300, "MX", "10 mx.example.com.")]),
                       ANSWER, NOW) is None
    assert len(cache) == 0


# --- serve-stale (RFC 8767) ------------------------------------------------------------------

def test_stale_answer_within_the_window():
    """Past its TTL an entry is kept ``serve_stale`` seconds more, looked up as a miss, and served
    with every TTL 30 (RFC 8767 4)."""
    cache = cache_of(serve_stale=100)
    data, q = query()
    k = cache_key(data, q)
    entry = cache.store(k, reply(data, answer=[("www.example.com", 60, "A", "192.0.2.1")],
                                 authority=[("example.com", 3600, "NS", "ns.example.com.")],
                                 additional=[("ns.example.com", 600, "A", "192.0.2.53")]), ANSWER, NOW)
    assert cache.lookup(k, NOW + 59.9) is entry
    assert (cache.stats.hits, cache.stats.misses) == (1, 0)
    for later in (NOW + 60, NOW + 159.9):
        assert cache.lookup(k, later) is entry and not entry.fresh(later)
        assert cache.peek(k, later) is entry
    assert (cache.stats.hits, cache.stats.misses, cache.stats.stale) == (1, 2, 0)
    client, cq = query("WWW.example.com", qid=77)
    out = served(cache, entry, client, cq, NOW + 150, stale=True)
    assert set(ttls(out).values()) == {STALE_TTL} and len(ttls(out)) == 3
    assert out.id == 77 and out.question[0].name.to_text() == "WWW.example.com."
    assert cache.stats.stale == 1
    # Past the window: dropped, counted as expired, its octets given back.
    assert cache.peek(k, NOW + 160) is None and len(cache) == 1
    assert cache.lookup(k, NOW + 160) is None
    assert (cache.stats.misses, cache.stats.expired, len(cache), cache.bytes) == (3, 1, 0, 0)


def test_stale_negative_goes_back_with_its_soa_at_30():
    cache = cache_of(serve_stale=100)
    data, q = query("nx.example.com")
    k = cache_key(data, q)
    entry = cache.store(k, reply(data, authority=[("example.com", 3600, "SOA", soa(60))],
                                 rcode=dns.rcode.NXDOMAIN), NEGATIVE, NOW)
    assert cache.lookup(k, NOW + 61) is entry
    out = served(cache, entry, data, q, NOW + 61, stale=True)
    assert out.rcode() == dns.rcode.NXDOMAIN and out.authority[0].ttl == STALE_TTL


def test_serve_stale_zero_drops_at_expiry():
    cache = cache_of(serve_stale=0)
    k, entry = stored(cache, ttl=60)
    assert cache.lookup(k, NOW + 59.99) is entry
    assert cache.peek(k, NOW + 60) is None
    assert cache.lookup(k, NOW + 60) is None
    assert (cache.stats.expired, len(cache), cache.bytes) == (1, 0, 0)


def test_failure_does_not_displace_an_entry_that_can_still_be_served():
    """A SERVFAIL from a refresh (a prefetch, or the race for a stale entry) keeps the answer the
    cache has: replacing it would lose the stale answer RFC 8767 keeps for exactly that case."""
    cache = cache_of(serve_stale=100, servfail_ttl=5)
    data, q = query()
    k = cache_key(data, q)
    fail = reply(data, rcode=dns.rcode.SERVFAIL)
    entry = cache.store(k, a_reply(data, 60), ANSWER, NOW)
    for later in (NOW + 10, NOW + 70, NOW + 159.9):       # fresh, then stale
        assert cache.store(k, fail, FAILURE, later) is None
        assert cache.peek(k, later) is entry
    failure = cache.store(k, fail, FAILURE, NOW + 160)      # past the stale window
    assert failure is not None and cache.lookup(k, NOW + 161) is failure
    assert len(cache) == 1 and cache.bytes == failure.size


def test_a_new_result_replaces_the_entry():
    """A refresh that says the name is gone replaces a fresh answer, and a new answer a stale one."""
    cache = cache_of(serve_stale=100)
    data, q = query()
    k = cache_key(data, q)
    cache.store(k, a_reply(data, 60), ANSWER, NOW)
    negative = cache.store(k, reply(data, authority=[("example.com", 3600, "SOA", soa(30))],
                                    rcode=dns.rcode.NXDOMAIN), NEGATIVE, NOW + 10)
    assert cache.lookup(k, NOW + 11) is negative and cache.bytes == negative.size
    answer = cache.store(k, a_reply(data, 60, address="192.0.2.2"), ANSWER, NOW + 50)
    assert cache.lookup(k, NOW + 51) is answer and cache.bytes == answer.size
    assert served(cache, answer, data, q, NOW + 51).answer[0][0].address == "192.0.2.2"
    assert len(cache) == 1 and cache.stats.inserts == 3


# --- prefetch --------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", [ANSWER, NEGATIVE])
def test_prefetch_once_in_the_last_tenth(kind):
    cache = cache_of(serve_stale=100)
    data, q = query()
    wire = (a_reply(data, 100) if kind == ANSWER else
            reply(data, authority=[("example.com", 3600, "SOA", soa(100))], rcode=dns.rcode.NXDOMAIN))
    entry = cache.store(cache_key(data, q), wire, kind, NOW)
    assert not cache.wants_prefetch(entry, NOW)
    assert not cache.wants_prefetch(entry, NOW + 89.9)
    assert cache.wants_prefetch(entry, NOW + 90)
    assert not cache.wants_prefetch(entry, NOW + 95)
    assert cache.stats.prefetches == 1
    # A new store for the key is a new entry, with its own prefetch to come.
    fresh = cache.store(cache_key(data, q), wire, kind, NOW + 95)
    assert not cache.wants_prefetch(fresh, NOW + 95 + 89.9)
    assert cache.wants_prefetch(fresh, NOW + 95 + 90)
    assert cache.stats.prefetches == 2


def test_no_prefetch_when_off_for_failures_or_once_stale():
    data, q = query()
    cache = cache_of(prefetch=False)
    entry = cache.store(cache_key(data, q), a_reply(data, 100), ANSWER, NOW)
    assert not cache.wants_prefetch(entry, NOW + 95)
    cache = cache_of(servfail_ttl=10)
    entry = cache.store(cache_key(data, q), reply(data, rcode=dns.rcode.SERVFAIL), FAILURE, NOW)
    assert not cache.wants_prefetch(entry, NOW + 9.5)
    # A stale entry is not refreshed in the background: the race asked for it is its refresh.
    cache = cache_of(serve_stale=100)
    entry = cache.store(cache_key(data, q), a_reply(data, 100), ANSWER, NOW)
    assert not cache.wants_prefetch(entry, NOW + 100)
    assert cache.stats.prefetches == 0


# --- bounds ----------------------------------------------------------------------------------

def test_entries_bound_evicts_the_least_recently_used():
    cache = cache_of(entries=3)
    keys = {name: stored(cache, name)[0] for name in ("a.example", "b.example", "c.example")}
    assert cache.lookup(keys["a.example"], NOW + 1) is not None        # a lookup makes it the youngest
    assert cache.peek(keys["b.example"], NOW + 1) is not None          # a peek does not
    d, _ = stored(cache, "d.example", now=NOW + 2)
    assert cache.peek(keys["b.example"], NOW + 2) is None
    assert all(cache.peek(k, NOW + 2) is not None for k in (keys["a.example"], keys["c.example"], d))
    assert (len(cache), cache.stats.evictions) == (3, 1)
    stored(cache, "e.example", now=NOW + 3)
    assert cache.peek(keys["c.example"], NOW + 3) is None and cache.peek(keys["a.example"], NOW + 3) is not None
    assert (len(cache), cache.stats.evictions, cache.stats.inserts) == (3, 2, 5)


def test_replacing_an_entry_evicts_nothing():
    cache = cache_of(entries=2)
    a, _ = stored(cache, "a.example")
    b, _ = stored(cache, "b.example")
    _, entry = stored(cache, "A.EXAMPLE", ttl=600, now=NOW + 1)
    assert cache.peek(a, NOW + 1) is entry and cache.peek(b, NOW + 1) is not None
    assert (len(cache), cache.stats.evictions) == (2, 0)
    assert cache.bytes == entry.size + cache.peek(b, NOW + 1).size


def test_max_bytes_bound_evicts_the_least_recently_used():
    _, one = stored(cache_of(), "a.example")
    cache = cache_of(max_bytes=one.size * 5 // 2)       # room for two such entries
    a, _ = stored(cache, "a.example")
    b, _ = stored(cache, "b.example")
    assert cache.lookup(a, NOW + 1) is not None
    c, _ = stored(cache, "c.example", now=NOW + 2)
    assert cache.peek(b, NOW + 2) is None
    assert cache.peek(a, NOW + 2) is not None and cache.peek(c, NOW + 2) is not None
    assert (len(cache), cache.bytes, cache.stats.evictions) == (2, 2 * one.size, 1)


def test_entry_larger_than_max_bytes_is_not_kept_and_evicts_nothing():
    """Making room for an entry that cannot fit would empty the cache for nothing."""
    _, one = stored(cache_of(), "a.example")
    cache = cache_of(max_bytes=one.size * 3)
    a, _ = stored(cache, "a.example")
    b, _ = stored(cache, "b.example")
    data, q = query("big.example")
    big = reply(data, answer=[("big.example", 300, "A", *(f"192.0.2.{n}" for n in range(1, 60)))])
    assert cache.store(cache_key(data, q), big, ANSWER, NOW) is None
    assert cache.peek(a, NOW) is not None and cache.peek(b, NOW) is not None
    assert (len(cache), cache.bytes, cache.stats.evictions, cache.stats.inserts) == (2, 2 * one.size, 0, 2)


@pytest.mark.parametrize("records", [1, 8])
def test_bytes_counts_the_memory_entries_take(records):
    """``bytes`` (what ``max_bytes`` bounds) is honest: not under the memory the entries really
    take by more than a fifth, nor far over it."""
    count = 10_000
    data, _ = query("h00000.example.com")
    template = reply(data, answer=[("h00000.example.com", 3600, "A", *(f"192.0.2.{n}" for n in range(1, records + 1)))])
    pairs = [(data.replace(b"h00000", b"h%05d" % n), template.replace(b"h00000", b"h%05d" % n)) for n in range(count)]
    cache = cache_of(entries=count)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for client, wire in pairs:
            cache.store(cache_key(client, scan_query(client)), wire, ANSWER, NOW)
        gc.collect()
        taken = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(cache) == count
    assert 0.8 * taken <= cache.bytes <= 1.25 * taken, (taken / count, cache.bytes / count)


# --- flush -----------------------------------------------------------------------------------

def wire_name(name: str | dns.name.Name) -> bytes:
    return (name if isinstance(name, dns.name.Name) else dns.name.from_text(name)).to_wire()


# A name whose wire form ends in the octets of example.com's but is not below it: its first label
# is "b", 0x07, "example".
NOT_BELOW = dns.name.Name([b"b\x07example", b"com", b""])


@pytest.mark.parametrize("name, zone, below", [
    ("example.com.", "example.com.", True),
    ("www.example.com.", "example.com.", True),
    ("a.b.example.com.", "example.com.", True),
    ("ample.example.", "example.", True),             # a child, whatever its letters
    ("xexample.com.", "example.com.", False),
    ("xample.com.", "example.com.", False),
    ("example.com.", "xample.com.", False),
    ("example.com.", "www.example.com.", False),
    ("com.", "example.com.", False),
    ("example.org.", "example.com.", False),
    (NOT_BELOW, "example.com.", False),
    (NOT_BELOW, "com.", True),
    ("example.com.", ".", True),
    (".", ".", True),
])
def test_at_or_below_goes_by_labels(name, zone, below):
    assert at_or_below(wire_name(name), wire_name(zone)) is below


def test_flush_all():
    cache = cache_of()
    for name in ("a.example", "b.example", "c.example"):
        stored(cache, name)
    assert cache.flush() == 3
    assert (len(cache), cache.bytes, cache.stats.flushed) == (0, 0, 3)
    assert cache.flush() == 0 and cache.stats.flushed == 3


def test_flush_a_name_and_what_is_below_it():
    """Every type and key variant of the name and the names below it, whatever their spelling;
    not a name that only ends in the same octets."""
    cache = cache_of()
    doomed = [stored(cache, "example.com")[0], stored(cache, "example.com", rdtype="MX")[0],
              stored(cache, "WWW.Example.com")[0], stored(cache, "www.example.com", use_edns=0, want_dnssec=True)[0],
              stored(cache, "a.b.example.com")[0]]
    kept = [stored(cache, "xexample.com")[0], stored(cache, "com")[0], stored(cache, "example.org")[0],
            stored(cache, NOT_BELOW)[0]]
    assert cache.flush(wire_name("EXAMPLE.com.")) == 5
    assert all(cache.peek(k, NOW) is None for k in doomed)
    assert all(cache.peek(k, NOW) is not None for k in kept)
    assert (len(cache), cache.stats.flushed) == (4, 5)
    assert cache.bytes == sum(cache.peek(k, NOW).size for k in kept)
    assert cache.flush(wire_name("nothing.example.com.")) == 0
    assert cache.flush(wire_name(".")) == 4 and (len(cache), cache.bytes, cache.stats.flushed) == (0, 0, 9)


# Names for the property test: one below another, one a byte suffix of another but no subdomain,
# two spellings of one name.
NAMES = ["example.", "a.example.", "b.a.example.", "xa.example.", "A.EXAMPLE.", "other."]
KINDS = [ANSWER, NEGATIVE, FAILURE]
_replies: dict[tuple, tuple[bytes, bytes]] = {}


def _keyed_reply(name: str, kind: str, ttl: int, records: int) -> tuple[bytes, bytes]:
    """The key and a reply of ``kind`` for ``name``, its TTLs ``ttl`` and its size by ``records``."""
    made = _replies.get((name, kind, ttl, records))
    if made is None:
        data, q = query(name)
        addresses = [f"192.0.2.{n}" for n in range(1, records + 1)]
        if kind == ANSWER:
            wire = reply(data, answer=[(name, ttl, "A", *addresses)])
        elif kind == NEGATIVE:
            wire = reply(data, authority=[("example", ttl, "SOA", soa(ttl))],
                         additional=[("ns.example", ttl, "A", *addresses)], rcode=dns.rcode.NXDOMAIN)
        else:
            wire = reply(data, rcode=dns.rcode.SERVFAIL)
        made = _replies[(name, kind, ttl, records)] = (cache_key(data, q), wire)
    return made


_operations = st.lists(st.one_of(
    st.tuples(st.just("store"), st.sampled_from(NAMES), st.sampled_from(KINDS), st.sampled_from([0, 1, 5, 60]),
              st.integers(1, 12)),
    st.tuples(st.just("lookup"), st.sampled_from(NAMES)),
    st.tuples(st.just("flush"), st.sampled_from(NAMES + [None])),
    st.tuples(st.just("wait"), st.sampled_from([0.5, 1, 4.5, 30])),
), max_size=40)


@settings(max_examples=300, deadline=None)
@given(entries=st.integers(1, 5), max_bytes=st.one_of(st.none(), st.integers(500, 2500)),
       serve_stale=st.sampled_from([0, 10]), servfail_ttl=st.sampled_from([0, 2]), operations=_operations)
def test_bytes_and_len_stay_true_and_within_bounds(entries, max_bytes, serve_stale, servfail_ttl, operations):
    """Whatever stores, replacements, lookups (dropping expired entries) and flushes happen,
    ``bytes`` is the sum of the entries' sizes, and neither bound is ever passed."""
    cache = cache_of(entries=entries, max_bytes=max_bytes, serve_stale=serve_stale, servfail_ttl=servfail_ttl)
    now = NOW
    for op, *args in operations:
        if op == "store":
            k, wire = _keyed_reply(*args)
            cache.store(k, wire, args[1], now)
        elif op == "lookup":
            cache.lookup(_keyed_reply(args[0], ANSWER, 1, 1)[0], now)
        elif op == "flush":
            cache.flush(None if args[0] is None else dns.name.from_text(args[0]).to_wire())
        else:
            now += args[0]
        kept = list(cache._entries.values())
        assert cache.bytes == sum(entry.size for entry in kept) and len(cache) == len(kept)
        assert len(cache) <= entries
        assert max_bytes is None or cache.bytes <= max_bytes
    # Flushing what is left name by name gives every octet back.
    left = len(cache)
    assert sum(cache.flush(key_name(k)) for k in list(cache._entries)) == left
    assert (len(cache), cache.bytes) == (0, 0)


# --- AA ----------------------------------------------------------------------------------------

def authoritative(wire: bytes) -> bytes:
    msg = dns.message.from_wire(wire)
    msg.flags |= dns.flags.AA
    return msg.to_wire()


@pytest.mark.parametrize("kind", [ANSWER, NEGATIVE, FAILURE])
def test_an_entry_is_served_with_aa_clear_fresh_or_stale_but_the_first_reply_keeps_the_backends(kind):
    # Cached data is not authoritative (RFC 1035 6.2, RFC 2181 5.4.1); the race's own reply is the backend's.
    cache = cache_of(serve_stale=100)
    data, q = query()
    if kind == ANSWER:
        wire = a_reply(data, 60)
    elif kind == NEGATIVE:
        wire = reply(data, authority=[("example.com", 60, "SOA", soa(60))], rcode=dns.rcode.NXDOMAIN)
    else:
        wire = reply(data, rcode=dns.rcode.SERVFAIL)
    entry = cache.store(cache_key(data, q), authoritative(wire), kind, NOW)
    assert entry is not None
    client, cq = query(qid=77)
    assert not served(cache, entry, client, cq, NOW + 1).flags & dns.flags.AA
    assert not served(cache, entry, client, cq, NOW + 61, stale=True).flags & dns.flags.AA
    first = dns.message.from_wire(cache.first(entry, client, cq, NOW, authoritative(wire)))
    assert first.flags & dns.flags.AA and first.id == 77
    assert first.flags & ~dns.flags.AA == served(cache, entry, client, cq, NOW).flags
    assert not dns.message.from_wire(cache.first(entry, client, cq, NOW, wire)).flags & dns.flags.AA
