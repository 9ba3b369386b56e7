"""Orders: one road for every order, whether it came by EDI, the portal or the API.

:func:`place_order` checks an :class:`edi.documents.Order` against the
catalog and the partner's contract prices, stores it, and answers it with an
order response (stored, and queued to the partner's systems when it has a
sending channel). Nothing commits here: the caller's unit of work does.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Iterable

from sqlalchemy import bindparam, insert, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from edi import documents as docs
from hub import approvals, assortment, notifications
from hub.errors import OrderRejected
from hub.models import Message, Order, OrderLine, OrderResponse, Partner, Product, User
from hub.outbound import queue_document
from hub.partners import preferences
from hub.pricing import prices_for
from hub.settings import Settings

__all__ = ["place_order", "order_response_for", "response_code_for", "response_number", "respond", "header_problems",
           "line_problems", "line_rows", "find_product", "find_products", "STATUS_AFTER_RESPONSE"]

CENT = Decimal("0.01")

#: an order's lines and its response, written at once; the rows come back as objects in the session
#: (the lines in no particular order: sort_by_parameter_order would make SQLite insert them one by
#: one). populate_existing: an object left in the identity map by a rolled-back savepoint whose id
#: comes again is overwritten with the new row, never returned stale.
_INSERT_LINES = insert(OrderLine).returning(OrderLine).execution_options(populate_existing=True)
_INSERT_RESPONSE = insert(OrderResponse).returning(OrderResponse).execution_options(populate_existing=True)

_ORDER_BY_NUMBER = select(Order).where(Order.partner_id == bindparam("order_partner"),
                                       Order.number == bindparam("order_number"))


def find_product(session: Session, line: docs.OrderLine) -> Product | None:
    """The product a line means: by GTIN, else by our article number (supplier SKU)."""
    if line.gtin:
        product = session.scalar(select(Product).where(Product.gtin == line.gtin.lstrip("0").zfill(13))) or \
            session.scalar(select(Product).where(Product.gtin == line.gtin))
        if product is not None:
            return product
    if line.supplier_sku:
        return session.scalar(select(Product).where(Product.sku == line.supplier_sku))
    return None


def _gtin_keys(gtin: str) -> tuple[str, str]:
    return gtin.lstrip("0").zfill(13), gtin


def find_products(session: Session, lines: list[docs.OrderLine]) -> list[Product | None]:
    """:func:`find_product` of every line, with one query for all of them."""
    gtins = {key for line in lines if line.gtin for key in _gtin_keys(line.gtin)}
    skus = {line.supplier_sku for line in lines if line.supplier_sku}
    by_gtin: dict[str, Product] = {}
    by_sku: dict[str, Product] = {}
    if gtins or skus:
        conditions = []
        if gtins:
            conditions.append(Product.gtin.in_(gtins))
        if skus:
            conditions.append(Product.sku.in_(skus))
        for product in session.scalars(select(Product).where(or_(*conditions))):
            if product.gtin is not None:
                by_gtin[product.gtin] = product
            by_sku[product.sku] = product
    result: list[Product | None] = []
    for line in lines:
        product = None
        if line.gtin:
            normalised, raw = _gtin_keys(line.gtin)
            product = by_gtin.get(normalised) or by_gtin.get(raw)
        if product is None and line.supplier_sku:
            product = by_sku.get(line.supplier_sku)
        result.append(product)
    return result


def _line_label(line: docs.OrderLine) -> str:
    ident = line.gtin or line.supplier_sku or line.buyer_sku or "no item number"
    return f"line {line.line_no} ({ident})"


def header_problems(partner: Partner, document: docs.Order) -> list[str]:
    """What is wrong with an order as a whole (number, lines, currency), before its lines are read."""
    problems: list[str] = []
    if not document.number or not document.number.strip():
        problems.append("the order has no order number")
    if not document.lines:
        problems.append("the order has no lines")
    if document.currency and document.currency != partner.currency:
        problems.append(f"currency {document.currency} is not the agreed currency {partner.currency}")
    return problems


def line_problems(resolved: list[tuple[docs.OrderLine, Product | None]], hidden: set[int]) -> list[str]:
    """What is wrong with an order's lines, given the product each means (None: unknown) and the
    ids of the products outside the partner's assortment."""
    problems: list[str] = []
    seen_line_numbers = set()
    for line, product in resolved:
        if line.line_no in seen_line_numbers:
            problems.append(f"line number {line.line_no} is used twice")
        seen_line_numbers.add(line.line_no)
        if product is None:
            problems.append(f"{_line_label(line)}: unknown item")
        elif not product.active:
            problems.append(f"{_line_label(line)}: item {product.sku} is no longer sold")
        if line.quantity is None or line.quantity <= 0:
            problems.append(f"{_line_label(line)}: quantity must be greater than zero")
    problems.extend(f"{_line_label(line)}: item {product.sku} {assortment.NOT_IN_ASSORTMENT}"
                    for line, product in resolved if product is not None and product.id in hidden)
    return problems


