"""Issues are reported in segment order: the envelope's, the validator's and the mapping's merged."""

from __future__ import annotations

from pathlib import Path

from edi.translate import translate, validate_file

GOLDEN = Path(__file__).parent / "golden"


def _broken() -> bytes:
    data = (GOLDEN / "orders_D96A.edi").read_bytes()
    data = data.replace(b"+260302:0930+", b"+261302:0930+")  # UNB date (segment 1): month 13
    data = data.replace(b"QTY+21:48:PCE", b"QTY+21:4x8:PCE")  # segment 19
    data = data.replace(b"UNT+28+1", b"UNT+27+1")  # segment 29
    return data.replace(b"UNZ+1+42", b"UNZ+1+43")  # segment 30


def test_translate_reports_in_segment_order():
    issues = translate(_broken()).all_issues()
    assert [(i.segment, i.tag) for i in issues] == [(1, "UNB"), (19, "QTY"), (29, "UNT"), (30, "UNZ")]


def test_validate_file_reports_in_segment_order_per_interchange(tmp_path):
    path = tmp_path / "two.edi"
    path.write_bytes(_broken() + _broken().replace(b"+42'", b"+44'").replace(b"UNZ+1+43", b"UNZ+1+45"))
    issues, count = validate_file(path)
    assert count == 2
    once = [(1, "UNB"), (19, "QTY"), (29, "UNT"), (30, "UNZ")]
    assert [(i.segment, i.tag) for i in issues] == once + once


def test_a_mapping_issue_at_the_unh_comes_before_later_validation_errors():
    data = (GOLDEN / "ordrsp_D96A.edi").read_bytes()
    text = data.decode()
    assert "RFF+ON:" in text
    lines = [line for line in text.split("\n") if not line.startswith("RFF+ON:")]
    count = next(line for line in lines if line.startswith("UNT+"))
    n = int(count.split("+")[1])
    lines = [line.replace(f"UNT+{n}+", f"UNT+{n - 1}+") if line.startswith("UNT+") else line for line in lines]
    lines = [line.replace("QTY+21:", "QTY+21:x", 1) if line.startswith("QTY+21:") else line for line in lines]
    issues = [i for i in translate("\n".join(lines).encode()).all_issues() if i.is_error]
    assert len(issues) >= 2
    assert issues[0].tag == "UNH" and "RFF+ON" in issues[0].message
    assert [i.segment for i in issues] == sorted(i.segment for i in issues)
