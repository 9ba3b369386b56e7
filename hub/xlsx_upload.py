"""Order rows from an Excel workbook (.xlsx, openpyxl), beside the CSV upload.

The first worksheet is read like the CSV file: columns SKU (or GTIN),
quantity and an optional note; a first row naming the columns is skipped.
Rows keep their spreadsheet row numbers so that the same row-level errors can
be fixed in place (:meth:`hub.portal.PartnerScope.resolve_rows` checks them).
"""

from __future__ import annotations

import datetime as dt
import io
import xml.etree.ElementTree as ET
import zipfile
import zlib
from decimal import Decimal

from lxml.etree import XMLSyntaxError

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


#: What a damaged workbook raises while its rows are read (read-only mode streams the sheet's XML
#: out of the zip): broken XML, a truncated or corrupt zip member, a cell value openpyxl cannot convert.
_DAMAGED = (ET.ParseError, XMLSyntaxError, zipfile.BadZipFile, zlib.error, EOFError, KeyError, ValueError,
            TypeError, OSError)


def parse_xlsx(data: bytes, filename: str = "") -> tuple[list[Row], str | None]:
    """Rows of the first sheet, and a sentence when the workbook cannot be read (naming ``filename``
    and, for a sheet damaged part way, the row; then no row is returned: half a file is not an order)."""
    name = f"{filename[:100]}: " if filename else ""
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError):
        return [], f"{name}The file is not an Excel workbook (.xlsx)."
    number = 0
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            return [], f"{name}The workbook has no worksheet."
        rows: list[Row] = []
        for values in sheet.iter_rows(values_only=True):
            number += 1
            cells = [_cell_text(v) for v in values[:3]]
            cells += [""] * (3 - len(cells))
            if not any(cells):
                continue
            if not rows and cells[0].lower() in HEADER_WORDS:
                continue
            if len(rows) >= MAX_ROWS:
                return rows, f"The sheet has more than {MAX_ROWS} rows; split it into smaller files."
            rows.append(Row(number=number, sku=cells[0], quantity=cells[1].replace(",", "."), note=cells[2][:70]))
    except _DAMAGED as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        return [], (f"{name}The workbook is damaged: its first sheet cannot be read at row {number + 1} "
                    f"({reason}). Nothing was added; save the file again from Excel and upload it again.")
    finally:
        workbook.close()
    if not rows:
        return [], "The first sheet has no rows with a SKU and a quantity."
    return rows, None
