"""INVOIC (invoice, credit note) <-> :class:`~edi.documents.Invoice`.

Layout rendered (D96A INVOIC; EANCOM 1997 EAN008, EANCOM 2002 EAN010):
UNH, BGM+380|381|384+number+9, DTM+137, DTM+35, FTX+AAI, FTX+AAB, SG1 RFF+ON, RFF+DQ,
SG2 NAD (SG3 RFF+VA, SG5 CTA), SG7 CUX+2:EUR:4, SG8 PAT+1++5:3:D:days
(C112 2475 5 = date of invoice, 2009 3 = after reference, 2151 D = day,
2152 number), DTM+13, PCD+12; the terms' text goes in a header FTX+AAB
(4451 terms of payments: PAT's C110 would need a coded 4277 and holds
only 35 characters); SG25 LIN, PIA, IMD, QTY+47, SG26 MOA+203,
SG28 PRI+AAA:price:::basis:unit, SG29 RFF+ON:order:line, SG33
TAX+7+VAT+++:::rate+category; UNS+S, CNT+2, SG48 MOA+79/125/124/77,
SG50 TAX+7+VAT+++:::rate+category with MOA+125 and MOA+124; UNT.

Reading is tolerant where the corpus shows real senders differ, always with a
warning: DTM+3 as the invoice date, MOA+66 as the line amount, QTY+12 or
QTY+1 as the invoiced quantity, a currency named in an MOA when there is no
CUX, and totals computed from the lines when the summary omits them.
"""

from __future__ import annotations

from decimal import Decimal

from edi.documents import Invoice, InvoiceLine, PaymentTerms, TaxSubtotal
from edi.edifact.common import (
    Collected,
    LineData,
    MessageReader,
    collect,
    cux,
    dtm,
    first_quantity,
    format_decimal,
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
    tax,
)
from edi.envelope import Segment
from edi.errors import SyntaxCode

__all__ = ["read_invoic", "write_invoic"]

_CENT = Decimal("0.01")


def read_invoic(r: MessageReader) -> Invoice | None:
    """The Invoice an INVOIC carries; None when an error prevents a sound one."""
    c = collect(r)
    number = header_checks(r, c, ("380", "381", "383", "384", "385", "386", "389", "325", "326"))
    issue_date = c.dates.get("137")
    if issue_date is None and "3" in c.dates:
        issue_date = c.dates["3"]
    if issue_date is None:
        missing_date(r, c, "137", "the invoice has no document date (DTM+137)")
    currency = c.currency
    if currency is None:
        currency = c.moa_currency or ""
        r.warn(
            c.bgm_index,
            "no invoice currency (CUX)" + (f"; {currency} taken from the amounts" if currency else ""),
            code=SyntaxCode.MISSING,
            tag="CUX",
        )
    lines = [_line(r, n, line) for n, line in enumerate(c.lines, 1)]
    sound = [line for line in lines if line is not None]
    subtotals = _subtotals(r, c)
    totals = _totals(r, c, sound, subtotals)
    if r.has_errors or number is None or issue_date is None:
        return None
    terms = None
    if c.has_pat or c.pat_description:
        terms = PaymentTerms(
            due_date=c.pat_due, days=c.pat_days, description=c.pat_description, discount_percent=c.pat_discount
        )
    line_total, taxable_total, tax_total, total = totals
    return Invoice(
        number=number,
        document_code=c.document_code or "380",
        issue_date=issue_date,
        delivery_date=c.dates.get("35"),
        order_number=c.refs.get("ON"),
        despatch_number=c.refs.get("DQ"),
        currency=currency,
        parties=c.parties,
        payment_terms=terms,
        notes=c.notes,
        lines=sound,
        tax_subtotals=subtotals,
        line_total=line_total,
        taxable_total=taxable_total,
        tax_total=tax_total,
        total=total,
    )


def _line(r: MessageReader, position: int, line: LineData) -> InvoiceLine | None:
    line_no = line_identity(r, line, position)
    quantity = first_quantity(r, line, ("47", "12", "1"), "invoiced quantity")
    if quantity is None:
        missing_quantity(r, line, f"line {line_no} has no invoiced quantity (QTY+47)")
        return None
    price = line.prices.get("AAA")
    if price is None and line.prices:
        qualifier, price = next(iter(line.prices.items()))
        r.warn(price[3], f"line {line_no}: net price taken from PRI+{qualifier} (PRI+AAA expected)", element=1, component=1)
    if price is None or price[0] is None:
        r.issue(line.index, f"line {line_no} has no net price (PRI+AAA)", code=SyntaxCode.MISSING)
        return None
    net_price, basis = price[0], price[1]
    amount = line.amounts.get("203")
    if amount is None and "66" in line.amounts:
        amount = line.amounts["66"]
        r.warn(line.index, f"line {line_no}: amount taken from MOA+66 (MOA+203 expected)")
    if amount is None:
        amount = (quantity.value * net_price / (basis or Decimal(1))).quantize(_CENT)
        r.warn(line.index, f"line {line_no} has no line amount (MOA+203); computed {amount}", code=SyntaxCode.MISSING)
    order = line.refs.get("ON")
    return InvoiceLine(
        line_no=line_no,
        gtin=line.ids.gtin,
        supplier_sku=line.ids.supplier_sku,
        buyer_sku=line.ids.buyer_sku,
        description=line.description,
        quantity=quantity.value,
        unit=quantity.unit,
        net_price=net_price,
        price_basis=basis,
        line_amount=amount,
        tax_category=line.tax_category or "S",  # Invoice line default: standard rate
        tax_rate=line.tax_rate,
        order_number=order[0] if order else None,
        order_line_no=order[1] if order else None,
    )


