"""Turnaround: a supplier partner without EDI answers our purchase order in the portal.

Some partners also supply the hub's owner. The hub had no "orders we placed"
yet, so this models the minimum (:class:`hub.portal_models.SupplierOrder`):
our purchase order addressed to the partner, as a canonical
:class:`edi.documents.Order` with us as the buyer, agreed unit prices and VAT
rates on its lines. In the portal the partner sees it under *Received
orders* and turns it, prefilled, into

- a despatch advice: per line at most what was ordered and not yet
  despatched; packages get no SSCC (the partner may give one per despatch);
- an invoice: per line at most what was ordered and not yet invoiced, at the
  agreed price and the line's VAT rate (prefilled from our catalogue: the
  product with the line's buyer article number, our SKU, or its GTIN; the
  supplier gives or corrects it, since the VAT on an invoice is the
  invoicing party's to state); line amounts, VAT per rate and totals are
  computed here and checked with :meth:`edi.documents.Invoice.arithmetic_errors`.

Each is a document of the hub's flow, not only a record: in the same
transaction as its :class:`SupplierDocument` (and an audit entry) it becomes
an inbound message of the partner (:func:`record_message`): direction in,
document type DESADV or INVOIC, syntax ``json`` with the canonical document
(:func:`edi.documents.to_dict`) as its payload, ``receipt["source"]`` =
``portal``, the purchase order number as business reference, and a trace
(stored by the user, applied by the portal, processed). It never passes the
worker: the portal has already applied it, so it is stored as processed and
nothing applies it a second time. The operations console lists it with every
other message and on the purchase order; the partner finds it under
*Messages*.
:func:`create_supplier_order` is how such an order comes in (the demo and the
tests use it; an ERP interface would too).

Everything reads through a :class:`hub.portal.PartnerScope`: another
partner's order is not found.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from edi import documents as docs
from hub.accounts import audit
from hub.errors import HubError
from hub.messages import new_message, transition
from hub.models import Message, Partner, Product, User
from hub.portal import PartnerScope
from hub.portal_models import SupplierDocument, SupplierOrder
from hub.settings import Settings
from hub.states import Event

__all__ = [
    "TurnaroundError",
    "create_supplier_order",
    "received_orders",
    "received_orders_exist",
    "received_order",
    "remaining",
    "create_despatch",
    "create_invoice",
    "catalogue_rates",
    "record_message",
    "PORTAL_SOURCE",
    "supplier_orders",
    "supplier_order",
]

CENT = Decimal("0.01")
#: ``Message.receipt["source"]`` of a document a partner made in the portal.
PORTAL_SOURCE = "portal"
#: SupplierDocument.kind -> (Message.document_type, what the trace calls it)
_MESSAGE_TYPES = {"despatch_advice": ("DESADV", "despatch advice"), "invoice": ("INVOIC", "invoice")}


class TurnaroundError(HubError):
    """The document cannot be made as filled in; the message says why (and where)."""


def create_supplier_order(session: Session, settings: Settings, partner: Partner, *, number: str,
                          lines: list[docs.OrderLine], order_date: dt.date | None = None,
                          requested_delivery: dt.date | None = None) -> SupplierOrder:
    """Record our purchase order to ``partner`` (lines carry the agreed ``net_price``). No commit."""
    if not lines:
        raise TurnaroundError("a purchase order needs lines")
    for line in lines:
        if line.net_price is None or line.quantity <= 0:
            raise TurnaroundError(f"line {line.line_no}: needs a quantity and the agreed price")
    document = docs.Order(
        number=number, issue_date=order_date or dt.date.today(), requested_delivery=requested_delivery,
        currency=partner.currency,
        parties=[docs.Party(role=docs.PartyRole.BUYER, id=settings.hub_id, name=settings.hub_name),
                 docs.Party(role=docs.PartyRole.SUPPLIER, id=_gln(partner), name=partner.name,
                            vat_number=partner.vat_number)],
        lines=lines,
    )
    order = SupplierOrder(partner_id=partner.id, number=number, order_date=document.issue_date,
                          requested_delivery=requested_delivery, currency=partner.currency, status="open",
                          document=docs.to_dict(document))
    session.add(order)
    session.flush()
    return order


def _gln(partner: Partner) -> str | None:
    return next((i.value for i in partner.identifiers if i.scheme == "GLN"), None)


def received_orders(scope: PartnerScope) -> list[SupplierOrder]:
    stmt = scope.owned(select(SupplierOrder), SupplierOrder).order_by(SupplierOrder.order_date.desc(),
                                                                      SupplierOrder.id.desc())
    return list(scope.session.scalars(stmt))


def received_orders_exist(scope: PartnerScope) -> bool:
    stmt = scope.owned(select(SupplierOrder.id), SupplierOrder).limit(1)
    return scope.session.scalar(stmt) is not None


def received_order(scope: PartnerScope, order_id: int) -> SupplierOrder:
    return scope._get(SupplierOrder, order_id, selectinload(SupplierOrder.documents))


def _locked_order(scope: PartnerScope, order_id: int) -> SupplierOrder:
    """:func:`received_order`, its row locked (``FOR UPDATE`` on PostgreSQL) and its documents read again
    after the lock: two documents made at once from one order cannot both take what is left."""
    stmt = scope.owned(select(SupplierOrder).where(SupplierOrder.id == order_id), SupplierOrder).with_for_update()
    if scope.session.scalar(stmt) is None:
        return received_order(scope, order_id)  # not this partner's: NotFound, as for reading
    fresh = select(SupplierOrder).where(SupplierOrder.id == order_id).options(selectinload(SupplierOrder.documents))
    order = scope.session.scalar(fresh.execution_options(populate_existing=True))
    assert order is not None  # locked above
    return order


def _order_document(order: SupplierOrder) -> docs.Order:
    document = docs.from_dict(order.document)
    assert isinstance(document, docs.Order)
    return document


def remaining(order: SupplierOrder, kind: str) -> dict[str, Decimal]:
    """Per line number: ordered minus what earlier documents of ``kind`` already cover."""
    covered: dict[str, Decimal] = defaultdict(Decimal)
    for record in order.documents:
        if record.kind != kind:
            continue
        document = docs.from_dict(record.document)
        lines = document.all_lines() if isinstance(document, docs.DespatchAdvice) else document.lines
        for line in lines:
            covered[line.order_line_no or line.line_no] += line.quantity
    return {line.line_no: line.quantity - covered[line.line_no] for line in _order_document(order).lines}


def _quantities(order: SupplierOrder, given: dict[str, str], kind: str) -> dict[str, Decimal]:
    left = remaining(order, kind)
    result: dict[str, Decimal] = {}
    problems = []
    for line_no, text in given.items():
        if line_no not in left:
            problems.append(f"line {line_no}: not a line of order {order.number}")
            continue
        text = (text or "").strip().replace(",", ".") or "0"
        try:
            quantity = Decimal(text)
        except InvalidOperation:
            problems.append(f"line {line_no}: {text!r} is not a quantity")
            continue
        if not quantity.is_finite() or quantity < 0:
            problems.append(f"line {line_no}: the quantity must not be negative")
        elif quantity > left[line_no]:
            problems.append(f"line {line_no}: {_q(quantity)} is more than the {_q(left[line_no])} ordered and not yet"
                            f" {'despatched' if kind == 'despatch_advice' else 'invoiced'}")
        elif quantity > 0:
            result[line_no] = quantity
    if problems:
        raise TurnaroundError("; ".join(problems))
    if not result:
        raise TurnaroundError("Give a quantity for at least one line.")
    return result


def _q(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _number(scope: PartnerScope, kind: str, number: str) -> str:
    number = (number or "").strip()
    if not number or len(number) > 35:
        raise TurnaroundError("Give your document number (at most 35 characters).")
    taken = scope.session.scalar(scope.owned(select(SupplierDocument.id).where(
        SupplierDocument.kind == kind, SupplierDocument.number == number), SupplierDocument))
    if taken is not None:
        raise TurnaroundError(f"You already used the number {number}.")
    return number


def _parties(order: docs.Order) -> list[docs.Party]:
    return list(order.parties)


def create_despatch(scope: PartnerScope, user: User, order_id: int, *, number: str, quantities: dict[str, str],
                    despatch_date: dt.date | None = None, carrier: str = "", tracking_number: str = "",
                    today: dt.date | None = None) -> SupplierDocument:
    """A despatch advice for what is given (never more than ordered and not yet despatched); commits."""
    order = _locked_order(scope, order_id)
    given = _quantities(order, quantities, "despatch_advice")
    number = _number(scope, "despatch_advice", number)
    source = _order_document(order)
    lines = [docs.DespatchLine(line_no=line.line_no, gtin=line.gtin, supplier_sku=line.supplier_sku,
                               buyer_sku=line.buyer_sku, description=line.description, quantity=given[line.line_no],
                               unit=line.unit, order_number=order.number, order_line_no=line.line_no)
             for line in source.lines if line.line_no in given]
    today = today or dt.date.today()
    document = docs.DespatchAdvice(
        number=number, issue_date=today, despatch_date=despatch_date or today,
        expected_delivery=order.requested_delivery, order_number=order.number,
        carrier=carrier.strip()[:80] or None, tracking_number=tracking_number.strip()[:80] or None,
        parties=_parties(source), packages=[docs.Package(level="1", package_type="PK", lines=lines)],
    )
    record = SupplierDocument(order_id=order.id, partner_id=scope.partner_id, kind="despatch_advice", number=number,
                              document=docs.to_dict(document), created_by_id=user.id)
    scope.session.add(record)
    order.documents.append(record)
    record_message(scope.session, order, record, document, user)
    left = remaining(order, "despatch_advice")
    order.status = "despatched" if all(v <= 0 for v in left.values()) else "partially_despatched"
    audit(scope.session, user.email, "supplier.despatch_advice", target=f"supplier_order:{order.number}",
          partner_id=scope.partner_id, detail=f"{number}: {len(lines)} line(s)")
    scope.session.commit()
    return record


def catalogue_rates(session: Session, order: SupplierOrder) -> dict[str, Decimal | None]:
    """Per line number: the VAT rate of the matching product of our catalogue (by the line's buyer
    article number, which is our SKU, or its GTIN), None where no product matches."""
    lines = _order_document(order).lines
    skus = {line.buyer_sku for line in lines if line.buyer_sku}
    gtins = {g for line in lines if line.gtin for g in (line.gtin, line.gtin.lstrip("0").zfill(13))}
    by_sku: dict[str, Decimal] = {}
    by_gtin: dict[str, Decimal] = {}
    if skus or gtins:
        stmt = select(Product.sku, Product.gtin, Product.tax_rate).where(
            Product.sku.in_(skus) | Product.gtin.in_(gtins))
        for sku, gtin, tax_rate in session.execute(stmt):
            by_sku[sku] = tax_rate
            if gtin:
                by_gtin[gtin] = tax_rate
    result: dict[str, Decimal | None] = {}
    for line in lines:
        found = by_sku.get(line.buyer_sku or "")
        for key in ((line.gtin, line.gtin.lstrip("0").zfill(13)) if line.gtin else ()):
            if found is None:  # a 0 % rate is a rate: compared with None, not by truth
                found = by_gtin.get(key)
        result[line.line_no] = found
    return result


def _rates(session: Session, order: SupplierOrder, lines: set[str], given: dict[str, str]) -> dict[str, Decimal]:
    """The VAT rate of each invoiced line: as the supplier typed it, else our catalogue's."""
    known = catalogue_rates(session, order)
    rates: dict[str, Decimal] = {}
    problems = []
    for line_no in sorted(lines, key=lambda n: (len(n), n)):
        text = (given.get(line_no) or "").strip().replace(",", ".").rstrip("%").strip()
        if not text:
            if known.get(line_no) is None:
                problems.append(f"line {line_no}: give the VAT rate (percent; 0 for zero-rated)")
            else:
                rates[line_no] = Decimal(known[line_no])  # type: ignore[arg-type]
            continue
        try:
            rate = Decimal(text)
        except InvalidOperation:
            problems.append(f"line {line_no}: the VAT rate {text!r} is not a number")
            continue
        if not rate.is_finite() or not 0 <= rate <= 100 or -rate.as_tuple().exponent > 2:  # type: ignore[operator]
            problems.append(f"line {line_no}: the VAT rate {text} must be a percentage from 0 to 100"
                            " with at most 2 decimals")
            continue
        rates[line_no] = rate
    if problems:
        raise TurnaroundError("; ".join(problems))
    return rates


