"""The race's rule: which replies answer the question, and which "no" is worth most to the client.

Pure functions of a reply's bytes, shared by the race (:mod:`resolver.ls.race`)
and by ``client --explain`` (:mod:`resolver.client.explain`), which predicts the
LS's choice without running an LS.

A NOERROR reply answers the question only when its answer section holds a
record of the type asked for the name asked, or for the end of a CNAME (or
DNAME) chain from it (any record for ANY); records for other names answer
nothing (RFC 2181 5.4.1), and a reply holding only such records is dropped.
Otherwise it is one of the kinds of "no", ranked as SPEC's race rule ranks them,
best first:

* a truncated reply (TC, RFC 2181 9): the backend has more than fits a UDP
  reply, and its sections say nothing; passed on, it sends the client to TCP;
* an open alias chain: CNAMEs (or a DNAME) from the name asked, without records
  of the type asked at their end, in a NOERROR or an NXDOMAIN reply: the
  backend that has the alias need not have its target (an internal name in a
  public view, a zone's alias into another zone), so the LS follows it across
  the backends (:mod:`resolver.ls.chase`), even when the reply's SOA says the
  end has nothing there (NODATA or NXDOMAIN, RFC 6604);
* NODATA (RFC 2308 2.2): the name exists without records of that type;
* NXDOMAIN, authoritative (with the zone's SOA, RFC 2308 3), then not; a
  YXDOMAIN (RFC 6672 2.2: the name is below a DNAME, and the name it maps to
  would pass 255 octets) is the zone's final word on the name too, and ranks
  with NXDOMAIN;
* a referral (RFC 1034 4.3.2): NOERROR, AA clear, no answer, NS in authority;
* SERVFAIL, then NOTIMP, FORMERR and BADVERS, then REFUSED.

A reply counts only if it repeats the question (:func:`as_asked`): the name
in any letter case (RFC 4343), type and class exactly; an error reply may
carry no question at all.

A reply must parse before it can win or be kept: every record of every section
is walked, names by their labels and the rest by its length, at a few
operations a record, so the rule costs the hot path little; record data is
not read, but an A or AAAA record must be 4 or 16 octets long. Whose record
an answer is follows from its owner's compression pointer (to the question,
or to the target of the CNAME before it); only owners written out, or
compressed some other way, cost a full parse.
"""
from __future__ import annotations

import struct

import dns.exception
import dns.message
import dns.name
import dns.rrset

from ..wire import (AA, BADVERS, FORMERR, NOERROR, NOTIMP, NXDOMAIN, REFUSED, SERVFAIL, TYPE_OPT, YXDOMAIN, Query,
                    WireError, error_reply, skip_name)

TYPE_A, TYPE_NS, TYPE_SOA, TYPE_CNAME, TYPE_AAAA, TYPE_DNAME, TYPE_ANY = 1, 2, 6, 5, 28, 39, 255

# Ranks of the replies that do not answer, best first (the race keeps the highest).
TRUNCATED = 9       # TC: the backend has more than fits a UDP reply; the client must ask over TCP
ALIAS = 8           # an open CNAME/DNAME chain
NODATA = 7
NXDOMAIN_AA = 6
NXDOMAIN_PLAIN = 5
REFERRAL = 4
_ERROR_RANKS = {SERVFAIL: 3, NOTIMP: 2, FORMERR: 2, BADVERS: 2, REFUSED: 1}
ANSWER = 10         # not a "no": it wins the race at once
NAME_EXISTS = NODATA    # ranks at or above this say the name exists: they go back after the NODATA grace
_COUNTS = struct.Struct("!HHH")     # ANCOUNT, NSCOUNT, ARCOUNT
_POINTER_RECORD = struct.Struct("!HH6xH")   # a record whose owner is one pointer: the pointer, TYPE, RDLENGTH
_FIXED = struct.Struct("!H6xH")             # TYPE and RDLENGTH of the fixed part after an owner name
NO_RECORDS = bytes(6)       # ANCOUNT, NSCOUNT and ARCOUNT all 0
# Rcodes a reply may send without a question (NSD's FORMERR for a malformed query, CoreDNS's BADVERS).
QUESTIONLESS_ERRORS = frozenset((FORMERR, SERVFAIL, NOTIMP, REFUSED, BADVERS))


def negative_rank(rcode: int, authoritative: bool) -> int:
    """The rank of a reply with an error rcode, NXDOMAIN or YXDOMAIN (0 for any other rcode)."""
    if rcode == NXDOMAIN or rcode == YXDOMAIN:
        return NXDOMAIN_AA if authoritative else NXDOMAIN_PLAIN
    return _ERROR_RANKS.get(rcode, 0)


