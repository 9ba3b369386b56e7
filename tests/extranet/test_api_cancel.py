"""API cancellations: 200 with the cancelled order, and a pending approval is closed."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from hub.approvals import pending
from hub.models import Order, Partner
from hub.portal_models import OrderApproval
from tests.extranet.conftest import post, rows
from tests.extranet.test_api import acme, clients  # noqa: F401 (fixtures)


def test_a_cancellation_answers_200(client, acme, session):
    placed = client.post("/api/v1/orders", headers=acme,
                         json={"number": "API-C1", "lines": [{"supplier_sku": "WID-100", "quantity": "1"}]})
    assert placed.status_code == 201 and "Location" in placed.headers
    cancelled = client.post("/api/v1/orders", headers=acme, json={"number": "API-C1", "function": "1", "lines": []})
    assert cancelled.status_code == 200, cancelled.json
    assert cancelled.json["status"] == "cancelled" and cancelled.json["id"] == placed.json["id"]
    assert "Location" not in cancelled.headers
    openapi = client.get("/api/v1/openapi.json").json
    assert "200" in openapi["paths"]["/api/v1/orders"]["post"]["responses"]


def test_cancelling_an_order_waiting_for_approval_closes_the_approval(acme_client, client, acme, session, world):
    partner = session.get(Partner, world.acme)
    partner.approval_threshold = Decimal("100")
    session.commit()
    post(acme_client, "/cart/add", {"sku": "WID-100", "quantity": "20"}, token_from="/")
    assert post(acme_client, "/checkout", {"number": "PO-HELD-1"}, token_from="/checkout").status_code == 302
    assert [a.order.number for a in pending(session, world.acme)] == ["PO-HELD-1"]
    session.rollback()
    response = client.post("/api/v1/orders", headers=acme, json={"number": "PO-HELD-1", "function": "1"})
    assert response.status_code == 200, response.json
    assert pending(session, world.acme) == []
    [(status, reason)] = rows(session, select(OrderApproval.status, OrderApproval.reason)
                              .join(Order, Order.id == OrderApproval.order_id).where(Order.number == "PO-HELD-1"))
    assert status == "cancelled" and reason.startswith("the order was cancelled by api:")
