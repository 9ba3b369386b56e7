"""One error per cause: a missing mandatory segment is reported once, not again by the mapping.

Each golden message loses its BGM (the UCI for a CONTRL), or every DTM, and
the translation must report exactly one error, at the place where the
segment is missing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edi.errors import SyntaxCode
from edi.translate import translate

GOLDEN = Path(__file__).parent / "golden"

TYPES = ("orders", "ordrsp", "desadv", "invoic", "aperak")
DIRECTORIES = ("D96A", "D01B")


def _without(data: bytes, tag: str) -> bytes:
    """``data`` without its ``tag`` segments, the UNT count adjusted so the envelope stays right."""
    text = data.decode("utf-8")
    segments = [s.strip("\r\n") for s in re.split(r"(?<!\?)'", text) if s.strip()]
    kept = [s for s in segments if not s.startswith(tag + "+")]
    removed = len(segments) - len(kept)
    assert removed, f"no {tag} segment in the golden file"
    out = []
    for segment in kept:
        if segment.startswith("UNT+"):
            parts = segment.split("+")
            parts[1] = str(int(parts[1]) - removed)
            segment = "+".join(parts)
        out.append(segment)
    return ("'".join(out) + "'").encode("utf-8")


def _errors(data: bytes, **options):
    translation = translate(data, **options)
    assert len(translation.messages) == 1
    message = translation.messages[0]
    return message, [i for i in translation.all_issues() if i.is_error]


@pytest.mark.parametrize("directory", DIRECTORIES)
@pytest.mark.parametrize("kind", TYPES)
def test_missing_bgm_is_one_error_where_it_should_be(kind, directory):
    data = _without((GOLDEN / f"{kind}_{directory}.edi").read_bytes(), "BGM")
    message, errors = _errors(data)
    assert len(errors) == 1, [str(e) for e in errors]
    error = errors[0]
    assert error.code == SyntaxCode.MISSING
    assert "BGM" in error.message
    # UNB is 1, UNH 2: the BGM belonged at 3, where the (former) next segment now is
    assert (error.segment, error.message_segment, error.element) == (3, 2, None)
    assert error.tag == "DTM"
    assert message.document is None


@pytest.mark.parametrize("directory", DIRECTORIES)
@pytest.mark.parametrize("kind", TYPES)
def test_no_dtm_is_one_error(kind, directory):
    data = _without((GOLDEN / f"{kind}_{directory}.edi").read_bytes(), "DTM")
    message, errors = _errors(data)
    assert len(errors) == 1, [str(e) for e in errors]
    error = errors[0]
    assert error.code == SyntaxCode.MISSING
    assert message.document is None
    if kind in ("orders", "ordrsp", "invoic"):
        # the directory makes the heading DTM mandatory: validation names it right after the BGM
        assert "mandatory segment DTM" in error.message
        assert (error.segment, error.message_segment) == (4, 3)
        assert error.tag != "DTM"
    else:
        # DESADV and APERAK headings leave DTM conditional; the mapping needs the document date
        assert "DTM+137" in error.message
        assert (error.segment, error.tag, error.message_segment) == (2, "UNH", 1)


@pytest.mark.parametrize("kind", TYPES)
def test_without_validation_the_mapping_still_reports_the_missing_bgm(kind):
    data = _without((GOLDEN / f"{kind}_D96A.edi").read_bytes(), "BGM")
    message, errors = _errors(data, validate=False)
    assert [(e.tag, e.segment, e.code) for e in errors] == [("UNH", 2, SyntaxCode.MISSING)]
    assert "no BGM" in errors[0].message
    assert message.document is None


@pytest.mark.parametrize("directory", DIRECTORIES)
def test_contrl_without_uci_is_one_error(directory):
    data = _without((GOLDEN / f"contrl_{directory}.edi").read_bytes(), "UCI")
    message, errors = _errors(data)
    assert len(errors) == 1, [str(e) for e in errors]
    error = errors[0]
    assert error.code == SyntaxCode.MISSING
    assert "UCI" in error.message
    assert (error.segment, error.tag, error.message_segment) == (3, "UCM", 2)
    assert message.document is None


def test_contrl_without_uci_unvalidated_is_one_error_at_the_unh():
    data = _without((GOLDEN / "contrl_D96A.edi").read_bytes(), "UCI")
    message, errors = _errors(data, validate=False)
    assert [(e.tag, e.segment) for e in errors] == [("UNH", 2)]
    assert "no UCI" in errors[0].message
    assert message.document is None


def test_a_uci_after_its_ucm_is_still_reported_out_of_place():
    data = (GOLDEN / "contrl_D96A.edi").read_bytes()
    lines = data.decode().split("\n")
    uci = next(i for i, line in enumerate(lines) if line.startswith("UCI+"))
    lines.insert(uci + 1, lines.pop(uci))  # UCM first, then UCI
    message, errors = _errors("\n".join(lines).encode(), validate=False)
    assert any(e.tag == "UCM" and "out of place" in e.message for e in errors)
    assert message.document is None


def test_a_missing_composite_is_one_error_not_also_its_component():
    data = (GOLDEN / "orders_D96A.edi").read_bytes().replace(b"QTY+21:48:PCE'", b"QTY'")
    message, errors = _errors(data)
    assert [(e.segment, e.tag, e.element, e.component, e.code) for e in errors] == [
        (19, "QTY", 1, None, SyntaxCode.MISSING)]
    assert message.document is None
