"""Structure and element validation: each error class at its place, no cascades, leniencies."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import pytest
from pydifact.parser import Parser

from edi.directory import load_spec
from edi.envelope import Message
from edi.errors import Issue
from edi.options import STRICT, Strictness
from edi.validate import validate_message

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "edifact"
if not CORPUS.is_dir():  # the work tree may sit elsewhere than beside shared/
    CORPUS = Path("/work/shared/corpus/edifact")


def message(text: str, first_position: int = 2) -> Message:
    """A Message from segment text (UNH first), positioned as if UNB came before it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        segments = list(Parser().parse(text.replace("\n", "")))
    unh = segments[0]
    s009 = unh.elements[1]
    return Message(
        reference=unh.elements[0],
        type=s009[0],
        version=s009[1],
        release=s009[2],
        agency=s009[3],
        association=s009[4] if len(s009) > 4 else None,
        segments=segments,
        first_position=first_position,
    )


def errors(issues: list[Issue]) -> list[tuple[str, int | None, str | None, int | None, int | None]]:
    return [(i.code, i.segment, i.tag, i.element, i.component) for i in issues if i.is_error]


ORDERS = """UNH+1+ORDERS:D:96A:UN:EAN008'
BGM+220+PO123+9'
DTM+137:20250322:102'
DTM+2:20250401:102'
RFF+CT:C-77'
NAD+BY+5412345000013::9'
NAD+SU+4012345000094::9'
CUX+2:EUR:9'
LIN+1++4000862141404:EN'
PIA+1+ABC-1:SA'
IMD+F++:::Widget'
QTY+21:10:PCE'
PRI+AAA:12.50'
LIN+2++4000862141411:EN'
QTY+21:-2.5'
UNS+S'
CNT+2:2'
UNT+18+1'"""


def test_valid_orders_passes() -> None:
    assert validate_message(message(ORDERS)) == []


@pytest.mark.parametrize("release", ["96A", "01B"])
def test_valid_minimal_messages_pass_in_both_directories(release: str) -> None:
    texts = {
        "ORDERS": "BGM+220+1+9'DTM+137:20250101:102'LIN+1++1:EN'QTY+21:1'UNS+S'",
        "ORDRSP": "BGM+231+1+29'DTM+137:20250101:102'RFF+ON:1'LIN+1+5+1:EN'QTY+21:1'UNS+S'",
        "DESADV": "BGM+351+1+9'DTM+137:20250101:102'CPS+1'LIN+1++1:EN'QTY+12:1'",
        "INVOIC": "BGM+380+1+9'DTM+137:20250101:102'NAD+BY+1::9'CUX+2:EUR:4'LIN+1++1:EN'QTY+47:1'"
                  "UNS+S'MOA+77:1'",
        "APERAK": "BGM+231+1+9'DTM+137:20250101:102'",
    }
    for mtype, body in texts.items():
        msg = message(f"UNH+1+{mtype}:D:{release}:UN'{body}UNT+9+1'")
        assert errors(validate_message(msg)) == [], mtype


def test_contrl_validates() -> None:
    msg = message("UNH+1+CONTRL:D:3:UN'UCI+77+SENDER:14+RECIP:14+4'UCM+5+ORDERS:D:96A:UN+4+28'"
                  "UCS+3+13'UCD+12+1:1'UNT+6+1'")
    assert validate_message(msg) == []
    bad = message("UNH+1+CONTRL:D:3:UN'UCM+5+ORDERS:D:96A:UN+4'UNT+3+1'")
    assert errors(validate_message(bad)) == [("13", 3, "UCM", None, None)]


def test_unexpected_segment_is_15_once_and_the_walk_goes_on() -> None:
    text = ORDERS.replace("DTM+2:20250401:102'", "DTM+2:20250401:102'\nXYZ+1'\nABC+2'")
    issues = validate_message(message(text))
    assert errors(issues) == [("15", 6, "XYZ", None, None)]
    assert issues[0].message_segment == 5 and issues[0].message_ref == "1"
    # a misplaced known segment: QTY before any LIN
    text = ORDERS.replace("CUX+2:EUR:9'", "CUX+2:EUR:9'\nQTY+21:1'")
    assert errors(validate_message(message(text))) == [("15", 10, "QTY", None, None)]


