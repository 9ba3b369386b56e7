"""A partner's user never reaches another partner's data through a query string, a form field or a body.

tests/extranet/test_isolation.py tries the other partner's ids in URL paths. These try them (and products
outside the own assortment) in every field that carries an id, a number, a SKU or a cursor: the catalogue's
``after``/``before``, the message list's ``before``, order and document searches, cart, quick order, CSV
upload and its fix-in-place form, the order number at checkout, templates, and the partner API's filters and
order creation (replacing or cancelling the other partner's order number).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from edi import documents as docs
from hub.models import AssortmentItem, DespatchAdvice, Invoice, Message, Order, OrderLine, Partner, Product, User
from hub.portal_models import OrderApproval, OrderTemplate, SupplierDocument, SupplierOrder
from hub.turnaround import create_supplier_order
from tests.extranet.conftest import _user, login, post, rows
from tests.extranet.test_api import acme, beta, clients  # noqa: F401 (fixtures)

_SKU = re.compile(r'name="sku" value="([^"]+)"')


def _skus(response) -> list[str]:
    """The SKUs of the catalogue page's "add to cart" forms, in page order."""
    assert response.status_code == 200, response.status_code
    return _SKU.findall(response.get_data(as_text=True))


def _beta_order_state(session, world) -> tuple:
    """Everything of BETA's order that a foreign request could change."""
    [order] = rows(session, select(Order.number, Order.status, Order.total, Order.partner_id, Order.source,
                                   Order.document).where(Order.id == world.beta_order))
    lines = rows(session, select(OrderLine.line_no, OrderLine.sku, OrderLine.quantity, OrderLine.status)
                 .where(OrderLine.order_id == world.beta_order).order_by(OrderLine.line_no))
    return tuple(order), [tuple(line) for line in lines]


@pytest.fixture
def assortment(session, world):
    """ACME is restricted to five products named A- to E-; BETA's shop holds three more products that sort
    between them (by name), which only an unrestricted partner sees."""
    acme = session.get(Partner, world.acme)
    acme.assortment_restricted = True
    own, foreign = {}, {}
    for letter in "ABCDE":
        product = Product(sku=f"OWN-{letter}", name=f"{letter} own product", unit="PCE", list_price=Decimal(5))
        session.add(product)
        own[letter] = product
    for name in ("B foreign middle", "C foreign middle", "D foreign middle"):
        product = Product(sku=f"FOR-{name[0]}", name=name, unit="PCE", list_price=Decimal(7))
        session.add(product)
        foreign[name[0]] = product
    session.flush()
    for product in own.values():
        session.add(AssortmentItem(partner_id=world.acme, product_id=product.id))
    session.commit()
    return {"own": {k: p.id for k, p in own.items()}, "foreign": {k: p.id for k, p in foreign.items()}}


# --- catalogue cursors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("cursor", ["after", "before"])
@pytest.mark.parametrize("letter", ["B", "C", "D"])
def test_a_catalogue_cursor_outside_the_assortment_reveals_no_position(acme_client, assortment, cursor, letter):
    plain = _skus(acme_client.get("/"))
    assert plain == ["OWN-A", "OWN-B", "OWN-C", "OWN-D", "OWN-E"]
    foreign_id = assortment["foreign"][letter]
    assert _skus(acme_client.get(f"/?{cursor}={foreign_id}")) == plain
    # the same cursor with a search and the filters: still no position
    assert _skus(acme_client.get(f"/?q=own&{cursor}={foreign_id}")) == plain
    # an own product's cursor does page (the check above could tell the difference)
    own_id = assortment["own"][letter]
    paged = _skus(acme_client.get(f"/?{cursor}={own_id}"))
    assert paged != plain and f"OWN-{letter}" not in paged


def test_a_catalogue_cursor_of_an_inactive_product_starts_over(acme_client, assortment, session):
    retired = rows(session, select(Product.id).where(Product.sku == "OLD-1"))[0][0]
    plain = _skus(acme_client.get("/"))
    assert _skus(acme_client.get(f"/?after={retired}")) == plain
    assert _skus(acme_client.get(f"/?before={retired}")) == plain


# --- message list cursor -----------------------------------------------------------------------------------


def _message_ids(response) -> list[int]:
    assert response.status_code == 200, response.status_code
    return [int(i) for i in re.findall(r'href="/messages/(\d+)"', response.get_data(as_text=True))]


