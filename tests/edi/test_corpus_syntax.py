"""Real EDIFACT files from other projects (see shared/corpus/SOURCES.txt) through the syntax layer.

What the syntax layer owns is checked here: envelopes, control counts and
references, separators and release, repetition, character repertoires.
Left to directory validation (edi/validate.py) and not asserted here:
staedi_INVOIC_D97B_bad's too-long qualifier BYZZ, non-numeric QTY 1020A and
extra UNS; smooks_ORDERS_D03B_BAD's DTM repeated past its maximum.

Several files that SOURCES.txt lists as valid samples do break ISO 9735 in
ways the syntax layer must report, so they are pinned exactly here rather
than waved through (counted by hand and by the line count below):

* both pydifact APERAK samples say UNT+8 for 7 segments, and carry lower
  case text under UNOA;
* smooks_INVOIC_D03B says UNT+36 for 35 segments;
* staedi_ORDERS_D96B (with UNG) says UNT+21 for 18 segments;
* smooks_ORDERS_D03B_EAN008_UNOA4 and staedi_INVOIC_D93A use lower case
  (and, in D93A, UTF-8 umlauts) under UNOA.

With the leniencies a partner profile would grant for them ("charset",
"control-counts") every valid sample reads without errors.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edi.envelope import InterchangeTrailer
from edi.options import Strictness
from edi.syntax import Repetition, parse, read

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "edifact"

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS} (shared/ must sit beside the checkout)")

LENIENT = Strictness.from_names(["charset", "control-counts"])

# file -> exact (code, segment, tag, element, component) findings under STRICT
EXPECTED: dict[str, list[tuple[str, int | None, str | None, int | None, int | None]]] = {
    "pydifact_APERAK_D96A_accepted.edi": [("21", 7, "FTX", 4, None), ("29", 8, "UNT", 1, None)],
    "pydifact_APERAK_D96A_rejected_v4.edi": [("21", 7, "FTX", 4, 1), ("29", 8, "UNT", 1, None)],
    "pydifact_INVOIC_D97A_automotive.edi": [],
    "pydifact_ORDERS_D96A_EAN008_noUNZ.edi": [("13", 18, "UNZ", None, None)],
    "pydifact_ORDERS_D96A_UN_noUNZ.edi": [("13", 13, "UNZ", None, None)],
    "smooks_INVOIC_D03B_UNOC4_release_char.edi": [("29", 36, "UNT", 1, None)],
    "smooks_ORDERS_D03B_BAD.edi": [
        ("21", 43, "COM", 1, 1),
        ("21", 46, "FTX", 4, None),
        ("21", 49, "FTX", 4, None),
        ("21", 52, "FTX", 4, None),
        ("21", 55, "FTX", 4, None),
        ("29", 58, "UNT", 1, None),
    ],
    "smooks_ORDERS_D03B_EAN008_UNOA4.edi": [
        ("21", 8, "COM", 1, 1),
        ("21", 11, "FTX", 4, None),
        ("21", 14, "FTX", 4, None),
        ("21", 17, "FTX", 4, None),
        ("21", 20, "FTX", 4, None),
    ],
    "staedi_INVOIC_D93A_decimal_comma.edi": [
        ("21", 7, "NAD", 3, None),
        ("21", 7, "NAD", 5, None),
        ("21", 7, "NAD", 6, None),
        ("21", 8, "NAD", 3, None),
        ("21", 8, "NAD", 5, None),
        ("21", 8, "NAD", 6, None),
        ("21", 10, "IMD", 3, 4),
        ("21", 15, "IMD", 3, 4),
        ("21", 20, "IMD", 3, 4),
    ],
    "staedi_INVOIC_D97B_UNOA_with_Umlaut.edi": [("21", 7, "NAD", 4, None)],
    "staedi_INVOIC_D97B_bad.edi": [("21", 14, "PRI", 1, 2)],  # '$1.179': '$' is outside UNOA
    "staedi_ORDERS_D96B_EAN008_UNG.edi": [("29", 20, "UNT", 1, None)],
}

# SOURCES.txt calls these broken; the rest are meant as valid samples.
BROKEN = {
    "pydifact_ORDERS_D96A_EAN008_noUNZ.edi",
    "pydifact_ORDERS_D96A_UN_noUNZ.edi",
    "staedi_INVOIC_D97B_UNOA_with_Umlaut.edi",
    "staedi_INVOIC_D97B_bad.edi",
    "smooks_ORDERS_D03B_BAD.edi",
}


def corpus_files() -> list[str]:
    return sorted(p.name for p in CORPUS.glob("*.edi")) if CORPUS.is_dir() else []


def found(ic) -> list[tuple[str, int | None, str | None, int | None, int | None]]:
    return [(i.code, i.segment, i.tag, i.element, i.component) for i in ic.all_issues()]


def test_every_corpus_file_has_an_expectation():
    assert corpus_files() and set(corpus_files()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_strict_findings_are_exactly_the_expected_ones(name):
    ic = parse(CORPUS / name)
    assert found(ic) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(set(EXPECTED) - BROKEN))
def test_valid_samples_read_clean_with_the_leniencies_their_flaws_need(name):
    ic = parse(CORPUS / name, strictness=LENIENT)
    assert [i for i in ic.all_issues() if i.is_error] == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_unt_counts_match_an_independent_line_count(name):
    """Every sample has one segment a line: count UNH..UNT lines and compare with what the reader saw."""
    lines = [line for line in (CORPUS / name).read_bytes().decode("latin-1").splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.startswith("UNH"))
    end = next(i for i, line in enumerate(lines) if line.startswith("UNT"))
    declared = int(lines[end].split("+")[1])
    ic = parse(CORPUS / name)
    assert len(ic.messages[0].segments) == end - start + 1
    count_issue = [i for i in ic.all_issues() if i.code == "29"]
    assert bool(count_issue) == (declared != end - start + 1)


def test_missing_unz_samples_get_a_synthesised_trailer_and_the_leniency_makes_it_a_warning():
    for name in ("pydifact_ORDERS_D96A_EAN008_noUNZ.edi", "pydifact_ORDERS_D96A_UN_noUNZ.edi"):
        events = list(read(CORPUS / name))
        assert isinstance(events[-1], InterchangeTrailer) and events[-1].count is None
        lenient = parse(CORPUS / name, strictness=Strictness.from_names(["missing-unz"]))
        assert [i.severity for i in lenient.all_issues()] == ["warning"]


def test_una_decimal_comma_samples():
    ic = parse(CORPUS / "staedi_INVOIC_D93A_decimal_comma.edi")
    assert ic.header.separators.decimal == ","
    moa = [s for s in ic.messages[0].segments if s.tag == "MOA"]
    assert moa[1].elements == [["66", "19,9"]]
    nad = ic.messages[0].segments[5]
    assert nad.elements[5] == "München"  # UTF-8 in a UNOA file: read readably, reported as code 21
    order = parse(CORPUS / "pydifact_ORDERS_D96A_EAN008_noUNZ.edi")
    assert order.header.separators.decimal == "," and order.header.syntax_version == "4"
    assert order.header.separators.repetition == " "  # UNA5 is a space: no repetition separator


def test_release_character_and_repetition_in_the_smooks_invoice():
    ic = parse(CORPUS / "smooks_INVOIC_D03B_UNOC4_release_char.edi")
    imd = ic.messages[0].segments[11]
    assert imd.tag == "IMD"
    assert imd.elements[2][3] == "Collectors edition of The Hobbit with Tolkien's original colours on sleeve"
    assert ic.header.separators.repetition == "*"
    assert ic.header.segment is not None and ic.header.test is True


def test_version_4_default_repetition_in_the_smooks_order():
    ic = parse(CORPUS / "smooks_ORDERS_D03B_EAN008_UNOA4.edi")
    com = ic.messages[0].segments[6]
    assert com.tag == "COM"
    assert com.elements == [Repetition([["s11", "AA"], ["s21", "AA"], ["s31", "AA"]])]


def test_group_sample():
    ic = parse(CORPUS / "staedi_ORDERS_D96B_EAN008_UNG.edi")
    assert [g.control_ref for g in ic.groups] == ["1"]
    assert ic.messages[0].group_ref == "1"
    assert ic.header.test is True and ic.header.agreement_id == "EANCOM"
    assert ic.trailer is not None and ic.trailer.count == 1
