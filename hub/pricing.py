"""Contract prices: a partner's price for a product on a date for a quantity."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub.models import Partner, Price, Product

__all__ = ["price_for", "prices_for", "best_price", "partner_prices"]


def price_for(
    session: Session,
    partner: Partner,
    product: Product,
    quantity: Decimal = Decimal(1),
    on: dt.date | None = None,
) -> Decimal:
    """The unit price the partner pays: the contract price valid on ``on`` with the
    highest quantity break not above ``quantity``; the list price when there is none."""
    on = on or dt.date.today()
    stmt = (
        select(Price.price)
        .where(
            Price.partner_id == partner.id,
            Price.product_id == product.id,
            Price.valid_from <= on,
            or_(Price.valid_to.is_(None), Price.valid_to >= on),
            Price.min_quantity <= quantity,
        )
        .order_by(Price.min_quantity.desc(), Price.valid_from.desc())
        .limit(1)
    )
    found = session.scalar(stmt)
    return found if found is not None else product.list_price


def prices_for(
    session: Session,
    partner: Partner,
    items: list[tuple[Product, Decimal]],
    on: dt.date | None = None,
) -> list[Decimal]:
    """:func:`price_for` of many (product, quantity) pairs with one query, in the same order."""
    on = on or dt.date.today()
    product_ids = {product.id for product, _ in items}
    if not product_ids:
        return []
    stmt = select(Price.product_id, Price.price, Price.min_quantity, Price.valid_from).where(
        Price.partner_id == partner.id,
        Price.product_id.in_(product_ids),
        Price.valid_from <= on,
        or_(Price.valid_to.is_(None), Price.valid_to >= on),
    )
    by_product: dict[int, list[tuple[Decimal, dt.date, Decimal]]] = {}
    for product_id, price, min_quantity, valid_from in session.execute(stmt):
        by_product.setdefault(product_id, []).append((min_quantity, valid_from, price))
    return [best_price(by_product.get(product.id, ()), quantity, product.list_price) for product, quantity in items]


def best_price(candidates: Iterable[tuple[Decimal, dt.date, Decimal]], quantity: Decimal, list_price: Decimal) -> Decimal:
    """Of the (min_quantity, valid_from, price) rows valid on the day, the price of the highest quantity
    break not above ``quantity`` (the latest valid_from among equals); the list price when none is."""
    fitting = [row for row in candidates if row[0] <= quantity]
    return max(fitting, key=lambda row: (row[0], row[1]))[2] if fitting else list_price


def partner_prices(session: Session, partner: Partner, on: dt.date | None = None) -> dict[int, list[Price]]:
    """Every valid contract price of the partner by product id, quantity breaks ascending."""
    on = on or dt.date.today()
    stmt = (
        select(Price)
        .where(
            Price.partner_id == partner.id,
            Price.valid_from <= on,
            or_(Price.valid_to.is_(None), Price.valid_to >= on),
        )
        .order_by(Price.product_id, Price.min_quantity)
    )
    result: dict[int, list[Price]] = {}
    for price in session.scalars(stmt):
        result.setdefault(price.product_id, []).append(price)
    return result
