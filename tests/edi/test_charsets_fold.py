"""Free text folded to an EDIFACT charset (edi.charsets_fold) and render_edifact(fold_text=True)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edi.charsets import charset_for
from edi.charsets_fold import fold_to_charset, writable
from edi.documents import from_dict
from edi.errors import EdiError
from edi.translate import render_edifact, translate

GOLDEN = Path(__file__).parent / "golden"
ENVELOPE = dict(sender="5412345000013", sender_qualifier="14", recipient="4012345500004",
                recipient_qualifier="14", control_ref="7")


@pytest.mark.parametrize("charset, text, expected", [
    ("UNOC", "Cable \u2013 2 m", "Cable - 2 m"),
    ("UNOC", "Cable \u2014 \u201cpro\u201d \u2018x\u2019", "Cable - \"pro\" 'x'"),
    ("UNOC", "Price 5 \u20ac", "Price 5 EUR"),
    ("UNOC", "\u0141\u00f3d\u017a", "L\u00f3dz"),  # ó is Latin-1, ź is not
    ("UNOC", "caf\u00e9 \U0001F600", "caf\u00e9 ?"),
    ("UNOD", "\u0141\u00f3d\u017a", "\u0141\u00f3d\u017a"),  # all in ISO 8859-2
    ("UNOB", "caf\u00e9 Stra\u00dfe", "cafe Strasse"),
    ("UNOA", "Caf\u00e9 @ home", "CAFE (AT) HOME"),
    ("UNOC", "line\nbreak", "line break"),
    ("UNOW", "\u0141\u00f3d\u017a \u20ac \U0001F600", "\u0141\u00f3d\u017a \u20ac \U0001F600"),
])
def test_fold_to_charset(charset, text, expected):
    folded = fold_to_charset(text, charset)
    assert folded == expected
    assert writable(charset_for(charset), folded)


def test_fold_to_charset_refuses_unknown_charset():
    with pytest.raises(ValueError, match="UNOX"):
        fold_to_charset("x", "UNOX")


def _response():
    document = from_dict(json.loads((GOLDEN / "ordrsp_D96A.json").read_text()))
    document.lines[0].description = "Kabel \u0141 \u2013 2 m \u20ac"
    return document


def test_render_refuses_unwritable_text_without_fold():
    with pytest.raises(EdiError, match="cannot be written in UNOC"):
        render_edifact([_response()], charset="UNOC", **ENVELOPE)


def test_render_folds_free_text_to_the_charset():
    document = _response()
    data = render_edifact([document], charset="UNOC", fold_text=True, **ENVELOPE)
    text = data.decode("latin-1")
    assert "Kabel L - 2 m EUR" in text
    assert document.lines[0].description == "Kabel \u0141 \u2013 2 m \u20ac"  # the caller's document is unchanged
    translation = translate(data)
    assert not translation.all_issues()
    assert translation.messages[0].document.lines[0].description == "Kabel L - 2 m EUR"


def test_fold_free_text_copies_what_it_folds_and_shares_the_rest():
    from edi.translate import fold_free_text

    document = _response()
    folded = fold_free_text(document, "UNOC")
    assert folded is not document and folded.lines is not document.lines
    assert folded.lines[0].description == "Kabel L - 2 m EUR"
    assert document.lines[0].description == "Kabel \u0141 \u2013 2 m \u20ac"
    assert all(a is b for a, b in zip(folded.lines[1:], document.lines[1:]))  # nothing to fold there
    assert folded.parties is document.parties
    document.lines[0].description = "Kabel 2 m"
    assert fold_free_text(document, "UNOC") is document  # nothing to fold at all


def test_fold_free_text_refuses_an_unknown_charset_when_there_is_text():
    from edi.translate import fold_free_text

    with pytest.raises(ValueError, match="UNOX"):
        fold_free_text(_response(), "UNOX")
