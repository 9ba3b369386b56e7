"""INVOIC (invoice, credit note) <-> :class:`~edi.documents.Invoice`.

Layout rendered (D96A INVOIC; EANCOM 1997 EAN008, EANCOM 2002 EAN010):
UNH, BGM+380|381|384+number+9, DTM+137, DTM+35, FTX+AAI, FTX+AAB, SG1 RFF+ON, RFF+DQ,
SG2 NAD (SG3 RFF+VA, SG5 CTA), SG7 CUX+2:EUR:4, SG8 PAT+1++5:3:D:days
(C112 2475 5 = date of invoice, 2009 3 = after reference, 2151 D = day,
2152 number), DTM+13, PCD+12; the terms' text goes in a header FTX+AAB
(4451 terms of payments: PAT's C110 would need a coded 4277 and holds
only 35 characters); SG25 LIN, PIA, IMD, QTY+47, SG26 MOA+203,
SG28 PRI+AAA:price:::basis:unit, SG29 RFF+ON:order:line, SG33
TAX+7+VAT+++:::rate+category, SG38 ALC (line allowances and charges);
UNS+S, CNT+2, SG48 MOA+79/260/259/125/124/77/113/165/9,
SG50 TAX+7+VAT+++:::rate+category with MOA+125 and MOA+124; UNT.

Allowances and charges (EN 16931 BG-20/BG-21 on the invoice, BG-27/BG-28 on
a line) are ALC groups: SG15 in the heading (SG16 in D01B), SG38 in a line
(SG39 in D01B), each ALC+A (allowance) or ALC+C (charge) with the reason
code in C552 5189 for an allowance or in C214 7161 for a charge and the
reason text in C214 7160 (two of an..35), then PCD+1 / PCD+2 (percentage of
the base), MOA+204 (allowance amount) or MOA+23 (charge amount), MOA+25 (the
base amount) and, in the heading only, TAX+7+VAT+++:::rate+category.
Read back, MOA+8 (allowance or charge amount) is taken as well, and an
allowance's code from C214 7161 when C552 has none (as EANCOM writes it).
Summary amounts (UNCL 5025, D96A): 79 total line items amount, 260 total
allowances, 259 total charges (only when there are document allowances or
charges), 125 taxable amount, 124 tax amount, 77 invoice amount (with tax),
113 prepaid amount ("amount paid in advance"), 165 adjustment amount ("amount
of adjustment": the rounding, EN 16931 BT-114), 9 amount due/amount payable
(written when there is a prepaid or a rounding amount). Reading checks them
as EN 16931 adds up: 260 and 259 are the sums of the heading ALC amounts
(BR-CO-11, BR-CO-12) and 9 = 77 - 113 + 165 (BR-CO-16); a total that does
not add up is an error at its MOA.

Reading is tolerant where the corpus shows real senders differ, always with a
warning: DTM+3 as the invoice date, MOA+66 as the line amount, QTY+12 or
QTY+1 as the invoiced quantity, a currency named in an MOA when there is no
CUX, and totals computed from the lines when the summary omits them.
"""

from __future__ import annotations

from decimal import Decimal

from edi.documents import AllowanceCharge, Invoice, InvoiceLine, PaymentTerms, TaxSubtotal
from edi.edifact.common import (
    Collected,
    LineData,
    MessageReader,
    collect,
    component,
    components,
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
    parse_decimal,
    pia,
    pri,
    qty,
    rff,
    seg,
    split_text,
    tax,
)
from edi.envelope import Segment
from edi.errors import MappingError, SyntaxCode

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
    heading, by_line = _allowances_charges(r)
    lines = [_line(r, n, line, by_line.get(line.index, [])) for n, line in enumerate(c.lines, 1)]
    sound = [line for line in lines if line is not None]
    subtotals = _subtotals(r, c)
    totals = _totals(r, c, sound, subtotals, heading)
    prepaid, rounding = _payable_checks(r, heading, totals[3])
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
        allowances_charges=heading,
        prepaid_amount=prepaid,
        rounding_amount=rounding,
    )


def _line(r: MessageReader, position: int, line: LineData, adjustments: list[AllowanceCharge]) -> InvoiceLine | None:
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
        allowances_charges=adjustments,
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
    r: MessageReader,
    c: Collected,
    lines: list[InvoiceLine],
    subtotals: list[TaxSubtotal],
    adjustments: list[AllowanceCharge],
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
    adjusted = line_total + sum((a.amount if a.charge else -a.amount for a in adjustments), Decimal(0))
    taxable_total = take(("125",), sum((s.taxable_amount for s in subtotals), Decimal(0)) if subtotals else adjusted, "taxable amount")
    tax_total = take(("124", "176", "150"), sum((s.tax_amount for s in subtotals), Decimal(0)), "tax amount")
    total = take(("77", "86", "128", "39"), taxable_total + tax_total, "invoice total")
    return line_total, taxable_total, tax_total, total


