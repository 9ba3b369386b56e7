"""Partner assortments: a restricted partner cannot see, search, add, upload or order what is not in it,
whichever way it tries (catalogue, quick order, CSV/XLSX upload, cart, reorder, templates, API, EDI)."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from edi import documents as doc
from hub.api import create_client
from hub.api_models import SCOPES
from hub.errors import OrderRejected
from hub.models import AssortmentItem, Order, Partner, Product
from hub.order_templates import items_for
from hub.orders import place_order
from hub.portal import PartnerScope, Row
from hub.portal_models import OrderTemplate
from tests.extranet.conftest import _order, login, post, rows
from tests.extranet.test_api import bearer, get_token


@pytest.fixture
def restricted(session, world):
    """ACME sees only WID-100 (by SKU); BETA keeps the whole catalogue."""
    acme = session.get(Partner, world.acme)
    acme.assortment_restricted = True
    session.add(AssortmentItem(partner_id=world.acme, product_id=world.widget))
    session.commit()
    return world


def _xlsx(*lines) -> bytes:
    book = Workbook()
    for line in lines:
        book.active.append(list(line))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_the_scope_hides_products_outside_the_assortment(session, restricted):
    scope = PartnerScope(session, restricted.acme)
    assert [i.product.sku for i in scope.catalog().items] == ["WID-100"]
    assert scope.catalog("Gadget").items == [] and scope.catalog("4012345000023").items == []
    assert [i.product.sku for i in scope.catalog_slice().items] == ["WID-100"]
    assert scope.categories() == ["Widgets"]
    assert scope.find_product("GAD-200") is None and scope.find_product("WID-100") is not None
    parsed = scope.resolve_rows([Row(1, "GAD-200", "1"), Row(2, "4012345000023", "1"), Row(3, "wid-100", "2")])
    assert [(p.sku, q) for p, q, _ in parsed.lines] == [("WID-100", Decimal(2))]
    assert [e.row.number for e in parsed.errors] == [1, 2]
    cart = scope.cart({str(restricted.gadget): {"quantity": "1"}, str(restricted.widget): {"quantity": "1"}})
    assert [line.product.sku for line in cart.lines] == ["WID-100"] and cart.missing == [str(restricted.gadget)]
    # the other partner is untouched
    beta = PartnerScope(session, restricted.beta)
    assert {i.product.sku for i in beta.catalog().items} == {"WID-100", "GAD-200"}
    assert beta.categories() == ["Gadgets", "Widgets"]


def test_a_category_in_the_assortment_brings_its_products(session, restricted):
    session.add(AssortmentItem(partner_id=restricted.acme, category="Gadgets"))
    session.commit()
    scope = PartnerScope(session, restricted.acme)
    assert {i.product.sku for i in scope.catalog().items} == {"WID-100", "GAD-200"}
    assert scope.categories() == ["Gadgets", "Widgets"]


def test_a_restricted_partner_with_an_empty_assortment_sees_nothing(session, world):
    session.get(Partner, world.acme).assortment_restricted = True
    session.commit()
    scope = PartnerScope(session, world.acme)
    assert scope.catalog().items == [] and scope.categories() == []


def test_portal_routes_neither_show_nor_take_a_product_outside(client, session, restricted):
    login(client, "buyer@acme.example")
    page = client.get("/").get_data(as_text=True)
    assert "Widget, blue" in page and "Gadget deluxe" not in page
    assert "Gadget deluxe" not in client.get("/?q=GAD").get_data(as_text=True)
    assert "Gadget deluxe" not in client.get("/?category=Gadgets").get_data(as_text=True)
    post(client, "/cart/add", {"sku": "GAD-200", "quantity": "1"})
    assert "Gadget deluxe" not in client.get("/cart").get_data(as_text=True)
    response = post(client, "/quick-order", {"lines": "GAD-200 2\n4012345000023 1"}, token_from="/quick-order")
    assert response.status_code == 422 and "no product with SKU or GTIN" in response.get_data(as_text=True)
    response = post(client, "/upload", {"file": (io.BytesIO(b"sku,quantity\nGAD-200,1\n"), "o.csv")},
                    token_from="/upload", content_type="multipart/form-data")
    assert response.status_code == 422 and 'value="GAD-200"' in response.get_data(as_text=True)
    post(client, "/upload/fix", {"row": ["2"], "sku-2": "GAD-200", "quantity-2": "1"}, token_from="/upload")
    response = post(client, "/upload/xlsx", {"file": (io.BytesIO(_xlsx(("sku", "quantity"), ("GAD-200", 1))),
                                                       "o.xlsx")},
                    token_from="/upload/xlsx", content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Gadget deluxe" not in client.get("/cart").get_data(as_text=True)
    # a product id smuggled into the session cart is not priced, nor ordered
    with client.session_transaction() as cookie:
        cookie["cart"] = {str(restricted.gadget): "1"}
    response = post(client, "/checkout", {"number": "PO-SMUGGLED"}, token_from="/checkout")
    assert response.status_code == 422 and "can no longer be ordered" in response.get_data(as_text=True)
    assert rows(session, select(Order.id).where(Order.number == "PO-SMUGGLED")) == []


def test_reorder_and_templates_skip_products_outside(client, session, restricted):
    scope = PartnerScope(session, restricted.acme)
    # an old order and a template of ACME for the gadget, from before the assortment was restricted
    old = _order(session, session.get(Partner, restricted.acme), "PO-OLD-GADGET",
                 session.get(Product, restricted.gadget))
    template = OrderTemplate(partner_id=restricted.acme, name="Old", lines=[
        {"product_id": restricted.gadget, "sku": "GAD-200", "quantity": "1"},
        {"product_id": restricted.widget, "sku": "WID-100", "quantity": "4"}])
    session.add(template)
    session.commit()
    template_id, old_id = template.id, old.id
    items, skipped = scope.reorder_items(old_id)
    assert items == {} and skipped == ["line 1 (GAD-200)"]
    template_items, template_skipped = items_for(scope, template_id)
    assert list(template_items) == [str(restricted.widget)] and template_skipped == ["GAD-200"]
    session.rollback()
    login(client, "buyer@acme.example")
    post(client, f"/orders/{old_id}/reorder", token_from="/orders")
    post(client, f"/templates/{template_id}/order", token_from="/templates")
    cart = client.get("/cart").get_data(as_text=True)
    assert "Gadget deluxe" not in cart and "Widget, blue" in cart


def _order_document(number: str, gtin: str) -> doc.Order:
    return doc.Order(number=number, issue_date=dt.date.today(), currency="EUR",
                     lines=[doc.OrderLine(line_no="1", gtin=gtin, quantity=Decimal(2))])


def test_an_edi_order_for_a_product_outside_is_rejected(session, settings, restricted):
    acme = session.get(Partner, restricted.acme)
    with pytest.raises(OrderRejected) as caught:
        place_order(session, settings, acme, _order_document("PO-EDI-X", "4012345000023"), source="edi",
                    actor="test")
    assert caught.value.problems == ["line 1 (4012345000023): item GAD-200 is not in your assortment"]
    session.rollback()
    order = place_order(session, settings, acme, _order_document("PO-EDI-OK", "4012345000016"), source="edi",
                        actor="test")
    assert order.total == Decimal("19.60")
    beta = session.get(Partner, restricted.beta)  # unrestricted: the gadget is fine
    assert place_order(session, settings, beta, _order_document("PO-BETA-G", "4012345000023"), source="edi",
                       actor="test").lines[0].sku == "GAD-200"
    session.rollback()


def test_the_api_neither_shows_nor_takes_a_product_outside(client, session, restricted):
    made = create_client(session, "ACME", list(SCOPES))
    headers = bearer(get_token(client, (made.client.client_id, made.secret)))
    listing = client.get("/api/v1/catalog", headers=headers).json
    assert [i["sku"] for i in listing["items"]] == ["WID-100"]
    assert client.get("/api/v1/catalog?q=GAD", headers=headers).json["items"] == []
    assert client.get("/api/v1/catalog/GAD-200", headers=headers).status_code == 404
    assert client.get("/api/v1/catalog/WID-100", headers=headers).status_code == 200
    response = client.post("/api/v1/orders", headers=headers, json={
        "number": "PO-API-X", "lines": [{"supplier_sku": "GAD-200", "quantity": "1"}]})
    assert response.status_code == 422
    assert "GAD-200 is not in your assortment" in response.json["error"]["message"]
    assert rows(session, select(Order.id).where(Order.number == "PO-API-X")) == []