def test_missing_mandatory_segment_is_13_at_the_next_segment() -> None:
    text = ORDERS.replace("BGM+220+PO123+9'", "")
    issues = validate_message(message(text))
    assert errors(issues) == [("13", 3, "DTM", None, None)]
    assert "BGM" in issues[0].message
    text = ORDERS.replace("UNS+S'", "")
    issues = validate_message(message(text))
    assert errors(issues) == [("13", 17, "CNT", None, None)]


def test_missing_mandatory_segment_at_the_end() -> None:
    text = ORDERS.replace("UNS+S'\nCNT+2:2'\nUNT+18+1'", "")
    issues = validate_message(message(text))
    assert errors(issues) == [("13", 16, "QTY", None, None)]
    assert "UNS" in issues[0].message


def test_too_many_repetitions_is_35_once() -> None:
    dtm = "DTM+137:20250322:102'"
    text = ORDERS.replace(dtm, dtm * 37)
    issues = validate_message(message(text))
    # UNH at 2, BGM 3, DTMs 4..40 (+ DTM+2 at 41): the 36th DTM (segment 39) is the first too many
    assert errors(issues) == [("35", 39, "DTM", None, None)]


def test_too_many_group_repetitions_is_36() -> None:
    rff = "RFF+CT:C-77'"
    text = ORDERS.replace(rff, rff * 11)  # SG1 RFF-DTM: at most 10
    assert errors(validate_message(message(text))) == [("36", 16, "RFF", None, None)]


def test_element_errors_at_their_place() -> None:
    text = ORDERS.replace("BGM+220+PO123+9'", "BGM+999+PO123+9+AB+X'")
    issues = validate_message(message(text))
    assert errors(issues) == [("16", 3, "BGM", 5, None), ("12", 3, "BGM", 1, 1)]
    assert issues[1].message == (
        "element 1 (C002 document/message name), component 1 (1001 document name code):"
        " '999' is not a valid document name code"
    )
    assert issues[1].message_segment == 2 and issues[1].message_ref == "1"


def test_open_code_lists_only_warn() -> None:
    text = ORDERS.replace("DTM+2:20250401:102'", "DTM+999:20250401:102'")
    issues = validate_message(message(text))
    assert errors(issues) == []
    assert [(i.code, i.severity, i.segment, i.element, i.component) for i in issues] == [
        ("12", "warning", 5, 1, 1)
    ]


def test_party_qualifier_closed_list() -> None:
    text = ORDERS.replace("NAD+SU+", "NAD+QQ+")
    assert errors(validate_message(message(text))) == [("12", 8, "NAD", 1, None)]
    lenient = validate_message(message(text), strictness=Strictness.from_names(["unknown-codes"]))
    assert errors(lenient) == [] and [i.severity for i in lenient] == ["warning"]


def test_code_list_closed_in_eancom_subset() -> None:
    text = ORDERS.replace("LIN+1++4000862141404:EN'", "LIN+1+8+4000862141404:EN'")
    issues = validate_message(message(text))
    assert errors(issues) == [("12", 10, "LIN", 2, None)]
    assert "'8' is not a valid action request/notification description code" in issues[0].message
    lenient = validate_message(message(text), strictness=Strictness.from_names(["unknown-codes"]))
    assert errors(lenient) == [] and [i.code for i in lenient] == ["12"]
    # the plain UN message knows 1229 code 8 (schedule only)
    un = text.replace(":UN:EAN008'", ":UN'")
    assert errors(validate_message(message(un))) == []


