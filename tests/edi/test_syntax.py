"""The streaming EDIFACT reader: separators, release, repetition, whitespace, charsets, envelope checks."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pydifact.segments import Segment

from edi import syntax
from edi.envelope import (
    GroupHeader,
    GroupTrailer,
    InterchangeHeader,
    InterchangeTrailer,
    Message,
    Separators,
)
from edi.errors import EdiError, EdiSyntaxError, Severity
from edi.options import Strictness
from edi.syntax import Repetition, occurrences, parse, parse_all, read

UNB = "UNB+UNOC:3+5412345000013:14+4012345000009:14+251125:1200+IC1'"


def body(*segments: str) -> str:
    return "".join(s + "'" for s in segments)


def interchange(*messages: str, unb: str = UNB, unz: str | None = None, una: str = "") -> bytes:
    count = len(messages)
    text = una + unb + "".join(messages) + (unz if unz is not None else f"UNZ+{count}+IC1'")
    return text.encode("latin-1")


def message(ref: str = "1", *inner: str, count: int | None = None) -> str:
    segs = [f"UNH+{ref}+ORDERS:D:96A:UN:EAN008", *inner]
    n = count if count is not None else len(segs) + 1
    return body(*segs, f"UNT+{n}+{ref}")


ORDER = ("BGM+220+PO1+9", "DTM+137:20251125:102", "NAD+BY+5412345000013::9", "LIN+1++4012345000016:SRV", "QTY+21:5:PCE")


def issues_of(ic) -> list[tuple[str, int | None, str | None, int | None, int | None]]:
    return [(i.code, i.segment, i.tag, i.element, i.component) for i in ic.all_issues()]


# --------------------------------------------------------------------------- basics


def test_reads_a_clean_interchange_as_pydifact_segments():
    ic = parse(interchange(message("1", *ORDER), message("2", *ORDER)))
    assert ic.all_issues() == []
    h = ic.header
    assert (h.syntax_id, h.syntax_version, h.sender, h.sender_qualifier, h.recipient, h.control_ref) == (
        "UNOC", "3", "5412345000013", "14", "4012345000009", "IC1",
    )
    assert h.prepared is not None and (h.prepared.year, h.prepared.month, h.prepared.day, h.prepared.hour) == (2025, 11, 25, 12)
    assert [m.reference for m in ic.messages] == ["1", "2"]
    m = ic.messages[0]
    assert (m.type, m.version, m.release, m.agency, m.association, m.directory) == ("ORDERS", "D", "96A", "UN", "EAN008", "D96A")
    assert m.first_position == 2 and ic.messages[1].first_position == 9
    seg = m.segments[3]
    assert type(seg) is Segment
    assert seg.tag == "NAD" and seg.elements == ["BY", ["5412345000013", "", "9"]]
    assert seg == Segment("NAD", "BY", ["5412345000013", "", "9"])
    assert ic.trailer is not None and ic.trailer.count == 2 and ic.trailer.position == 16


def test_events_stream_in_order_and_messages_come_out_at_their_unt():
    data = interchange(message("1", *ORDER), message("2", *ORDER))
    events = read(io.BytesIO(data))
    assert isinstance(next(events), InterchangeHeader)
    first = next(events)
    assert isinstance(first, Message) and first.reference == "1" and first.segments[-1].tag == "UNT"
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["Message", "InterchangeTrailer"]


def test_trailing_empty_elements_and_components_are_dropped_inner_ones_kept():
    ic = parse(interchange(message("1", "IMD+F++:::Blue::", "FTX+AAI+++a:b++", "PIA+1++:", "RFF+ON:::X")))
    segs = ic.messages[0].segments
    assert segs[1].elements == ["F", "", ["", "", "", "Blue"]]
    assert segs[2].elements == ["AAI", "", "", ["a", "b"]]
    assert segs[3].elements == ["1"]
    assert segs[4].elements == [["ON", "", "", "X"]]
    assert ic.all_issues() == []


def test_source_may_be_a_path_a_file_object_bytes_or_memoryview(tmp_path: Path):
    data = interchange(message("1", *ORDER))
    path = tmp_path / "in.edi"
    path.write_bytes(data)
    for source in (data, bytearray(data), memoryview(data), str(path), path, io.BytesIO(data)):
        assert [m.reference for m in parse(source).messages] == ["1"]


def test_missing_file_and_text_streams_raise_edi_error(tmp_path: Path):
    with pytest.raises(EdiError):
        parse(tmp_path / "nope.edi")
    with pytest.raises(EdiError):
        parse(io.StringIO("UNB+UNOC:3+A+B+250101:1200+1'"))  # type: ignore[arg-type]


def test_small_chunks_give_the_same_result(monkeypatch):
    data = interchange(message("1", *ORDER, "FTX+AAI+++a?'b?+c"), message("2", *ORDER), una="UNA:+.? '")
    expected = parse(data)
    monkeypatch.setattr(syntax, "CHUNK_SIZE", 7)
    got = parse(data)
    assert [m.segments for m in got.messages] == [m.segments for m in expected.messages]
    assert got.all_issues() == expected.all_issues() == []


# --------------------------------------------------------------------------- UNA, separators, release


def test_una_with_odd_separators_and_decimal_comma():
    text = "UNA|^,\\ ~UNB^UNOC|3^S^R^250101|1200^7~UNH^1^ORDERS|D|96A|UN~PRI^AAA|19,90~FTX^AAI^^^a\\^b\\|c\\~d\\\\~UNT^4^1~UNZ^1^7~"
    ic = parse(text.encode("latin-1"))
    assert ic.all_issues() == []
    assert ic.header.separators == Separators("|", "^", ",", "\\", " ", "~")
    segs = ic.messages[0].segments
    assert segs[1].elements == [["AAA", "19,90"]]
    assert segs[2].elements == ["AAI", "", "", "a^b|c~d\\"]


def test_una_decimal_comma_and_composites():
    text = "UNA:+,? 'UNB+UNOA:2+S+R+990802:1557+9'UNH+1+INVOIC:D:93A:UN'MOA+66:19,9'UNT+3+1'UNZ+1+9'"
    ic = parse(text.encode())
    assert ic.header.separators.decimal == ","
    assert ic.messages[0].segments[1].elements == [["66", "19,9"]]
    assert ic.all_issues() == []


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("FTX+AAI+++Tolkien?'s", ["AAI", "", "", "Tolkien's"]),
        ("FTX+AAI+++10?+2?:3", ["AAI", "", "", "10+2:3"]),
        ("FTX+AAI+++end??", ["AAI", "", "", "end?"]),
        ("FTX+AAI+++a???:b:c", ["AAI", "", "", ["a?:b", "c"]]),
        ("FTX+AAI+++a??+b", ["AAI", "", "", "a?", "b"]),
        ("FTX+A?+B", ["A+B"]),
        ("FTX+AAI+++?'?'?'", ["AAI", "", "", "'''"]),
    ],
)
def test_release_character_everywhere(raw, expected):
    ic = parse(interchange(message("1", raw), una="UNA:+.? '"))
    assert ic.messages[0].segments[1].elements == expected
    assert ic.all_issues() == []


def test_released_terminator_does_not_end_the_segment_even_across_chunks(monkeypatch):
    monkeypatch.setattr(syntax, "CHUNK_SIZE", 3)
    ic = parse(interchange(message("1", "FTX+AAI+++a?'b?'c"), una="UNA:+.? '"))
    assert ic.messages[0].segments[1].elements == ["AAI", "", "", "a'b'c"]
    assert len(ic.messages[0].segments) == 3 and ic.all_issues() == []


def test_dangling_release_at_end_of_file_is_reported_once():
    data = interchange(message("1", *ORDER)) + b"UNB+UNOC:3+S+R+250101:1200+2'UNH+1+X:D:96A:UN'FTX+A?"
    ics = parse_all(data)
    assert len(ics) == 2
    codes = [(i.code, i.tag) for i in ics[1].messages[0].issues]
    assert ("22", "FTX") in codes and ("13", "FTX") in codes


def test_space_as_release_character_means_none():
    text = "UNA:+.  'UNB+UNOC:3+S+R+250101:1200+7'UNH+1+X:D:96A:UN'FTX+AAI+++A B? C'UNT+3+1'UNZ+1+7'"
    ic = parse(text.encode())
    assert ic.messages[0].segments[1].elements == ["AAI", "", "", "A B? C"]


@pytest.mark.parametrize("una", [b"UNA:+.?+'", b"UNA::.? '", b"UNA:+;? '", b"UNAA+.? '"])
def test_unusable_una_raises_syntax_error(una):
    with pytest.raises(EdiSyntaxError) as caught:
        parse(una + b"UNB+UNOC:3+S+R+250101:1200+7'UNZ+0+7'")
    assert caught.value.issues and caught.value.issues[0].code == "22"


# --------------------------------------------------------------------------- syntax version 4 repetition


def test_version_4_repetition_default_star_without_una():
    unb = "UNB+UNOC:4+S:1+R:1+20051107:1159+6002'"
    ic = parse(interchange(message("1", "COM+s11:AA*s21:AA*s31:AA", "FTX+AAI+++a*b*", "NAD+BY+X*"), unb=unb, unz="UNZ+1+6002'"))
    segs = ic.messages[0].segments
    com = segs[1].elements[0]
    assert isinstance(com, Repetition) and list(com) == [["s11", "AA"], ["s21", "AA"], ["s31", "AA"]]
    assert occurrences(segs[1], 1) == [["s11", "AA"], ["s21", "AA"], ["s31", "AA"]]
    assert segs[2].elements == ["AAI", "", "", Repetition(["a", "b"])]
    assert segs[3].elements == ["BY", "X"]  # trailing empty occurrence dropped, single occurrence stays plain
    assert occurrences(segs[3], 2) == ["X"] and occurrences(segs[3], 9) == []
    assert ic.header.separators.repetition == "*"
    assert ic.all_issues() == []


def test_version_4_with_una_repetition_and_release():
    text = "UNA:+.?*'UNB+UNOC:4+S+R+20250101:1200+7'UNH+1+X:D:03B:UN'COM+a?*b*c:d'UNT+3+1'UNZ+1+7'"
    ic = parse(text.encode())
    assert ic.messages[0].segments[1].elements == [Repetition(["a*b", ["c", "d"]])]


def test_star_is_data_below_version_4_and_with_space_in_una():
    ic = parse(interchange(message("1", "FTX+AAI+++a*b")))
    assert ic.messages[0].segments[1].elements == ["AAI", "", "", "a*b"]
    text = "UNA:+.? 'UNB+UNOC:4+S+R+20250101:1200+7'UNH+1+X:D:03B:UN'FTX+A*B'UNT+3+1'UNZ+1+7'"
    assert parse(text.encode()).messages[0].segments[1].elements == ["A*B"]


# --------------------------------------------------------------------------- whitespace and BOM


@pytest.mark.parametrize("sep", ["\n", "\r\n", "\r\n\r\n", "  \t\n", ""])
def test_whitespace_between_segments_is_ignored(sep):
    segs = ["UNB+UNOC:3+S+R+250101:1200+7", "UNH+1+X:D:96A:UN", "BGM+220+1", "UNT+3+1", "UNZ+1+7"]
    data = ("UNA:+.? '" + sep + sep.join(s + "'" for s in segs) + sep).encode()
    ic = parse(data)
    assert ic.all_issues() == []
    assert [s.tag for s in ic.messages[0].segments] == ["UNH", "BGM", "UNT"]


def test_utf8_bom_and_leading_whitespace_are_skipped():
    ic = parse(b"\xef\xbb\xbf\r\n  " + interchange(message("1", *ORDER)))
    assert ic.all_issues() == [] and len(ic.messages) == 1


def test_line_break_inside_a_segment_is_an_invalid_character():
    ic = parse(interchange(message("1", "FTX+AAI+++line one\nline two")))
    assert issues_of(ic) == [("21", 3, "FTX", 4, None)]


@pytest.mark.parametrize(
    "data",
    [b"", b"   \r\n", b"hello world", b"ISA*00*", b"<?xml version='1.0'?>", b"\xef\xbb\xbfXYZ", b"UNA:+", b"UNH+1+X'"],
)
def test_not_an_interchange_raises_syntax_error_with_issue(data):
    with pytest.raises(EdiSyntaxError) as caught:
        parse(data)
    assert caught.value.issues and caught.value.issues[0].tag == "UNB"


# --------------------------------------------------------------------------- charsets


def unb(charset: str, version: str = "3") -> str:
    return f"UNB+{charset}:{version}+S+R+250101:1200+IC1'"


@pytest.mark.parametrize(
    "charset, text, encoded",
    [
        ("UNOA", "ABC 123 .,-()/=!\"%&*;<>", None),
        ("UNOB", "Abc def @", None),
        ("UNOC", "Müller Ærø", "latin-1"),
        ("UNOD", "Łódź Żółć", "iso8859_2"),
        ("UNOE", "Москва", "iso8859_5"),
        ("UNOF", "Αθήνα", "iso8859_7"),
        ("UNOG", "Ħal Ġħargħur", "iso8859_3"),
        ("UNOH", "Rīga Šiauliai", "iso8859_4"),
        ("UNOI", "القاهرة", "iso8859_6"),
        ("UNOJ", "תל אביב", "iso8859_8"),
        ("UNOK", "İstanbul ığ", "iso8859_9"),
        ("UNOW", "東京 €", "utf-8"),
        ("UNOY", "Zürich 東京", "utf-8"),
    ],
)
def test_every_charset_decodes_by_its_syntax_identifier(charset, text, encoded):
    head = unb(charset, "4" if charset in ("UNOW", "UNOY") else "3").encode("ascii")
    if encoded is None:
        payload = text.encode("ascii")
    else:
        payload = text.encode(encoded)
    data = head + b"UNH+1+X:D:96A:UN'FTX+AAI+++" + payload + b"'UNT+3+1'UNZ+1+IC1'"
    ic = parse(data)
    value = ic.messages[0].segments[1].elements[3]
    if charset == "UNOB":
        # '@' is a national-use position of ISO 646, outside level B
        assert value == text
        assert issues_of(ic) == [("21", 3, "FTX", 4, None)]
    else:
        assert value == text
        assert ic.all_issues() == []


def test_unoa_rejects_lower_case_and_umlaut_at_the_element():
    data = unb("UNOA").encode() + "UNH+1+X:D:96A:UN'NAD+SE+1::16++BÜTTNER+Street a'UNT+3+1'UNZ+1+IC1'".encode("latin-1")
    ic = parse(data)
    assert issues_of(ic) == [("21", 3, "NAD", 4, None), ("21", 3, "NAD", 5, None)]
    first = ic.messages[0].issues[0]
    assert first.message_segment == 2 and first.message_ref == "1" and "Ü" in first.message
    assert ic.messages[0].segments[1].elements[3] == "BÜTTNER"


def test_unoa_with_utf8_bytes_decodes_them_for_reading_and_flags_them():
    data = unb("UNOA").encode() + "UNH+1+X:D:96A:UN'NAD+SE++MÜNCHEN'UNT+3+1'UNZ+1+IC1'".encode("utf-8")
    ic = parse(data)
    assert ic.messages[0].segments[1].elements[2] == "MÜNCHEN"
    assert issues_of(ic) == [("21", 3, "NAD", 3, None)]


def test_charset_leniency_makes_repertoire_issues_warnings():
    data = unb("UNOA").encode() + b"UNH+1+X:D:96A:UN'FTX+AAI+++lower'UNT+3+1'UNZ+1+IC1'"
    ic = parse(data, strictness=Strictness.from_names(["charset"]))
    assert [(i.code, i.severity) for i in ic.all_issues()] == [("21", Severity.WARNING)]


def test_unoc_with_utf8_text_needs_the_leniency():
    payload = "Müller".encode("utf-8")
    data = unb("UNOC").encode() + b"UNH+1+X:D:96A:UN'FTX+AAI+++" + payload + b"'UNT+3+1'UNZ+1+IC1'"
    strict = parse(data)
    assert strict.messages[0].segments[1].elements[3] == "MÃ¼ller"  # read as declared: ISO 8859-1
    lenient = parse(data, strictness=Strictness.from_names(["utf8-as-unoc"]))
    assert lenient.messages[0].segments[1].elements[3] == "Müller"
    assert lenient.all_issues() == []
    latin = unb("UNOC").encode() + b"UNH+1+X:D:96A:UN'FTX+AAI+++M\xfcller'UNT+3+1'UNZ+1+IC1'"
    assert parse(latin, strictness=Strictness.from_names(["utf8-as-unoc"])).messages[0].segments[1].elements[3] == "Müller"


def test_control_characters_and_undefined_bytes_are_invalid():
    data = unb("UNOC").encode() + b"UNH+1+X:D:96A:UN'FTX+AAI+++a\x07b'UNT+3+1'UNZ+1+IC1'"
    assert issues_of(parse(data)) == [("21", 3, "FTX", 4, None)]
    greek = unb("UNOF").encode() + b"UNH+1+X:D:96A:UN'FTX+AAI+++\xff'UNT+3+1'UNZ+1+IC1'"  # 0xFF is undefined in 8859-7
    ic = parse(greek)
    assert issues_of(ic) == [("21", 3, "FTX", 4, None)] and "0xFF" in ic.all_issues()[0].message
    bad_utf8 = unb("UNOW", "4").encode() + b"UNH+1+X:D:96A:UN'FTX+AAI+++\xc3('UNT+3+1'UNZ+1+IC1'"
    assert issues_of(parse(bad_utf8)) == [("21", 3, "FTX", 4, None)]


@pytest.mark.parametrize("charset", ["UNOX", "XXXX"])
def test_unsupported_syntax_identifier_is_code_2_and_still_read(charset):
    ic = parse(interchange(message("1", *ORDER), unb=unb(charset)))
    assert [(i.code, i.segment, i.tag, i.element, i.component) for i in ic.issues] == [("2", 1, "UNB", 1, 1)]
    assert len(ic.messages) == 1


def test_unsupported_syntax_version_is_code_2():
    ic = parse(interchange(message("1", *ORDER), unb="UNB+UNOC:7+S+R+250101:1200+IC1'"))
    assert issues_of(ic) == [("2", 1, "UNB", 1, 2)]


# --------------------------------------------------------------------------- envelope


def test_unb_mandatory_elements_missing():
    ic = parse(interchange(message("1", *ORDER), unb="UNB+UNOC+S++:1200+IC1'"))
    assert issues_of(ic) == [
        ("13", 1, "UNB", 1, 2),
        ("13", 1, "UNB", 3, None),  # the whole recipient is absent: one issue, not one a component
        ("13", 1, "UNB", 4, 1),
    ]


def test_empty_unb_and_unh_are_one_issue_each():
    ic = parse(b"UNB'UNH'UNT+2'UNZ+1'")
    assert [(i.code, i.segment, i.tag, i.element) for i in ic.all_issues()] == [
        ("13", 1, "UNB", None),
        ("13", 4, "UNZ", 2),
        ("13", 2, "UNH", None),
        ("13", 3, "UNT", 2),
    ]


def test_unb_optional_fields():
    ic = parse(interchange(message("1", *ORDER), unb="UNB+UNOA:3+S:14+R:14+010502:1237+REF+PW+APP+A+1+EANCOM+1'", unz="UNZ+1+REF'"))
    h = ic.header
    assert (h.application_ref, h.ack_requested, h.agreement_id, h.test) == ("APP", True, "EANCOM", True)
    assert ic.all_issues() == []


def test_bad_unb_date_is_invalid_value():
    ic = parse(interchange(message("1", *ORDER), unb="UNB+UNOC:3+S+R+251345:1200+IC1'"))
    assert issues_of(ic) == [("12", 1, "UNB", 4, 1)]
    assert ic.header.prepared is None


def test_unt_count_and_reference_mismatch_are_29_and_28_at_the_unt():
    ic = parse(interchange(message("1", *ORDER, count=9).replace("UNT+9+1", "UNT+9+2")))
    assert issues_of(ic) == [("29", 8, "UNT", 1, None), ("28", 8, "UNT", 2, None)]
    unt_issue = ic.messages[0].issues[0]
    assert unt_issue.message_segment == 7 and unt_issue.message_ref == "1" and "says 9" in unt_issue.message


def test_control_leniencies_turn_count_and_reference_errors_into_warnings():
    data = interchange(message("1", *ORDER, count=9).replace("UNT+9+1", "UNT+9+2"), unz="UNZ+3+XX'")
    ic = parse(data, strictness=Strictness.from_names(["control-counts", "control-references"]))
    assert {i.code for i in ic.all_issues()} == {"28", "29"}
    assert all(i.severity == Severity.WARNING for i in ic.all_issues())


def test_unz_count_and_reference():
    ic = parse(interchange(message("1", *ORDER), unz="UNZ+2+OTHER'"))
    assert [(i.code, i.segment, i.tag, i.element) for i in ic.issues] == [("29", 9, "UNZ", 1), ("28", 9, "UNZ", 2)]


def test_missing_unt_is_one_error_not_a_cascade():
    inner = body("UNH+1+ORDERS:D:96A:UN", *ORDER)  # no UNT
    ic = parse(interchange(inner, message("2", *ORDER)))
    assert issues_of(ic) == [("13", 8, "UNT", None, None)]
    assert [m.reference for m in ic.messages] == ["1", "2"]
    assert len(ic.messages[0].segments) == 6
    assert ic.messages[0].issues[0].message_segment == 7


def test_missing_unh_is_one_error_and_its_unt_still_counts():
    lost = body(*ORDER, "UNT+7+1")
    ic = parse(interchange(message("1", *ORDER), lost))  # UNZ+2 matches: the lost message is counted
    assert issues_of(ic) == [("33", 9, "BGM", None, None)]
    assert len(ic.messages) == 1


def test_missing_unz_is_reported_in_a_synthesised_trailer():
    data = UNB.encode() + message("1", *ORDER).encode()
    events = list(read(data))
    trailer = events[-1]
    assert isinstance(trailer, InterchangeTrailer) and trailer.count is None
    assert [(i.code, i.segment, i.tag) for i in trailer.issues] == [("13", 9, "UNZ")]
    lenient = parse(data, strictness=Strictness.from_names(["missing-unz"]))
    assert [(i.code, i.severity) for i in lenient.issues] == [("13", Severity.WARNING)]


def test_missing_unz_and_unt_at_end_of_file():
    data = (UNB + body("UNH+1+ORDERS:D:96A:UN", *ORDER)).encode()
    ic = parse(data)
    assert issues_of(ic) == [("13", 8, "UNZ", None, None), ("13", 8, "UNT", None, None)]


def test_groups_counted_and_checked():
    group = "UNG+ORDERS+S:14+R:14+250101:1200+G1+UN+D:96A'"
    data = interchange(group + message("1", *ORDER) + message("2", *ORDER) + "UNE+2+G1'", unz="UNZ+1+IC1'")
    events = list(read(data))
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["InterchangeHeader", "GroupHeader", "Message", "Message", "GroupTrailer", "InterchangeTrailer"]
    g = events[1]
    assert isinstance(g, GroupHeader) and (g.message_group, g.sender, g.recipient, g.control_ref, g.position) == ("ORDERS", "S", "R", "G1", 2)
    assert events[2].group_ref == "G1"
    ic = parse(data)
    assert ic.all_issues() == [] and len(ic.groups) == 1


def test_une_count_and_reference_mismatch():
    group = "UNG+ORDERS+S+R+250101:1200+G1+UN+D:96A'"
    ic = parse(interchange(group + message("1", *ORDER) + "UNE+3+G2'", unz="UNZ+1+IC1'"))
    assert issues_of(ic) == [("29", 10, "UNE", 1, None), ("28", 10, "UNE", 2, None)]


def test_missing_une_is_reported_on_a_synthesised_group_trailer():
    group = "UNG+ORDERS+S+R+250101:1200+G1+UN+D:96A'"
    events = list(read(interchange(group + message("1", *ORDER), unz="UNZ+1+IC1'")))
    trailers = [e for e in events if isinstance(e, GroupTrailer)]
    assert len(trailers) == 1 and [(i.code, i.segment, i.tag) for i in trailers[0].issues] == [("13", 10, "UNE")]


def test_groups_and_bare_messages_mixed_is_code_30_once():
    group = "UNG+ORDERS+S+R+250101:1200+G1+UN+D:96A'" + message("1", *ORDER) + "UNE+1+G1'"
    ic = parse(interchange(group, message("2", *ORDER), message("3", *ORDER), unz="UNZ+1+IC1'"))
    assert [(i.code, i.segment, i.tag) for i in ic.all_issues()] == [("30", 11, "UNH")]


def test_invalid_tag_and_empty_segment():
    ic = parse(interchange(message("1", "BGM+220+1", "bgm+1", "", "LIN+1", count=5)))
    assert [(i.code, i.segment) for i in ic.all_issues()] == [("12", 4), ("13", 5)]
    assert len(ic.messages[0].segments) == 5  # the empty segment is not counted


def test_truncated_file_reports_the_unterminated_segment():
    data = interchange(message("1", *ORDER))[:-1]  # the UNZ lost its terminator
    ic = parse(data)
    assert [(i.code, i.segment, i.tag) for i in ic.issues] == [("13", 9, "UNZ")]
    assert ic.trailer is not None and ic.trailer.count == 1


# --------------------------------------------------------------------------- several interchanges


def test_several_interchanges_in_one_file_with_different_separators_and_charsets():
    first = interchange(message("1", *ORDER))
    second = "UNA|^.? ~\r\nUNB^UNOD|3^S^R^250101|1200^IC2~UNH^1^X|D|96A|UN~FTX^AAI^^^Łódź~UNT^3^1~UNZ^1^IC2~".encode("iso8859_2")
    third = b"\nUNB+UNOA:3+S+R+250101:1200+IC3'UNH+9+X:D:96A:UN'UNT+2+9'UNZ+1+IC3'"
    data = first + b"\n" + second + third
    ics = parse_all(data)
    assert [ic.header.control_ref for ic in ics] == ["IC1", "IC2", "IC3"]
    assert ics[1].messages[0].segments[1].elements == ["AAI", "", "", "Łódź"]
    assert ics[1].header.separators.element == "^"
    assert [ic.all_issues() for ic in ics] == [[], [], []]
    headers = [e for e in read(data) if isinstance(e, InterchangeHeader)]
    assert len(headers) == 3
    single = parse(data)
    assert single.header.control_ref == "IC1" and [i.code for i in single.issues] == ["18"]


def test_next_interchange_without_unz_before_it():
    data = (UNB + message("1", *ORDER)).encode() + interchange(message("1", *ORDER))
    ics = parse_all(data)
    assert len(ics) == 2
    assert [(i.code, i.segment, i.tag) for i in ics[0].issues] == [("13", 9, "UNZ")]
    assert ics[1].all_issues() == []


def test_junk_after_the_last_interchange_is_one_issue():
    ic = parse(interchange(message("1", *ORDER)) + b"\nGARBAGE+1'MORE'")
    assert [i.code for i in ic.issues] == ["33"]


def test_bare_messages_then_a_group_is_code_30_at_the_ung():
    group = "UNG+ORDERS+S+R+250101:1200+G1+UN+D:96A'" + message("2", *ORDER) + "UNE+1+G1'"
    ic = parse(interchange(message("1", *ORDER), group, unz="UNZ+2+IC1'"))
    assert [(i.code, i.segment, i.tag) for i in ic.all_issues()] == [("30", 9, "UNG")]


class CountingStream(io.RawIOBase):
    """A binary stream that records how far it has been read."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.pos + size
        chunk = self.data[self.pos : end]
        self.pos += len(chunk)
        return chunk


