"""The partner REST API: OAuth2 client credentials, scopes, partner isolation, orders, documents, catalogue."""

from __future__ import annotations

import base64
import datetime as dt
import re
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from hub.api import create_client
from hub.api_models import SCOPES, ApiClient, ApiToken, digest
from hub.models import AuditEntry, DespatchAdvice, Invoice, Order
from tests.extranet.conftest import rows

ALL = list(SCOPES)


@pytest.fixture
def clients(session, world):
    """Client credentials: ACME with every scope, ACME with catalog:read only, BETA with every scope."""
    made = {
        "acme": create_client(session, "ACME", ALL),
        "acme_catalog": create_client(session, "ACME", ["catalog:read"]),
        "beta": create_client(session, "BETA", ALL),
    }
    beta_order = session.get(Order, world.beta_order)
    session.add(DespatchAdvice(order=beta_order, partner_id=world.beta, number="DN-B1", document={}))
    session.add(Invoice(order=beta_order, partner_id=world.beta, number="INV-B1", issue_date=dt.date(2026, 11, 23),
                        currency="EUR", total=Decimal("10"), tax_total=Decimal("1.60"), document={}))
    session.commit()
    return {name: (c.client.client_id, c.secret) for name, c in made.items()}


def get_token(client, credentials, scope: str | None = None) -> str:
    client_id, secret = credentials
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = client.post("/api/v1/oauth/token", data=data, headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def acme(client, clients):
    return bearer(get_token(client, clients["acme"]))


@pytest.fixture
def beta(client, clients):
    return bearer(get_token(client, clients["beta"]))


def ids(session, model, partner_id) -> list[int]:
    return [i for (i,) in rows(session, select(model.id).where(model.partner_id == partner_id))]


# --- tokens -------------------------------------------------------------------------------------


def test_token_with_basic_and_post_authentication(client, clients, session):
    client_id, secret = clients["acme"]
    token = get_token(client, clients["acme"])
    response = client.post("/api/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "scope": "orders:read"})
    assert response.status_code == 200
    body = response.json
    assert body["token_type"].lower() == "bearer" and body["expires_in"] == 3600 and body["scope"] == "orders:read"
    # Stored hashed, never as given; the client's secret likewise.
    stored = [h for (h,) in rows(session, select(ApiToken.token_hash))]
    assert digest(token) in stored and token not in stored
    [(secret_hash,)] = rows(session, select(ApiClient.secret_hash).where(ApiClient.client_id == client_id))
    assert secret_hash == digest(secret) and secret not in secret_hash


def test_token_refused_for_wrong_secret_unknown_client_and_scope(client, clients):
    client_id, _ = clients["acme_catalog"]
    wrong = client.post("/api/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": "nope"})
    assert wrong.status_code in (400, 401) and wrong.json["error"] == "invalid_client"
    unknown = client.post("/api/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_id": "nobody", "client_secret": "nope"})
    assert unknown.json["error"] == "invalid_client"
    response = client.post("/api/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": clients["acme_catalog"][1],
        "scope": "orders:read"})
    assert response.status_code == 400 and response.json["error"] == "invalid_scope"
    grant = client.post("/api/v1/oauth/token", data={"grant_type": "password", "client_id": client_id,
                                                     "client_secret": clients["acme_catalog"][1]})
    assert grant.status_code == 400 and grant.json["error"] == "unsupported_grant_type"


def test_requests_without_a_valid_token_are_401(client, clients, session):
    missing = client.get("/api/v1/orders")
    assert missing.status_code == 401 and missing.json["error"]["code"] == "unauthorized"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    bad = client.get("/api/v1/orders", headers=bearer("not-a-token"))
    assert bad.status_code == 401 and bad.json["error"]["code"] == "invalid_token"
    token = get_token(client, clients["acme"])
    assert client.get("/api/v1/orders", headers=bearer(token)).status_code == 200
    session.execute(update(ApiToken).values(expires_at=dt.datetime(2000, 1, 1)))
    session.commit()
    assert client.get("/api/v1/orders", headers=bearer(token)).status_code == 401
    token = get_token(client, clients["acme"])
    # Tokens long expired are dropped when the client gets a new one.
    assert rows(session, select(ApiToken.id).where(ApiToken.expires_at < dt.datetime(2001, 1, 1))) == []
    session.execute(update(ApiClient).where(ApiClient.client_id == clients["acme"][0]).values(active=False))
    session.commit()
    assert client.get("/api/v1/orders", headers=bearer(token)).status_code == 401


