"""The EDIFACT writer: envelopes, counts, escaping, UNA, charsets, and round trips through the reader."""

from __future__ import annotations

import datetime as dt

import pytest
from pydifact.segments import Segment

from edi.envelope import GroupHeader, OutMessage, Separators
from edi.errors import EdiError
from edi.syntax import Repetition, escape, format_segment, make_segment, parse, segments_to_text, write_interchange

WHEN = dt.datetime(2025, 11, 25, 9, 5)


def order(ref: str = "1", *extra: Segment) -> OutMessage:
    body = [
        make_segment("BGM", "220", "PO-1", "9"),
        make_segment("DTM", ["137", "20251125", "102"]),
        make_segment("NAD", "BY", ["5412345000013", "", "9"]),
        *extra,
    ]
    return OutMessage(ref, "ORDERS", "D", "96A", "UN", "EAN008", body)


def envelope(**kw):
    base = dict(sender="5412345000013", sender_qualifier="14", recipient="4012345000009", recipient_qualifier="14", control_ref="42", prepared=WHEN)
    base.update(kw)
    return base


def test_writes_envelope_with_counts_and_no_una_for_default_separators():
    out = write_interchange([order("1"), order("2")], **envelope())
    assert out == (
        b"UNB+UNOC:3+5412345000013:14+4012345000009:14+251125:0905+42'"
        b"UNH+1+ORDERS:D:96A:UN:EAN008'BGM+220+PO-1+9'DTM+137:20251125:102'NAD+BY+5412345000013::9'UNT+5+1'"
        b"UNH+2+ORDERS:D:96A:UN:EAN008'BGM+220+PO-1+9'DTM+137:20251125:102'NAD+BY+5412345000013::9'UNT+5+2'"
        b"UNZ+2+42'"
    )


def test_optional_unb_fields_and_newlines():
    out = write_interchange([order()], **envelope(application_ref="ORDERS", ack_requested=True, agreement_id="EANCOM", test=True, newline="\r\n"))
    lines = out.decode().split("\r\n")
    assert lines[0] == "UNB+UNOC:3+5412345000013:14+4012345000009:14+251125:0905+42++ORDERS++1+EANCOM+1'"
    assert lines[-1] == "" and lines[-2] == "UNZ+1+42'"
    h = parse(out).header
    assert (h.application_ref, h.ack_requested, h.agreement_id, h.test) == ("ORDERS", True, "EANCOM", True)


def test_syntax_4_date_is_ccyymmdd_and_default_repetition_is_not_announced():
    out = write_interchange([order()], **envelope(syntax_version="4"))
    assert out.startswith(b"UNB+UNOC:4+5412345000013:14+4012345000009:14+20251125:0905+42'")
    assert parse(out).header.prepared == WHEN


def test_una_written_only_when_separators_differ():
    assert not write_interchange([order()], **envelope()).startswith(b"UNA")
    assert write_interchange([order()], **envelope(una=True)).startswith(b"UNA:+.? 'UNB")
    comma = write_interchange([order()], **envelope(separators=Separators(decimal=",")))
    assert comma.startswith(b"UNA:+,? 'UNB")
    v4 = write_interchange([order()], **envelope(syntax_version="4", separators=Separators(repetition="*")))
    assert not v4.startswith(b"UNA")
    v4_other = write_interchange([order()], **envelope(syntax_version="4", separators=Separators(repetition="^")))
    assert v4_other.startswith(b"UNA:+.?^'")


@pytest.mark.parametrize(
    "value, expected",
    [
        ("plain", "plain"),
        ("10+2", "10?+2"),
        ("a:b", "a?:b"),
        ("Tolkien's", "Tolkien?'s"),
        ("what?", "what??"),
        ("?+:'", "???+?:?'"),
        ("a*b", "a*b"),
    ],
)
def test_escape_default_separators(value, expected):
    assert escape(value) == expected


def test_escape_repetition_separator_only_when_in_use():
    assert escape("a*b", Separators(repetition="*")) == "a?*b"


def test_escape_without_release_character_refuses():
    with pytest.raises(EdiError):
        escape("a+b", Separators(release=" "))


