"""A damaged XLSX upload is a clear error naming the file and the row, not a server error."""

from __future__ import annotations

import html
import io
import zipfile

from openpyxl import Workbook

from hub.xlsx_upload import parse_xlsx
from tests.extranet.conftest import post


def _workbook(rows: int) -> bytes:
    book = Workbook()
    book.active.append(["SKU", "Quantity"])
    for n in range(rows):
        book.active.append(["WID-100", n + 1, f"note {n}"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _truncate_sheet(data: bytes, keep: float = 0.5) -> bytes:
    """The same workbook with the first sheet's XML cut off part way (the zip itself stays valid)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = content[: int(len(content) * keep)]
            target.writestr(item, content)
    return out.getvalue()


def test_a_truncated_sheet_names_the_file_and_row():
    rows, problem = parse_xlsx(_truncate_sheet(_workbook(200)), "orders.xlsx")
    assert rows == []
    assert problem.startswith("orders.xlsx: The workbook is damaged") and "at row " in problem
    row = int(problem.split("at row ")[1].split()[0])
    assert 2 <= row <= 201


def test_an_intact_workbook_still_reads():
    rows, problem = parse_xlsx(_workbook(3), "orders.xlsx")
    assert problem is None and [r.quantity for r in rows] == ["1", "2", "3"]


def test_the_upload_page_shows_the_damage(acme_client):
    response = post(acme_client, "/upload/xlsx",
                    {"file": (io.BytesIO(_truncate_sheet(_workbook(200))), "broken.xlsx")},
                    token_from="/upload/xlsx", content_type="multipart/form-data")
    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    assert "broken.xlsx: The workbook is damaged" in page
