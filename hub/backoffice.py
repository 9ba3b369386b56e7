"""The supplier's back office: confirm, ship and invoice orders.

The ERP reaches these through the REST interface (``/api/v1/backoffice``)
or a folder drop of JSON; operations staff through the console. Each
function is a unit of work: it checks the order's state, records the
document, queues it to the partner's systems (when the partner has a
sending channel) and commits. A refused action raises
:class:`BackofficeError` with a sentence and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from edi import documents as docs
from hub import notifications
from hub.errors import HubError
from hub.models import DespatchAdvice, Invoice, Order, Partner, Sequence
from hub.orders import respond
from hub.outbound import queue_document
from hub.settings import Settings

__all__ = [
    "BackofficeError",
    "find_order",
    "confirm_order",
    "ship_order",
    "invoice_order",
    "next_number",
    "sscc",
    "perform",
    "order_summary",
    "process_drop_folder",
]

CENT = Decimal("0.01")


class BackofficeError(HubError):
    """The action cannot be done on this order as it stands; the message says why."""


def next_number(session: Session, name: str) -> int:
    """The next value of a hub-wide gapless sequence; the row stays locked until commit."""
    value = session.execute(
        update(Sequence).where(Sequence.name == name).values(value=Sequence.value + 1).returning(Sequence.value)
    ).scalar()
    if value is None:
        session.add(Sequence(name=name, value=1))
        session.flush()
        value = 1
    return int(value)


def _qty(value: Decimal) -> str:
    """A quantity as people write it: 20, not 20.0000."""
    return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f").rstrip("0")


def _check_digit(digits: str) -> str:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def sscc(company_prefix: str, serial: int, extension: int = 0) -> str:
    """An SSCC-18: extension digit, GS1 company prefix, serial reference, check digit."""
    body = f"{extension}{company_prefix}"
    serial_width = 17 - len(body)
    if serial >= 10**serial_width:
        raise BackofficeError(f"SSCC serial {serial} does not fit {serial_width} digits")
    body += str(serial).zfill(serial_width)
    return body + _check_digit(body)


def find_order(session: Session, partner_code: str, number: str) -> Order:
    order = session.scalar(
        select(Order).join(Partner).where(Partner.code == partner_code, Order.number == number)
    )
    if order is None:
        raise BackofficeError(f"partner {partner_code} has no order {number}")
    return order


def _order(session: Session, order_id: int) -> Order:
    order = session.get(Order, order_id)
    if order is None:
        raise BackofficeError(f"no order {order_id}")
    return order


#: bounds of what one back-office action may ask for: quantities as EDIFACT's n..15 carries them,
#: SSCCs a despatch may number, and payment terms (ten years)
MAX_QUANTITY_DIGITS = 12
MAX_PACKAGES = 999
MAX_PAYMENT_DAYS = 3650


def _quantities(order: Order, lines: dict[str, Decimal] | None, *, what: str) -> dict[str, Decimal]:
    by_no = {line.line_no: line for line in order.lines}
    if lines is None:
        return {}
    unknown = sorted(set(lines) - set(by_no))
    if unknown:
        raise BackofficeError(f"order {order.number} has no line {unknown[0]}")
    for line_no, quantity in lines.items():
        if not quantity.is_finite():
            raise BackofficeError(f"line {line_no}: {quantity} is not a {what} quantity")
        if quantity < 0:
            raise BackofficeError(f"line {line_no}: the {what} quantity must not be negative")
        if quantity.adjusted() >= MAX_QUANTITY_DIGITS:
            raise BackofficeError(f"line {line_no}: the {what} quantity {quantity} is too large")
    return lines


def confirm_order(
    session: Session,
    settings: Settings,
    order_id: int,
    *,
    actor: str,
    lines: dict[str, Decimal] | None = None,
    delivery_date: dt.date | None = None,
) -> Order:
    """Confirm (or change) an order: per-line confirmed quantities, a delivery date; sends an ORDRSP."""
    order = _order(session, order_id)
    if order.status not in ("received", "confirmed", "changed"):  # pending_approval: the partner's admin first
        raise BackofficeError(f"order {order.number} is {order.status} and can no longer be confirmed")
    quantities = _quantities(order, lines, what="confirmed")
    for line in order.lines:
        if line.line_no in quantities:
            line.confirmed_quantity = quantities[line.line_no]
            if line.confirmed_quantity == 0:
                line.status = "rejected"
            elif line.confirmed_quantity != line.quantity:
                line.status = "changed"
            else:
                line.status = "accepted"
    if delivery_date is not None:
        order.requested_delivery = delivery_date
    respond(session, settings, order.partner, order, actor=actor)
    session.commit()
    return order


def _shipped(order: Order) -> dict[str, Decimal]:
    shipped: dict[str, Decimal] = defaultdict(Decimal)
    for despatch in order.despatches:
        document = docs.from_dict(despatch.document)
        for line in document.all_lines():
            shipped[line.line_no] += line.quantity
    return shipped


def ship_order(
    session: Session,
    settings: Settings,
    order_id: int,
    *,
    actor: str,
    lines: dict[str, Decimal] | None = None,
    carrier: str | None = None,
    tracking_number: str | None = None,
    despatch_date: dt.date | None = None,
    expected_delivery: dt.date | None = None,
    packages: int = 1,
) -> DespatchAdvice:
    """Record a despatch of the given quantities (default: all that is confirmed and not yet shipped)
    on ``packages`` pallets with SSCCs, and send the DESADV."""
    order = _order(session, order_id)
    if order.status not in ("confirmed", "changed", "partially_shipped"):
        raise BackofficeError(f"order {order.number} is {order.status}; only confirmed orders can be shipped")
    if packages < 1:
        raise BackofficeError("a despatch needs at least one package")
    if packages > MAX_PACKAGES:
        raise BackofficeError(f"a despatch has at most {MAX_PACKAGES} packages (each gets its own SSCC)")
    requested = _quantities(order, lines, what="shipped")
    shipped = _shipped(order)
    despatch_lines = []
    for line in order.lines:
        confirmed = line.confirmed_quantity if line.confirmed_quantity is not None else line.quantity
        remaining = confirmed - shipped.get(line.line_no, Decimal(0))
        quantity = requested.get(line.line_no, remaining) if lines is not None else remaining
        if lines is not None and line.line_no not in requested:
            quantity = Decimal(0)
        if quantity > remaining:
            raise BackofficeError(
                f"line {line.line_no}: {_qty(quantity)} is more than the {_qty(remaining)} confirmed and not yet shipped"
            )
        if quantity > 0:
            despatch_lines.append(
                docs.DespatchLine(line_no=line.line_no, gtin=line.gtin, supplier_sku=line.sku,
                                  description=line.description, quantity=quantity, unit=line.unit,
                                  order_number=order.number, order_line_no=line.line_no)
            )
    if not despatch_lines:
        raise BackofficeError(f"order {order.number} has nothing left to ship")

    sequence = len(order.despatches) + 1
    number = f"DN-{order.number}-{sequence}"[:35]
    prefix = settings.hub_id[:7]
    package_list = [docs.Package(level="1", package_type=None)]
    for index in range(packages):
        package_list.append(
            docs.Package(level=str(index + 2), parent="1", package_type="201",
                         sscc=sscc(prefix, next_number(session, "sscc")), lines=[])
        )
    for index, line in enumerate(despatch_lines):  # lines spread over the pallets in turn
        package_list[1 + index % packages].lines.append(line)
    today = dt.date.today()
    document = docs.DespatchAdvice(
        number=number,
        issue_date=today,
        despatch_date=despatch_date or today,
        expected_delivery=expected_delivery,
        order_number=order.number,
        carrier=carrier,
        tracking_number=tracking_number,
        parties=_parties(settings, order),
        packages=package_list,
    )
    despatch = DespatchAdvice(
        order_id=order.id, partner_id=order.partner_id, number=number,
        despatch_date=document.despatch_date, expected_delivery=expected_delivery,
        carrier=carrier, tracking_number=tracking_number, document=docs.to_dict(document),
    )
    session.add(despatch)
    order.despatches.append(despatch)
    session.flush()
    outbound = queue_document(session, settings, order.partner, document, actor=actor, order=order,
                              business_ref=order.number)
    if outbound is not None:
        session.flush()
        despatch.message_id = outbound.id
    notifications.despatch(session, settings, order, despatch)
    after = _shipped(order)
    complete = all(
        after.get(line.line_no, Decimal(0)) >= (line.confirmed_quantity if line.confirmed_quantity is not None else line.quantity)
        for line in order.lines
    )
    order.status = "shipped" if complete else "partially_shipped"
    session.commit()
    return despatch


def _parties(settings: Settings, order: Order) -> list[docs.Party]:
    """Supplier (us, from the ``[hub]`` settings), buyer and delivery point of an outbound document.

    The buyer and delivery point keep what the order said about them (identifier,
    name, address); the buyer's country and VAT identifier fall back to the
    partner's profile, so an invoice always has the postal address EN 16931
    asks for (BR-08 .. BR-11).
    """
    parties = [docs.Party(role=docs.PartyRole.SUPPLIER, id=settings.hub_id, name=settings.hub_name,
                          street=settings.hub_street or None, city=settings.hub_city or None,
                          postcode=settings.hub_postcode or None, country=settings.hub_country or None,
                          vat_number=settings.hub_vat_number or None)]
    for party in (order.document or {}).get("parties", []):
        if party.get("role") in (docs.PartyRole.BUYER, docs.PartyRole.DELIVERY):
            parties.append(docs.Party(role=party["role"], id=party.get("id"), id_agency=party.get("id_agency"),
                                      name=party.get("name"), street=party.get("street"), city=party.get("city"),
                                      postcode=party.get("postcode"), country=party.get("country"),
                                      vat_number=party.get("vat_number")))
    if not any(p.role == docs.PartyRole.BUYER for p in parties):
        gln = next((i.value for i in order.partner.identifiers if i.scheme == "GLN"), None)
        parties.append(docs.Party(role=docs.PartyRole.BUYER, id=gln, name=order.partner.name))
    buyer = next(p for p in parties if p.role == docs.PartyRole.BUYER)
    buyer.name = buyer.name or order.partner.name
    buyer.country = buyer.country or order.partner.country
    buyer.vat_number = buyer.vat_number or order.partner.vat_number
    return parties


def invoice_order(
    session: Session,
    settings: Settings,
    order_id: int,
    *,
    actor: str,
    payment_days: int = 30,
    issue_date: dt.date | None = None,
) -> Invoice:
    """Invoice what was shipped and not yet invoiced, with VAT per rate; sends the INVOIC."""
    if not 0 <= payment_days <= MAX_PAYMENT_DAYS:
        raise BackofficeError(f"payment_days must be from 0 to {MAX_PAYMENT_DAYS}, not {payment_days}")
    order = _order(session, order_id)
    if order.status not in ("shipped", "partially_shipped", "invoiced"):
        raise BackofficeError(f"order {order.number} is {order.status}; ship it before invoicing")
    shipped = _shipped(order)
    invoiced: dict[str, Decimal] = defaultdict(Decimal)
    for invoice in order.invoices:
        for line in docs.from_dict(invoice.document).lines:
            invoiced[line.line_no] += line.quantity
    lines = []
    for line in order.lines:
        quantity = shipped.get(line.line_no, Decimal(0)) - invoiced.get(line.line_no, Decimal(0))
        if quantity <= 0:
            continue
        price = line.unit_price or Decimal(0)
        rate = line.product.tax_rate if line.product is not None else Decimal("19")
        lines.append(
            docs.InvoiceLine(line_no=line.line_no, gtin=line.gtin, supplier_sku=line.sku,
                             description=line.description or (line.product.name if line.product is not None else None),
                             quantity=quantity, unit=line.unit, net_price=price, line_amount=(quantity * price).quantize(CENT),
                             tax_category="S" if rate else "Z", tax_rate=rate,
                             order_number=order.number, order_line_no=line.line_no)
        )
    if not lines:
        raise BackofficeError(f"order {order.number}: everything shipped is already invoiced")

    groups: dict[tuple[str, Decimal], Decimal] = defaultdict(Decimal)
    for line in lines:
        groups[(line.tax_category, line.tax_rate or Decimal(0))] += line.line_amount
    subtotals = [
        docs.TaxSubtotal(category=category, rate=rate, taxable_amount=base,
                         tax_amount=(base * rate / 100).quantize(CENT))
        for (category, rate), base in sorted(groups.items())
    ]
    line_total = sum((line.line_amount for line in lines), Decimal(0))
    tax_total = sum((s.tax_amount for s in subtotals), Decimal(0))
    issue = issue_date or dt.date.today()
    number = f"INV-{issue.year}-{next_number(session, f'invoice-{issue.year}'):06d}"
    latest = order.despatches[-1] if order.despatches else None
    parties = _parties(settings, order)
    document = docs.Invoice(
        number=number,
        issue_date=issue,
        delivery_date=latest.despatch_date if latest else None,
        order_number=order.number,
        despatch_number=latest.number if latest else None,
        currency=order.currency,
        parties=parties,
        payment_terms=docs.PaymentTerms(due_date=issue + dt.timedelta(days=payment_days), days=payment_days,
                                        description=f"{payment_days} days net"),
        lines=lines,
        tax_subtotals=subtotals,
        line_total=line_total,
        taxable_total=line_total,
        tax_total=tax_total,
        total=line_total + tax_total,
    )
    problems = document.arithmetic_errors()
    if problems:  # our own arithmetic: a bug, never sent
        raise BackofficeError("invoice does not add up: " + "; ".join(problems))
    invoice = Invoice(order_id=order.id, partner_id=order.partner_id, number=number, document_code="380",
                      issue_date=issue, due_date=document.payment_terms.due_date, currency=order.currency,
                      total=document.total, tax_total=tax_total, document=docs.to_dict(document))
    session.add(invoice)
    order.invoices.append(invoice)
    session.flush()
    outbound = queue_document(session, settings, order.partner, document, actor=actor, order=order,
                              business_ref=order.number)
    if outbound is not None:
        session.flush()
        invoice.message_id = outbound.id
    notifications.invoice(session, settings, order, invoice)
    if order.status == "shipped":
        order.status = "invoiced"
    session.commit()
    return invoice


# -- requests from the ERP, as JSON (REST body or dropped file) ---------------------------

ACTIONS = ("confirm", "ship", "invoice")


def _decimal_lines(value, where: str) -> dict[str, Decimal] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BackofficeError(f"{where}: lines must be an object of line number to quantity")
    result = {}
    for line_no, quantity in value.items():
        if isinstance(quantity, float) or isinstance(quantity, bool):
            raise BackofficeError(f"{where}: lines.{line_no}: give quantities as strings or integers")
        try:
            result[str(line_no)] = Decimal(str(quantity))
        except ArithmeticError:
            raise BackofficeError(f"{where}: lines.{line_no}: {quantity!r} is not a quantity") from None
    return result


def _date(value, where: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise BackofficeError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def perform(session: Session, settings: Settings, action: str, order: Order, body: dict, *, actor: str,
            where: str = "request"):
    """Run one back-office action described by a JSON object; returns the record it made."""
    allowed = {
        "confirm": {"lines", "delivery_date"},
        "ship": {"lines", "carrier", "tracking_number", "despatch_date", "expected_delivery", "packages"},
        "invoice": {"payment_days", "issue_date"},
    }
    if action not in allowed:
        raise BackofficeError(f"{where}: unknown action {action!r}; use {', '.join(ACTIONS)}")
    unknown = sorted(set(body) - allowed[action] - {"action", "partner", "order"})
    if unknown:
        raise BackofficeError(f"{where}: unknown field {unknown[0]!r} for {action}")
    if action == "confirm":
        return confirm_order(session, settings, order.id, actor=actor,
                             lines=_decimal_lines(body.get("lines"), where),
                             delivery_date=_date(body.get("delivery_date"), f"{where}: delivery_date"))
    if action == "ship":
        packages = body.get("packages", 1)
        if not isinstance(packages, int) or isinstance(packages, bool):
            raise BackofficeError(f"{where}: packages must be a whole number")
        return ship_order(session, settings, order.id, actor=actor,
                          lines=_decimal_lines(body.get("lines"), where),
                          carrier=body.get("carrier"), tracking_number=body.get("tracking_number"),
                          despatch_date=_date(body.get("despatch_date"), f"{where}: despatch_date"),
                          expected_delivery=_date(body.get("expected_delivery"), f"{where}: expected_delivery"),
                          packages=packages)
    days = body.get("payment_days", 30)
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        raise BackofficeError(f"{where}: payment_days must be a whole number of days")
    return invoice_order(session, settings, order.id, actor=actor, payment_days=days,
                         issue_date=_date(body.get("issue_date"), f"{where}: issue_date"))


def order_summary(order: Order) -> dict:
    """An order as the back-office interface returns it."""
    return {
        "partner": order.partner.code,
        "number": order.number,
        "status": order.status,
        "source": order.source,
        "order_date": order.order_date.isoformat(),
        "requested_delivery": order.requested_delivery.isoformat() if order.requested_delivery else None,
        "currency": order.currency,
        "total": str(order.total),
        "lines": [
            {"line_no": line.line_no, "sku": line.sku, "gtin": line.gtin, "description": line.description,
             "quantity": str(line.quantity), "confirmed_quantity": str(line.confirmed_quantity)
             if line.confirmed_quantity is not None else None, "unit": line.unit,
             "unit_price": str(line.unit_price) if line.unit_price is not None else None, "status": line.status}
            for line in order.lines
        ],
        "order_responses": [r.number for r in order.responses],
        "despatch_advices": [d.number for d in order.despatches],
        "invoices": [i.number for i in order.invoices],
    }


def process_drop_folder(session_factory, settings: Settings, *, actor: str) -> int:
    """Work off ``var/backoffice/in/*.json``: each file is one action on one order.

    ``{"action": "ship", "partner": "ACME", "order": "PO-1", "carrier": "DHL"}``.
    A done file moves to ``done/`` with a ``.result.json`` beside it; a refused
    one to ``failed/`` with an ``.error.txt`` that says why. Files still being
    written (hidden, ``.tmp``) are left alone.
    """
    import json
    import os

    root = settings.var_path / "backoffice"
    inbox = root / "in"
    if not inbox.is_dir():
        return 0
    done_dir, failed_dir = root / "done", root / "failed"
    count = 0
    for path in sorted(inbox.glob("*.json")):
        if path.name.startswith("."):
            continue
        where = path.name
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(body, dict):
                raise BackofficeError(f"{where}: expected a JSON object")
            for key in ("action", "partner", "order"):
                if not isinstance(body.get(key), str):
                    raise BackofficeError(f"{where}: {key} is required")
            with session_factory() as session:
                order = find_order(session, body["partner"], body["order"])
                record = perform(session, settings, body["action"], order, body, actor=actor, where=where)
                result = {"action": body["action"], "number": getattr(record, "number", None),
                          "order": order_summary(order)}
            done_dir.mkdir(parents=True, exist_ok=True)
            (done_dir / f"{path.stem}.result.json").write_text(json.dumps(result, indent=2))
            os.replace(path, done_dir / path.name)
        except (BackofficeError, ValueError, UnicodeDecodeError) as exc:
            failed_dir.mkdir(parents=True, exist_ok=True)
            (failed_dir / f"{path.stem}.error.txt").write_text(f"{exc}\n")
            os.replace(path, failed_dir / path.name)
        count += 1
    return count


def list_orders(session: Session, *, partner_code: str | None = None, status: str | None = None,
                number: str | None = None, limit: int = 100) -> list[Order]:
    """Orders for the console and the ERP, newest first, filtered."""
    stmt = select(Order).join(Partner).order_by(Order.id.desc())
    if partner_code:
        stmt = stmt.where(Partner.code == partner_code)
    if status:
        stmt = stmt.where(Order.status == status)
    if number:
        stmt = stmt.where(Order.number.contains(number.strip()))
    return list(session.scalars(stmt.limit(limit)))
