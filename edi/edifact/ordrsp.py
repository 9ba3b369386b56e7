"""ORDRSP (purchase order response) <-> :class:`~edi.documents.OrderResponse`.

Layout rendered (D96A ORDRSP; EANCOM 1997 EAN005, EANCOM 2002 EAN007):
UNH, BGM+231+number+29|4|27, DTM+137, FTX+AAI, SG1 RFF+ON (DTM+171),
SG3 NAD (RFF+VA, CTA), SG8 CUX+2:EUR:9, SG26 LIN+n+action(1229)+gtin, PIA,
IMD, QTY, DTM+2, SG30 PRI+AAA, UNS+S, CNT+2, UNT.

Quantities (EANCOM ORDRSP QTY 6063, ref.gs1.org EANCOM 1997 ORDRSP segment 43):
21 ordered quantity, 113 quantity to be delivered. The confirmed quantity is
QTY+21 when the response repeats no ordered quantity; when the ordered
quantity is given too, it is QTY+21 and the confirmed one QTY+113.
"""

from __future__ import annotations

from edi.documents import OrderResponse, OrderResponseLine
from edi.edifact.common import (
    LineData,
    MessageReader,
    collect,
    cux,
    dtm,
    ftx,
    header_checks,
    imd,
    lin,
    line_identity,
    missing_date,
    missing_quantity,
    nad_group,
    pia,
    pri,
    qty,
    rff,
    seg,
)
from edi.envelope import Segment
from edi.errors import SyntaxCode

__all__ = ["read_ordrsp", "write_ordrsp"]


def read_ordrsp(r: MessageReader) -> OrderResponse | None:
    """The OrderResponse an ORDRSP carries; None when an error prevents a sound one."""
    c = collect(r)
    number = header_checks(r, c, ("231", "230"))
    issue_date = c.dates.get("137")
    if issue_date is None:
        missing_date(r, c, "137", "the order response has no document date (DTM+137)")
    order_number = c.refs.get("ON")
    if order_number is None and c.bgm_index is not None:
        r.missing("the order response names no order (RFF+ON)", tag="RFF")
    lines = [_line(r, n, line) for n, line in enumerate(c.lines, 1)]
    if r.has_errors or number is None or issue_date is None or order_number is None:
        return None
    return OrderResponse(
        number=number,
        order_number=order_number,
        order_date=c.ref_dates.get("ON"),
        issue_date=issue_date,
        response_code=c.function or "29",
        currency=c.currency,
        parties=c.parties,
        notes=c.notes,
        lines=[line for line in lines if line is not None],
    )


def _line(r: MessageReader, position: int, line: LineData) -> OrderResponseLine | None:
    line_no = line_identity(r, line, position)
    ordered = line.quantities.get("21")
    confirmed = line.quantities.get("113")
    if confirmed is None:
        confirmed, ordered = ordered, None
    if confirmed is None:
        confirmed = line.quantities.get("12") or line.quantities.get("1")
    if confirmed is None:
        missing_quantity(r, line, f"line {line_no} has no confirmed quantity (QTY+21 or QTY+113)")
        return None
    price = line.prices.get("AAA")
    return OrderResponseLine(
        line_no=line_no,
        action=line.action or "5",
        gtin=line.ids.gtin,
        supplier_sku=line.ids.supplier_sku,
        buyer_sku=line.ids.buyer_sku,
        description=line.description,
        ordered_quantity=ordered.value if ordered else None,
        quantity=confirmed.value,
        unit=confirmed.unit,
        net_price=price[0] if price else None,
        delivery_date=line.dates.get("2") or line.dates.get("69") or line.dates.get("64"),
    )


def write_ordrsp(response: OrderResponse, directory: str) -> list[Segment]:
    """The body of an ORDRSP for ``response``."""
    body = [seg("BGM", "231", response.number, response.response_code), dtm("137", response.issue_date)]
    body += [ftx("AAI", note) for note in response.notes]
    body.append(rff("ON", response.order_number))
    if response.order_date:
        body.append(dtm("171", response.order_date))
    for party in response.parties:
        body += nad_group(party)
    if response.currency:
        body.append(cux(response.currency, "9"))
    for line in response.lines:
        body.append(lin(line.line_no, line.gtin, directory, action=line.action))
        ids = pia(line.supplier_sku, line.buyer_sku)
        if ids is not None:
            body.append(ids)
        if line.description:
            body += imd(line.description)
        if line.ordered_quantity is not None:
            body.append(qty("21", line.ordered_quantity, line.unit))
            body.append(qty("113", line.quantity, line.unit))
        else:
            body.append(qty("21", line.quantity, line.unit))
        if line.delivery_date:
            body.append(dtm("2", line.delivery_date))
        if line.net_price is not None:
            body.append(pri("AAA", line.net_price))
    body.append(seg("UNS", "S"))
    body.append(seg("CNT", ["2", str(len(response.lines))]))
    return body
