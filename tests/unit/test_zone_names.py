"""ZoneName: a dnspython name whose hash is computed once, interchangeable with dns.name.Name."""
from __future__ import annotations

import pickle

import dns.name
import dns.rdata

from resolver.ts.sections import QuestionName
from resolver.ts.zone_names import ZoneName, name_from_wire, suffixes, zone_name


def test_a_zone_name_equals_and_hashes_as_the_plain_name_in_any_letter_case():
    plain = dns.name.from_text("WWW.Example.test.")
    ours = ZoneName(dns.name.from_text("www.example.test.").labels)
    assert ours == plain and plain == ours and not ours != plain and hash(ours) == hash(plain)
    assert {plain: 1}[ours] == 1 and {ours: 2}[plain] == 2
    assert ours != dns.name.from_text("www.example.org.") and ours != "www.example.test."
    assert ours != dns.name.from_text("example.test.") and ours != dns.name.root
    assert zone_name(ours) is ours and type(zone_name(plain)) is ZoneName


def test_a_wildcards_question_name_still_equals_only_itself():
    labels = dns.name.from_text("*.w.example.test.").labels
    question, ours = QuestionName(labels), ZoneName(labels)
    assert question != ours and ours != question and not question == ours and question == question


def test_a_zone_name_survives_pickling_with_its_hash():
    ours = ZoneName(dns.name.from_text("a.test.").labels)
    again = pickle.loads(pickle.dumps(ours))
    assert type(again) is ZoneName and again == ours and hash(again) == hash(ours)


def test_a_name_from_its_wire_form_keeps_its_letter_case():
    name = name_from_wire(b"\x03WwW\x07example\x00")
    assert type(name) is ZoneName and name.labels == (b"WwW", b"example", b"")
    assert name_from_wire(b"\x00") == dns.name.root


def test_the_suffixes_of_a_name_know_their_lower_case_wire_form():
    found = suffixes(dns.name.from_text("WWW.Example.test."))
    assert found == [dns.name.from_text(text) for text in ("www.example.test.", "example.test.", "test.")]
    assert [name.to_digestable() for name in found] == [b"\x03www\x07example\x04test\x00",
                                                       b"\x07example\x04test\x00", b"\x04test\x00"]
    assert [name.labels[0] for name in found] == [b"WWW", b"Example", b"test"]       # spelt as written
    assert hash(found[1]) == hash(dns.name.from_text("EXAMPLE.test."))


def test_a_zone_name_writes_the_wire_forms_dnspython_writes():
    plain = dns.name.from_text("WwW.Example.test.")
    ours = ZoneName(plain.labels)
    for _ in range(2):      # worked out, then kept
        assert ours.to_digestable() == plain.to_digestable() == b"\x03www\x07example\x04test\x00"
        assert ours.to_wire(canonicalize=True) == plain.to_wire(canonicalize=True)
        assert ours.to_wire() == plain.to_wire() == b"\x03WwW\x07Example\x04test\x00"
    mx = dns.rdata.from_text("IN", "MX", "10 x.test.")
    assert hash(mx.replace(exchange=ZoneName(dns.name.from_text("X.Test.").labels))) == hash(mx)
    relative = ZoneName(dns.name.from_text("a.b", None).labels)
    assert relative.to_digestable(dns.name.from_text("c.")) == b"\x01a\x01b\x01c\x00"


def test_names_whose_hashes_collide_are_told_apart():
    one, other = (ZoneName(dns.name.from_text(text).labels) for text in ("h0000010.test.", "h0000009.test."))
    assert hash(one) == hash(other) and one != other and not one == other
    assert one == ZoneName(dns.name.from_text("H0000010.TEST.").labels) == dns.name.from_text("h0000010.Test.")
    assert len({one, other, dns.name.from_text("h0000010.test.")}) == 2
