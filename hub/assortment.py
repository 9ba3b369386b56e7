"""Partner assortments: which products a partner may see and order.

A partner with ``assortment_restricted`` false sees the whole active
catalogue. With it true, the partner sees only the products named in its
:class:`hub.models.AssortmentItem` rows, each a product or a whole category
(the shape of Adobe Commerce B2B's shared catalogs: a company is given the
public catalogue or a custom one).

:func:`product_filter` is the single condition every partner-facing product
query adds (portal catalogue, quick order, uploads, cart, reorder, templates,
API), and :func:`outside` is the check :func:`hub.orders.place_order` makes for
every order however it came in.
"""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from hub.models import AssortmentItem, Partner, Product

__all__ = ["product_filter", "outside", "NOT_IN_ASSORTMENT"]

NOT_IN_ASSORTMENT = "is not in your assortment"


def product_filter(partner: Partner) -> ColumnElement[bool] | None:
    """The condition on :class:`Product` for the products the partner may see (None: every product)."""
    if not partner.assortment_restricted:
        return None
    by_product = select(AssortmentItem.product_id).where(
        AssortmentItem.partner_id == partner.id, AssortmentItem.product_id.is_not(None)
    )
    by_category = select(AssortmentItem.category).where(
        AssortmentItem.partner_id == partner.id, AssortmentItem.category.is_not(None)
    )
    return or_(Product.id.in_(by_product), and_(Product.category.is_not(None), Product.category.in_(by_category)))


def outside(session: Session, partner: Partner, products: Iterable[Product]) -> set[int]:
    """The ids of those products the partner may not order (one query; none when unrestricted)."""
    condition = product_filter(partner)
    ids = {p.id for p in products}
    if condition is None or not ids:
        return set()
    allowed = set(session.scalars(select(Product.id).where(Product.id.in_(ids), condition)))
    return ids - allowed
