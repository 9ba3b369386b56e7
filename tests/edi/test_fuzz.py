"""Property tests for the syntax layer: nothing but EdiError escapes, and write -> read is lossless."""

from __future__ import annotations

import datetime as dt
import string

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edi import syntax
from edi.envelope import OutMessage, Separators
from edi.errors import EdiError
from edi.syntax import Repetition, make_segment, parse, parse_all, read, write_interchange

FAST = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID = (
    b"UNA:+.? 'UNB+UNOC:3+S:14+R:14+250101:1200+7'UNG+ORDERS+S+R+250101:1200+G+UN+D:96A'"
    b"UNH+1+ORDERS:D:96A:UN'BGM+220+1?'2+9'FTX+A+++x*y'UNT+4+1'UNE+1+G'UNZ+1+7'"
)


def consume(data: bytes, chunk: int) -> None:
    old = syntax.CHUNK_SIZE
    syntax.CHUNK_SIZE = chunk
    try:
        try:
            for _ in read(data):
                pass
        except EdiError:
            pass
        try:
            parse_all(data)
        except EdiError:
            pass
    finally:
        syntax.CHUNK_SIZE = old


prefixes = st.sampled_from([b"", b"UNA:+.? '", b"UNB+UNOC:3+S+R+250101:1200+1'", b"UNA|^,\\*~UNB^UNOW|4^", b"\xef\xbb\xbfUNB+UNOA:4+"])
chunks = st.sampled_from([1, 5, 64, 65536])


@FAST
@given(prefix=prefixes, tail=st.binary(max_size=300), chunk=chunks)
@example(prefix=b"UNA", tail=b":+.? ", chunk=1)
@example(prefix=b"", tail=b"UNA:+.? 'UNA:+.? 'UNB'", chunk=65536)
def test_arbitrary_bytes_raise_nothing_but_edi_error(prefix, tail, chunk):
    consume(prefix + tail, chunk)


@FAST
@given(
    cuts=st.lists(st.tuples(st.integers(0, len(VALID)), st.binary(max_size=4)), max_size=6),
    chunk=chunks,
)
def test_mutated_interchanges_raise_nothing_but_edi_error(cuts, chunk):
    data = bytearray(VALID)
    for position, insert in cuts:
        position = min(position, len(data))
        data[position : position + len(insert) // 2] = insert
    consume(bytes(data), chunk)


# --------------------------------------------------------------------------- round trip

SERVICE_POOL = list("!\"#$%&*/;<=>@[\\]^_`{|}~'+:?")


@st.composite
def separators(draw) -> Separators:
    comp, elem, rel, rep, term = draw(st.permutations(SERVICE_POOL).map(lambda p: p[:5]))
    return Separators(comp, elem, draw(st.sampled_from(".,")), rel, rep, term)


def text_values(seps: Separators):
    service = seps.component + seps.element + seps.release + seps.repetition + seps.terminator
    alphabet = st.one_of(
        st.sampled_from(list(service)),
        st.sampled_from(list(string.ascii_letters + string.digits + " .,-")),
        st.characters(blacklist_categories=("Cc", "Cs")),
    )
    return st.text(alphabet, max_size=8)


def normal_occurrence(value):
    if isinstance(value, list):
        comps = list(value)
        while comps and not comps[-1]:
            comps.pop()
        return comps if len(comps) > 1 else (comps[0] if comps else "")
    return value


def normalise(elements: list) -> list:
    """What the reader gives back for what was written: trailing empties dropped everywhere."""
    out: list = []
    for value in elements:
        if isinstance(value, Repetition):
            occs = [normal_occurrence(o) for o in value]
            while len(occs) > 1 and not occs[-1]:
                occs.pop()
            out.append(occs[0] if len(occs) == 1 else Repetition(occs))
        else:
            out.append(normal_occurrence(value))
    while out and not out[-1]:
        out.pop()
    return out


@st.composite
def segment_bodies(draw, seps: Separators):
    values = text_values(seps)
    element = st.one_of(
        values,
        st.lists(values, min_size=2, max_size=4),
        st.lists(st.one_of(values, st.lists(values, min_size=2, max_size=3)), min_size=2, max_size=3).map(Repetition),
    )
    tag = draw(st.text(string.ascii_uppercase, min_size=3, max_size=3).filter(lambda t: not t.startswith("UN")))
    return make_segment(tag, *draw(st.lists(element, max_size=5)))


@FAST
@given(data=st.data(), newline=st.sampled_from([False, "\n", "\r\n"]), chunk=chunks)
def test_written_segments_read_back_equal(data, newline, chunk):
    seps = data.draw(separators())
    bodies = data.draw(st.lists(segment_bodies(seps), min_size=1, max_size=4))
    messages = [OutMessage(str(n), "ORDERS", "D", "01B", "UN", None, bodies) for n in (1, 2)]
    out = write_interchange(
        messages,
        sender="S",
        recipient="R",
        control_ref="9",
        prepared=dt.datetime(2025, 1, 1, 12, 0),
        syntax_id="UNOW",
        syntax_version="4",
        separators=seps,
        newline=newline,
    )
    old = syntax.CHUNK_SIZE
    syntax.CHUNK_SIZE = chunk
    try:
        ic = parse(out)
    finally:
        syntax.CHUNK_SIZE = old
    assert ic.all_issues() == []
    assert ic.header.separators == seps
    for message in ic.messages:
        got = [(s.tag, s.elements) for s in message.segments[1:-1]]
        assert got == [(s.tag, normalise(s.elements)) for s in bodies]


# --------------------------------------------------------------------------- translate() over mutated real interchanges

from pathlib import Path  # noqa: E402

from edi.translate import INTERNAL_ERROR, translate, validate_file  # noqa: E402

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.edi"))
GOLDEN_BYTES = [p.read_bytes() for p in GOLDEN]
# bytes that tripped the translator before, and the service characters
TRICKY = [b"\xb2", b"\xb9", b"\xbd", b"\xef\xbb\xbf", b"'", b"+", b":", b"?", b"*", b",", b".", b"-", b"\r\n", b"\x00", b"\xff\xfe", b"9" * 40]

mutation = st.tuples(
    st.sampled_from(["replace", "insert", "delete", "digit"]),
    st.integers(0, 1 << 16),
    st.one_of(st.sampled_from(TRICKY), st.binary(min_size=1, max_size=6)),
)


def mutate(data: bytes, mutations) -> bytes:
    out = bytearray(data)
    for kind, where, chunk in mutations:
        at = where % (len(out) + 1)
        if kind == "digit":
            # a digit (counts, positions, numbers, dates) becomes a look-alike: superscript or fraction
            digits = [i for i, b in enumerate(out) if 0x30 <= b <= 0x39]
            if digits:
                out[digits[where % len(digits)]] = b"\xb2\xb3\xb9\xbc\xbd\xbe"[len(chunk) % 6]
        elif kind == "replace":
            out[at : at + len(chunk)] = chunk
        elif kind == "insert":
            out[at:at] = chunk
        else:
            del out[at : at + len(chunk)]
    return bytes(out)


def assert_translates_cleanly(data: bytes) -> None:
    translation = translate(data)  # must not raise, whatever the bytes
    internal = [i for i in translation.all_issues() if i.rule == INTERNAL_ERROR]
    assert internal == [], internal[0].message
    for issue in translation.all_issues():
        assert issue.message
        issue.format("F")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.sampled_from(GOLDEN_BYTES), mutations=st.lists(mutation, min_size=1, max_size=4))
