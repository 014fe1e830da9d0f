"""Master files in the shapes NSD, BIND and Knot read, and in shapes they refuse.

Each shape is one zone, written as ``<zone>.zone`` (plus any files it
includes) into a directory, so that NSD (configured with the zone name from
the file name, as :mod:`support.nsd` does) and the TS read the same bytes.

* :data:`READ_BY_NSD`: files NSD 4.6 reads; the TS must read them and answer
  from them as NSD does (``tests/conformance/test_nsd_zone_files.py``).
* :data:`READ_BY_BIND`: BIND and Knot syntax that NSD 4.6 refuses (relative
  ``$ORIGIN``, ``$GENERATE``, a relative ``$INCLUDE`` origin); the TS reads it.
* :data:`REFUSED_LIKE_NSD`: files NSD refuses, with the line it names; the TS
  refuses them at the same line.
* :data:`REFUSED`: broken files of every other kind; the TS refuses each with
  one line naming file and line, never a traceback.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Shape:
    """A zone file (``text``, for the zone ``zone``) and the files it includes (name -> text)."""

    id: str
    zone: str
    text: str
    includes: dict[str, str] = field(default_factory=dict)
    line: int = 0           # for refused shapes: the line the error names
    message: str = ""       # for refused shapes: a fragment of the TS's message
    nsd_reads: bool = False     # for refused shapes: NSD 4.6 loads it (a difference the README gives a reason for)

    @property
    def file_name(self) -> str:
        return f"{self.zone.rstrip('.')}.zone"

    def write(self, directory: Path) -> Path:
        """Write the file and its includes into ``directory``; returns the zone file's path."""
        for name, text in self.includes.items():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_bytes(_bytes(text))
        path = directory / self.file_name
        path.write_bytes(_bytes(self.text))
        return path


def _bytes(text: str) -> bytes:
    """A file's bytes: its text in UTF-8, and a lone surrogate ('\\udce9') the byte it stands for (Latin-1)."""
    return text.encode("utf-8", "surrogateescape")


def _head(zone: str) -> str:
    return f"$ORIGIN {zone}.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 900 1209600 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\n"


