"""Order templates: a partner's named lists of products and quantities, ordered again in one click.

A template is saved from the cart or from a past order; ordering from it puts
its lines into the cart (summed with what is there), where prices and
availability are checked as for any cart. Products that are no longer sold
are named and left out. Templates belong to the partner (every user of the
partner sees them); names are unique per partner, and saving under a name
that exists replaces that template.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.accounts import audit
from hub.errors import HubError
from hub.models import Product, User
from hub.portal import PartnerScope
from hub.portal_models import OrderTemplate

__all__ = ["TemplateError", "templates", "template", "save", "save_from_order", "items_for", "delete", "MAX_NAME"]

MAX_NAME = 80
MAX_LINES = 200


class TemplateError(HubError):
    """The template cannot be saved as asked; the message says why."""


def templates(scope: PartnerScope) -> list[OrderTemplate]:
    stmt = scope.owned(select(OrderTemplate), OrderTemplate).order_by(OrderTemplate.name)
    return list(scope.session.scalars(stmt))


def template(scope: PartnerScope, template_id: int) -> OrderTemplate:
    return scope._get(OrderTemplate, template_id)


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise TemplateError("Give the template a name.")
    if len(name) > MAX_NAME:
        raise TemplateError(f"The name is longer than {MAX_NAME} characters.")
    return name


def save(scope: PartnerScope, user: User, name: str, items: dict[str, dict[str, str]]) -> OrderTemplate:
    """Save cart items (``{product_id: {"quantity", "note"}}``) under ``name``; commits."""
    name = _clean_name(name)
    ids = [int(k) for k in items if str(k).isdigit()]
    products = {p.id: p for p in scope.session.scalars(select(Product).where(Product.id.in_(ids)))} if ids else {}
    lines = []
    for key, item in items.items():
        product = products.get(int(key)) if str(key).isdigit() else None
        if product is None:
            continue
        quantity = Decimal(str(item.get("quantity", "1")))
        if quantity <= 0:
            continue
        lines.append({"product_id": product.id, "sku": product.sku, "quantity": format(quantity.normalize(), "f"),
                      "note": (item.get("note") or "")[:70]})
    if not lines:
        raise TemplateError("There is nothing to save: the template would have no lines.")
    if len(lines) > MAX_LINES:
        raise TemplateError(f"A template holds at most {MAX_LINES} lines.")
    session = scope.session
    existing = session.scalar(scope.owned(select(OrderTemplate).where(OrderTemplate.name == name), OrderTemplate))
    if existing is None:
        existing = OrderTemplate(partner_id=scope.partner_id, name=name, created_by_id=user.id)
        session.add(existing)
        action = "template.created"
    else:
        action = "template.replaced"
    existing.lines = lines
    session.flush()
    audit(session, user.email, action, target=f"template:{existing.id}", partner_id=scope.partner_id,
          detail=f"{name}: {len(lines)} line(s)")
    session.commit()
    return existing


def save_from_order(scope: PartnerScope, user: User, name: str, order_id: int) -> OrderTemplate:
    """Save the lines of one of the partner's orders as a template; commits."""
    items, _skipped = scope.reorder_items(order_id)  # NotFound for another partner's order
    return save(scope, user, name, items)


def items_for(scope: PartnerScope, template_id: int) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Cart items for a template's lines, and the SKUs that cannot be ordered any more."""
    found = template(scope, template_id)
    ids = [line.get("product_id") for line in found.lines if isinstance(line.get("product_id"), int)]
    active = set(scope.session.scalars(scope.products(Product.id).where(Product.id.in_(ids)))) if ids else set()
    items: dict[str, dict[str, str]] = {}
    skipped = []
    for line in found.lines:
        pid = line.get("product_id")
        if pid not in active:
            skipped.append(str(line.get("sku") or pid))
            continue
        key = str(pid)
        previous = Decimal(items[key]["quantity"]) if key in items else Decimal(0)
        items[key] = {"quantity": format((previous + Decimal(str(line["quantity"]))).normalize(), "f"),
                      "note": line.get("note") or ""}
    return items, skipped


def delete(scope: PartnerScope, user: User, template_id: int) -> str:
    found = template(scope, template_id)
    name = found.name
    scope.session.delete(found)
    audit(scope.session, user.email, "template.deleted", target=f"template:{template_id}",
          partner_id=scope.partner_id, detail=name)
    scope.session.commit()
    return name