def test_formats() -> None:
    cases = {
        "QTY+21:10A'": ("37", 1, 2),
        "QTY+21:1234567890123456'": ("39", 1, 2),
        "QTY+21:-123456789012345'": None,  # the sign is not counted
        "QTY+21:12345678901234.5'": None,  # nor the decimal mark
        "QTY+21:.5'": ("38", 1, 2),
        "QTY+21:5.'": ("19", 1, 2),
        "QTY+21:1.2.3'": ("37", 1, 2),
        "QTY+21:10:PCEX'": ("39", 1, 3),
        "QTY+:10'": ("13", 1, 1),
        "QTY'": ("13", 1, None),
        "QTY+21:10:PCE:X'": ("16", 1, 4),
        "QTY+21:10+X'": ("16", 2, None),
    }
    for qty, expected in cases.items():
        text = ORDERS.replace("QTY+21:10:PCE'", qty)
        got = errors(validate_message(message(text)))
        if expected is None:
            assert got == [], qty
        else:
            assert got == [(expected[0], 13, "QTY", expected[1], expected[2])], qty


def test_alphabetic_and_fixed_length() -> None:
    text = ORDERS.replace("UNS+S'", "UNS+1'")  # 0081 is a1
    assert errors(validate_message(message(text))) == [("37", 17, "UNS", 1, None)]
    text = ORDERS.replace("UNS+S'", "UNS+SS'")
    assert errors(validate_message(message(text))) == [("39", 17, "UNS", 1, None)]


def test_decimal_comma() -> None:
    text = ORDERS.replace("PRI+AAA:12.50'", "PRI+AAA:12,50'")
    assert errors(validate_message(message(text), decimal_mark=",")) == []
    assert errors(validate_message(message(text))) == [("37", 14, "PRI", 1, 2)]


def test_element_formats_leniency() -> None:
    text = ORDERS.replace("QTY+21:10:PCE'", "QTY+21:10A:PCE'")
    lenient = validate_message(message(text), strictness=Strictness.from_names(["element-formats"]))
    assert errors(lenient) == [] and [(i.code, i.severity) for i in lenient] == [("37", "warning")]


def test_unknown_segments_leniency() -> None:
    text = ORDERS.replace("CUX+2:EUR:9'", "CUX+2:EUR:9'\nXYZ+1'")
    lenient = validate_message(message(text), strictness=Strictness.from_names(["unknown-segments"]))
    assert errors(lenient) == [] and [i.code for i in lenient] == ["15"]
    assert errors(validate_message(message(text), strictness=STRICT)) == [("15", 10, "XYZ", None, None)]


def test_unh_is_validated() -> None:
    text = ORDERS.replace("UNH+1+ORDERS:D:96A:UN:EAN008'", "UNH+123456789012345+ORDERS:D:96A:UN:EAN0081'")
    issues = validate_message(message(text))
    assert errors(issues) == [("39", 2, "UNH", 1, None), ("39", 2, "UNH", 2, 5)]


def test_unknown_directory_yields_one_issue() -> None:
    issues = validate_message(message("UNH+1+ORDERS:D:88A:UN'BGM+220'UNT+3+1'"))
    assert errors(issues) == [("12", 2, "UNH", 2, None)]


def test_explicit_spec() -> None:
    spec = load_spec("ORDERS", "D", "01B")
    msg = message(ORDERS)
    assert validate_message(msg, spec=spec) == []


def _corpus(name: str) -> tuple[list[Message], str]:
    from edi.syntax import parse

    interchange = parse(CORPUS / name)
    return interchange.messages, interchange.header.separators.decimal


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
def test_corpus_orders_d03b_bad_repeats_dtm() -> None:
    messages, decimal = _corpus("smooks_ORDERS_D03B_BAD.edi")
    assert errors(validate_message(messages[0], decimal_mark=decimal)) == [("35", 39, "DTM", None, None)]


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
def test_corpus_invoic_d97b_bad() -> None:
    messages, decimal = _corpus("staedi_INVOIC_D97B_bad.edi")
    assert errors(validate_message(messages[0], decimal_mark=decimal)) == [
        ("39", 6, "NAD", 1, None),  # BYZZ: 3035 is an..3
        ("37", 11, "QTY", 1, 2),  # 1020A
        ("37", 14, "PRI", 1, 2),  # $1.179
        ("35", 22, "UNS", None, None),  # the second UNS
    ]