READ_BY_NSD = [
    Shape("origin_root_at_top", "dot.test", """$ORIGIN .
$TTL 300
dot.test IN SOA ns1.dot.test. hostmaster.dot.test. 1 7200 900 1209600 300
         IN NS ns1.dot.test.
$ORIGIN dot.test.
ns1 A 192.0.2.53
www A 192.0.2.1
"""),
    Shape("origin_parent_at_top", "child.test", """$ORIGIN test.
$TTL 300
child IN SOA ns1.child hostmaster.child 1 7200 900 1209600 300
      IN NS ns1.child
ns1.child IN A 192.0.2.53
www.child IN A 192.0.2.1
$ORIGIN child.test.
mail IN A 192.0.2.2
$ORIGIN @
ftp IN A 192.0.2.3
"""),
    Shape("first_record_not_at_apex", "late.test", """$TTL 300
www IN A 192.0.2.1
mail IN MX 10 www
@ IN SOA ns1 hostmaster 1 7200 900 1209600 300
@ IN NS ns1
ns1 IN A 192.0.2.53
"""),
    Shape("owners_inherited", "inherit.test", """$ORIGIN inherit.test.
$TTL 300
@ IN SOA ns1 hostmaster (
        1       ; serial
        7200    ; refresh
        900 1209600 300 )
  IN NS ns1
  IN MX 10 mail
  IN A 192.0.2.10
ns1 IN A 192.0.2.53
    IN AAAA 2001:db8::53
; a comment between an owner's lines
    IN TXT "ns1's text"
www IN A 192.0.2.1

    IN A 192.0.2.2
    600 IN AAAA 2001:db8::1
    IN 600 TXT "class before TTL"
mail IN A 192.0.2.25
"""),
    Shape("escaped_owners", "escape.test", _head("escape.test") + r"""a\.b IN A 192.0.2.1
\065bc IN A 192.0.2.2
\x\y IN TXT "escaped letters"
sp\032ace IN A 192.0.2.3
sp\032ace IN TXT "a space in the label"
dot\.dot.sub IN AAAA 2001:db8::1
alias IN CNAME a\.b
tail\. IN A 192.0.2.4
"""),
    # NSD adds the addresses of an MB's host to its answers, not those of MG and MR names.
    # A backslash before a character that is not ASCII escapes that character (RFC 1035 5.1 \\X), its
    # bytes as the file holds them: UTF-8, or a Latin-1 byte ('\\udce9', written back as the byte e9).
    Shape("escaped_non_ascii", "escna.test", _head("escna.test") + "b IN TXT a\\\u00e9b\n"
          'c IN TXT "a\\\u00e9b"\n' "d\\\u00e9 IN A 192.0.2.1\n" "e IN CNAME x\\\u00e9\n"
          "f IN TXT a\\\udce9b\n" "g IN TXT a\\\\\u00e9b\n" "h IN TXT a\\\u00b2\n"),
    # Only spaces and tabs part fields (NSD's lexer): U+00A0, \\v, \\f, \\x1c and U+2003 are data.
    Shape("fields_parted_by_space_and_tab", "sep.test", _head("sep.test") + "nb IN TXT a\u00a0b\n"
          "x IN TXT a\x0bb\tc\x1cd\n" "y IN TXT a\x0c b\u2003c\n" "caf\u00a0x IN A 192.0.2.1\n"),
    # A quoted owner is its quoted text, one label (NSD): "c.d" is c\.d and "@" the label @.
    Shape("quoted_owners", "qown.test", _head("qown.test") + r""""a13" IN A 192.0.2.15
"b 13" IN TXT x
"c.d" IN A 192.0.2.4
"@" IN A 192.0.2.5
"x\.y" IN A 192.0.2.6
"""),
    Shape("obsolete_types", "old.test", _head("old.test") + r"""mb IN MB host
mg IN MG host
mr IN MR host
host IN A 192.0.2.9
host IN AAAA 2001:db8::9
wild IN MB nowhere.wild
*.wild IN A 192.0.2.10
minfo IN MINFO ns1 hostmaster
md IN MD ns1
mf IN MF ns1
null IN NULL \# 3 010203
wks IN WKS 192.0.2.1 TCP 25 80
hinfo IN HINFO "PDP-11" "UNIX"
"""),
    Shape("numbers_first_in_rdata", "numbers.test", """$ORIGIN numbers.test.
$TTL 300
@ IN SOA ns1 hostmaster 4294967295 7200 900 1209600 300
  IN NS ns1
ns1 IN A 192.0.2.53
mx MX 65535 ns1
   MX 4294 ns1
txt TXT 4294967296
    TXT 2147483648 99999999999
srv SRV 65535 65535 65535 ns1
big TYPE65280 \\# 4 ffffffff
"""),
    Shape("rrsig_after_2106", "sig.test", _head("sig.test") + """www IN A 192.0.2.1
www IN RRSIG A 8 3 300 21070101000000 20250101000000 12345 sig.test. AAAA
txt IN RRSIG TXT 8 3 300 21060207062815 19700101000000 12345 sig.test. BBBB
"""),
    # Dates outside 1970-2106 wrap to 32 bits (RFC 4034 3.1.5), and a 60th second is the next minute's first.
    Shape("rrsig_times_wrapped", "sigwrap.test", _head("sigwrap.test") + """www IN A 192.0.2.1
before IN RRSIG A 8 3 300 19691231235959 20250101000000 12345 sigwrap.test. AAAA
year1 IN RRSIG A 8 3 300 00010101000000 20250101000000 12345 sigwrap.test. AAAA
last IN RRSIG A 8 3 300 99991231235959 18000101000000 12345 sigwrap.test. AAAA
leap IN RRSIG A 8 3 300 20301231235960 20250101000000 12345 sigwrap.test. AAAA
edge IN RRSIG A 8 3 300 21060207062816 21060207062815 12345 sigwrap.test. AAAA
"""),
    Shape("loc_as_nsd_prints_it", "loc.test", _head("loc.test") + """l1 IN LOC 52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m
l2 IN LOC 52 0 0.000 N 4 0 0.000 E 0.00m 1m 10000m 10m
l3 IN LOC 42 21 54.675 N 71 6 18.343 W 24.12m 30m 10000m 10m
l4 IN LOC 52 N 4 E 0m
l5 IN LOC 0 0 0.000 S 0 0 0.000 W -100000.00m 90000000.00m 90000000.00m 90000000.00m
l6 IN LOC 90 0 0.000 N 180 0 0.000 W 42849672.95m 1m 10000m 10m
"""),
    Shape("include_without_origin", "inc.test", """$ORIGIN inc.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 7200 900 1209600 300
@ IN NS ns1
$INCLUDE inc.test.d/hosts.inc
after IN A 192.0.2.9
""", {"inc.test.d/hosts.inc": "ns1 IN A 192.0.2.53\nwww IN A 192.0.2.1\n  IN TXT \"included\"\n"}),
    Shape("include_with_origin", "incorigin.test", """$ORIGIN incorigin.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 7200 900 1209600 300
@ IN NS ns1
ns1 IN A 192.0.2.53
$INCLUDE incorigin.test.d/hosts.inc sub.incorigin.test.
after IN A 192.0.2.9
""", {"incorigin.test.d/hosts.inc": "@ IN A 192.0.2.10\nwww IN A 192.0.2.1\n"}),
    # A line starting blank after $INCLUDE takes the last owner the included file named (NSD), even below
    # another $ORIGIN of its own; an included file that names none leaves the owner from before it.
    Shape("owner_after_include", "incowner.test", """$ORIGIN incowner.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 7200 900 1209600 300
@ IN NS ns1
ns1 IN A 192.0.2.53
outer IN A 192.0.2.1
$INCLUDE incowner.test.d/names.inc
    IN TXT "after names.inc"
$INCLUDE incowner.test.d/deeper.inc
    IN TXT "after deeper.inc"
$INCLUDE incowner.test.d/blank.inc
    IN TXT "after blank.inc"
""", {"incowner.test.d/names.inc": "inner IN A 192.0.2.7\n",
      "incowner.test.d/deeper.inc": "$ORIGIN sub.incowner.test.\ndeep IN A 192.0.2.8\n",
      "incowner.test.d/blank.inc": "    IN AAAA 2001:db8::8\n"}),
    # A directive NSD does not know is skipped, with a warning, when it stands alone on its line.
    Shape("unknown_directive_alone", "dollar.test", _head("dollar.test") + """www IN A 192.0.2.1
$FOO
    IN TXT "the owner goes on"
$Bar ; a comment after it
$DATE
"""),
    Shape("ttl_units", "units.test", """$ORIGIN units.test.
$TTL 1h
@ IN SOA ns1 hostmaster 1 2h 15m 2w 5m
@ IN NS ns1
ns1 IN A 192.0.2.53
day 1d IN A 192.0.2.1
mixed 1w2d3h4m5s IN TXT "a long time"
"""),
    Shape("no_ttl_directive", "nottl.test", """$ORIGIN nottl.test.
@ IN SOA ns1 hostmaster 1 7200 900 1209600 300
@ 600 IN NS ns1
ns1 IN A 192.0.2.53
www 120 IN A 192.0.2.1
mail IN A 192.0.2.2
"""),
    Shape("quotes_and_parentheses", "quote.test", _head("quote.test") + r"""t1 IN TXT "semi ; colon" "paren ( inside )"
t2 IN TXT ( "first line"   ; a comment in parentheses
            "second line" )
t3 IN TXT "escaped \"quote\"" "back\\slash" "\065\066C"
t4 IN TXT unquoted words "and quoted"
t5 IN TXT ""
"""),
    Shape("generic_rdata", "generic.test", _head("generic.test") + r"""a IN A \# 4 c0000201
t IN TXT \# 4 03616263
u IN TYPE4321 \# 0
v IN TYPE4322 \# 2 abcd
w CLASS1 A 192.0.2.9
"""),
    # Digests of any length and reserved code points, kept as written (NSD; resolver/ts/digest_types.py).
    Shape("digests_as_written", "digest.test", _head("digest.test") + f"""short IN DS 12345 8 2 abcd
sha1 IN DS 12345 8 1 00
typezero IN DS 1 8 0 ab
unknown IN DS 1 8 99 abcdef
cds IN CDS 1 8 2 ab
cds IN CDS 0 0 0 00
dlv IN DLV 1 8 2 abcd
generic IN DS \\# 5 0001080200
_443._tcp.www IN TLSA 3 1 1 ab
_443._tcp.www IN TLSA 3 1 2 abcd
_443._tcp.full IN TLSA 3 1 0 abcdef
x._smimecert IN SMIMEA 3 1 2 abcd
@ IN ZONEMD 1 0 1 {"ab" * 48}
@ IN ZONEMD 1 1 0 {"cd" * 12}
"""),
    Shape("dnssec_beside_cname", "cnamesig.test", _head("cnamesig.test") + """www IN CNAME ns1
www IN RRSIG CNAME 8 3 300 20300101000000 20250101000000 12345 cnamesig.test. AAAA
www IN NSEC ns1.cnamesig.test. CNAME RRSIG NSEC
"""),
    Shape("duplicates_dropped", "dup.test", _head("dup.test") + """www IN CNAME ns1
www IN CNAME ns1
a IN A 192.0.2.1
a IN A 192.0.2.1
t IN TXT "same"
t IN TXT "same"
dn IN DNAME other.test.
dn IN DNAME Other.Test.
"""),
    # NSEC3 owners are no names (RFC 5155 7.2.8): they may stand below an apex DNAME, and the DNAME
    # answers for them (NSD's check_dname and answer_authoritative pass over them).
    Shape("apex_dname_beside_nsec3", "apexdn.test", """$ORIGIN apexdn.test.
$TTL 300
@ IN SOA ns1.other.test. hostmaster.other.test. 1 7200 900 1209600 300
@ IN NS ns1.other.test.
@ IN DNAME other.test.
2vptu5timamqttgl4luu9kg21e0aor3s IN NSEC3 1 0 0 - 2vptu5timamqttgl4luu9kg21e0aor3t A RRSIG
"""),
]