def test_a_narrower_token_gets_only_its_scope(client, clients):
    token = bearer(get_token(client, clients["acme"], "catalog:read"))
    assert client.get("/api/v1/catalog", headers=token).status_code == 200
    assert client.get("/api/v1/orders", headers=token).status_code == 403


# --- isolation and scopes: every endpoint -------------------------------------------------------

ENDPOINTS = [  # (method, path with {id}, scope, kind of id)
    ("GET", "/api/v1/orders", "orders:read", None),
    ("POST", "/api/v1/orders", "orders:write", None),
    ("GET", "/api/v1/orders/{id}", "orders:read", Order),
    ("GET", "/api/v1/despatches", "despatches:read", None),
    ("GET", "/api/v1/despatches/{id}", "despatches:read", DespatchAdvice),
    ("GET", "/api/v1/invoices", "invoices:read", None),
    ("GET", "/api/v1/invoices/{id}", "invoices:read", Invoice),
    ("GET", "/api/v1/catalog", "catalog:read", None),
    ("GET", "/api/v1/catalog/WID-100", "catalog:read", None),
    ("GET", "/api/v1/prices", "catalog:read", None),
]


def test_every_resource_needs_its_scope(client, clients, session, world):
    for method, path, scope, model in ENDPOINTS:
        others = [s for s in ALL if s != scope]
        token = bearer(get_token(client, clients["acme"], " ".join(others)))
        url = path.format(id=ids(session, model, world.acme)[0]) if model else path
        response = client.open(url, method=method, headers=token, json={})
        assert response.status_code == 403, (method, url, response.status_code)
        assert response.json["error"]["code"] == "insufficient_scope"


def test_another_partners_records_are_404(client, acme, beta, session, world):
    for _method, path, _scope, model in ENDPOINTS:
        if model is None:
            continue
        for record_id in ids(session, model, world.beta):
            response = client.get(path.format(id=record_id), headers=acme)
            assert response.status_code == 404, path
            assert response.json == {"error": {"code": "not_found", "message": "no such record for this partner"}}
            assert client.get(path.format(id=record_id), headers=beta).status_code == 200
        assert client.get(path.format(id=999999), headers=acme).status_code == 404
        assert client.get(path.format(id=2**40), headers=acme).status_code == 404


def test_lists_hold_only_the_partners_own_records(client, acme, beta):
    assert [o["number"] for o in client.get("/api/v1/orders", headers=acme).json["items"]] == ["PO-ACME-1"]
    assert [o["number"] for o in client.get("/api/v1/orders", headers=beta).json["items"]] == ["PO-BETA-1"]
    assert [d["number"] for d in client.get("/api/v1/despatches", headers=acme).json["items"]] == ["DN-1"]
    assert [d["number"] for d in client.get("/api/v1/despatches", headers=beta).json["items"]] == ["DN-B1"]
    assert [i["number"] for i in client.get("/api/v1/invoices", headers=acme).json["items"]] == ["INV-1"]
    assert [i["number"] for i in client.get("/api/v1/invoices", headers=beta).json["items"]] == ["INV-B1"]


def test_order_filter_on_documents_does_not_reach_other_partners(client, acme, world):
    response = client.get(f"/api/v1/despatches?order_id={world.beta_order}", headers=acme)
    assert response.status_code == 200 and response.json["items"] == []


# --- orders -------------------------------------------------------------------------------------


def test_order_detail_has_lines_and_chain(client, acme, world):
    body = client.get(f"/api/v1/orders/{world.acme_order}", headers=acme).json
    assert body["number"] == "PO-ACME-1" and body["status"] == "confirmed"
    assert body["lines"] == [{
        "line_no": "1", "sku": "WID-100", "gtin": "4012345000016", "description": "Widget, blue",
        "quantity": "3", "confirmed_quantity": "3", "unit": "PCE", "unit_price": "10.00",
        "line_amount": "30.00", "status": "accepted",
    }]
    kinds = [(link["kind"], link["number"]) for link in body["chain"]]
    assert kinds == [("order", "PO-ACME-1"), ("order_response", "OR-1"), ("despatch_advice", "DN-1"),
                     ("invoice", "INV-1")]
    assert body["chain"][0]["messages"][0]["id"] == world.acme_message


