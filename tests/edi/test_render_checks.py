"""Rendering refuses what it cannot write validly: non-finite or absurd numbers in the JSON
document, and output that the directory validation rejects (edi.translate.check_rendered)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edi.documents import DocumentFormatError, from_dict
from edi.errors import SyntaxCode
from edi.translate import check_rendered, render_edifact

GOLDEN = Path(__file__).parent / "golden"

ENVELOPE = dict(sender="5412345000013", sender_qualifier="14", recipient="4012345500004",
                recipient_qualifier="14", control_ref="7")


def _order() -> dict:
    return json.loads((GOLDEN / "orders_D96A.json").read_text())


@pytest.mark.parametrize("value", ["NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "inf"])
def test_from_dict_refuses_non_finite_quantities(value):
    data = _order()
    data["lines"][0]["quantity"] = value
    with pytest.raises(DocumentFormatError) as caught:
        from_dict(data)
    assert str(caught.value) == f"$.lines[0].quantity: {value!r} is not a finite number"


@pytest.mark.parametrize("value, digits", [("1e400", 401), ("1E-400", 400), ("1" * 36, 36), ("0." + "0" * 35 + "1", 36)])
def test_from_dict_refuses_numbers_too_long_to_write(value, digits):
    data = _order()
    data["lines"][0]["net_price"] = value
    with pytest.raises(DocumentFormatError) as caught:
        from_dict(data)
    text = str(caught.value)
    assert text.startswith("$.lines[0].net_price: ")
    assert f"written out it has {digits} digits, at most 35 allowed" in text
    assert len(text) < 200  # a long value is shortened in the message


def test_from_dict_keeps_long_but_writable_numbers():
    data = _order()
    data["lines"][0]["quantity"] = "1" * 35
    data["lines"][0]["net_price"] = "1.5E+3"
    order = from_dict(data)
    assert str(order.lines[0].quantity) == "1" * 35
    assert order.lines[0].net_price == 1500


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.json")))
@pytest.mark.parametrize("subset", ["EANCOM", "UN"])
def test_every_golden_document_renders_to_valid_edifact(name, subset):
    document = from_dict(json.loads((GOLDEN / f"{name}.json").read_text()))
    directory = name.rsplit("_", 1)[1]
    data = render_edifact([document], directory=directory, subset=subset, **ENVELOPE)
    assert [str(i) for i in check_rendered(data) if i.is_error] == []


def test_check_rendered_finds_a_document_number_too_long_for_bgm():
    data = _order()
    data["number"] = "P" * 500
    rendered = render_edifact([from_dict(data)], **ENVELOPE)
    issues = check_rendered(rendered)
    assert [(i.segment, i.tag, i.element, i.code) for i in issues] == [(3, "BGM", 2, SyntaxCode.TOO_LONG)]
    assert "500 characters, format an..35" in issues[0].message


def test_check_rendered_reports_envelope_problems():
    rendered = render_edifact([from_dict(_order())], **ENVELOPE)
    broken = rendered.replace(b"UNT+28+1'", b"UNT+27+1'")
    assert broken != rendered
    issues = check_rendered(broken)
    assert [(i.tag, i.code) for i in issues if i.is_error] == [("UNT", SyntaxCode.CONTROL_COUNT_MISMATCH)]


def test_check_rendered_never_raises_for_garbage():
    issues = check_rendered(b"\x00\xff not an interchange")
    assert issues and all(i.is_error for i in issues)


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x0b", "\x1f", "\ufffe", "\ud800"])
def test_ubl_refuses_text_xml_cannot_carry_naming_the_field(bad):
    from edi.errors import EdiError
    from edi.translate import render
    from edi.ubl import render_ubl

    data = _order()
    data["lines"][1]["description"] = f"Widget{bad}red"
    order = from_dict(data)
    expected = f"$.lines[1].description: character U+{ord(bad):04X} at position 7 cannot be written in XML"
    for call in (lambda: render(order, format="ubl"), lambda: render_ubl(order)):
        with pytest.raises(EdiError) as caught:
            call()
        assert str(caught.value).startswith(expected)


def test_ubl_refuses_a_control_character_in_a_party_name():
    from edi.errors import EdiError
    from edi.translate import render

    data = _order()
    data["parties"][0]["name"] = "Kontor\x07Retail"
    with pytest.raises(EdiError, match=r"^\$\.parties\[0\]\.name: character U\+0007 at position 7 "):
        render(from_dict(data), format="ubl")


def test_ubl_keeps_tabs_newlines_and_other_scripts():
    from edi.translate import render

    data = _order()
    data["lines"][1]["description"] = "Zeile 1\tTab\r\nZeile 2 \u00e4\u00df \u4e2d \U0001f600"
    xml = render(from_dict(data), format="ubl")
    assert "Zeile 2 \u00e4\u00df \u4e2d \U0001f600".encode() in xml