def create_invoice(scope: PartnerScope, user: User, order_id: int, *, number: str, quantities: dict[str, str],
                   payment_days: int = 30, tax_rates: dict[str, str] | None = None,
                   today: dt.date | None = None) -> SupplierDocument:
    """An invoice at the agreed prices for what is given (never more than ordered and not yet
    invoiced), each line at its VAT rate (``tax_rates`` by line number as typed; where empty, our
    catalogue's rate for the product, see :func:`catalogue_rates`); amounts, VAT breakdown and
    totals computed; commits."""
    order = _locked_order(scope, order_id)
    given = _quantities(order, quantities, "invoice")
    number = _number(scope, "invoice", number)
    if not 0 <= payment_days <= 365:
        raise TurnaroundError("Payment terms: between 0 and 365 days.")
    rates = _rates(scope.session, order, set(given), tax_rates or {})
    source = _order_document(order)
    lines = []
    for line in source.lines:
        if line.line_no not in given:
            continue
        price = line.net_price or Decimal(0)
        basis = line.price_basis or Decimal(1)
        rate = rates[line.line_no]
        lines.append(docs.InvoiceLine(
            line_no=line.line_no, gtin=line.gtin, supplier_sku=line.supplier_sku, buyer_sku=line.buyer_sku,
            description=line.description, quantity=given[line.line_no], unit=line.unit, net_price=price,
            price_basis=line.price_basis, line_amount=(given[line.line_no] * price / basis).quantize(CENT),
            # UNCL 5305: S standard rate, Z zero-rated goods
            tax_category="S" if rate > 0 else "Z", tax_rate=rate, order_number=order.number,
            order_line_no=line.line_no))
    groups: dict[tuple[str, Decimal], Decimal] = defaultdict(Decimal)
    for line in lines:
        groups[(line.tax_category, line.tax_rate or Decimal(0))] += line.line_amount
    subtotals = [docs.TaxSubtotal(category=c, rate=r, taxable_amount=base, tax_amount=(base * r / 100).quantize(CENT))
                 for (c, r), base in sorted(groups.items())]
    line_total = sum((line.line_amount for line in lines), Decimal(0))
    tax_total = sum((s.tax_amount for s in subtotals), Decimal(0))
    today = today or dt.date.today()
    parties = _parties(source)
    document = docs.Invoice(
        number=number, issue_date=today, order_number=order.number, currency=order.currency, parties=parties,
        payment_terms=docs.PaymentTerms(due_date=today + dt.timedelta(days=payment_days), days=payment_days,
                                        description=f"{payment_days} days net"),
        lines=lines, tax_subtotals=subtotals, line_total=line_total, taxable_total=line_total,
        tax_total=tax_total, total=line_total + tax_total,
    )
    problems = document.arithmetic_errors()
    if problems:  # our own arithmetic: a bug
        raise TurnaroundError("the invoice does not add up: " + "; ".join(problems))
    record = SupplierDocument(order_id=order.id, partner_id=scope.partner_id, kind="invoice", number=number,
                              document=docs.to_dict(document), total=document.total, created_by_id=user.id)
    scope.session.add(record)
    order.documents.append(record)
    record_message(scope.session, order, record, document, user)
    if all(v <= 0 for v in remaining(order, "invoice").values()):
        order.status = "invoiced"
    audit(scope.session, user.email, "supplier.invoice", target=f"supplier_order:{order.number}",
          partner_id=scope.partner_id, detail=f"{number}: {document.total} {order.currency}")
    scope.session.commit()
    return record