def rank_of(reply: bytes, question_end: int, qtype: int) -> int:
    """The rank of a reply whose question (ending at ``question_end``) is the query's.

    Raises :class:`~resolver.wire.WireError` when the reply's sections do not parse.
    """
    rcode = reply[3] & 0x0F
    if rcode == NOERROR:
        return noerror_rank(reply, question_end, qtype)
    if reply[6:12] != NO_RECORDS:
        walked = noerror_rank(reply, question_end, qtype)     # a "no" must parse too
        if rcode == NXDOMAIN and walked == ALIAS:
            return ALIAS        # the end of its CNAMEs is missing here (RFC 6604): another backend may hold it
    return negative_rank(rcode, bool(reply[2] & 0x04))


def rcode_of(reply: bytes, rank: int) -> int:
    """The reply's rcode, :data:`~resolver.wire.BADVERS` when a NOERROR header ranks as an error.

    Only the OPT record's extended rcode (RFC 6891 6.1.3) makes a NOERROR header
    rank below a referral (:func:`noerror_rank`), and BADVERS is the extended
    rcode a server sends for a query.
    """
    rcode = reply[3] & 0x0F
    return BADVERS if rcode == NOERROR and rank < REFERRAL else rcode


def _chain_from_question(reply: bytes, qtype: int) -> tuple[bool, bool]:
    """Whether the answer section holds records of ``qtype`` for the name asked or for the end of a
    CNAME chain from it, and whether it holds such a chain: the full parse, for the rare replies
    whose owners the walk cannot place (written out, compressed in another way, a DNAME's); a
    DNAME above the chain's end holds the chain open too. Records for other names answer nothing
    (RFC 2181 5.4.1)."""
    try:
        message = dns.message.from_wire(reply)
    except dns.exception.DNSException:
        raise WireError("a record that does not parse") from None
    name = dns.name.from_wire(reply, 12)[0]
    for links in range(len(message.answer) + 1):
        if any(rrset.name == name and (rrset.rdtype == qtype or qtype == TYPE_ANY) for rrset in message.answer):
            return True, links > 0
        cname = next((rrset for rrset in message.answer if rrset.name == name and rrset.rdtype == TYPE_CNAME), None)
        if cname is None:
            return False, links > 0 or dname_above(message, name) is not None
        name = cname[0].target
    return False, True


def dname_above(message: dns.message.Message, name: dns.name.Name) -> dns.rrset.RRset | None:
    """The answer section's DNAME for a name above ``name``, if any: the CNAME for ``name`` is
    synthesised from it (RFC 6672 3.1), and without that CNAME the chain still goes on through
    it, as in a YXDOMAIN reply, whose name would map to one past 255 octets (2.2)."""
    return next((rrset for rrset in message.answer
                 if rrset.rdtype == TYPE_DNAME and name.is_subdomain(rrset.name) and name != rrset.name), None)


def judge(reply: bytes, query: bytes, q: Query) -> tuple[bytes, int] | None:
    """A backend's reply to the client's ``query`` (``q``: what :func:`~resolver.wire.scan_query` read of it),
    as the client gets it, with its rank; None when it is not a reply to this question.

    The ID, the QR bit and the source address are the caller's to check. Raises
    :class:`~resolver.wire.WireError` when the reply's sections do not parse.
    ``client --explain`` calls it; the race does the usual case (the question
    as sent) inline on its hot path and calls :func:`as_asked` for the rest.
    """
    question = q.question
    if (reply[2] ^ query[2]) & 0x78:       # another opcode: not a reply to this query (RFC 1035 4.1.1)
        return None
    if reply[4:6] == b"\x00\x01" and reply[12:12 + len(question)] == question:      # the usual reply
        return reply, rank_of(reply, 12 + len(question), q.qtype)
    return as_asked(reply, query, q)