def test_a_message_cursor_of_the_other_partner_reveals_no_position(acme_client, session, world):
    # BETA's message is the oldest: were its time used as the cursor, ACME's page would be empty
    session.execute(update(Message).where(Message.id == world.beta_message)
                    .values(created_at=dt.datetime(2020, 1, 1)))
    session.commit()
    plain = _message_ids(acme_client.get("/messages"))
    assert sorted(plain) == sorted([world.acme_message, world.error_message, world.outbound_message])
    foreign = _message_ids(acme_client.get(f"/messages?before={world.beta_message}"))
    # the page is what a cursor naming no message at all gives
    missing = _message_ids(acme_client.get(f"/messages?before={world.beta_message + 1000}"))
    assert foreign == missing == plain


def test_an_own_message_cursor_still_pages(acme_client, world):
    plain = _message_ids(acme_client.get("/messages"))
    paged = _message_ids(acme_client.get(f"/messages?before={plain[0]}"))
    assert paged == plain[1:]


# --- order and document searches ---------------------------------------------------------------------------


@pytest.fixture
def beta_documents(session, world):
    """BETA's despatch advice and invoice ids."""
    despatch = DespatchAdvice(order_id=world.beta_order, partner_id=world.beta, number="DN-BETA-9",
                              tracking_number="BETATRACK", document={})
    invoice = Invoice(order_id=world.beta_order, partner_id=world.beta, number="INV-BETA-9",
                      issue_date=dt.date(2026, 11, 23), currency="EUR", total=Decimal("77.77"),
                      tax_total=Decimal("1"), document={})
    session.add_all([despatch, invoice])
    session.commit()
    return {"order": world.beta_order, "despatch": despatch.id, "invoice": invoice.id}


@pytest.mark.parametrize("query", [
    "/orders?q=PO-BETA-1", "/orders?q=BETA", "/orders?q=PO-BETA-1&status=confirmed", "/orders?page=1&status=confirmed",
    "/documents?kind=invoices", "/documents?kind=despatches", "/documents?kind=invoices&page=2",
    "/documents/search?q=DN-BETA-9", "/documents/search?q=INV-BETA-9", "/documents/search?q=PO-BETA-1",
    "/documents/search?q=BETATRACK", "/documents/search?q=BETA",
])
def test_searches_for_the_other_partners_numbers_find_nothing(acme_client, beta_documents, query):
    response = acme_client.get(query)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    typed = query.partition("q=")[2].partition("&")[0]
    for foreign in ("PO-BETA-1", "DN-BETA-9", "INV-BETA-9", "BETATRACK", "77.77", "Beta Handel"):
        if not typed or typed not in foreign:  # the search box shows what was typed
            assert foreign not in body, (query, foreign)
    assert body.count(typed or "PO-BETA-1") <= 2  # echoed (box, heading) at most, never listed
    for link in (f"/orders/{beta_documents['order']}\"", f"/invoices/{beta_documents['invoice']}\"",
                 f"/deliveries/{beta_documents['despatch']}\""):
        assert link not in body, (query, link)


def test_own_documents_are_found_by_the_same_searches(acme_client, beta_documents):
    assert "PO-ACME-1" in acme_client.get("/orders?q=PO-ACME-1").get_data(as_text=True)
    assert "INV-1" in acme_client.get("/documents/search?q=INV-1").get_data(as_text=True)
    assert "DN-1" in acme_client.get("/documents?kind=despatches").get_data(as_text=True)


# --- cart, quick order, uploads: products outside the assortment -------------------------------------------


def _cart_skus(client) -> set[str]:
    body = client.get("/cart").get_data(as_text=True)
    return {sku for sku in ("OWN-A", "FOR-B", "FOR-C", "FOR-D", "GAD-200", "WID-100") if sku in body}


@pytest.mark.parametrize("code", ["FOR-C", "for-c", "GAD-200", "4012345000023", "WID-100"])
def test_cart_add_refuses_products_outside_the_assortment(acme_client, assortment, code):
    response = post(acme_client, "/cart/add", {"sku": code, "quantity": "2"}, token_from="/")
    assert response.status_code == 302
    page = acme_client.get("/cart").get_data(as_text=True)
    assert _cart_skus(acme_client) == set()
    assert "not in the catalogue" in page or "Not added" in page