def _subtotals(r: MessageReader, c: Collected) -> list[TaxSubtotal]:
    out = []
    for group in c.tax_groups:
        taxable, amount = group.amounts.get("125"), group.amounts.get("124")
        if taxable is None or amount is None:
            r.warn(group.index, "VAT breakdown without both MOA+125 and MOA+124 is left out")
            continue
        out.append(TaxSubtotal(category=group.category or "S", rate=group.rate, taxable_amount=taxable, tax_amount=amount))
    return out


def _totals(
    r: MessageReader, c: Collected, lines: list[InvoiceLine], subtotals: list[TaxSubtotal]
) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    def take(qualifiers: tuple[str, ...], fallback: Decimal, what: str) -> Decimal:
        for qualifier in qualifiers:
            if qualifier in c.summary:
                if qualifier != qualifiers[0]:
                    r.warn(None, f"{what} taken from MOA+{qualifier} (MOA+{qualifiers[0]} expected)", tag="MOA")
                return c.summary[qualifier]
        r.warn(None, f"no {what} (MOA+{qualifiers[0]}); computed {fallback}", code=SyntaxCode.MISSING, tag="MOA")
        return fallback

    line_total = take(("79",), sum((line.line_amount for line in lines), Decimal(0)), "total of the lines")
    taxable_total = take(("125",), sum((s.taxable_amount for s in subtotals), Decimal(0)) if subtotals else line_total, "taxable amount")
    tax_total = take(("124", "176", "150"), sum((s.tax_amount for s in subtotals), Decimal(0)), "tax amount")
    total = take(("77", "86", "128", "39"), taxable_total + tax_total, "invoice total")
    return line_total, taxable_total, tax_total, total


def write_invoic(invoice: Invoice, directory: str) -> list[Segment]:
    """The body of an INVOIC for ``invoice``."""
    body = [seg("BGM", invoice.document_code, invoice.number, "9"), dtm("137", invoice.issue_date)]
    if invoice.delivery_date:
        body.append(dtm("35", invoice.delivery_date))
    body += [ftx("AAI", note) for note in invoice.notes]
    terms = invoice.payment_terms
    if terms is not None and terms.description:
        body.append(ftx("AAB", terms.description))
    if invoice.order_number:
        body.append(rff("ON", invoice.order_number))
    if invoice.despatch_number:
        body.append(rff("DQ", invoice.despatch_number))
    for party in invoice.parties:
        body += nad_group(party)
    body.append(cux(invoice.currency, "4"))
    if terms is not None:
        body.append(seg("PAT", "1", None, ["5", "3", "D", str(terms.days)] if terms.days is not None else None))
        if terms.due_date:
            body.append(dtm("13", terms.due_date))
        if terms.discount_percent is not None:
            body.append(seg("PCD", ["12", format_decimal(terms.discount_percent)]))
    for line in invoice.lines:
        body.append(lin(line.line_no, line.gtin, directory))
        ids = pia(line.supplier_sku, line.buyer_sku)
        if ids is not None:
            body.append(ids)
        if line.description:
            body += imd(line.description)
        body.append(qty("47", line.quantity, line.unit))
        body.append(moa("203", line.line_amount))
        body.append(pri("AAA", line.net_price, line.price_basis, line.unit if line.price_basis is not None else None))
        if line.order_number:
            body.append(rff("ON", line.order_number, line.order_line_no))
        body.append(tax(line.tax_rate, line.tax_category))
    body.append(seg("UNS", "S"))
    body.append(seg("CNT", ["2", str(len(invoice.lines))]))
    body.append(moa("79", invoice.line_total))
    body.append(moa("125", invoice.taxable_total))
    body.append(moa("124", invoice.tax_total))
    body.append(moa("77", invoice.total))
    for sub in invoice.tax_subtotals:
        body.append(tax(sub.rate, sub.category))
        body.append(moa("125", sub.taxable_amount))
        body.append(moa("124", sub.tax_amount))
    return body
