"""Reorder and order templates say how many lines did not fit in the cart (at most 200 lines)."""

from __future__ import annotations

import datetime as dt
import html
from decimal import Decimal

import pytest
from sqlalchemy import select

from extranet.portal import MAX_CART_LINES
from hub.models import Order, OrderLine, Product, User
from hub.portal_models import OrderTemplate
from tests.extranet.conftest import post


@pytest.fixture
def big(session, world):
    """250 products, an ACME order with a line for each, and a template with 150 of them."""
    products = [Product(sku=f"BIG-{n:03d}", name=f"Big item {n}", unit="PCE", list_price=Decimal(1))
                for n in range(250)]
    session.add_all(products)
    session.flush()
    order = Order(partner_id=world.acme, number="PO-BIG-250", source="portal", status="confirmed",
                  order_date=dt.date(2026, 11, 20), currency="EUR", total=Decimal(250), document={})
    for n, product in enumerate(products, start=1):
        order.lines.append(OrderLine(line_no=str(n), product_id=product.id, sku=product.sku, quantity=Decimal(1),
                                     unit="PCE", unit_price=Decimal(1), line_amount=Decimal(1), status="accepted"))
    session.add(order)
    buyer = session.scalar(select(User).where(User.email == "buyer@acme.example"))
    template = OrderTemplate(partner_id=world.acme, name="Half", created_by_id=buyer.id,
                             lines=[{"product_id": p.id, "sku": p.sku, "quantity": "1", "note": ""}
                                    for p in products[100:250]])
    session.add(template)
    session.commit()
    return order.id, template.id


def _messages(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_reorder_says_how_many_lines_were_not_added(acme_client, big):
    order_id, _template = big
    page = _messages(post(acme_client, f"/orders/{order_id}/reorder", token_from="/", follow_redirects=True))
    assert f"{MAX_CART_LINES} line(s) of the order are in the cart" in page
    assert "50 line(s) of the order were not added" in page


def test_a_template_says_how_many_lines_were_not_added(acme_client, big):
    order_id, template_id = big
    post(acme_client, f"/orders/{order_id}/reorder", token_from="/")  # the cart: BIG-000 .. BIG-199
    page = _messages(post(acme_client, f"/templates/{template_id}/order", token_from="/", follow_redirects=True))
    # BIG-100 .. BIG-199 are in the cart already (quantities added up); BIG-200 .. BIG-249 find no place
    assert "100 line(s) of the template are in the cart" in page
    assert "50 line(s) of the template were not added" in page