READ_BY_BIND = [
    Shape("relative_origin", "rel.test", """$ORIGIN test.
$TTL 300
rel IN SOA ns1.rel hostmaster.rel 1 7200 900 1209600 300
    IN NS ns1.rel
$ORIGIN rel
ns1 IN A 192.0.2.53
$ORIGIN sub
www IN A 192.0.2.1
"""),
    Shape("include_relative_origin", "increl.test", _head("increl.test") + "$INCLUDE hosts.inc sub\n",
          {"hosts.inc": "www IN A 192.0.2.1\n"}),
    Shape("generate", "gen.test", _head("gen.test") + """$GENERATE 1-4 host$ A 192.0.2.$
$GENERATE 10-30/10 ${0,3,d}.rev PTR host$.gen.test.
$GENERATE 1-2 @ TXT "line \\$ $"
$GENERATE 255-256 h${0,2,x} 60 IN AAAA 2001:db8::${0,4,x}
"""),
    # Each as named-checkzone (BIND 9.18) reads it: n and N count dots in the width, signs are taken, a
    # negative number is written with its sign in decimal and as its 32 bits in other bases, and an
    # escaped character passes through ($ after an escaped backslash is replaced).
    Shape("generate_modifiers", "genmod.test", _head("genmod.test") + r"""$GENERATE 1-2 n${0,3,n} TXT "${0,5,N}"
$GENERATE 289-289 n${0,0,n}.wide TXT "${-289,7,n}"
$GENERATE 1-2 plus${+1,+3} TXT "${-3}_${-3,3,d}_${-3,0,x}"
$GENERATE 1-1 esc\$ TXT "\$_\\$_$$_${0}}"
"""),
]