def test_list_orders_paging_and_filters(client, acme):
    for n in range(3):
        response = client.post("/api/v1/orders", headers=acme,
                               json={"number": f"API-{n}", "lines": [{"supplier_sku": "WID-100", "quantity": "1"}]})
        assert response.status_code == 201, response.json
    page = client.get("/api/v1/orders?per_page=2", headers=acme).json
    assert (page["total"], page["pages"], len(page["items"])) == (4, 2, 2)
    assert [o["number"] for o in client.get("/api/v1/orders?per_page=2&page=2", headers=acme).json["items"]] \
        == ["API-0", "PO-ACME-1"]
    assert [o["number"] for o in client.get("/api/v1/orders?number=api-1", headers=acme).json["items"]] == ["API-1"]
    confirmed = client.get("/api/v1/orders?status=confirmed", headers=acme).json["items"]
    assert confirmed and {o["status"] for o in confirmed} == {"confirmed"}
    assert client.get("/api/v1/orders?status=cancelled", headers=acme).json["total"] == 0
    today = dt.date.today()
    assert client.get(f"/api/v1/orders?created_from={today}", headers=acme).json["total"] >= 3
    for query, field in (("per_page=0", "per_page"), ("per_page=1000", "per_page"), ("page=x", "page"),
                         ("status=lost", "status"), ("created_from=yesterday", "created_from")):
        response = client.get(f"/api/v1/orders?{query}", headers=acme)
        assert response.status_code == 400, query
        assert response.json["error"]["code"] == "invalid_request"
        assert response.json["error"]["field"] == field and response.json["error"]["message"].startswith(field)


def test_place_an_order(client, acme, session, world):
    response = client.post("/api/v1/orders", headers=acme, json={
        "number": "API-100",
        "requested_delivery": (dt.date.today() + dt.timedelta(days=7)).isoformat(),
        "notes": ["ring twice"],
        "lines": [{"supplier_sku": "WID-100", "quantity": 120}, {"gtin": "4012345000023", "quantity": 2.5}],
    })
    assert response.status_code == 201, response.json
    body = response.json
    assert response.headers["Location"].endswith(f"/api/v1/orders/{body['id']}")
    assert body["source"] == "api" and body["status"] in ("received", "confirmed")
    assert [(line["sku"], line["quantity"], line["unit_price"]) for line in body["lines"]] == [
        ("WID-100", "120", "8.90"), ("GAD-200", "2.5", "99.00")]  # the contract's quantity break
    assert body["document"]["parties"][0]["role"] == "BY" and body["document"]["parties"][0]["id"] == "4012345000009"
    [(partner_id, source)] = rows(session, select(Order.partner_id, Order.source).where(Order.number == "API-100"))
    assert (partner_id, source) == (world.acme, "api")
    [(actor,)] = rows(session, select(AuditEntry.actor).where(AuditEntry.action == "order.placed"))
    assert actor.startswith("api:acme-")
    again = client.post("/api/v1/orders", headers=acme,
                        json={"number": "API-100", "lines": [{"supplier_sku": "WID-100", "quantity": "1"}]})
    assert again.status_code == 422 and again.json["error"]["code"] == "order_rejected"
    assert "already received" in again.json["error"]["message"]