def test_cart_update_cannot_slip_in_a_product_outside(acme_client, assortment):
    post(acme_client, "/cart/add", {"sku": "OWN-A", "quantity": "1"}, token_from="/")
    foreign = assortment["foreign"]["C"]
    post(acme_client, "/cart/update", {f"quantity-{assortment['own']['A']}": "3", f"quantity-{foreign}": "5"},
         token_from="/cart")
    assert _cart_skus(acme_client) == {"OWN-A"}


def test_quick_order_refuses_products_outside_the_assortment(acme_client, assortment):
    response = post(acme_client, "/quick-order", {"lines": "OWN-A 1\nFOR-C 4\nGAD-200 2\n4012345000016 1"},
                    token_from="/quick-order")
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    for code in ("FOR-C", "GAD-200", "4012345000016"):
        assert code in body  # named as a row to fix
    assert "Gadget deluxe" not in body and "C foreign middle" not in body  # nothing about them is told
    assert _cart_skus(acme_client) == {"OWN-A"}


def test_csv_upload_and_its_fix_form_refuse_products_outside(acme_client, assortment):
    data = {"file": (io.BytesIO(b"sku,quantity\nOWN-B,1\nFOR-D,3\nGAD-200,1\n"), "order.csv")}
    response = post(acme_client, "/upload", data, token_from="/upload", content_type="multipart/form-data")
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "FOR-D" in body and "GAD-200" in body and "D foreign middle" not in body
    first = acme_client.get("/cart").get_data(as_text=True)
    assert "OWN-B" in first and "FOR-D" not in first and "GAD-200" not in first
    # the fix-in-place form with a product outside typed in again
    fixed = post(acme_client, "/upload/fix", {"row": ["3", "4"], "sku-3": "FOR-D", "quantity-3": "3",
                                              "sku-4": "GAD-200", "quantity-4": "1"}, token_from="/upload")
    assert fixed.status_code == 422
    cart = acme_client.get("/cart").get_data(as_text=True)
    assert "FOR-D" not in cart and "GAD-200" not in cart and "OWN-B" in cart


# --- checkout with the other partner's order number --------------------------------------------------------


def test_checkout_with_the_other_partners_order_number_leaves_its_order_alone(acme_client, session, world):
    before = _beta_order_state(session, world)
    post(acme_client, "/cart/add", {"sku": "WID-100", "quantity": "2"}, token_from="/")
    response = post(acme_client, "/checkout", {"number": "PO-BETA-1"}, token_from="/checkout")
    assert response.status_code == 302, response.get_data(as_text=True)
    placed = rows(session, select(Order.partner_id, Order.total).where(Order.number == "PO-BETA-1")
                  .order_by(Order.id))
    assert sorted(p for p, _ in placed) == sorted([world.acme, world.beta])
    assert _beta_order_state(session, world) == before
    assert "Beta" not in acme_client.get(response.headers["Location"]).get_data(as_text=True)


# --- templates: the other partner's template ids and orders ------------------------------------------------


@pytest.fixture
def beta_template(session, world):
    template = OrderTemplate(partner_id=world.beta, name="Beta weekly",
                             lines=[{"product_id": world.gadget, "sku": "GAD-200", "quantity": "9", "note": ""}])
    session.add(template)
    session.commit()
    return template.id


@pytest.mark.parametrize("path", ["/templates/{t}/order", "/templates/{t}/delete"])
def test_the_other_partners_template_can_be_neither_ordered_nor_deleted(acme_client, session, beta_template, path):
    response = post(acme_client, path.format(t=beta_template), token_from="/")
    assert response.status_code == 404
    assert rows(session, select(OrderTemplate.name).where(OrderTemplate.id == beta_template)) == [("Beta weekly",)]
    assert "GAD-200" not in acme_client.get("/cart").get_data(as_text=True)
    assert "Beta weekly" not in acme_client.get("/templates").get_data(as_text=True)
    assert acme_client.get(f"/templates/{beta_template}").status_code == 404


def test_a_template_from_the_other_partners_order_is_not_made(acme_client, session, world):
    response = post(acme_client, f"/orders/{world.beta_order}/template", {"name": "stolen"}, token_from="/")
    assert response.status_code == 404
    assert rows(session, select(OrderTemplate.id).where(OrderTemplate.name == "stolen")) == []


def test_another_partners_user_cannot_be_changed_by_id(acme_admin, session, world):
    client = acme_admin
    [(beta_user, beta_role)] = rows(session, select(User.id, User.role).where(User.email == "buyer@beta.example"))
    assert post(client, f"/users/{beta_user}/role", {"role": "admin"}, token_from="/").status_code == 404
    assert post(client, f"/users/{beta_user}/remove", token_from="/").status_code == 404
    assert rows(session, select(User.role, User.active).where(User.id == beta_user)) == [(beta_role, True)]
    assert "buyer@beta.example" not in client.get("/users").get_data(as_text=True)