def test_translate_never_raises_on_mutated_golden_files(source, mutations):
    assert_translates_cleanly(mutate(source, mutations))


def _golden(name: str) -> bytes:
    return (Path(__file__).parent / "golden" / name).read_bytes()


def test_unicode_digits_in_counts_and_numbers_are_located_issues():
    """Byte 0xB2 is '\u00b2' in ISO 8859-1: str.isdigit() accepts it, int() does not."""
    cases = [
        (_golden("orders_D96A.edi").replace(b"UNT+28+1'", b"UNT+2\xb2+1'"), "UNT", 1),
        (_golden("orders_D96A.edi").replace(b"UNZ+1+42'", b"UNZ+\xb2+42'"), "UNZ", 1),
        (_golden("invoic_D96A.edi").replace(b"PAT+1++5:3:D:30'", b"PAT+1++5:3:D:3\xb2'"), "PAT", 3),
        (_golden("contrl_D96A.edi").replace(b"UCS+9'", b"UCS+\xb2'"), "UCS", 1),
    ]
    for data, tag, element in cases:
        translation = translate(data)
        errors = [i for i in translation.all_issues() if i.is_error]
        assert [(i.tag, i.element) for i in errors] == [(tag, element)], [i.format() for i in errors]
        assert "not a number" in errors[0].message


def test_ungrouped_une_count_with_unicode_digit(tmp_path):
    data = (
        b"UNB+UNOC:3+S+R+250101:1200+7'UNG+ORDERS+S+R+250101:1200+G+UN+D:96A'"
        b"UNH+1+ORDERS:D:96A:UN'BGM+220+1+9'UNT+3+1'UNE+\xb2+G'UNZ+1+7'"
    )
    path = tmp_path / "une.edi"
    path.write_bytes(data)
    issues, count = validate_file(path)
    une = [i for i in issues if i.tag == "UNE"]
    assert count == 1
    assert [(i.element, i.code) for i in une] == [(1, "12")]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tail=st.binary(max_size=200))
def test_translate_never_raises_on_bytes_that_look_like_xml(tail):
    assert_translates_cleanly(b"<?xml version='1.0'?><Order xmlns='urn:oasis:names:specification:ubl:schema:xsd:Order-2'>" + tail)