#: Corpus files with structure or format errors on purpose (SOURCES.txt says so), each tested above.
CORPUS_BROKEN = {
    "smooks_ORDERS_D03B_BAD.edi": "DTM repeated past its maximum (test_corpus_orders_d03b_bad_repeats_dtm)",
    "staedi_INVOIC_D97B_bad.edi": "qualifier, number and UNS errors (test_corpus_invoic_d97b_bad)",
}

#: Valid samples that need a named leniency to pass, with the reason and the strict error it turns into a warning.
CORPUS_LENIENCIES = {
    "staedi_ORDERS_D96B_EAN008_UNG.edi": (
        "long-association-code",
        "UNH 0057 is 'EAN008B' (EANCOM 1997 subset label), 7 characters where an..6 allows 6",
        ("39", 3, "UNH", 2, 5),
    ),
}


def _corpus_names() -> list[str]:
    return sorted(p.name for p in CORPUS.glob("*.edi")) if CORPUS.is_dir() else []


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
def test_every_corpus_file_is_validated_or_named_as_broken() -> None:
    """No silent exclusions: every .edi of the corpus is either a valid sample (tested below) or listed as broken."""
    assert set(CORPUS_BROKEN) <= set(_corpus_names())
    assert set(CORPUS_LENIENCIES) <= set(_corpus_names())
    assert len([n for n in _corpus_names() if n not in CORPUS_BROKEN]) >= 10


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
@pytest.mark.parametrize("name", [n for n in _corpus_names() if n not in CORPUS_BROKEN])
def test_corpus_good_files_have_no_structure_or_format_errors(name: str) -> None:
    messages, decimal = _corpus(name)
    assert messages
    leniency = CORPUS_LENIENCIES.get(name)
    for msg in messages:
        strict = errors(validate_message(msg, decimal_mark=decimal))
        if leniency is None:
            assert strict == []
            continue
        name_of_leniency, _reason, expected = leniency
        assert strict == [expected]
        lenient = validate_message(msg, decimal_mark=decimal, strictness=Strictness.from_names([name_of_leniency]))
        assert errors(lenient) == []
        # (code 17 is the note that an association without subset data was validated as plain UN)
        assert [(i.code, i.segment, i.tag, i.element, i.component) for i in lenient
                if not i.is_error and i.code != "17"] == [expected]


def test_validation_cost_per_segment() -> None:
    body = "".join(
        f"LIN+{n}++4000862141404:EN'PIA+1+ABC-{n}:SA'IMD+F++:::Widget {n}'QTY+21:{n}:PCE'PRI+AAA:12.50'"
        for n in range(1, 2001)
    )
    text = ORDERS.split("LIN+1")[0] + body + "UNS+S'CNT+2:2000'UNT+1+1'"
    msg = message(text)
    validate_message(msg)
    start = time.perf_counter()
    assert errors(validate_message(msg)) == []
    per_segment = (time.perf_counter() - start) / len(msg.segments)
    assert per_segment < 50e-6, per_segment  # generous bound for a shared CI machine


def test_missing_group_trigger_gives_one_error() -> None:
    # CTA and COM belong in SG2 under a NAD; without the NAD they are one misplaced run
    text = ORDERS.replace("CUX+2:EUR:9'", "CTA+IC'\nCOM+0123:TE'\nCUX+2:EUR:9'")
    text = text.replace("NAD+BY+5412345000013::9'\nNAD+SU+4012345000094::9'\n", "")
    assert errors(validate_message(message(text))) == [("15", 7, "CTA", None, None)]


def test_group_and_nested_group_walk() -> None:
    # SG2 NAD with nested SG5 CTA-COM, then SG1 RFF out of order: only the late RFF is wrong
    text = ORDERS.replace("NAD+SU+4012345000094::9'", "NAD+SU+4012345000094::9'\nCTA+IC'\nCOM+0123:TE'\nCOM+x@y.z:EM'")
    assert errors(validate_message(message(text))) == []
    late = text.replace("CUX+2:EUR:9'", "RFF+ON:1'\nCUX+2:EUR:9'")
    assert errors(validate_message(message(late))) == [("15", 12, "RFF", None, None)]


