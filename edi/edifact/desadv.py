"""DESADV (despatch advice) <-> :class:`~edi.documents.DespatchAdvice`.

Layout rendered (D96A DESADV; EANCOM 1997 EAN005, EANCOM 2002 EAN007):
UNH, BGM+351+number+9, DTM+137/11/17, SG1 RFF+ON, RFF+CN, SG2 NAD (RFF+VA,
CTA), SG6 TDT+20++++:::carrier (C040 3128 carrier name, 4th component of
element 5), then per package SG10 CPS+level+parent, SG11 PAC+1++type,
SG13 PCI+33E with SG14 GIN+BJ (SSCC); per line SG15 LIN, PIA, IMD, QTY+12,
SG16 RFF+ON:order:line, SG20 PCI+36E, DTM+361 (best before), SG21 GIN+BX
(batch), CNT+2, UNT.
"""

from __future__ import annotations

from edi.documents import DespatchAdvice, DespatchLine, Package
from edi.edifact.common import (
    LineData,
    MessageReader,
    collect,
    dtm,
    first_quantity,
    header_checks,
    imd,
    lin,
    line_identity,
    missing_date,
    missing_quantity,
    nad_group,
    pia,
    qty,
    rff,
    seg,
)
from edi.envelope import Segment
from edi.errors import SyntaxCode

__all__ = ["read_desadv", "write_desadv"]


def read_desadv(r: MessageReader) -> DespatchAdvice | None:
    """The DespatchAdvice a DESADV carries; None when an error prevents a sound one.

    Lines before any CPS go into one package at level ``"1"``.
    """
    c = collect(r)
    number = header_checks(r, c, ("351", "YA5"))
    issue_date = c.dates.get("137")
    if issue_date is None:
        missing_date(r, c, "137", "the despatch advice has no document date (DTM+137)")
    packages = [
        Package(level=p.level, parent=p.parent, package_type=p.package_type, sscc=p.sscc) for p in c.packages
    ]
    loose: Package | None = None
    for n, data in enumerate(c.lines, 1):
        line = _line(r, n, data)
        if line is None:
            continue
        if data.package is None:
            if loose is None:
                loose = Package(level="1")
            loose.lines.append(line)
        else:
            packages[data.package].lines.append(line)
    if loose is not None:
        packages.insert(0, loose)
    if r.has_errors or number is None or issue_date is None:
        return None
    return DespatchAdvice(
        number=number,
        issue_date=issue_date,
        despatch_date=c.dates.get("11"),
        expected_delivery=c.dates.get("17"),
        order_number=c.refs.get("ON"),
        carrier=c.carrier,
        tracking_number=c.refs.get("CN"),
        parties=c.parties,
        packages=packages,
    )


def _line(r: MessageReader, position: int, line: LineData) -> DespatchLine | None:
    line_no = line_identity(r, line, position)
    quantity = first_quantity(r, line, ("12", "1"), "despatched quantity")
    if quantity is None:
        missing_quantity(r, line, f"line {line_no} has no despatched quantity (QTY+12)")
        return None
    order = line.refs.get("ON")
    return DespatchLine(
        line_no=line_no,
        gtin=line.ids.gtin,
        supplier_sku=line.ids.supplier_sku,
        buyer_sku=line.ids.buyer_sku,
        description=line.description,
        quantity=quantity.value,
        unit=quantity.unit,
        batch=line.batch,
        best_before=line.dates.get("361"),
        order_number=order[0] if order else None,
        order_line_no=order[1] if order else None,
    )


def write_desadv(advice: DespatchAdvice, directory: str) -> list[Segment]:
    """The body of a DESADV for ``advice``."""
    body = [seg("BGM", "351", advice.number, "9"), dtm("137", advice.issue_date)]
    if advice.despatch_date:
        body.append(dtm("11", advice.despatch_date))
    if advice.expected_delivery:
        body.append(dtm("17", advice.expected_delivery))
    if advice.order_number:
        body.append(rff("ON", advice.order_number))
    if advice.tracking_number:
        body.append(rff("CN", advice.tracking_number))
    for party in advice.parties:
        body += nad_group(party)
    if advice.carrier:
        body.append(seg("TDT", "20", None, None, None, [None, None, None, advice.carrier]))
    count = 0
    for package in advice.packages:
        body.append(seg("CPS", package.level, package.parent))
        if package.package_type:
            body.append(seg("PAC", "1", None, package.package_type))
        if package.sscc:
            body.append(seg("PCI", "33E"))
            body.append(seg("GIN", "BJ", package.sscc))
        for line in package.lines:
            count += 1
            body.append(lin(line.line_no, line.gtin, directory))
            ids = pia(line.supplier_sku, line.buyer_sku)
            if ids is not None:
                body.append(ids)
            if line.description:
                body += imd(line.description)
            body.append(qty("12", line.quantity, line.unit))
            if line.order_number:
                body.append(rff("ON", line.order_number, line.order_line_no))
            if line.batch or line.best_before:
                body.append(seg("PCI", "36E"))
                if line.best_before:
                    body.append(dtm("361", line.best_before))
                if line.batch:
                    body.append(seg("GIN", "BX", line.batch))
    body.append(seg("CNT", ["2", str(count)]))
    return body