#: Segments of an ALC group (SG15/SG38 in D96A, SG16/SG39 in D01B) after its ALC.
_ALC_MEMBERS = frozenset({"ALI", "FTX", "RFF", "DTM", "QTY", "RNG", "PCD", "MOA", "RTE", "TAX", "CUX"})
#: 5463 allowance or charge code qualifier: A allowance, C charge; N no allowance or charge.
_ALLOWANCE, _CHARGE, _NEITHER = "A", "C", "N"


def _allowances_charges(r: MessageReader) -> tuple[list[AllowanceCharge], dict[int, list[AllowanceCharge]]]:
    """The heading ALC groups, and the line ALC groups by the segment index of their LIN."""
    heading: list[AllowanceCharge] = []
    by_line: dict[int, list[AllowanceCharge]] = {}
    segments = r.message.segments
    line: int | None = None
    i = 0
    while i < len(segments):
        tag = segments[i].tag
        if tag == "UNS":
            break  # SG51 (summary ALC) only repeats totals per kind: not mapped
        if tag == "LIN":
            line = i
        elif tag == "ALC":
            end = i + 1
            while end < len(segments) and segments[end].tag in _ALC_MEMBERS:
                end += 1
            item = _allowance_charge(r, i, end, document_level=line is None)
            if item is not None:
                (heading if line is None else by_line.setdefault(line, [])).append(item)
            i = end
            continue
        i += 1
    return heading, by_line


def _allowance_charge(r: MessageReader, start: int, end: int, *, document_level: bool) -> AllowanceCharge | None:
    """One ALC group (segments ``start`` .. ``end`` - 1) as an AllowanceCharge; None when it has none or is unsound."""
    segments = r.message.segments
    alc = segments[start]
    indicator = component(alc, 1)
    if indicator == _NEITHER:
        return None
    if indicator not in (_ALLOWANCE, _CHARGE):
        r.issue(
            start,
            f"allowance or charge qualifier {indicator!r} is not A (allowance) or C (charge)",
            code=SyntaxCode.MISSING if indicator is None else SyntaxCode.INVALID_VALUE,
            element=1,
        )
        return None
    charge = indicator == _CHARGE
    what = "charge" if charge else "allowance"
    amounts: dict[str, tuple[Decimal, int]] = {}
    percent: Decimal | None = None
    tax_rate: Decimal | None = None
    tax_category: str | None = None
    for k in range(start + 1, end):
        s = segments[k]
        if s.tag == "MOA":
            qual, raw = components(s, 1, 2)
            amount = r.number(k, raw, 1, 2, what=f"{what} amount")
            if amount is not None:
                amounts.setdefault(qual or "", (amount, k))
        elif s.tag == "PCD" and percent is None:
            percent = r.decimal(k, s, 1, 2, what=f"{what} percentage")
        elif s.tag == "TAX" and tax_category is None and tax_rate is None:
            rate, category = r.tax_details(k, s)
            if document_level:
                tax_rate, tax_category = rate, category
            else:
                r.warn(k, f"line {what} with its own VAT category: the line's VAT applies (EN 16931 BG-27/BG-28)")
    own, other = ("23", "204") if charge else ("204", "23")
    if own in amounts:
        amount = amounts[own][0]
    elif "8" in amounts:
        amount = amounts["8"][0]
    elif other in amounts:
        amount, index = amounts[other]
        r.warn(index, f"{what} amount taken from MOA+{other} (MOA+{own} or MOA+8 expected for ALC+{indicator})", element=1, component=1)
    else:
        r.issue(start, f"{what} without an amount (MOA+{own} or MOA+8)", code=SyntaxCode.MISSING)
        return None
    reason_parts = [part for part in components(alc, 5, 5)[3:] if part]
    return AllowanceCharge(
        charge=charge,
        amount=amount,
        reason="".join(reason_parts) or None,
        # a charge's code is UNCL 7161 (C214), an allowance's UNCL 5189 (C552); EANCOM puts both in C214
        reason_code=(component(alc, 5, 1) or component(alc, 2, 2)) if charge
        else (component(alc, 2, 2) or component(alc, 5, 1)),
        base_amount=amounts["25"][0] if "25" in amounts else None,
        percent=percent,
        tax_category=tax_category,
        tax_rate=tax_rate,
    )


def _summary_amounts(r: MessageReader) -> dict[str, tuple[Decimal, int]]:
    """The first MOA of each qualifier after UNS, outside the VAT breakdown, with its index."""
    found: dict[str, tuple[Decimal, int]] = {}
    summary = in_group = False
    for i, s in enumerate(r.message.segments):
        if s.tag == "UNS":
            summary = True
        elif summary and s.tag in ("TAX", "ALC"):
            in_group = True
        elif summary and s.tag == "MOA" and not in_group:
            qual, raw = components(s, 1, 2)
            if qual and raw is not None and qual not in found:
                try:
                    found[qual] = (parse_decimal(raw, r.decimal_mark), i)
                except ValueError:
                    continue  # collect() has reported it
    return found


