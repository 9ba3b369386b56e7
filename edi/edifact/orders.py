"""ORDERS (purchase order) <-> :class:`~edi.documents.Order`.

Layout rendered (D96A ORDERS, EANCOM 1997 EAN008 / EANCOM 2002 EAN010 usage):
UNH, BGM+220+number+9, DTM+137, DTM+2, FTX+AAI, SG1 RFF+CT, SG2 NAD
(SG3 RFF+VA, SG5 CTA+IC), SG7 CUX+2:EUR:9, SG25 LIN(+gtin:EN|SRV), PIA+1,
IMD+F, QTY+21, DTM+2, MOA+203, SG28 PRI+AAA, UNS+S, CNT+2, UNT.
"""

from __future__ import annotations

from edi.documents import Order, OrderLine
from edi.edifact.common import (
    Collected,
    LineData,
    MessageReader,
    collect,
    cux,
    dtm,
    first_quantity,
    ftx,
    header_checks,
    imd,
    lin,
    line_identity,
    missing_date,
    missing_quantity,
    moa,
    nad_group,
    pia,
    pri,
    qty,
    rff,
    seg,
)
from edi.envelope import Segment
from edi.errors import SyntaxCode

__all__ = ["read_orders", "write_orders"]


def read_orders(r: MessageReader) -> Order | None:
    """The Order an ORDERS message carries; None when an error prevents a sound one (see ``r.issues``)."""
    c = collect(r)
    number = header_checks(r, c, ("220", "221", "226", "227", "22E", "105", "402"))
    issue_date = c.dates.get("137")
    if issue_date is None:
        missing_date(r, c, "137", "the order has no document date (DTM+137)")
    lines = [_line(r, c, n, line) for n, line in enumerate(c.lines, 1)]
    if r.has_errors or number is None or issue_date is None:
        return None
    return Order(
        number=number,
        document_code=c.document_code or "220",
        function=c.function or "9",
        issue_date=issue_date,
        requested_delivery=c.dates.get("2"),
        currency=c.currency,
        contract_ref=c.refs.get("CT"),
        parties=c.parties,
        notes=c.notes,
        lines=[line for line in lines if line is not None],
    )


def _line(r: MessageReader, c: Collected, position: int, line: LineData) -> OrderLine | None:
    line_no = line_identity(r, line, position)
    quantity = first_quantity(r, line, ("21", "1"), "ordered quantity")
    if quantity is None:
        missing_quantity(r, line, f"line {line_no} has no ordered quantity (QTY+21)")
        return None
    price = line.prices.get("AAA") or line.prices.get("AAB")
    return OrderLine(
        line_no=line_no,
        gtin=line.ids.gtin,
        supplier_sku=line.ids.supplier_sku,
        buyer_sku=line.ids.buyer_sku,
        description=line.description,
        quantity=quantity.value,
        unit=quantity.unit,
        net_price=price[0] if price else None,
        price_basis=price[1] if price else None,
        line_amount=line.amounts.get("203"),
        requested_delivery=line.dates.get("2"),
    )


def write_orders(order: Order, directory: str) -> list[Segment]:
    """The body (between UNH and UNT) of an ORDERS for ``order``."""
    body = [seg("BGM", order.document_code, order.number, order.function), dtm("137", order.issue_date)]
    if order.requested_delivery:
        body.append(dtm("2", order.requested_delivery))
    body += [ftx("AAI", note) for note in order.notes]
    if order.contract_ref:
        body.append(rff("CT", order.contract_ref))
    for party in order.parties:
        body += nad_group(party)
    if order.currency:
        body.append(cux(order.currency, "9"))
    for line in order.lines:
        body.append(lin(line.line_no, line.gtin, directory))
        ids = pia(line.supplier_sku, line.buyer_sku)
        if ids is not None:
            body.append(ids)
        if line.description:
            body += imd(line.description)
        body.append(qty("21", line.quantity, line.unit))
        if line.requested_delivery:
            body.append(dtm("2", line.requested_delivery))
        if line.line_amount is not None:
            body.append(moa("203", line.line_amount))
        if line.net_price is not None:
            body.append(pri("AAA", line.net_price, line.price_basis, line.unit if line.price_basis is not None else None))
    body.append(seg("UNS", "S"))
    body.append(seg("CNT", ["2", str(len(order.lines))]))
    return body
