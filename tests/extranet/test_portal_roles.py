"""Roles on every state-changing portal route: one table (extranet.portal_roles.WRITE_ROLES), checked
over every POST route for the read-only accounts role; and the partner admin's company settings."""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from edi import documents as docs
from extranet.portal_roles import EVERYONE, PUBLIC, SAFE_METHODS, WRITE_ROLES
from hub.approvals import threshold_for
from hub.models import AuditEntry, Order, Partner, User
from hub.portal_models import OrderApproval, SupplierDocument
from hub.turnaround import create_supplier_order
from tests.extranet.conftest import login, password_hash, post, rows

PORTAL_BLUEPRINTS = ("portal", "portal_extra")


def _write_rules(app):
    return [rule for rule in app.url_map.iter_rules()
            if rule.endpoint.split(".")[0] in PORTAL_BLUEPRINTS and (rule.methods or set()) - SAFE_METHODS]


def test_the_table_names_exactly_the_state_changing_portal_routes(app):
    endpoints = {rule.endpoint for rule in _write_rules(app)}
    assert endpoints == set(WRITE_ROLES)


def _url(rule, world, supplier_order: int) -> str:
    values = {"order_id": world.acme_order, "product_id": world.widget, "template_id": 1, "user_id": 1,
              "kind": "despatch", "token": "no-such-token"}
    if rule.endpoint == "portal_extra.turnaround_document":
        values["order_id"] = supplier_order
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: str(values[m.group(1)]), rule.rule)


@pytest.fixture
def supplier_order(session, settings, world) -> int:
    order = create_supplier_order(session, settings, session.get(Partner, world.acme), number="KO-PO-9", lines=[
        docs.OrderLine(line_no="1", supplier_sku="ACME-OIL-5", description="Base oil", quantity=Decimal(10),
                       unit="PCE", net_price=Decimal("120.00"))])
    session.commit()
    return order.id


def test_the_accounts_role_can_change_nothing_but_its_own_mail_settings(client, app, session, world,
                                                                          supplier_order):
    assert login(client, "accounts@acme.example").status_code == 302
    checked = 0
    for rule in _write_rules(app):
        allowed = WRITE_ROLES[rule.endpoint]
        response = post(client, _url(rule, world, supplier_order),
                        {"number": "LS-ACC", "quantity-1": "10", "sku": "WID-100", "quantity": "1",
                         "lines": "WID-100 1", "name": "T", "email": "x@acme.example", "role": "admin",
                         "approval_threshold": "1"}, token_from="/orders")
        if "accounts" in allowed or allowed == PUBLIC:
            assert response.status_code != 403, rule.endpoint
        else:
            assert response.status_code == 403, rule.endpoint
            checked += 1
    assert checked >= 20
    assert rows(session, select(SupplierDocument.id)) == []  # no despatch advice from the accounts user
    assert rows(session, select(Order.id).where(Order.created_by_id.is_not(None))) == []


def test_accounts_cannot_post_a_despatch_advice_and_sees_no_button(client, session, world, supplier_order):
    login(client, "accounts@acme.example")
    page = client.get(f"/received-orders/{supplier_order}").get_data(as_text=True)
    assert "KO-PO-9" in page and "Make a despatch advice" not in page
    response = post(client, f"/received-orders/{supplier_order}/despatch",
                    {"number": "LS-1", "quantity-1": "10"}, token_from="/orders")
    assert response.status_code == 403
    assert rows(session, select(SupplierDocument.id)) == []


def test_a_route_missing_from_the_table_is_refused_to_every_role(app, client, world):
    @app.route("/portal-probe", methods=["POST"], endpoint="portal.probe")  # a new form, forgotten in the table
    def probe():
        return "changed"

    login(client, "buyer@acme.example")
    assert "portal.probe" not in WRITE_ROLES
    assert post(client, "/portal-probe", token_from="/orders").status_code == 403
    assert post(client, "/cart/add", {"sku": "WID-100", "quantity": "1"}, token_from="/orders").status_code == 302
    assert EVERYONE == ("admin", "buyer", "accounts")


# --- the partner admin's company settings -----------------------------------------------------


@pytest.fixture
def admin_client(client, session, world):
    session.add(User(email="admin@acme.example", name="Arno Admin", role="admin", partner_id=world.acme,
                     password_hash=password_hash()))
    session.commit()
    assert login(client, "admin@acme.example").status_code == 302
    return client


def _threshold(session, partner_id):
    try:
        return threshold_for(session.get(Partner, partner_id))
    finally:
        session.rollback()


def test_a_partner_admin_sets_the_approval_threshold_over_the_profile(admin_client, app, session, world):
    session.get(Partner, world.acme).approval_threshold = Decimal("5000")  # the profile's value
    session.commit()
    page = admin_client.get("/account/company").get_data(as_text=True)
    assert 'value="5000.00"' in page and 'for="approval_threshold"' in page
    response = post(admin_client, "/account/company", {"approval_threshold": "150,50"}, token_from="/account/company")
    assert response.status_code == 302
    session.expire_all()
    assert _threshold(session, world.acme) == Decimal("150.50")
    [(actor, detail)] = rows(session, select(AuditEntry.actor, AuditEntry.detail).where(
        AuditEntry.action == "partner.approval_threshold"))
    assert actor == "admin@acme.example" and detail == "5,000.00 EUR -> 150.50 EUR"
    # a buyer's order over the admin's threshold waits, though it is far below the profile's
    buyer = app.test_client()
    login(buyer, "buyer@acme.example")
    post(buyer, "/cart/add", {"sku": "WID-100", "quantity": "20"}, token_from="/")  # 20 x 9.80 = 196
    assert post(buyer, "/checkout", {"number": "PO-HELD"}, token_from="/checkout").status_code == 302
    assert rows(session, select(Order.status).where(Order.number == "PO-HELD")) == [("pending_approval",)]
    assert rows(session, select(OrderApproval.threshold)) == [(Decimal("150.50"),)]


def test_reloading_the_profile_keeps_the_admins_threshold(session, world):
    partner = session.get(Partner, world.acme)
    partner.portal_settings = {"approval_threshold": None}  # the admin switched approval off
    partner.approval_threshold = Decimal("5000")  # what `kontor partners load` writes from the profile
    session.commit()
    assert threshold_for(partner) is None
    partner.portal_settings = {}
    assert threshold_for(partner) == Decimal("5000")
    session.rollback()


def test_bad_thresholds_are_refused_and_other_roles_may_not(admin_client, app, session, world):
    for given, message in (("abc", "'abc' is not an amount"), ("-5", "-5 must be 0 or more"),
                           ("1.005", "1.005 has more than 2 decimals")):
        response = post(admin_client, "/account/company", {"approval_threshold": given},
                        token_from="/account/company")
        assert response.status_code == 422
        page = html.unescape(response.get_data(as_text=True))
        assert f"approval threshold: {message}" in page and 'aria-invalid="true"' in page
    session.expire_all()
    assert _threshold(session, world.acme) is None
    assert post(admin_client, "/account/company", {"approval_threshold": ""},
                token_from="/account/company").status_code == 302
    buyer = app.test_client()
    login(buyer, "buyer@acme.example")
    assert buyer.get("/account/company").status_code == 403
    assert post(buyer, "/account/company", {"approval_threshold": "1"}, token_from="/orders").status_code == 403
