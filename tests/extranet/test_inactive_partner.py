"""A deactivated partner's users cannot sign in, lose their sessions, and cannot order."""

from __future__ import annotations

from sqlalchemy import select, update

from hub.accounts import sign_in
from hub.models import AuditEntry, Order, Partner
from hub.portal import PartnerScope
from tests.extranet.conftest import PASSWORD, login, post, rows
from tests.extranet.test_api import acme, clients  # noqa: F401 (fixtures)


def _deactivate(session, partner_id):
    session.execute(update(Partner).where(Partner.id == partner_id).values(active=False))
    session.commit()


def test_sign_in_is_refused_for_a_deactivated_partner(session, world):
    _deactivate(session, world.acme)
    assert sign_in(session, "buyer@acme.example", PASSWORD).reason == "inactive"
    [(detail,)] = rows(session, select(AuditEntry.detail).where(AuditEntry.action == "login.failed"))
    assert detail == "partner inactive"
    assert sign_in(session, "ops@kontor.example", PASSWORD).ok  # operations staff have no partner


def test_the_login_form_refuses_a_deactivated_partner(client, session, world):
    _deactivate(session, world.acme)
    response = login(client, "buyer@acme.example")
    assert response.status_code != 302
    assert client.get("/orders").status_code in (302, 401)


def test_a_signed_in_session_ends_when_the_partner_is_deactivated(acme_client, session, world):
    assert acme_client.get("/orders").status_code == 200
    _deactivate(session, world.acme)
    response = acme_client.get("/orders")
    assert response.status_code in (302, 401) and "/login" in response.headers.get("Location", "/login")
    assert acme_client.get("/checkout").status_code in (302, 401)


def test_checkout_refuses_an_inactive_partner(session, settings, world):
    from hub.models import User

    user = session.scalars(select(User).where(User.email == "buyer@acme.example")).one()
    scope = PartnerScope(session, world.acme)
    items = {str(world.widget): {"quantity": "1"}}
    _deactivate(session, world.acme)
    result = scope.checkout(items, user, settings, number="PO-INACTIVE")
    assert result.order is None and "inactive" in result.problems[0]
    assert rows(session, select(Order.id).where(Order.number == "PO-INACTIVE")) == []


def test_api_refuses_orders_once_the_partner_is_deactivated(client, acme, session, world):
    _deactivate(session, world.acme)
    response = client.post("/api/v1/orders", headers=acme,
                           json={"number": "API-INACTIVE", "lines": [{"supplier_sku": "WID-100", "quantity": "1"}]})
    assert response.status_code in (401, 422)
    assert rows(session, select(Order.id).where(Order.number == "API-INACTIVE")) == []