def test_eancom_response_type_closed_list() -> None:
    text = ORDERS.replace("BGM+220+PO123+9'", "BGM+220+PO123+9+AD'")
    # AD is a UN code but not in the EANCOM 1997 code set for 4343
    assert errors(validate_message(message(text))) == [("12", 3, "BGM", 4, None)]
    assert errors(validate_message(message(text.replace(":UN:EAN008'", ":UN'")))) == []


def test_aperak_d01b_and_d96a() -> None:
    for release in ("96A", "01B"):
        msg = message(f"UNH+1+APERAK:D:{release}:UN'BGM+305+A1+9'DTM+137:20250322:102'RFF+ON:PO1'"
                      "NAD+MS+5412345000013::9'ERC+12'FTX+AAO+++Unknown item'UNT+8+1'")
        assert errors(validate_message(msg)) == [], release


# ---- misplaced segments: one error at the misplaced segment, the walk resynchronises

def _lines(count: int, after_price: str = "", at: tuple[int, ...] = ()) -> str:
    """``count`` D96A ORDERS line groups; ``after_price`` follows the PRI of the lines in ``at``."""
    out = []
    for n in range(1, count + 1):
        out.append(f"LIN+{n}++400086214140{n % 10}:EN'\nPIA+1+ABC-{n}:SA'\nIMD+F++:::Widget {n}'\n"
                   f"QTY+21:{n}:PCE'\nPRI+AAA:12.50'\n")
        if n in at:
            out.append(after_price + "\n")
    return "".join(out)


def _orders_with(lines: str) -> str:
    head = ORDERS.split("LIN+1")[0]
    return head + lines + "UNS+S'\nCNT+2:5'\nUNT+99+1'"


def test_line_moa_after_the_price_group_is_one_error() -> None:
    # D96A ORDERS has the line MOA before SG28 (PRI): after it, MOA would only fit as the
    # summary MOA, past the mandatory UNS; taking it there reported UNS missing and then
    # every following LIN as not allowed
    text = _orders_with(_lines(5, "MOA+203:37.50'", at=(2,)))
    # UNH 2 ... CUX 9, line 1 at 10-14, line 2 at 15-19, its MOA at 20
    issues = validate_message(message(text))
    assert errors(issues) == [("15", 20, "MOA", None, None)]
    assert "segment MOA is not allowed here" in issues[0].message
    # in the last line too: UNS and CNT still fit after it
    text = _orders_with(_lines(5, "MOA+203:37.50'", at=(5,)))
    assert errors(validate_message(message(text))) == [("15", 35, "MOA", None, None)]


def test_moa_after_the_price_group_in_every_line_is_one_error_each() -> None:
    # the shape of issue 3: ten lines, each with its MOA after PRI (9 errors a message before)
    text = _orders_with(_lines(10, "MOA+203:37.50'", at=tuple(range(1, 11))))
    got = errors(validate_message(message(text)))
    assert got == [("15", 15 + 6 * k, "MOA", None, None) for k in range(10)]


def test_cnt_between_lines_is_one_error() -> None:
    # CNT fits only after UNS: a CNT among the lines is misplaced, the lines after it are fine
    text = _orders_with(_lines(5, "CNT+2:2'", at=(2,)))
    assert errors(validate_message(message(text))) == [("15", 20, "CNT", None, None)]


def test_date_before_bgm_is_one_error() -> None:
    # DTM+137 before BGM: reading it as "BGM missing" made the BGM after it not allowed too
    text = ORDERS.replace("BGM+220+PO123+9'\nDTM+137:20250322:102'", "DTM+137:20250322:102'\nBGM+220+PO123+9'")
    assert errors(validate_message(message(text))) == [("15", 3, "DTM", None, None)]


def test_a_really_missing_segment_is_still_reported_as_missing() -> None:
    # the lookahead confirms the jump: CNT then UNT fit only if UNS is missing
    text = _orders_with(_lines(3)).replace("UNS+S'\n", "")
    issues = validate_message(message(text))
    assert errors(issues) == [("13", 25, "CNT", None, None)]
    assert "UNS" in issues[0].message


# --------------------------------------------------------------------------- syntax 4 element repetitions