def _refused(id: str, zone: str, body: str, line: int, message: str, head: bool = True,
             includes: dict[str, str] | None = None, nsd_reads: bool = False) -> Shape:
    text = (_head(zone) if head else "") + body
    return Shape(id, zone, text, includes or {}, line, message, nsd_reads)


# Refused by NSD and by the TS, at the same line. _head() is five lines long.
REFUSED_LIKE_NSD = [
    _refused("outside_plain_address", "out1.test", "www.other.test. IN A 192.0.2.1\n", 6, "outside the zone out1.test."),
    _refused("outside_other_type", "out2.test", 'x IN A 192.0.2.1\nwww.other.test. IN TXT "x"\n', 7,
             "outside the zone out2.test."),
    _refused("outside_parent_name", "out3.test", "test. IN A 192.0.2.1\n", 6, "outside the zone"),
    _refused("outside_after_origin", "out4.test", "$ORIGIN elsewhere.test.\nwww IN A 192.0.2.1\n", 7,
             "www.elsewhere.test. is outside"),
    _refused("outside_suffix_not_label", "out5.test", "xout5.test. IN A 192.0.2.1\n", 6, "outside the zone"),
    _refused("outside_before_soa", "out6.test", "$TTL 300\nwww.other.test. IN A 192.0.2.1\n"
             "out6.test. IN SOA ns1.out6.test. h.out6.test. 1 2 3 4 5\n", 2, "outside the zone out6.test.",
             head=False),
    _refused("outside_in_include", "out7.test", "$INCLUDE out7.test.d/inc\n", 2, "outside the zone",
             includes={"out7.test.d/inc": "ok IN A 192.0.2.1\nwww.other.test. IN A 192.0.2.2\n"}),
    _refused("outside_without_ttl_directive", "out8.test", "$ORIGIN out8.test.\n@ IN SOA ns1 h 1 2 3 4 5\n"
             "@ IN NS ns1\nwww.other.test. 60 IN A 192.0.2.1\n", 4, "outside the zone", head=False),
    _refused("two_cnames", "cname1.test", "www IN CNAME a\nwww IN CNAME b\n", 7, "a second CNAME"),
    _refused("cname_then_address", "cname2.test", "www IN CNAME a\nwww IN A 192.0.2.1\n", 7, "CNAME and other data"),
    _refused("address_then_cname", "cname3.test", "www IN A 192.0.2.1\nwww IN CNAME a\n", 7, "CNAME and other data"),
    _refused("cname_then_txt", "cname4.test", 'www IN CNAME a\n  IN TXT "x"\n', 7, "CNAME and other data"),
    _refused("cname_at_apex", "cname5.test", "@ IN CNAME elsewhere.test.\n", 6, "CNAME and other data"),
    _refused("cname_then_key", "cname6.test", "www IN CNAME a\nwww IN KEY 256 3 8 AAAA\n", 7, "CNAME and other data"),
    _refused("cname_before_the_soa", "cname8.test", "$TTL 300\ncname8.test. IN CNAME b.test.\n"
             "cname8.test. IN SOA ns1.cname8.test. h 1 2 3 4 5\n", 3, "CNAME and other data", head=False),
    _refused("cname_without_ttl_directive", "cname7.test", "$ORIGIN cname7.test.\n@ 60 IN SOA ns1 h 1 2 3 4 5\n"
             "@ 60 IN NS ns1\nwww 60 IN A 192.0.2.1\nwww 60 IN CNAME a\n", 5, "CNAME and other data", head=False),
    _refused("second_soa_the_same", "soa1.test", "@ IN SOA ns1 hostmaster 1 7200 900 1209600 300\n", 6,
             "another SOA at the apex"),
    _refused("second_soa_different", "soa2.test", "@ IN SOA ns2 hostmaster 2 7200 900 1209600 300\n", 6,
             "another SOA at the apex"),
    _refused("soa_below_apex", "soa3.test", "sub IN SOA ns1 hostmaster 1 7200 900 1209600 300\n", 6,
             "an SOA at sub.soa3.test., below the apex"),
    _refused("nested_parentheses", "nest1.test", "x IN TXT ( a ( b ) )\n", 6,
             "'(' inside '(': parentheses do not nest"),
    _refused("nested_parentheses_on_a_later_line", "nest2.test", "x IN TXT ( a\n  ( b ) )\n", 7, "do not nest"),
    _refused("rrsig_year_over_9999", "sig5.test",
             "w IN RRSIG A 8 3 300 100000101000000 20250101000000 1 sig5.test. AAAA\n",
             6, "bad RRSIG record: signature time '100000101000000' is neither a date YYYYMMDDHHmmSS nor seconds"),
    _refused("generic_data_not_an_address", "gen18.test", "x IN A \\# 3 c00002\n", 6,
             "bad A record: the \\# data is not a valid A record"),
    _refused("class_other_than_in", "class.test", 'www CH TXT "x"\n', 6, "only class IN"),
    _refused("class_number_other_than_in", "classnum.test", 'www CLASS3 TXT "x"\n', 6, "only class IN"),
    _refused("unknown_type", "type.test", "www IN BOGUS x\n", 6, "unknown record type 'BOGUS'"),
    _refused("type_number_over_16_bits", "type2.test", "www IN TYPE65536 \\# 0\n", 6, "unknown record type 'TYPE65536'"),
    _refused("bad_ipv4", "ip4.test", "www IN A 192.0.2.300\n", 6, "'192.0.2.300' is not an IPv4 address"),
    _refused("bad_ipv6", "ip6.test", "www IN AAAA 2001:db8::g\n", 6, "is not an IPv6 address"),
    _refused("origin_quoted", "qorig.test", '$ORIGIN "qorig.test."\n', 6, "$ORIGIN takes a name, not a quoted string"),
    # Numbers are ASCII digits: '²' and '٣' are digits to Python's str.isdigit(), not to NSD.
    _refused("ttl_of_a_superscript_digit", "digit1.test", "b \u00b2 A 192.0.2.1\n", 6, "unknown record type '\u00b2'"),
    _refused("ttl_of_arabic_indic_digits", "digit2.test", "b \u0663\u0660\u0660 A 192.0.2.1\n", 6,
             "unknown record type '\u0663\u0660\u0660'"),
    _refused("ttl_directive_of_a_superscript_digit", "digit3.test", "$TTL \u00b2\n", 6, "bad TTL '\u00b2'"),
    _refused("ttl_directive_of_arabic_indic_digits", "digit4.test", "$TTL \u0663\u0660\u0660\n", 6, "bad TTL"),
    _refused("type_number_of_arabic_indic_digits", "digit5.test", "b TYPE\u0661 \\# 0\n", 6, "unknown record type"),
    _refused("number_field_of_a_superscript_digit", "digit6.test", "b CERT \u00b2 0 0 AAAA\n", 6,
             "bad CERT record: '\u00b2' is not a number"),
    _refused("mx_preference_of_arabic_indic_digits", "digit7.test", "b MX \u0661\u0660 ns1\n", 6,
             "bad MX record: '\u0661\u0660' is not a number"),
]