@pytest.mark.parametrize(("body", "field"), [
    ({"lines": [{"supplier_sku": "WID-100", "quantity": "1"}]}, "$.number"),
    ({"number": "X", "lines": []}, "$.lines"),
    ({"number": "X", "lines": [{"supplier_sku": "WID-100", "quantity": "abc"}]}, "$.lines[0].quantity"),
    ({"number": "X", "lines": [{"supplier_sku": "WID-100", "quantity": "-1"}]}, "$.lines[0].quantity"),
    ({"number": "X", "lines": [{"supplier_sku": "WID-100", "quantity": "NaN"}]}, "$.lines[0].quantity"),
    ({"number": "X", "lines": [{"supplier_sku": "WID-100"}]}, "$.lines[0].quantity"),
    ({"number": "X", "lines": [{"quantity": "1"}]}, "$.lines[0].supplier_sku"),
    ({"number": "X", "lines": [{"supplier_sku": "WID-100", "quantity": "1", "colour": "red"}]}, "$.lines[0]"),
    ({"number": "X", "issue_date": "tomorrow", "lines": [{"supplier_sku": "WID-100", "quantity": "1"}]},
     "$.issue_date"),
    ({"number": "X" * 36, "lines": [{"supplier_sku": "WID-100", "quantity": "1"}]}, "$.number"),
    ({"document": "Invoice", "number": "X"}, "$.document"),
    ([1, 2], "$"),
])
def test_order_validation_names_the_field(client, acme, body, field):
    response = client.post("/api/v1/orders", headers=acme, json=body)
    assert response.status_code == 400, response.json
    error = response.json["error"]
    assert error["code"] == "invalid_request" and error["field"] == field and error["message"].startswith(field)


def test_order_body_must_be_json(client, acme):
    response = client.post("/api/v1/orders", headers=acme, data="number=1")
    assert response.status_code == 415 and response.json["error"]["code"] == "unsupported_media_type"
    response = client.post("/api/v1/orders", headers=acme, data="{", content_type="application/json")
    assert response.status_code == 400 and response.json["error"]["code"] == "invalid_json"


def test_unknown_items_are_rejected_with_every_problem(client, acme):
    response = client.post("/api/v1/orders", headers=acme, json={"number": "API-X", "lines": [
        {"supplier_sku": "NOPE", "quantity": "1"}, {"supplier_sku": "OLD-1", "quantity": "1"}]})
    assert response.status_code == 422
    details = response.json["error"]["details"]
    assert len(details) == 2 and "unknown item" in details[0] and "no longer sold" in details[1]


def test_an_order_cannot_name_another_buyer(client, acme):
    response = client.post("/api/v1/orders", headers=acme, json={
        "number": "API-Y", "parties": [{"role": "BY", "id": "4000001000005"}],
        "lines": [{"supplier_sku": "WID-100", "quantity": "1"}]})
    assert response.status_code == 422 and response.json["error"]["field"] == "$.parties"


# --- documents and catalogue ------------------------------------------------------------------


def test_despatch_and_invoice_detail(client, acme, session, world):
    [despatch_id] = ids(session, DespatchAdvice, world.acme)
    body = client.get(f"/api/v1/despatches/{despatch_id}", headers=acme).json
    assert body["number"] == "DN-1" and body["order_number"] == "PO-ACME-1" and body["carrier"] == "DHL"
    assert body["document"]["packages"][0]["sscc"] == "340123450000000017"
    [invoice_id] = ids(session, Invoice, world.acme)
    body = client.get(f"/api/v1/invoices/{invoice_id}", headers=acme).json
    assert (body["number"], body["total"], body["tax_total"], body["currency"]) == ("INV-1", "34.99", "5.59", "EUR")
    assert client.get("/api/v1/invoices?issued_from=2026-11-23", headers=acme).json["items"] == []
    assert client.get(f"/api/v1/invoices?order_id={world.acme_order}", headers=acme).json["total"] == 1


def test_catalog_and_prices_are_the_partners_own(client, acme, beta):
    items = {i["sku"]: i for i in client.get("/api/v1/catalog", headers=acme).json["items"]}
    assert set(items) == {"WID-100", "GAD-200"}  # retired products are not offered
    widget = items["WID-100"]
    assert widget["unit_price"] == "9.80" and widget["contract"] is True
    assert [(b["min_quantity"], b["price"]) for b in widget["breaks"]] == [("1", "9.80"), ("100", "8.90")]
    assert items["GAD-200"]["unit_price"] == "99.00" and items["GAD-200"]["contract"] is False
    assert client.get("/api/v1/catalog/WID-100", headers=beta).json["unit_price"] == "11.11"
    assert client.get("/api/v1/catalog/OLD-1", headers=acme).status_code == 404
    assert client.get("/api/v1/catalog?q=gadget", headers=acme).json["total"] == 1
    prices = client.get("/api/v1/prices", headers=acme).json["items"]
    assert [(p["sku"], p["min_quantity"], p["price"]) for p in prices] == [("WID-100", "1", "9.80"),
                                                                         ("WID-100", "100", "8.90")]
    assert [p["price"] for p in client.get("/api/v1/prices", headers=beta).json["items"]] == ["11.11"]
    assert client.get("/api/v1/prices?on=1999-01-01", headers=acme).json["items"] == []


