"""Order rows from an Excel workbook (.xlsx, openpyxl), beside the CSV upload.

The first worksheet is read like the CSV file: columns SKU (or GTIN),
quantity and an optional note; a first row naming the columns is skipped.
Rows keep their spreadsheet row numbers so that the same row-level errors can
be fixed in place (:meth:`hub.portal.PartnerScope.resolve_rows` checks them).
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from decimal import Decimal

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from hub.portal import MAX_ROWS, Row

__all__ = ["parse_xlsx", "HEADER_WORDS"]

HEADER_WORDS = ("sku", "article", "artikel", "item", "gtin", "ean")


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        # Excel keeps numbers as floats: 12.0 is 12, and a GTIN typed as a number has no decimals
        if value.is_integer():
            return str(int(value))
        return format(Decimal(repr(value)).normalize(), "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value).strip()


def parse_xlsx(data: bytes) -> tuple[list[Row], str | None]:
    """Rows of the first sheet, and a sentence when the workbook cannot be read at all."""
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError):
        return [], "The file is not an Excel workbook (.xlsx)."
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            return [], "The workbook has no worksheet."
        rows: list[Row] = []
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_cell_text(v) for v in values[:3]]
            cells += [""] * (3 - len(cells))
            if not any(cells):
                continue
            if not rows and cells[0].lower() in HEADER_WORDS:
                continue
            if len(rows) >= MAX_ROWS:
                return rows, f"The sheet has more than {MAX_ROWS} rows; split it into smaller files."
            rows.append(Row(number=number, sku=cells[0], quantity=cells[1].replace(",", "."), note=cells[2][:70]))
    finally:
        workbook.close()
    if not rows:
        return [], "The first sheet has no rows with a SKU and a quantity."
    return rows, None