def test_every_service_character_is_released_in_the_output_and_read_back():
    nasty = "?+:'*|^~\\ end"
    seps = Separators("|", "^", ",", "\\", "*", "~")
    msg = order("1", make_segment("FTX", "AAI", "", "", [nasty, nasty]), make_segment("IMD", "F", "", ["", "", "", nasty]))
    out = write_interchange([msg], **envelope(syntax_version="4", separators=seps))
    assert out.startswith(b"UNA|^,\\*~UNB^UNOC|4")
    text = out.decode("latin-1")
    assert "?+:'\\*\\|\\^\\~\\\\ end" in text
    ic = parse(out)
    segs = ic.messages[0].segments
    assert segs[4].elements == ["AAI", "", "", [nasty, nasty]]
    assert segs[5].elements == ["F", "", ["", "", "", nasty]]
    assert ic.all_issues() == []


def test_repetitions_written_in_version_4_and_refused_below():
    com = make_segment("COM", Repetition([["s11", "AA"], ["s21", "AA"]]))
    out = write_interchange([order("1", com)], **envelope(syntax_version="4"))
    assert b"COM+s11:AA*s21:AA'" in out
    assert parse(out).messages[0].segments[4].elements == [Repetition([["s11", "AA"], ["s21", "AA"]])]
    with pytest.raises(EdiError, match="repeats"):
        write_interchange([order("1", com)], **envelope(syntax_version="3"))


def test_trailing_empties_are_not_written():
    seg = make_segment("IMD", "F", "", ["", "", "", "Blue", "", ""], "", None)
    assert format_segment(seg) == "IMD+F++:::Blue'"
    assert format_segment(make_segment("UNS", "S"), terminator=False) == "UNS+S"


def test_segments_to_text_one_a_line():
    segs = [make_segment("UNS", "S"), make_segment("CNT", ["2", "1"])]
    assert segments_to_text(segs) == "UNS+S'\nCNT+2:1'\n"


def test_group_envelope_counts_groups_in_unz():
    out = write_interchange([order("1"), order("2")], **envelope(group=GroupHeader("ORDERS", "SND", "RCV", "G7")))
    text = out.decode()
    assert "UNG+ORDERS+SND+RCV+251125:0905+G7+UN+D:96A:EAN008'" in text
    assert text.endswith("UNE+2+G7'UNZ+1+42'")
    ic = parse(out)
    assert ic.all_issues() == [] and [m.group_ref for m in ic.messages] == ["G7", "G7"]


@pytest.mark.parametrize(
    "syntax_id, text, codec",
    [
        ("UNOA", "ABC (1/2) = 50%", "ascii"),
        ("UNOB", "Abc def", "ascii"),
        ("UNOC", "Müller Ærø", "latin-1"),
        ("UNOD", "Łódź", "iso8859_2"),
        ("UNOE", "Москва", "iso8859_5"),
        ("UNOF", "Αθήνα", "iso8859_7"),
        ("UNOG", "Ħal Ġħargħur", "iso8859_3"),
        ("UNOH", "Rīga", "iso8859_4"),
        ("UNOI", "القاهرة", "iso8859_6"),
        ("UNOJ", "תל אביב", "iso8859_8"),
        ("UNOK", "İstanbul", "iso8859_9"),
        ("UNOW", "東京 €", "utf-8"),
        ("UNOY", "Zürich 東京", "utf-8"),
    ],
)
def test_encodes_in_the_declared_charset_and_round_trips(syntax_id, text, codec):
    version = "4" if syntax_id in ("UNOW", "UNOY") else "3"
    msg = order("1", make_segment("FTX", "AAI", "", "", text))
    out = write_interchange([msg], **envelope(syntax_id=syntax_id, syntax_version=version))
    assert text.encode(codec) in out
    ic = parse(out)
    assert ic.messages[0].segments[4].elements[3] == text
    assert ic.all_issues() == []


@pytest.mark.parametrize(
    "syntax_id, text, where",
    [
        ("UNOA", "lower", "segment 6 (FTX) element 4"),
        ("UNOB", "user@example.com", "segment 6 (FTX) element 4"),
        ("UNOC", "Łódź", "segment 6 (FTX) element 4"),
        ("UNOD", "Москва", "segment 6 (FTX) element 4"),
        ("UNOC", "tab\there", "segment 6 (FTX) element 4"),
    ],
)
def test_a_character_the_charset_cannot_carry_names_segment_and_element(syntax_id, text, where):
    msg = order("1", make_segment("FTX", "AAI", "", "", text))
    with pytest.raises(EdiError) as caught:
        write_interchange([msg], **envelope(syntax_id=syntax_id))
    assert where in str(caught.value)
    issue = caught.value.issues[0]
    assert (issue.code, issue.segment, issue.tag, issue.element) == ("21", 6, "FTX", 4)