def test_reader_streams_messages_before_the_source_is_read_to_the_end():
    messages = [message(str(n), *ORDER, "FTX+AAI+++" + "X" * 200) for n in range(1, 3001)]
    data = interchange(*messages)
    assert len(data) > 15 * syntax.CHUNK_SIZE
    stream = CountingStream(data)
    events = read(stream)
    next(events)  # header
    first = next(events)
    assert isinstance(first, Message) and first.reference == "1"
    assert stream.pos <= 3 * syntax.CHUNK_SIZE
    rest = list(events)
    assert len(rest) == 3000 and stream.pos == len(data)


# --------------------------------------------------------------------------- missing terminators


def _consume(data):
    events = []
    with pytest.raises(EdiSyntaxError) as caught:
        for event in read(data):
            events.append(event)
    return events, caught.value


def test_a_declared_terminator_that_the_data_never_uses_stops_at_the_limit():
    """UNA says '~' but the data ends segments with "'": 4 MB that never end a segment."""
    from edi.syntax import MAX_SEGMENT_BYTES

    data = b"UNA:+.? ~UNB+UNOC:3+S+R+250101:1200+1'UNH+1+ORDERS:D:96A:UN'" + b"FTX+AAI+++abc'" * (4 * 1024 * 1024 // 14)
    events, error = _consume(data)
    assert events == []
    (issue,) = error.issues
    assert (issue.segment, issue.tag, issue.code) == (1, "UNB", "13")
    assert f"no segment terminator '~' within {MAX_SEGMENT_BYTES} bytes from byte offset 9" in issue.message


@pytest.mark.parametrize("filler", [b"FTX+AAI+++abc\n", b"FTX+AAI+++a?'b?'c"])
def test_segments_before_a_run_without_terminator_are_read_then_reading_stops(filler):
    head = b"UNB+UNOC:3+S+R+250101:1200+1'UNH+1+ORDERS:D:96A:UN'BGM+220+1+9'"
    events, error = _consume(head + filler * (3 * 1024 * 1024 // len(filler)))
    assert [type(e).__name__ for e in events] == ["InterchangeHeader"]
    (issue,) = error.issues
    assert (issue.segment, issue.tag) == (4, "FTX")
    assert f"from byte offset {len(head)}:" in issue.message


def test_translate_reports_the_missing_terminator_as_an_issue():
    from edi.translate import translate

    data = b"UNB+UNOC:3+S+R+250101:1200+1'UNH+1+ORDERS:D:96A:UN'" + b"BGM+220+1+9\n" * 200000
    translation = translate(data)
    assert not translation.ok
    assert [(i.segment, i.tag) for i in translation.issues if "no segment terminator" in i.message] == [(3, "BGM")]


def test_many_released_terminators_in_one_segment_read_back():
    text = "a'" * 50000
    data = b"UNB+UNOC:3+S+R+250101:1200+1'UNH+1+ORDERS:D:96A:UN'FTX+AAI+++" + text.replace("'", "?'").encode() + b"'UNT+3+1'UNZ+1+1'"
    interchange = parse(data)
    assert interchange.all_issues() == []
    assert interchange.messages[0].segments[1].elements[3] == text


# --------------------------------------------------------------------------- duplicate message references


def test_a_reused_message_reference_is_26_at_the_second_unh():
    data = interchange(message("M1", "BGM+220+A+9"), message("M2", "BGM+220+B+9"), message("M1", "BGM+220+C+9"))
    ic = parse(data)
    assert [m.issues for m in ic.messages[:2]] == [[], []]
    (issue,) = ic.messages[2].issues
    assert (issue.code, issue.segment, issue.tag, issue.element, issue.message_segment) == ("26", 8, "UNH", 1, 1)
    assert issue.message == (
        "message reference 'M1' of ORDERS:D:96A:UN:EAN008 is already used by the message at segment 2;"
        " each message of an interchange needs its own"
    )
    assert issue.is_error


def test_a_reference_may_repeat_for_another_message_type_or_group():
    other = body("UNH+M1+ORDRSP:D:96A:UN:EAN005", "BGM+231+A+9", "UNT+3+M1")
    ic = parse(interchange(message("M1", "BGM+220+A+9"), other))
    assert [m.issues for m in ic.messages] == [[], []]
    grouped = (UNB + "UNG+ORDERS+S+R+251125:1200+G1+UN+D:96A'" + message("M1", "BGM+220+A+9") + "UNE+1+G1'"
               + "UNG+ORDERS+S+R+251125:1200+G2+UN+D:96A'" + message("M1", "BGM+220+B+9") + "UNE+1+G2'"
               + "UNZ+2+IC1'").encode()
    ic = parse(grouped)
    assert [m.issues for m in ic.messages] == [[], []]


def test_message_references_may_repeat_in_the_next_interchange():
    first = interchange(message("M1", "BGM+220+A+9"))
    second = first.replace(b"IC1", b"IC2")
    interchanges = parse_all(first + second)
    assert [m.issues for ic in interchanges for m in ic.messages] == [[], []]


def test_the_contrl_for_a_reused_reference_rejects_the_second_message_only():
    import datetime as dt

    from edi.translate import contrl_for, render, translate

    golden = (Path(__file__).parent / "golden" / "orders_D96A.edi").read_text()
    head, rest = golden.split("UNH", 1)
    msg = "UNH" + rest.split("UNZ")[0]
    translation = translate((head + msg + msg + "UNZ+2+42'\n").encode())
    assert translation.messages[0].ok and not translation.messages[1].ok
    ack = contrl_for(translation, number="C1", issue_date=dt.date(2026, 3, 2))
    first, second = ack.messages
    assert (first.reference, first.action, first.errors) == ("1", "7", [])
    assert (second.reference, second.action) == ("1", "4")
    assert [(e.code, e.segment, e.element) for e in second.errors] == [("26", 1, 1)]
    rendered = render(ack, sender="a", sender_qualifier="14", recipient="b", recipient_qualifier="14",
                      control_ref="9", subset="UN")
    assert b"UCM+1+ORDERS:D:96A:UN:EAN008+7'UCM+1+ORDERS:D:96A:UN:EAN008+4'UCS+1'UCD+26+2'" in rendered
