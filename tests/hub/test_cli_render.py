"""`kontor edi render` prints only EDIFACT its own validator accepts; bad documents exit 1 with located errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import main

GOLDEN = Path(__file__).resolve().parents[1] / "edi" / "golden"


@pytest.fixture
def render(tmp_path):
    def invoke(document: dict, *args: str):
        path = tmp_path / "document.json"
        path.write_text(json.dumps(document))
        result = CliRunner().invoke(main, ["edi", "render", str(path), *args], catch_exceptions=False)
        return path, result

    return invoke


def _order() -> dict:
    return json.loads((GOLDEN / "orders_D96A.json").read_text())


def test_a_valid_document_is_printed(render):
    _path, result = render(_order())
    assert result.exit_code == 0
    assert result.stdout.startswith("UNB+UNOC:3+") and "BGM+220+PO-2026-0001+9'" in result.stdout
    assert result.stderr == ""


def test_a_number_too_long_for_bgm_is_reported_not_printed(render):
    order = _order()
    order["number"] = "P" * 500
    path, result = render(order)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{path}: segment 3 (BGM) element 2: element 2 (1004 document identifier): ")
    assert "500 characters, format an..35" in lines[0]
    assert lines[-1] == f"{path}: the rendered interchange is not valid EDIFACT (positions above are in it); not printed"


@pytest.mark.parametrize("field, value, reason", [
    ("quantity", "NaN", "'NaN' is not a finite number"),
    ("quantity", "1e400", "'1e400' is out of range: written out it has 401 digits, at most 35 allowed"),
])
def test_unwritable_numbers_name_their_field(render, field, value, reason):
    order = _order()
    order["lines"][0][field] = value
    path, result = render(order)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip() == f"{path}: $.lines[0].{field}: {reason}"


def test_a_quantity_too_long_for_qty_is_reported(render):
    order = _order()
    order["lines"][0]["quantity"] = "1" * 20  # fits a Decimal and 35 digits, not QTY 6060 (n..15)
    path, result = render(order, "--format", "edifact")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "(QTY) element 1.2" in result.stderr and "format n..15" in result.stderr


def test_ubl_with_a_nul_in_a_description_is_an_error_line_not_a_traceback(render):
    order = _order()
    order["lines"][0]["description"] = "Widget\x00blue"
    path, result = render(order, "--format", "ubl")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        f"{path}: document 1 (Order PO-2026-0001): cannot be written as UBL: $.lines[0].description:"
        " character U+0000 at position 7 cannot be written in XML; remove it from the text"
    )