GOLDEN_ORDERS = Path(__file__).parent / "golden" / "orders_D96A.edi"


def _syntax4(data: bytes) -> bytes:
    """The golden ORDERS as a syntax version 4 interchange (UNOC:4, CCYYMMDD in UNB, '*' repeats)."""
    return data.replace(b"UNOC:3", b"UNOC:4").replace(b"+260302:0930+", b"+20260302:0930+")


def test_repeating_an_element_that_may_not_repeat_is_35_at_the_element() -> None:
    import datetime as dt

    from edi.translate import contrl_for, translate

    data = _syntax4(GOLDEN_ORDERS.read_bytes())
    assert translate(data).all_issues() == []
    bad = data.replace(b"BGM+220+PO-2026-0001+9'", b"BGM+220*221+PO-1*PO-2+9'")
    translation = translate(bad)
    found = [(i.code, i.segment, i.tag, i.element, i.component) for i in translation.all_issues()]
    assert found == [("35", 3, "BGM", 1, None), ("35", 3, "BGM", 2, None)]
    assert "occurs 2 times (repetition separator); it may occur once" in translation.all_issues()[0].message
    assert not translation.ok
    ack = contrl_for(translation, number="C1", issue_date=dt.date(2026, 3, 2))
    (message_ack,) = ack.messages
    assert message_ack.action == "4"
    assert [(e.code, e.segment, e.element) for e in message_ack.errors] == [("35", 2, 1), ("35", 2, 2)]


def test_a_repetition_in_strict_validate_message() -> None:
    from edi.syntax import Repetition

    msg = message(ORDERS)
    bgm = msg.segments[1]
    bgm.elements[1] = Repetition(["PO123", "PO124", "PO125"])
    issues = validate_message(msg)
    assert errors(issues) == [("35", 3, "BGM", 2, None)]
    assert "occurs 3 times" in issues[0].message


def _com_message(directory: str, occurrences: int) -> Message:
    from edi.syntax import Repetition

    text = (f"UNH+1+ORDERS:D:{directory[1:]}:UN'BGM+220+PO1+9'DTM+137:20250322:102'"
            "NAD+BY+5412345000013::9'CTA+IC+:Anna'COM+x:TE'LIN+1++4000862141404:EN'QTY+21:1'UNS+S'UNT+10+1'")
    msg = message(text)
    com = next(segment for segment in msg.segments if segment.tag == "COM")
    com.elements[0] = Repetition([[f"s{k}1", "TE"] for k in range(1, occurrences + 1)])
    return msg


def test_com_c076_repeats_three_times_from_d01a_on() -> None:
    assert errors(validate_message(_com_message("D03B", 3))) == []
    issues = validate_message(_com_message("D03B", 4))
    assert errors(issues) == [("35", 7, "COM", 1, None)]
    assert "occurs 4 times (repetition separator); at most 3 occurrences allowed" in issues[0].message
    assert errors(validate_message(_com_message("D96A", 2))) == [("35", 7, "COM", 1, None)]


# --------------------------------------------------------------------------- unknown association codes


@pytest.mark.parametrize("association", ["EAN007", "EAN009", "XYZ", "EAN010"])
def test_an_unknown_association_is_a_warning_naming_it(association: str) -> None:
    text = ORDERS.replace("ORDERS:D:96A:UN:EAN008", f"ORDERS:D:96A:UN:{association}")
    issues = validate_message(message(text))
    notes = [i for i in issues if i.code == "17"]
    assert [(i.severity, i.segment, i.tag, i.element, i.component) for i in notes] == [("warning", 2, "UNH", 2, 5)]
    assert notes[0].message == f"association '{association}' is not known for ORDERS D96A; validated as the plain UN message"
    assert errors(issues) == errors(validate_message(message(ORDERS.replace(":EAN008", ""))))


def test_known_or_absent_associations_get_no_note() -> None:
    assert [i for i in validate_message(message(ORDERS)) if i.code == "17"] == []
    assert [i for i in validate_message(message(ORDERS.replace(":EAN008", ""))) if i.code == "17"] == []
