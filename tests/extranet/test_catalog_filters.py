"""Catalogue filters: in stock, and only products with the partner's contract price (portal and API)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from hub.api import create_client
from hub.api_models import SCOPES
from hub.models import Price, Product
from hub.portal import PartnerScope
from tests.extranet.conftest import login
from tests.extranet.test_api import bearer, get_token

TODAY = dt.date.today()


@pytest.fixture
def shelf(session, world):
    """Beside the widget (250 in stock, ACME contract) and the gadget (3 in stock): a product sold out,
    one without stock tracking, and gadget prices for ACME that are not valid today."""
    session.add_all([
        Product(sku="OUT-1", name="Sold out thing", category="Widgets", unit="PCE", list_price=Decimal(5),
                stock=Decimal(0)),
        Product(sku="REQ-1", name="Made to order", category="Widgets", unit="PCE", list_price=Decimal(50)),
        Price(partner_id=world.acme, product_id=world.gadget, price=Decimal(80), valid_from=TODAY + dt.timedelta(1)),
        Price(partner_id=world.acme, product_id=world.gadget, price=Decimal(70), valid_from=dt.date(2020, 1, 1),
              valid_to=TODAY - dt.timedelta(1)),
    ])
    session.commit()
    return world


def _skus(page) -> list[str]:
    return [i.product.sku for i in page.items]


def test_the_scope_filters(session, shelf):
    acme = PartnerScope(session, shelf.acme)
    assert _skus(acme.catalog()) == ["GAD-200", "REQ-1", "OUT-1", "WID-100"]
    assert _skus(acme.catalog(in_stock=True)) == ["GAD-200", "WID-100"]
    assert _skus(acme.catalog(contract_only=True)) == ["WID-100"]  # the gadget's prices are not valid today
    assert _skus(acme.catalog_slice(in_stock=True, contract_only=True)) == ["WID-100"]
    assert _skus(acme.catalog("gadget", contract_only=True)) == []
    assert _skus(PartnerScope(session, shelf.beta).catalog(contract_only=True)) == ["WID-100"]


def test_the_portal_catalogue_filters(client, shelf):
    login(client, "buyer@acme.example")
    page = client.get("/?in_stock=1").get_data(as_text=True)
    assert "Gadget deluxe" in page and "Sold out thing" not in page and "Made to order" not in page
    assert 'name="in_stock" value="1" checked' in page and "in stock, by name" in page
    page = client.get("/?contract=1").get_data(as_text=True)
    assert "Widget, blue" in page and "Gadget deluxe" not in page and 'name="contract" value="1" checked' in page


def test_the_api_catalogue_filters(client, session, shelf):
    made = create_client(session, "ACME", list(SCOPES))
    headers = bearer(get_token(client, (made.client.client_id, made.secret)))
    items = client.get("/api/v1/catalog?in_stock=true", headers=headers).json["items"]
    assert [i["sku"] for i in items] == ["GAD-200", "WID-100"]
    items = client.get("/api/v1/catalog?contract=1&in_stock=false", headers=headers).json["items"]
    assert [i["sku"] for i in items] == ["WID-100"]
    bad = client.get("/api/v1/catalog?in_stock=maybe", headers=headers)
    assert bad.status_code == 400 and bad.json["error"]["field"] == "in_stock"
    documented = client.get("/api/v1/openapi.json").json["paths"]["/api/v1/catalog"]["get"]["parameters"]
    assert {"in_stock", "contract"} <= {p["name"] for p in documented}