def test_component_position_is_named_too():
    msg = order("1", make_segment("IMD", "F", "", ["", "", "", "blue"]))
    with pytest.raises(EdiError, match=r"segment 6 \(IMD\) element 3\.4"):
        write_interchange([msg], **envelope(syntax_id="UNOA"))


@pytest.mark.parametrize("kw", [dict(syntax_id="UNOX"), dict(syntax_id="ABCD"), dict(syntax_version="5"), dict(separators=Separators(component="+"))])
def test_refuses_unsupported_settings(kw):
    with pytest.raises(EdiError):
        write_interchange([order()], **envelope(**kw))


def test_round_trip_many_messages_equal_segments():
    msgs = [order(str(n), make_segment("FTX", "AAI", "", "", f"Note {n}: 10+2=12 isn't it?")) for n in range(1, 30)]
    for seps, version in ((Separators(), "3"), (Separators("|", "^", ",", "!", " ", "~"), "3"), (Separators(repetition="#"), "4")):
        out = write_interchange(msgs, **envelope(separators=seps, syntax_version=version, newline=True))
        ic = parse(out)
        assert ic.all_issues() == []
        assert [m.segments[1:-1] for m in ic.messages] == [m.body for m in msgs]
        assert [m.segments[-1].elements for m in ic.messages] == [[str(len(m.body) + 2), m.reference] for m in msgs]
        assert ic.trailer is not None and ic.trailer.count == len(msgs)


# The writer checks the charset over the whole written text and, when that finds anything, writes
# again segment by segment, each checked before it is written: the errors must be those of that order.


def test_a_value_the_charset_cannot_carry_is_named_by_segment_element_and_component():
    bad = make_segment("FTX", "AAI", "", "", ["fine", "x\u20acy"])  # passes the pattern, fails the codec
    with pytest.raises(EdiError, match=r"segment 6 \(FTX\) element 4\.2: character '\u20ac'") as raised:
        write_interchange([order("1", bad)], **envelope(newline=True))
    (issue,) = raised.value.issues
    assert (issue.segment, issue.tag, issue.element, issue.component, issue.code) == (6, "FTX", 4, 2, "21")


def test_an_earlier_charset_error_wins_over_a_later_segment_that_cannot_be_written():
    bad = make_segment("FTX", "AAI", "", "", "tab\there")
    repeated = make_segment("IMD", Repetition(["A", "B"]))  # no repetitions below syntax version 4
    with pytest.raises(EdiError, match=r"segment 6 \(FTX\) element 4: character '\\t'"):
        write_interchange([order("1", bad, repeated)], **envelope())
    with pytest.raises(EdiError, match="IMD element 1 repeats"):
        write_interchange([order("1", repeated, bad)], **envelope())


def test_the_charset_is_checked_before_a_segment_is_written():
    both = make_segment("IMD", Repetition(["A", "B"]), "\x01")
    with pytest.raises(EdiError, match=r"segment 6 \(IMD\) element 2: character '\\x01'"):
        write_interchange([order("1", both)], **envelope())


def test_values_are_checked_whatever_the_separators():
    seps = Separators("|", "^", ".", "\\", " ", "~")
    lower = make_segment("FTX", "AAI", "", "", "lower")
    with pytest.raises(EdiError, match=r"segment 6 \(FTX\) element 4: character 'l'"):
        write_interchange([order("1", lower)], **envelope(syntax_id="UNOA", separators=seps))
    # separators outside the repertoire are no value: the interchange is written as before
    assert write_interchange([order()], **envelope(syntax_id="UNOA", separators=seps)).startswith(b"UNA|^.\\ ~UNB^UNOA|3^")


def test_newlines_do_not_count_as_characters_of_the_values():
    plain = write_interchange([order()], **envelope(syntax_id="UNOA"))
    broken = write_interchange([order()], **envelope(syntax_id="UNOA", newline="\r\n"))
    assert broken == plain.replace(b"'", b"'\r\n")