def line_rows(resolved: list[tuple[docs.OrderLine, Product | None]],
              unit_prices: list[Decimal]) -> tuple[list[dict[str, Any]], Decimal]:
    """The order_line rows (without their order_id) of checked lines at their unit prices, and the total."""
    rows = []
    total = Decimal(0)
    for (line, product), unit_price in zip(resolved, unit_prices):
        assert product is not None
        amount = (unit_price * line.quantity).quantize(CENT)
        total += amount
        status = "accepted"
        if line.net_price is not None:
            basis = line.price_basis or Decimal(1)
            if (line.net_price / basis).quantize(Decimal("0.0001")) != unit_price.quantize(Decimal("0.0001")):
                status = "changed"  # the partner's price is not the contract price: we confirm ours
        rows.append({
            "line_no": line.line_no,
            "product_id": product.id,
            "sku": product.sku,
            "gtin": product.gtin,
            "description": line.description or product.name,
            "quantity": line.quantity,
            "unit": line.unit or product.unit,
            "unit_price": unit_price,
            "line_amount": amount,
            "confirmed_quantity": line.quantity,
            "status": status,
        })
    return rows, total


def place_order(
    session: Session,
    settings: Settings,
    partner: Partner,
    document: docs.Order,
    *,
    source: str,
    actor: str,
    user: User | None = None,
    message: Message | None = None,
) -> Order:
    """Store an order and answer it; raises OrderRejected with every problem found. No commit."""
    problems = header_problems(partner, document)
    existing = session.scalar(_ORDER_BY_NUMBER, {"order_partner": partner.id, "order_number": document.number})
    if document.function == "1":
        return _cancel(session, settings, partner, document, existing, actor=actor, message=message)
    if existing is not None and document.function != "5":
        problems.append(
            f"order number {document.number} was already received on {existing.created_at:%Y-%m-%d %H:%M} UTC"
        )
    if existing is not None and document.function == "5" and existing.status not in ("received", "confirmed", "changed"):
        problems.append(f"order {document.number} is {existing.status} and can no longer be replaced")

    resolved = list(zip(document.lines, find_products(session, document.lines)))
    hidden = assortment.outside(session, partner, [product for _, product in resolved if product is not None])
    problems.extend(line_problems(resolved, hidden))
    if problems:
        raise OrderRejected(problems)

    on = document.issue_date or dt.date.today()
    # every price with one query, before the order is added (no autoflush in between)
    unit_prices = prices_for(session, partner, [(product, line.quantity) for line, product in resolved], on)

    rows, total = line_rows(resolved, unit_prices)

    if existing is not None:  # a replacement: the new lines take the place of the old
        order = existing
        order.lines.clear()
    else:
        # a new order has no lines and no responses yet: known, so never loaded
        order = Order(partner_id=partner.id, number=document.number.strip(), source=source, responses=[])
        session.add(order)
    order.order_date = document.issue_date
    order.requested_delivery = document.requested_delivery
    order.currency = partner.currency
    order.document = docs.to_dict(document)
    order.created_by_id = user.id if user is not None else None
    order.status = "received"
    order.total = total
    session.flush()  # the order (and a replaced order's old lines gone): its id for the lines
    # the lines in one multi-row INSERT ... RETURNING, loaded as persistent objects: the unit of
    # work does not track ten new objects a message, and order.lines is the complete list
    for row in rows:
        row["order_id"] = order.id
    lines = sorted(session.scalars(_INSERT_LINES, rows), key=lambda line: line.id)
    set_committed_value(order, "lines", lines)  # as the relationship orders them: by id
    if message is not None:
        message.order_id = order.id
        message.business_ref = order.number

    if not approvals.hold_for_approval(session, settings, partner, order, source=source, user=user) and preferences(partner).order_response:
        respond(session, settings, partner, order, actor=actor, answers=message)
    return order