def _payable_checks(
    r: MessageReader, adjustments: list[AllowanceCharge], total: Decimal
) -> tuple[Decimal | None, Decimal | None]:
    """(prepaid, rounding) from MOA+113 and MOA+165; errors for summary totals that do not add up."""
    amounts = _summary_amounts(r)
    for qual, charge, name, rule in (("260", False, "total allowances", "BR-CO-11"), ("259", True, "total charges", "BR-CO-12")):
        if qual in amounts:
            stated, index = amounts[qual]
            expected = sum((a.amount for a in adjustments if a.charge is charge), Decimal(0))
            if stated.quantize(_CENT) != expected.quantize(_CENT):
                r.issue(
                    index,
                    f"{name} {stated} (MOA+{qual}) is not the sum of the heading ALC+{'C' if charge else 'A'} amounts"
                    f" {expected} (EN 16931 {rule})",
                    element=1,
                    component=2,
                )
    prepaid = amounts["113"][0] if "113" in amounts else None
    rounding = amounts["165"][0] if "165" in amounts else None
    if "9" in amounts:
        stated, index = amounts["9"]
        expected = total - (prepaid or Decimal(0)) + (rounding or Decimal(0))
        if stated.quantize(_CENT) != expected.quantize(_CENT):
            r.issue(
                index,
                f"amount payable {stated} (MOA+9) is not invoice amount {total} - prepaid {prepaid or 0}"
                f" + rounding {rounding or 0} = {expected} (EN 16931 BR-CO-16)",
                element=1,
                component=2,
            )
    return prepaid, rounding


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
    for n, item in enumerate(invoice.allowances_charges):
        body += _alc_group(item, f"allowances_charges[{n}]", document_level=True)
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
        for n, item in enumerate(line.allowances_charges):
            body += _alc_group(item, f"line {line.line_no}: allowances_charges[{n}]", document_level=False)
    body.append(seg("UNS", "S"))
    body.append(seg("CNT", ["2", str(len(invoice.lines))]))
    body.append(moa("79", invoice.line_total))
    if any(not a.charge for a in invoice.allowances_charges):
        body.append(moa("260", invoice.allowance_total))
    if any(a.charge for a in invoice.allowances_charges):
        body.append(moa("259", invoice.charge_total))
    body.append(moa("125", invoice.taxable_total))
    body.append(moa("124", invoice.tax_total))
    body.append(moa("77", invoice.total))
    if invoice.prepaid_amount is not None:
        body.append(moa("113", invoice.prepaid_amount))
    if invoice.rounding_amount is not None:
        body.append(moa("165", invoice.rounding_amount))
    if invoice.prepaid_amount is not None or invoice.rounding_amount is not None:
        body.append(moa("9", invoice.payable_amount))
    for sub in invoice.tax_subtotals:
        body.append(tax(sub.rate, sub.category))
        body.append(moa("125", sub.taxable_amount))
        body.append(moa("124", sub.tax_amount))
    return body


def _alc_group(item: AllowanceCharge, where: str, *, document_level: bool) -> list[Segment]:
    """ALC, PCD, MOA+204/23, MOA+25 and (heading only) TAX for one allowance or charge.

    MappingError naming ``where`` for what the group cannot hold: a reason
    code over an..3 (5189, 7161) or a reason over two 7160 of an..35.
    """
    if item.reason_code is not None and len(item.reason_code) > 3:
        raise MappingError(f"{where}.reason_code {item.reason_code!r}: ALC holds a code of at most 3 characters (an..3)")
    if item.reason is not None and len(item.reason) > 70:
        raise MappingError(f"{where}.reason: {len(item.reason)} characters, ALC holds 70 (two 7160 of an..35)")
    reason = split_text(item.reason, 35, 2) if item.reason else []
    if item.charge:
        c552 = None
        c214 = [item.reason_code, None, None, *reason] if item.reason_code or reason else None
    else:
        c552 = [None, item.reason_code] if item.reason_code else None
        c214 = [None, None, None, *reason] if reason else None
    out = [seg("ALC", _CHARGE if item.charge else _ALLOWANCE, c552, None, None, c214)]
    if item.percent is not None:
        out.append(seg("PCD", ["2" if item.charge else "1", format_decimal(item.percent)]))  # 5245: 1 allowance, 2 charge
    out.append(moa("23" if item.charge else "204", item.amount))
    if item.base_amount is not None:
        out.append(moa("25", item.base_amount))
    if document_level and (item.tax_category is not None or item.tax_rate is not None):
        out.append(tax(item.tax_rate, item.tax_category))
    return out