# Refused by the TS, one line each; NSD accepts some of them with values it made up (noted).
REFUSED = [
    _refused("loc_altitude_too_high", "loc1.test", "l IN LOC 0 0 0 N 0 0 0 E 42849673m\n", 6, "bad LOC record",
             nsd_reads=True),  # NSD wraps
    _refused("loc_altitude_too_low", "loc2.test", "l IN LOC 0 0 0 N 0 0 0 E -100001m\n", 6, "bad LOC record",
             nsd_reads=True),  # NSD wraps
    _refused("loc_latitude_over_90", "loc3.test", "l IN LOC 91 0 0 N 0 0 0 E 0m\n", 6, "bad LOC record",
             nsd_reads=True),  # NSD wraps
    _refused("ttl_over_32_bits", "ttl1.test", "www 4294967296 IN A 192.0.2.1\n", 6, "does not fit in 32 bits",
             nsd_reads=True),  # NSD wraps
    _refused("ttl_directive_over_32_bits", "ttl2.test", "$TTL 4294967296\n", 6, "does not fit in 32 bits"),
    _refused("ttl_with_bad_unit", "ttl3.test", "www 1x IN A 192.0.2.1\n", 6, "bad TTL"),
    _refused("bad_base64", "b64.test", "k IN DNSKEY 257 3 8 not*base64\n", 6, "bad DNSKEY record"),
    _refused("bad_rrsig_time", "sigt.test", "w IN RRSIG A 8 3 300 20301301000000 20250101000000 1 sigt.test. AAAA\n",
             6, "bad RRSIG record"),
    # NSD reads these, as dates its strptime makes of them; RFC 4034 3.2 has 14 digits of a date, or seconds.
    _refused("rrsig_seconds_over_32_bits", "sig1.test",
             "w IN RRSIG A 8 3 300 4294967296 20250101000000 1 sig1.test. AAAA\n",
             6, "bad RRSIG record: 4294967296 does not fit in 32 bits", nsd_reads=True),
    _refused("rrsig_date_of_13_digits", "sig2.test",
             "w IN RRSIG A 8 3 300 2030010100000 20250101000000 1 sig2.test. AAAA\n",
             6, "bad RRSIG record", nsd_reads=True),
    _refused("rrsig_date_30_february", "sig3.test",
             "w IN RRSIG A 8 3 300 20300230000000 20250101000000 1 sig3.test. AAAA\n",
             6, "bad RRSIG record", nsd_reads=True),
    _refused("rrsig_date_year_0", "sig4.test",
             "w IN RRSIG A 8 3 300 00000101000000 20250101000000 1 sig4.test. AAAA\n",
             6, "bad RRSIG record", nsd_reads=True),
    _refused("soa_missing_fields", "soaf.test", "$TTL 300\n@ IN SOA ns1 hostmaster 1 2\n", 2, "bad SOA record",
             head=False),
    # dnspython's errors, said in plain words (resolver/ts/rdata_errors.py).
    _refused("mx_without_preference", "mx.test", "www IN MX mail\n", 6, "bad MX record: 'mail' is not a number"),
    _refused("extra_rdata", "extra.test", "www IN CNAME a b\n", 6,
             "bad CNAME record: 'b' and what follows it are more fields than the record has"),
    _refused("missing_field", "missing.test", "www IN MX 10\n", 6, "bad MX record: a field is missing (1 field given)"),
    _refused("quoted_where_a_word_goes", "quoted.test", 'www IN MX "10" mail\n', 6,
             "bad MX record: '\"10\"' is not what a MX record has there"),
    _refused("unknown_type_in_a_bitmap", "bitmap.test", "www IN NSEC next.bitmap.test. A BOGUS\n", 6,
             "bad NSEC record: 'BOGUS' is not a record type"),
    _refused("type_only_in_generic_form", "ta.test", "www IN TA 1 8 2 ab\n", 6,
             "bad TA record: this type is written only in the generic form \\# LENGTH HEX here (RFC 3597 5)"),
    # NSD wraps a number too big for its field (65536 is 0 to it, -1 is 65535); BIND and Knot refuse it.
    _refused("mx_over_16_bits", "num1.test", "m IN MX 65536 ns1\n", 6,
             "bad MX record: 65536 is not an unsigned 16-bit integer", nsd_reads=True),
    _refused("mx_far_over_16_bits", "num2.test", "m IN MX 99999999999 ns1\n",
             6, "99999999999 is not an unsigned 16-bit", nsd_reads=True),
    _refused("mx_below_zero", "num3.test", "m IN MX -1 ns1\n", 6, "bad MX record: '-1' is below zero", nsd_reads=True),
    _refused("srv_over_16_bits", "num4.test", "s IN SRV 65536 65537 65538 ns1\n", 6, "65536 is not an unsigned 16-bit",
             nsd_reads=True),
    _refused("dnskey_flags_over_16_bits", "num5.test", "k IN DNSKEY 65536 3 8 AAAA\n", 6, "bad DNSKEY record: 65536",
             nsd_reads=True),
    _refused("ds_key_tag_over_16_bits", "num6.test", "d IN DS 65536 8 2 abcd\n", 6, "bad DS record: 65536",
             nsd_reads=True),
    _refused("naptr_order_over_16_bits", "num7.test", 'n IN NAPTR 65536 1 "s" "" "" .\n', 6, "bad NAPTR record: 65536",
             nsd_reads=True),
    # NSD takes the data after \# whatever length is written before it; BIND and Knot refuse it (RFC 3597 5).
    _refused("generic_wrong_length", "gen1.test", "x IN TYPE4321 \\# 3 0102\n", 6,
             "bad TYPE4321 record: \\# says 3 octets, but the data after it has 2 (RFC 3597 5)", nsd_reads=True),
    _refused("generic_length_short", "gen13.test", "x IN TYPE65280 \\# 1 abcd\n", 6,
             "\\# says 1 octets, but the data after it has 2", nsd_reads=True),
    _refused("generic_length_zero_with_data", "gen14.test", "x IN TYPE65280 \\# 0 ab\n", 6,
             "\\# says 0 octets, but the data after it has 1", nsd_reads=True),
    _refused("generic_length_without_data", "gen15.test", "x IN TYPE65280 \\# 1\n", 6,
             "\\# says 1 octets, but the data after it has 0", nsd_reads=True),
    _refused("generic_length_not_a_number", "gen16.test", "x IN TYPE65280 \\# x ab\n", 6,
             "bad TYPE65280 record: 'x' is not a number", nsd_reads=True),
    _refused("generic_data_not_a_txt", "gen17.test", "x IN TXT \\# 2 0361\n", 6,
             "bad TXT record: the \\# data is not a valid TXT record", nsd_reads=True),
    # NSD reads \12 as 12 and \999 as 999 (its text escape overflow); BIND refuses them (RFC 1035 5.1).
    _refused("escape_of_two_digits_in_an_owner", "esc1.test", "w\\12 IN A 192.0.2.1\n", 6,
             "bad name 'w\\12': bad escape '\\12': \\DDD takes three digits (RFC 1035 5.1)", nsd_reads=True),
    _refused("escape_of_one_digit_in_an_owner", "esc2.test", "www IN A 192.0.2.1\na\\1.www IN A 192.0.2.2\n", 7,
             "bad escape '\\1': \\DDD takes three digits", nsd_reads=True),
    _refused("escape_over_255_in_an_owner", "esc3.test", "a\\999b IN A 192.0.2.1\n", 6,
             "bad escape '\\999': \\DDD is one octet, at most 255 (RFC 1035 5.1)", nsd_reads=True),
    _refused("escape_of_two_digits_in_a_string", "esc4.test", 'x IN TXT "a\\12b"\n', 6,
             "bad TXT record: bad escape '\\12': \\DDD takes three digits (RFC 1035 5.1)", nsd_reads=True),
    _refused("escape_over_255_in_a_word", "esc5.test", "x IN TXT a\\256\n", 6,
             "bad TXT record: bad escape '\\256': \\DDD is one octet, at most 255", nsd_reads=True),
    _refused("escape_of_two_digits_in_a_target", "esc6.test", "c IN CNAME a\\12b\n", 6,
             "bad CNAME record: bad escape '\\12'", nsd_reads=True),
    _refused("escape_of_two_digits_in_origin", "esc7.test", "$ORIGIN a\\12.esc7.test.\n", 6, "bad escape '\\12'",
             nsd_reads=True),
    # NSD loads these; RFC 8976 2.2.4 says a ZONEMD digest is never so (BIND refuses them too).
    _refused("zonemd_digest_under_12_octets", "zmd1.test", "@ IN ZONEMD 1 1 240 abcd\n", 6,
             "bad ZONEMD record: digest must be at least 12 octets", nsd_reads=True),
    _refused("zonemd_sha384_not_48_octets", "zmd2.test", f"@ IN ZONEMD 1 1 1 {'ab' * 20}\n", 6,
             "bad ZONEMD record: digest length inconsistent with hash algorithm", nsd_reads=True),
    _refused("a6_text_form", "a6.test", "x IN A6 0 2001:db8::1\n", 6, "bad A6 record"),
    _refused("meta_type", "meta.test", "x IN ANY \\# 0\n", 6, "not a type of data a zone holds"),
    _refused("unterminated_quote", "quote1.test", 'x IN TXT "open\n', 6, "quoted string is not closed"),
    # NSD closes a '(' at the end of the file, taking every line after it as data of that record.
    _refused("unclosed_parenthesis", "paren1.test", "x IN TXT ( a\n", 6, "'(' is never closed: the file ends inside it",
             nsd_reads=True),
    _refused("unclosed_parenthesis_before_records", "paren3.test", "x IN TXT ( a\ny IN A 192.0.2.1\n", 6,
             "'(' is never closed", nsd_reads=True),
    _refused("unclosed_parenthesis_without_newline", "paren4.test", "x IN TXT ( a", 6, "'(' is never closed",
             nsd_reads=True),
    _refused("stray_close_parenthesis", "paren2.test", "x IN TXT a )\n", 6, "')' without '('"),
    _refused("label_too_long", "label.test", "x" * 64 + " IN A 192.0.2.1\n", 6, "bad name"),
    _refused("name_too_long", "long.test", ".".join(["x" * 60] * 5) + " IN A 192.0.2.1\n", 6, "bad name"),
    # NSD refuses these too: it reads what follows an unknown directive as a record of the last owner.
    _refused("unknown_directive", "dir.test", "$FOO bar\n", 6, "unknown directive $FOO"),
    _refused("unknown_directive_with_a_record_after_it", "dir2.test", 'www IN A 192.0.2.1\n$FOO IN TXT "x"\n', 7,
             "unknown directive $FOO (the directives are $ORIGIN, $TTL, $INCLUDE, $GENERATE; "
             "an unknown one is skipped only alone on its line)"),
    _refused("unknown_directive_not_a_word", "dir3.test", "$F00\n", 6, "unknown directive $F00"),
    _refused("origin_without_name", "orig.test", "$ORIGIN\n", 6, "$ORIGIN takes one name"),
    _refused("include_missing", "inc1.test", "$INCLUDE nowhere.inc\n", 6, "cannot read"),
    _refused("include_loop", "inc2.test", "$INCLUDE inc2.test.d/loop.inc\n", 1, "nested more than 10 deep",
             includes={"inc2.test.d/loop.inc": "$INCLUDE loop.inc\n"}),
    # NSD refuses these too, naming the line of the data below the DNAME; the TS names the DNAME's.
    _refused("data_below_dname", "dname1.test", "dn IN DNAME other.example.\nx.dn IN A 192.0.2.3\n", 6,
             "DNAME at dn.dname1.test. has data below it (x.dn.dname1.test.)"),
    _refused("data_below_dname_read_first", "dname2.test", "a.b.dn IN TXT x\ndn IN DNAME other.example.\n", 7,
             "DNAME at dn.dname2.test. has data below it (a.b.dn.dname2.test.)"),
    _refused("two_dnames", "dname3.test", "dn IN DNAME a.example.\ndn IN DNAME b.example.\n", 7,
             "a second DNAME at dn.dname3.test. (one name, one DNAME: RFC 6672 2.4)"),
    _refused("generate_bad_range", "gen2.test", "$GENERATE 5-1 h$ A 192.0.2.$\n", 6, "bad $GENERATE range"),
    _refused("generate_modifier_not_closed", "gen6.test", "$GENERATE 1-2 h${1 A 192.0.2.$\n", 6,
             "bad $GENERATE modifier '${1': it is ${offset[,width[,base]]}, with whole numbers and a base of "
             "d, o, x, X, n or N"),
    *(_refused(f"generate_modifier_{id}", f"genmod{number}.test", f"$GENERATE 1-2 h{modifier} A 192.0.2.$\n", 6,
               f"bad $GENERATE modifier '{modifier}'")
      for number, (id, modifier) in enumerate([("without_offset", "${,3,x}"), ("bad_base", "${0,3,q}"),
                                               ("empty", "${}"), ("negative_width", "${0,-3}"),
                                               ("base_of_two_letters", "${0,3,dd}"), ("fourth_field", "${0,3,d,x}")])),
    _refused("generate_modifier_in_rdata", "gen9.test", '$GENERATE 1-2 h$ TXT "${0,3,d"\n', 6,
             "bad $GENERATE modifier '${0,3,d'"),
    _refused("generate_modifier_too_wide", "gen12.test", "$GENERATE 1-2 h${0,300} A 192.0.2.$\n", 6,
             "$GENERATE width 300 in '${0,300}' is over 255"),
    _refused("generate_ttl_of_a_superscript_digit", "gendigit1.test", "$GENERATE 1-2 a$ \u00b2 A 192.0.2.$\n", 6,
             "unknown record type '\u00b2'"),
    _refused("generate_range_of_arabic_indic_digits", "gendigit2.test", "$GENERATE \u0661-2 a$ A 192.0.2.$\n", 6,
             "bad $GENERATE range"),
    _refused("generate_offset_of_arabic_indic_digits", "gendigit3.test", "$GENERATE 1-2 a${\u0661} A 192.0.2.$\n", 6,
             "bad $GENERATE modifier"),
    _refused("generate_too_many", "gen5.test", "$GENERATE 1-100000000 h$ A 192.0.2.1\n", 6,
             "makes 100,000,000 records; at most 1,000,000 per $GENERATE"),
    _refused("generate_outside", "gen3.test", "$GENERATE 1-3 h$.other.test. A 192.0.2.$\n", 6, "outside the zone"),
    _refused("generate_cname_beside", "gen4.test", "$GENERATE 1-3 h$ A 192.0.2.$\nh2 IN CNAME ns1\n", 7,
             "CNAME and other data"),
    _refused("owner_missing_on_first_line", "own.test", "$TTL 300\n  IN A 192.0.2.1\n", 2, "no owner came before",
             head=False),
    _refused("no_soa", "nosoa.test", "$ORIGIN nosoa.test.\n$TTL 300\n@ IN NS ns1\n", 0, "no SOA record", head=False),
    _refused("wks_bad_protocol", "wks.test", "w IN WKS 192.0.2.1 NOPROTO 25\n", 6, "bad WKS record"),
    _refused("caa_bad_flags", "caa.test", 'c IN CAA 256 issue "ca.example"\n', 6, "bad CAA record", nsd_reads=True),
    _refused("svcb_bad_key", "svcb.test", "s IN SVCB 1 . bogus=1\n", 6, "bad SVCB record"),
    _refused("sshfp_bad_hex", "sshfp.test", "s IN SSHFP 1 1 xyz\n", 6, "bad SSHFP record"),
    _refused("apl_bad", "apl.test", "a IN APL 1:192.0.2.0/99\n", 6, "bad APL record"),
]