def response_code_for(line_statuses: Iterable[str]) -> str:
    """The response code (1225) of an order whose lines have these statuses: 29 accepted as ordered,
    4 accepted with changes, 27 rejected."""
    statuses = set(line_statuses)
    if statuses == {"rejected"}:
        return "27"
    if statuses - {"accepted"}:
        return "4"
    return "29"


def order_response_for(settings: Settings, partner: Partner, order: Order, number: str) -> docs.OrderResponse:
    """The order response document for ``order`` as it stands."""
    lines = []
    for line in order.lines:
        action = {"accepted": "5", "changed": "3", "rejected": "7"}.get(line.status, "5")
        lines.append(
            docs.OrderResponseLine(
                line_no=line.line_no,
                action=action,
                gtin=line.gtin,
                supplier_sku=line.sku,
                description=line.description,
                ordered_quantity=line.quantity,
                quantity=line.confirmed_quantity if line.confirmed_quantity is not None else line.quantity,
                unit=line.unit,
                net_price=line.unit_price,
                delivery_date=order.requested_delivery,
            )
        )
    code = response_code_for(line.status for line in order.lines)
    original = order.document or {}
    parties = [
        docs.Party(role=docs.PartyRole.SUPPLIER, id=settings.hub_id, name=settings.hub_name),
    ]
    buyer = next((p for p in original.get("parties", []) if p.get("role") == docs.PartyRole.BUYER), None)
    if buyer is not None:
        parties.insert(0, docs.Party(role=docs.PartyRole.BUYER, id=buyer.get("id"), id_agency=buyer.get("id_agency"),
                                     name=buyer.get("name")))
    return docs.OrderResponse(
        number=number,
        order_number=order.number,
        order_date=order.order_date,
        issue_date=dt.date.today(),
        response_code=code,
        currency=order.currency,
        parties=parties,
        lines=lines,
    )


#: an order's status once answered with the response code (1225) it was answered with
STATUS_AFTER_RESPONSE = {"29": "confirmed", "4": "changed", "27": "rejected"}


def response_number(order_number: str, sequence: int) -> str:
    """The number of the ``sequence``-th response to an order (``<order>-R<n>``, at most 35 characters)."""
    return f"{order_number}-R{sequence}"[:35]


def respond(
    session: Session,
    settings: Settings,
    partner: Partner,
    order: Order,
    *,
    actor: str,
    answers: Message | None = None,
) -> OrderResponse:
    """Record an order response for the order's current state and queue it to the partner."""
    number = response_number(order.number, len(order.responses) + 1)
    document = order_response_for(settings, partner, order, number)
    order.status = STATUS_AFTER_RESPONSE[document.response_code]
    outbound = queue_document(
        session, settings, partner, document, actor=actor, answers=answers, order=order, business_ref=order.number
    )
    # written at once, like the outbound message: nothing for the unit of work to sort at the next flush
    with session.no_autoflush:  # the order's status and the like go with the next flush
        response = session.scalars(_INSERT_RESPONSE, [{
            "order_id": order.id,
            "partner_id": partner.id,
            "number": number,
            "response_code": document.response_code,
            "issue_date": document.issue_date,
            "document": docs.to_dict(document),
            "message_id": outbound.id if outbound is not None else None,
        }]).one()
    set_committed_value(order, "responses", [*order.responses, response])
    set_committed_value(response, "order", order)
    with session.no_autoflush:  # finding the recipients needs none of the pending rows: they go with the next flush
        notifications.order_response(session, settings, partner, order, response)
    return response


def _cancel(
    session: Session,
    settings: Settings,
    partner: Partner,
    document: docs.Order,
    existing: Order | None,
    *,
    actor: str,
    message: Message | None,
) -> Order:
    if existing is None:
        raise OrderRejected(f"order {document.number} cannot be cancelled: it was never received")
    if existing.status in ("shipped", "invoiced"):
        raise OrderRejected(f"order {document.number} is {existing.status} and can no longer be cancelled")
    existing.status = "cancelled"
    approvals.withdraw(session, existing, actor=actor)  # an approval still pending has nothing left to decide
    for line in existing.lines:
        line.status = "rejected"
        line.confirmed_quantity = Decimal(0)
    if message is not None:
        message.order_id = existing.id
        message.business_ref = existing.number
    session.flush()
    return existing