# --- the partner API: filters and order numbers ------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "/api/v1/despatches?order_id={beta_order}", "/api/v1/invoices?order_id={beta_order}",
    "/api/v1/orders?number=PO-BETA-1", "/api/v1/orders?number=BETA", "/api/v1/orders?status=confirmed&per_page=100",
    "/api/v1/despatches?per_page=100&page=1", "/api/v1/invoices?per_page=100",
    "/api/v1/prices?sku=WID-100", "/api/v1/prices?per_page=100",
])
def test_api_filters_with_the_other_partners_ids_return_only_own(client, acme, world, path):
    response = client.get(path.format(beta_order=world.beta_order), headers=acme)
    assert response.status_code == 200, response.json
    body = response.get_data(as_text=True)
    for foreign in ("PO-BETA-1", "DN-B1", "INV-B1", "11.11"):
        assert foreign not in body, (path, foreign)
    if "order_id" in path:
        assert response.json["items"] == []


def test_api_order_filter_finds_own_documents(client, acme, world):
    found = client.get(f"/api/v1/invoices?order_id={world.acme_order}", headers=acme).json
    assert [i["number"] for i in found["items"]] == ["INV-1"]


@pytest.mark.parametrize("path", ["/api/v1/catalog?q={sku}", "/api/v1/prices?sku={sku}", "/api/v1/catalog/{sku}"])
def test_api_catalogue_hides_products_outside_the_assortment(client, acme, assortment, path):
    for sku in ("FOR-C", "GAD-200"):
        response = client.get(path.format(sku=sku), headers=acme)
        body = response.get_data(as_text=True)
        assert sku not in body and "foreign middle" not in body and "Gadget" not in body
        assert response.status_code in (200, 404)
        if response.status_code == 200:
            assert response.json["items"] == []


@pytest.mark.parametrize("function", ["5", "1"])
def test_api_replacing_or_cancelling_the_other_partners_number_leaves_its_order_alone(
        client, acme, session, world, function):
    before = _beta_order_state(session, world)
    lines = [] if function == "1" else [{"supplier_sku": "WID-100", "quantity": "1"}]
    response = client.post("/api/v1/orders", headers=acme,
                           json={"number": "PO-BETA-1", "function": function, "lines": lines})
    body = response.get_data(as_text=True)
    assert "Gadget" not in body and "GAD-200" not in body
    assert (response.json or {}).get("id") != world.beta_order
    assert _beta_order_state(session, world) == before
    own = rows(session, select(Order.id).where(Order.number == "PO-BETA-1", Order.partner_id == world.acme))
    if function == "1":  # nothing of ACME's to cancel
        assert response.status_code in (404, 422), response.json
        assert own == []
    else:  # a replacement of an order ACME never placed: refused, or ACME's own new order
        assert response.status_code in (201, 422), response.json
        assert [i for (i,) in own] == ([response.json["id"]] if response.status_code == 201 else [])


def test_api_original_order_with_the_other_partners_number_is_own(client, acme, beta, session, world):
    before = _beta_order_state(session, world)
    response = client.post("/api/v1/orders", headers=acme,
                           json={"number": "PO-BETA-1", "lines": [{"supplier_sku": "WID-100", "quantity": "2"}]})
    assert response.status_code == 201, response.json
    assert _beta_order_state(session, world) == before
    # each partner sees its own PO-BETA-1 only
    mine = client.get("/api/v1/orders?number=PO-BETA-1", headers=acme).json["items"]
    theirs = client.get("/api/v1/orders?number=PO-BETA-1", headers=beta).json["items"]
    assert [o["id"] for o in mine] == [response.json["id"]]
    assert [o["id"] for o in theirs] == [world.beta_order]
    # ACME cancelling "its" PO-BETA-1 cancels its own, never BETA's
    cancelled = client.post("/api/v1/orders", headers=acme, json={"number": "PO-BETA-1", "function": "1"})
    assert cancelled.status_code == 200 and cancelled.json["id"] == response.json["id"]
    assert _beta_order_state(session, world) == before


