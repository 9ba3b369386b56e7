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
