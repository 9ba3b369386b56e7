"""Approval of portal orders over the threshold, and the credit limit at checkout."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from hub.models import AuditEntry, Invoice, Order, OrderResponse, Partner, User
from hub.portal_models import OrderApproval
from tests.extranet.conftest import login, password_hash, post, rows


@pytest.fixture
def acme_admin(session, world):
    session.add(User(email="admin@acme.example", name="Arno Admin", role="admin", partner_id=world.acme,
                     password_hash=password_hash()))
    session.commit()


def value(session, stmt):
    """One value, then end the transaction (SQLite: the web requests need the write lock)."""
    try:
        return session.scalar(stmt)
    finally:
        session.rollback()


def _limits(session, partner_id, *, threshold=None, credit=None):
    partner = session.get(Partner, partner_id)
    partner.approval_threshold = threshold
    partner.credit_limit = credit
    session.commit()


def place(client, quantity: str, number: str):
    post(client, "/cart/add", {"sku": "WID-100", "quantity": quantity}, token_from="/")
    return post(client, "/checkout", {"number": number}, token_from="/checkout")


def test_order_over_the_threshold_waits_and_is_not_answered(acme_client, session, world, acme_admin):
    _limits(session, world.acme, threshold=Decimal("100"))
    response = place(acme_client, "20", "PO-BIG-1")  # 20 x 9.80 = 196.00
    assert response.status_code == 302
    page = acme_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "waits for approval" in page and "pending approval" in page
    order = session.scalar(select(Order).where(Order.number == "PO-BIG-1"))
    assert order.status == "pending_approval"
    assert session.scalars(select(OrderResponse).where(OrderResponse.order_id == order.id)).all() == []
    approval = session.scalar(select(OrderApproval).where(OrderApproval.order_id == order.id))
    assert approval.status == "pending" and approval.amount == Decimal("196.00")
    order_id = order.id
    session.rollback()
    # a buyer cannot decide
    assert post(acme_client, f"/approvals/{order_id}/approve", token_from="/").status_code == 403
    assert acme_client.get("/approvals").status_code == 403


def test_small_orders_go_straight_through(acme_client, session, world):
    _limits(session, world.acme, threshold=Decimal("100"))
    place(acme_client, "2", "PO-SMALL-1")
    order = session.scalar(select(Order).where(Order.number == "PO-SMALL-1"))
    assert order.status == "confirmed" and len(order.responses) == 1
    session.rollback()


def test_admin_approves_and_the_order_is_answered(client, session, world, acme_admin):
    _limits(session, world.acme, threshold=Decimal("100"))
    login(client, "buyer@acme.example")
    place(client, "20", "PO-BIG-2")
    client.delete_cookie("kontor_session")
    login(client, "admin@acme.example")
    listing = client.get("/approvals").get_data(as_text=True)
    assert "PO-BIG-2" in listing
    order_id = value(session, select(Order.id).where(Order.number == "PO-BIG-2"))
    response = post(client, f"/approvals/{order_id}/approve", token_from="/approvals")
    assert response.status_code == 302
    order = session.get(Order, order_id)
    assert order.status == "confirmed" and [r.response_code for r in order.responses] == ["29"]
    approval = session.scalar(select(OrderApproval).where(OrderApproval.order_id == order_id))
    assert approval.status == "approved" and approval.decided_at is not None
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "order.approved")).actor == "admin@acme.example"
    session.rollback()
    # twice is refused, with a sentence
    again = post(client, f"/approvals/{order_id}/approve", token_from="/approvals", follow_redirects=True)
    assert "not waiting for approval" in again.get_data(as_text=True)


def test_admin_rejects_with_a_reason(client, session, world, acme_admin):
    _limits(session, world.acme, threshold=Decimal("100"))
    login(client, "buyer@acme.example")
    place(client, "20", "PO-BIG-3")
    client.delete_cookie("kontor_session")
    login(client, "admin@acme.example")
    order_id = value(session, select(Order.id).where(Order.number == "PO-BIG-3"))
    empty = post(client, f"/approvals/{order_id}/reject", {"reason": " "}, token_from="/approvals",
                 follow_redirects=True)
    assert "Give a reason" in empty.get_data(as_text=True)
    post(client, f"/approvals/{order_id}/reject", {"reason": "budget is spent"}, token_from="/approvals")
    order = session.get(Order, order_id)
    assert order.status == "rejected" and order.responses == []
    assert all(line.confirmed_quantity == 0 for line in order.lines)
    session.rollback()
    page = client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert "budget is spent" in page


def test_an_admins_own_order_is_not_held(client, session, world, acme_admin):
    _limits(session, world.acme, threshold=Decimal("100"))
    login(client, "admin@acme.example")
    place(client, "20", "PO-ADMIN-1")
    assert value(session, select(Order.status).where(Order.number == "PO-ADMIN-1")) == "confirmed"


def test_other_partners_admin_cannot_decide(client, session, world, acme_admin):
    _limits(session, world.acme, threshold=Decimal("100"))
    login(client, "buyer@acme.example")
    place(client, "20", "PO-BIG-4")
    order_id = value(session, select(Order.id).where(Order.number == "PO-BIG-4"))
    session.add(User(email="admin@beta.example", name="Beta Admin", role="admin", partner_id=world.beta,
                     password_hash=password_hash()))
    session.commit()
    client.delete_cookie("kontor_session")
    login(client, "admin@beta.example")
    assert post(client, f"/approvals/{order_id}/approve", token_from="/approvals").status_code == 404
    assert post(client, f"/approvals/{order_id}/reject", {"reason": "x"}, token_from="/approvals").status_code == 404
    assert "PO-BIG-4" not in client.get("/approvals").get_data(as_text=True)
    assert value(session, select(Order.status).where(Order.id == order_id)) == "pending_approval"


def test_credit_limit_refuses_at_checkout(acme_client, session, world):
    # open: PO-ACME-1 (30.00, confirmed) + INV-1 (34.99, no due date, issued 2026-11-22: past) -> 30.00
    _limits(session, world.acme, credit=Decimal("100"))
    response = place(acme_client, "10", "PO-CREDIT-1")  # 98.00 more: over
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "over your credit limit" in page and "at most 70.00 EUR" in page
    assert rows(session, select(Order.id).where(Order.number == "PO-CREDIT-1")) == []
    ok = post(acme_client, "/cart/update", {f"quantity-{world.widget}": "7"})  # 68.60: fits
    assert ok.status_code == 302
    assert post(acme_client, "/checkout", {"number": "PO-CREDIT-2"}, token_from="/checkout").status_code == 302


def test_open_exposure_counts_invoices_until_due(session, world):
    from hub.approvals import open_exposure

    today = dt.date(2026, 11, 25)
    assert open_exposure(session, world.acme, today=today) == Decimal("30")
    session.add(Invoice(partner_id=world.acme, number="INV-OPEN", issue_date=today, due_date=today + dt.timedelta(days=30),
                        currency="EUR", total=Decimal("50"), tax_total=Decimal("8"), document={}))
    session.commit()
    assert open_exposure(session, world.acme, today=today) == Decimal("80")
    assert open_exposure(session, world.acme, today=today + dt.timedelta(days=31)) == Decimal("30")
    assert open_exposure(session, world.beta, today=today) == Decimal("30")  # its own order only


def test_the_back_office_cannot_confirm_an_order_before_it_is_approved(acme_client, session, settings, world):
    from hub.backoffice import BackofficeError, confirm_order

    _limits(session, world.acme, threshold=Decimal("100"))
    place(acme_client, "20", "PO-BIG-5")
    order_id = value(session, select(Order.id).where(Order.number == "PO-BIG-5"))
    with pytest.raises(BackofficeError, match="pending_approval"):
        confirm_order(session, settings, order_id, actor="erp")
    session.rollback()
    assert value(session, select(Order.status).where(Order.id == order_id)) == "pending_approval"