def test_api_order_lines_outside_the_assortment_are_refused(client, acme, session, assortment, world):
    response = client.post("/api/v1/orders", headers=acme, json={
        "number": "API-OUT-1", "lines": [{"supplier_sku": "OWN-A", "quantity": "1"},
                                         {"supplier_sku": "FOR-C", "quantity": "1"}]})
    assert response.status_code == 422, response.json
    assert "foreign middle" not in response.get_data(as_text=True)
    assert rows(session, select(Order.id).where(Order.number == "API-OUT-1")) == []


# --- more form fields: product ids, approvals, turnaround document numbers ---------------------------------


def test_cart_add_ignores_a_posted_product_id_outside_the_assortment(acme_client, assortment, world):
    for product_id in (assortment["foreign"]["C"], world.gadget):
        response = post(acme_client, "/cart/add", {"product_id": str(product_id), "quantity": "1"}, token_from="/")
        assert response.status_code == 302
    assert _cart_skus(acme_client) == set()


@pytest.fixture
def acme_admin(client, session, world):
    _user(session, "admin@acme.example", "admin", session.get(Partner, world.acme))
    session.commit()
    assert login(client, "admin@acme.example").status_code == 302
    return client


def test_the_other_partners_pending_order_can_be_neither_approved_nor_rejected(acme_admin, session, world):
    session.execute(update(Order).where(Order.id == world.beta_order).values(status="pending_approval"))
    session.add(OrderApproval(order_id=world.beta_order, partner_id=world.beta, amount=Decimal("297"),
                              threshold=Decimal("100")))
    session.commit()
    before = _beta_order_state(session, world)
    assert post(acme_admin, f"/approvals/{world.beta_order}/approve", token_from="/").status_code == 404
    assert post(acme_admin, f"/approvals/{world.beta_order}/reject", {"reason": "no"}, token_from="/").status_code \
        == 404
    assert _beta_order_state(session, world) == before
    assert rows(session, select(OrderApproval.status).where(OrderApproval.order_id == world.beta_order)) == \
        [("pending",)]
    assert "PO-BETA-1" not in acme_admin.get("/approvals").get_data(as_text=True)


@pytest.fixture
def purchase_orders(session, settings, world) -> dict[str, int]:
    """Our purchase orders to ACME and to BETA; BETA has despatched on its own under number LS-BETA."""
    made = {}
    for code, partner_id in (("acme", world.acme), ("beta", world.beta)):
        order = create_supplier_order(session, settings, session.get(Partner, partner_id), number=f"KO-{code}", lines=[
            docs.OrderLine(line_no="1", supplier_sku="OIL-5", description="Base oil", quantity=Decimal(10),
                           unit="PCE", net_price=Decimal("120.00"))])
        made[code] = order.id
    session.commit()
    return made


def test_turnaround_forms_reach_neither_the_other_partners_order_nor_its_numbers(app, client, session, world,
                                                                                   purchase_orders):
    assert login(client, "buyer@beta.example").status_code == 302
    assert post(client, f"/received-orders/{purchase_orders['beta']}/despatch",
                {"number": "LS-BETA", "quantity-1": "4"}, token_from="/").status_code == 302
    acme = app.test_client()  # ACME's buyer in a browser of its own
    assert login(acme, "buyer@acme.example").status_code == 302
    beta_state = rows(session, select(SupplierOrder.status).where(SupplierOrder.id == purchase_orders["beta"]))
    # ACME posting to BETA's purchase order: not found, nothing recorded
    for kind in ("despatch", "invoice"):
        response = post(acme, f"/received-orders/{purchase_orders['beta']}/{kind}",
                        {"number": "LS-X", "quantity-1": "6", "vat-1": "19"}, token_from="/")
        assert response.status_code == 404
    assert rows(session, select(SupplierDocument.id).where(SupplierDocument.number == "LS-X")) == []
    assert rows(session, select(SupplierOrder.status).where(SupplierOrder.id == purchase_orders["beta"])) == \
        beta_state
    # BETA's document number is no "already used" for ACME: numbers are each partner's own
    own = post(acme, f"/received-orders/{purchase_orders['acme']}/despatch",
               {"number": "LS-BETA", "quantity-1": "10"}, token_from="/")
    assert own.status_code == 302, own.get_data(as_text=True)
    assert sorted(p for (p,) in rows(session, select(SupplierDocument.partner_id)
                                     .where(SupplierDocument.number == "LS-BETA"))) == sorted([world.acme, world.beta])
    assert "KO-beta" not in acme.get("/received-orders").get_data(as_text=True)
