"""The extranet against a real, migrated database: two partners, their users, products, orders, messages."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

import pytest

from extranet import create_app
from hub.accounts import hash_password
from hub.models import (
    Channel,
    DespatchAdvice,
    Invoice,
    Message,
    MessageEvent,
    Order,
    OrderLine,
    OrderResponse,
    Partner,
    PartnerIdentifier,
    Payload,
    Price,
    Product,
    User,
)

PASSWORD = "correct horse battery"
_HASH: list[str] = []

ORDERS_WITH_ERROR = (
    b"UNA:+.? '"
    b"UNB+UNOC:3+4012345000009:14+4000001000005:14+261125:1200+IC0001'\n"
    b"UNH+1+ORDERS:D:96A:UN:EAN008'\n"
    b"BGM+220+PO-EDI-1+9'\n"
    b"DTM+137:2026112X:102'\n"
    b"FTX+AAI+++Release ?' and ?+ kept'\n"
    b"LIN+1++4012345000016:SRV'\n"
    b"QTY+21:5'\n"
    b"UNT+7+1'\n"
    b"UNZ+1+IC0001'"
)


def password_hash() -> str:
    if not _HASH:
        _HASH.append(hash_password(PASSWORD))
    return _HASH[0]


@dataclass
class World:
    """Ids of everything the tests look at (plain ints: safe across sessions)."""

    acme: int
    beta: int
    widget: int
    gadget: int
    acme_order: int
    beta_order: int
    beta_message: int
    acme_message: int
    error_message: int
    outbound_message: int


def _user(session, email, role, partner=None, **kw):
    user = User(email=email, name=email.split("@")[0].title(), role=role, partner=partner,
                password_hash=password_hash(), **kw)
    session.add(user)
    return user


def _order(session, partner, number, product, quantity="3", price="10.00"):
    order = Order(
        partner=partner, number=number, source="portal", status="confirmed",
        order_date=dt.date(2026, 11, 20), currency="EUR", total=Decimal(quantity) * Decimal(price),
        document={"document": "Order", "number": number},
    )
    order.lines.append(OrderLine(line_no="1", product_id=product.id, sku=product.sku, gtin=product.gtin,
                                 description=product.name, quantity=Decimal(quantity), unit="PCE",
                                 unit_price=Decimal(price), line_amount=Decimal(quantity) * Decimal(price),
                                 confirmed_quantity=Decimal(quantity), status="accepted"))
    session.add(order)
    session.flush()
    return order


def _message(session, partner, data, *, state="processed", direction="in", document_type="ORDERS",
             issues=None, error=None, order=None, ref="IC0001"):
    payload = Payload(sha256="0" * 64, size=len(data), data=data)
    message = Message(direction=direction, partner=partner, document_type=document_type, syntax="edifact",
                      interchange_ref=ref, message_ref="1", business_ref=order.number if order else None,
                      payload=payload, size=len(data), state=state, issues=issues or [], receipt={},
                      error=error, order_id=order.id if order else None)
    session.add(message)
    session.add(MessageEvent(message=message, event="store", state="received", actor="sftp:acme",
                             detail="file ORDERS_1.edi"))
    if state != "received":
        session.add(MessageEvent(message=message, event="reject" if state == "rejected" else "done", state=state,
                                 actor="worker-1", detail=error))
    session.flush()
    return message


@pytest.fixture
def world(session) -> World:
    acme = Partner(code="ACME", name="Acme Distribution", country="DE", currency="EUR", profile={})
    beta = Partner(code="BETA", name="Beta Handel", country="AT", currency="EUR", profile={})
    session.add_all([acme, beta])
    session.flush()
    session.add(PartnerIdentifier(partner=acme, scheme="GLN", qualifier="14", value="4012345000009"))
    session.add(Channel(partner=acme, name="acme-sftp", kind="sftp", direction="both", settings={}))
    widget = Product(sku="WID-100", gtin="4012345000016", name="Widget, blue", category="Widgets",
                     unit="PCE", list_price=Decimal("12.50"), stock=Decimal(250))
    gadget = Product(sku="GAD-200", gtin="4012345000023", name="Gadget deluxe", category="Gadgets",
                     unit="PCE", list_price=Decimal("99.00"), stock=Decimal(3))
    retired = Product(sku="OLD-1", name="Retired thing", unit="PCE", list_price=Decimal(1), active=False)
    session.add_all([widget, gadget, retired])
    session.flush()
    session.add_all([
        Price(partner_id=acme.id, product=widget, price=Decimal("9.80"), min_quantity=Decimal(1)),
        Price(partner_id=acme.id, product=widget, price=Decimal("8.90"), min_quantity=Decimal(100)),
        Price(partner_id=beta.id, product=widget, price=Decimal("11.11"), min_quantity=Decimal(1)),
    ])
    _user(session, "buyer@acme.example", "buyer", acme)
    _user(session, "accounts@acme.example", "accounts", acme)
    _user(session, "buyer@beta.example", "buyer", beta)
    _user(session, "ops@kontor.example", "ops_operator")
    _user(session, "viewer@kontor.example", "ops_viewer")
    acme_order = _order(session, acme, "PO-ACME-1", widget)
    beta_order = _order(session, beta, "PO-BETA-1", gadget)
    session.add(OrderResponse(order=acme_order, partner_id=acme.id, number="OR-1", response_code="29",
                              issue_date=dt.date(2026, 11, 20), document={}))
    session.add(DespatchAdvice(order=acme_order, partner_id=acme.id, number="DN-1", carrier="DHL",
                               tracking_number="TRACK123", despatch_date=dt.date(2026, 11, 21),
                               document={"packages": [{"level": "1", "package_type": "201",
                                                       "sscc": "340123450000000017",
                                                       "lines": [{"quantity": "3", "supplier_sku": "WID-100"}]}]}))
    session.add(Invoice(order=acme_order, partner_id=acme.id, number="INV-1", issue_date=dt.date(2026, 11, 22),
                        currency="EUR", total=Decimal("34.99"), tax_total=Decimal("5.59"), document={}))
    acme_message = _message(session, acme, b"UNB+UNOC:3+A+B+261125:1200+IC0002'UNZ+0+IC0002'",
                            order=acme_order, ref="IC0002")
    error_message = _message(
        session, acme, ORDERS_WITH_ERROR, state="rejected",
        issues=[{"segment": 4, "tag": "DTM", "element": 1, "component": 2,
                 "message": "2026112X is not a date (CCYYMMDD)", "code": "12"}],
        error="segment 4 (DTM) element 1.2: 2026112X is not a date (CCYYMMDD)",
    )
    outbound = _message(session, acme, b"UNB+UNOC:3+B+A+261125:1200+9'UNZ+0+9'", direction="out",
                        document_type="ORDRSP", state="delivered", ref="9")
    beta_message = _message(session, beta, b"UNB+UNOC:3+C+B+261125:1200+IC0003'UNZ+0+IC0003'",
                            order=beta_order, ref="IC0003")
    session.commit()
    return World(acme=acme.id, beta=beta.id, widget=widget.id, gadget=gadget.id, acme_order=acme_order.id,
                 beta_order=beta_order.id, beta_message=beta_message.id, acme_message=acme_message.id,
                 error_message=error_message.id, outbound_message=outbound.id)


@pytest.fixture
def app(settings, session_factory, world):
    app = create_app(settings, session_factory)
    app.config.update(TESTING=True)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client, path: str = "/login") -> str:
    page = client.get(path)
    match = _TOKEN.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client, email: str, password: str = PASSWORD):
    token = csrf_token(client)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def post(client, path: str, data: dict | None = None, *, token_from: str = "/cart", **kw):
    """POST with a valid CSRF token (taken from a page of the signed-in user)."""
    data = dict(data or {})
    data["csrf_token"] = csrf_token(client, token_from)
    return client.post(path, data=data, **kw)


@pytest.fixture
def acme_client(client):
    response = login(client, "buyer@acme.example")
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def ops_client(client):
    response = login(client, "ops@kontor.example")
    assert response.status_code == 302
    return client


def rows(session, stmt) -> list:
    """Run a read and end the transaction at once (SQLite: the web requests need the lock)."""
    try:
        return list(session.execute(stmt))
    finally:
        session.rollback()