def record_message(session: Session, order: SupplierOrder, record: SupplierDocument,
                   document: docs.DespatchAdvice | docs.Invoice, user: User) -> Message:
    """Record ``record`` as the partner's inbound DESADV/INVOIC message, already processed. No commit.

    The payload is the canonical document as JSON; the trace says who made it
    in the portal and what it was recorded against. ``record.message`` links the two.
    """
    document_type, what = _MESSAGE_TYPES[record.kind]
    partner = session.get(Partner, order.partner_id)
    if partner is None:  # the order's foreign key makes this impossible
        raise TurnaroundError(f"purchase order {order.number} has no partner")
    data = json.dumps(docs.to_dict(document), indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
    message = new_message(
        session, direction="in", data=data, actor=user.email, partner=partner,
        filename=f"portal-{document_type}-{record.number}.json",
        detail=f"{what} {record.number} made in the portal by {user.email} ({len(data)} bytes)",
        document_type=document_type, syntax="json", business_ref=order.number,
        sender_id=_gln(partner) or partner.code, recipient_id=_our_id(order),
    )
    message.receipt = {"source": PORTAL_SOURCE}
    transition(session, message, Event.CLAIM, actor="portal", detail="applied at once by the portal, not queued")
    lines = document.all_lines() if isinstance(document, docs.DespatchAdvice) else document.lines
    amount = f", {document.total} {document.currency} with VAT" if isinstance(document, docs.Invoice) else ""
    transition(session, message, Event.DONE, actor="portal",
               detail=f"{what} {record.number} recorded for purchase order {order.number}: {len(lines)} line(s){amount}")
    record.message = message
    session.flush()
    return message


def _our_id(order: SupplierOrder) -> str | None:
    """The buyer's identifier on our purchase order: the hub's own (settings.hub_id when it was placed)."""
    buyer = _order_document(order).party(docs.PartyRole.BUYER)
    return buyer.id if buyer is not None else None


def supplier_orders(session: Session, *, partner_id: int | None = None, limit: int = 200) -> list[SupplierOrder]:
    """Our purchase orders, newest first, for the operations console (all partners unless one is named)."""
    stmt = select(SupplierOrder).options(selectinload(SupplierOrder.documents)).order_by(
        SupplierOrder.order_date.desc(), SupplierOrder.id.desc()).limit(limit)
    if partner_id is not None:
        stmt = stmt.where(SupplierOrder.partner_id == partner_id)
    return list(session.scalars(stmt))


def supplier_order(session: Session, order_id: int) -> SupplierOrder | None:
    """One purchase order with its documents and their messages, for the operations console."""
    return session.scalar(select(SupplierOrder).where(SupplierOrder.id == order_id).options(
        selectinload(SupplierOrder.documents).selectinload(SupplierDocument.message)))