def as_asked(reply: bytes, query: bytes, q: Query) -> tuple[bytes, int] | None:
    """A reply whose question is not the query's byte for byte, made the client's, with its rank; or None.

    ``query`` is the client's query and ``q`` what :func:`~resolver.wire.scan_query`
    read of it. Accepted: the same question with the name in other letter
    case (the client's spelling goes in its place; the name has the same length,
    so compression pointers stay right), and a question-less error reply
    (:data:`QUESTIONLESS_ERRORS`; BADVERS is NOERROR in the header and 1 in the
    OPT record's extended rcode), which becomes the client's own error reply
    with its question and OPT echoed. Anything else is not a reply to this
    query (None). Raises :class:`~resolver.wire.WireError` when the sections do
    not parse.
    """
    question = q.question
    qdcount = reply[4:6]
    if qdcount == b"\x00\x00":
        rcode = rcode_of(reply, rank_of(reply, 12, q.qtype))
        if rcode not in QUESTIONLESS_ERRORS:
            return None
        return error_reply(query, q, rcode, reply[2] << 8 & AA), negative_rank(rcode, False)
    end = 12 + len(question)
    asked = reply[12:end]
    if qdcount != b"\x00\x01" or asked[-4:] != question[-4:] or asked[:-4].lower() != question[:-4].lower():
        return None
    reply = reply[:12] + question + reply[end:]
    return reply, rank_of(reply, end, q.qtype)


def noerror_rank(reply: bytes, question_end: int, qtype: int) -> int:
    """What a NOERROR reply is: :data:`ANSWER`, :data:`ALIAS`, :data:`NODATA` or :data:`REFERRAL`,
    or BADVERS's rank when its OPT record carries an extended rcode (RFC 6891 6.1.3).

    ``question_end`` is the offset just past the reply's question section,
    ``qtype`` the type asked. Every record of every section is walked: a name
    by its labels (a compression pointer must point back into the message),
    the rest by its length. Raises :class:`~resolver.wire.WireError` when the
    reply does not hold the records its header counts, or holds bytes after them.
    """
    if reply[2] & 0x02:         # TC: the sections are cut short and say nothing (RFC 2181 9)
        return TRUNCATED
    ancount, nscount, arcount = _COUNTS.unpack_from(reply, 6)
    pos = question_end
    answered = unsure = alias = soa = delegates = extended = False
    chain_end = 12          # where the name the answer is for was last written: the question, a CNAME's target
    authority_from = ancount
    additional_from = ancount + nscount
    # One loop over the three sections. The usual record, whose owner is one compression pointer,
    # is read with one struct call (a call of skip_name per record would cost more than the rest
    # of the record); other owners, and CNAME targets, are walked by skip_name. Reading past the end raises
    # IndexError or struct.error: that is the check that the records are there.
    try:
        for index in range(additional_from + arcount):
            if reply[pos] >= 0xC0:
                pointer, rdtype, rdlength = _POINTER_RECORD.unpack_from(reply, pos)
                owner = pointer & 0x3FFF
                if owner >= pos:
                    raise WireError("compression pointer not backward")
                fixed = pos + 2
            else:
                owner = -1          # written out: only a full parse can tell whose record it is
                fixed = skip_name(reply, pos)
                rdtype, rdlength = _FIXED.unpack_from(reply, fixed)
            pos = fixed + 10 + rdlength
            if (rdtype == TYPE_A and rdlength != 4) or (rdtype == TYPE_AAAA and rdlength != 16):
                raise WireError("an address record of the wrong length")
            if index < authority_from:
                if rdtype == qtype or qtype == TYPE_ANY:
                    if owner == chain_end:
                        answered = True
                    else:
                        unsure = True       # another owner, or one written out: see _chain_from_question
                elif rdtype == TYPE_CNAME and owner == chain_end:
                    alias = True
                    chain_end = fixed + 10          # its target, where the next link's owner points
                    if skip_name(reply, chain_end) != pos:
                        raise WireError("a CNAME's data is not one name")
                elif rdtype == TYPE_CNAME or rdtype == TYPE_DNAME:
                    unsure = True           # a DNAME, or a CNAME for another owner: see _chain_from_question
            elif index < additional_from:
                if rdtype == TYPE_SOA:
                    soa = True
                elif rdtype == TYPE_NS:
                    delegates = True
            elif rdtype == TYPE_OPT and reply[fixed + 4]:     # the upper 8 bits of the rcode (RFC 6891 6.1.3)
                extended = True
    except (IndexError, struct.error):
        raise WireError("a record runs past the end of the message") from None
    if pos != len(reply):
        raise WireError("record data past the end, or bytes after the last record")
    if extended:
        return _ERROR_RANKS[BADVERS]
    if answered:
        return ANSWER
    if unsure:      # records the walk could not place: a full parse decides
        answers, chained = _chain_from_question(reply, qtype)
        if answers:
            return ANSWER
        if not chained and not alias:
            raise WireError("answer records only for other names (RFC 2181 5.4.1)")
        alias = True
    if alias:       # with an SOA too, the end has nothing here: another backend may hold it
        return ALIAS
    if ancount or soa or reply[2] & 0x04 or not delegates:     # AA: the server holds the name's zone
        return NODATA
    return REFERRAL