def test_unknown_api_path_and_method_answer_json(client, acme):
    response = client.get("/api/v1/nothing", headers=acme)
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
    response = client.delete("/api/v1/orders", headers=acme)
    assert response.status_code == 405 and "error" in response.json


# --- the command line ----------------------------------------------------------------------------


def test_cli_creates_a_client_that_gets_a_token(client, world, db_url, session):
    from hub.cli import main

    result = CliRunner().invoke(main, ["api", "client", "create", "BETA", "--scope", "orders:read invoices:read"],
                                env={"KONTOR_DATABASE_URL": db_url})
    assert result.exit_code == 0, result.output
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines() if ":" in line)
    credentials = (lines["client_id"].strip(), lines["client_secret"].strip())
    assert lines["scope"].strip() == "orders:read invoices:read"
    token = bearer(get_token(client, credentials))
    assert [o["number"] for o in client.get("/api/v1/orders", headers=token).json["items"]] == ["PO-BETA-1"]
    bad = CliRunner().invoke(main, ["api", "client", "create", "BETA", "--scope", "orders:delete"],
                             env={"KONTOR_DATABASE_URL": db_url})
    assert bad.exit_code == 2 and "unknown scope" in bad.output
    revoked = CliRunner().invoke(main, ["api", "client", "revoke", credentials[0]], env={"KONTOR_DATABASE_URL": db_url})
    assert revoked.exit_code == 0
    assert client.get("/api/v1/orders", headers=token).status_code == 401


def test_api_orders_respect_the_credit_limit(client, acme, session, world):
    from hub.models import Partner

    session.get(Partner, world.acme).credit_limit = Decimal("100.00")  # PO-ACME-1 (30.00) is open
    session.commit()
    over = client.post("/api/v1/orders", headers=acme, json={
        "number": "PO-API-CREDIT", "lines": [{"supplier_sku": "WID-100", "quantity": "10"}]})  # 98.00
    assert over.status_code == 422
    error = over.json["error"]
    assert error["code"] == "credit_limit_exceeded"
    assert "over your credit limit" in error["message"] and "at most 70.00 EUR" in error["message"]
    assert rows(session, select(Order.id).where(Order.number == "PO-API-CREDIT")) == []
    within = client.post("/api/v1/orders", headers=acme, json={
        "number": "PO-API-CREDIT", "lines": [{"supplier_sku": "WID-100", "quantity": "7"}]})  # 68.60
    assert within.status_code == 201, within.json
    # a replacement is checked against the credit without the order it replaces
    replaced = client.post("/api/v1/orders", headers=acme, json={
        "number": "PO-API-CREDIT", "function": "5", "lines": [{"supplier_sku": "WID-100", "quantity": "7"}]})
    assert replaced.status_code in (200, 201), replaced.json


def test_the_endpoint_list_covers_every_api_route():
    """ENDPOINTS above is written by hand: every route of extranet.api that needs a token is in it,
    with its scope, and nothing else is."""
    from extranet.api import ROUTES

    def pattern(rule: str) -> re.Pattern:
        return re.compile("^/api/v1" + re.sub(r"<[^>]+>", "[^/]+", rule) + "$")

    declared = {(r.method, r.rule, r.scope) for r in ROUTES if r.scope is not None}
    listed = set()
    for method, path, scope, _model in ENDPOINTS:
        matches = [r for r in ROUTES if r.method == method and pattern(r.rule).match(path.format(id=1))]
        assert len(matches) == 1, (method, path)
        listed.add((method, matches[0].rule, scope))
    assert listed == declared
