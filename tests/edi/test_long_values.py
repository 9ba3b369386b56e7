"""An error about a huge value quotes its start and its length, not the whole value."""

from __future__ import annotations

from pathlib import Path

import pytest

from edi.translate import translate, validate_file

GOLDEN = Path(__file__).parent / "golden" / "orders_D96A.edi"
BIG = b"X" * 200_000


def _cases() -> list[tuple[str, bytes, str]]:
    data = GOLDEN.read_bytes()
    return [
        ("BGM number", data.replace(b"PO-2026-0001", BIG), "segment 3 (BGM) element 2"),
        ("UNZ reference", data.replace(b"UNZ+1+42", b"UNZ+1+" + BIG), "segment 30 (UNZ) element 2"),
        ("UNT reference", data.replace(b"UNT+28+1", b"UNT+28+" + BIG), "segment 29 (UNT) element 2"),
        ("UNB reference, no UNZ", data.split(b"UNZ")[0].replace(b"+42'", b"+" + BIG + b"'", 1), "segment 30 (UNZ)"),
        ("quantity", data.replace(b"QTY+21:48:PCE", b"QTY+21:" + b"4x" * 100_000 + b":PCE"), "segment 19 (QTY) element 1.2"),
        ("date", data.replace(b"DTM+137:20260301:102", b"DTM+137:" + b"2" * 200_000 + b":102"), "segment 4 (DTM) element 1.2"),
    ]


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("name, data, where", _cases(), ids=[c[0] for c in _cases()])
def test_a_huge_value_is_quoted_short(name, data, where, validate):
    issues = translate(data, validate=validate).all_issues()
    if not validate and name == "BGM number":
        assert issues == []  # only the directory limits a document number's length
        return
    lines = [issue.format("f.edi") for issue in issues]
    assert any(line.startswith(f"f.edi: {where}:") for line in lines), lines
    assert all(len(line) < 300 for line in lines), [line[:300] for line in lines]
    assert any("... (200000 characters)" in line for line in lines)


def test_validate_file_lines_stay_short(tmp_path):
    path = tmp_path / "big.edi"
    path.write_bytes(GOLDEN.read_bytes().replace(b"PO-2026-0001", BIG))
    issues, count = validate_file(path)
    assert count == 1
    assert [len(i.format(str(path))) < 300 for i in issues] == [True]
    assert "'" + "X" * 35 + "'... (200000 characters) is too long" in issues[0].message
