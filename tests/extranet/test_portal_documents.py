"""Invoices with a PDF, delivery notes with packages and tracking, document search, the order chain,
and isolation: every new portal route with an id answers 404 for another partner's record."""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.backoffice import invoice_order, ship_order
from hub.models import DespatchAdvice, Invoice, Order, User
from hub.portal_documents import load_carriers, tracking_url
from hub.portal_models import OrderTemplate
from hub.settings import BASE_DIR
from tests.extranet.conftest import login, password_hash, post

SCREENSHOTS = BASE_DIR / "build" / "screenshots"


def _shipped_and_invoiced(client, session, settings, number="PO-DOC-1"):
    post(client, "/cart/add", {"sku": "WID-100", "quantity": "12"}, token_from="/")
    post(client, "/cart/add", {"sku": "GAD-200", "quantity": "1"}, token_from="/")
    assert post(client, "/checkout", {"number": number}, token_from="/checkout").status_code == 302
    order_id = session.scalar(select(Order.id).where(Order.number == number))
    session.rollback()
    despatch = ship_order(session, settings, order_id, actor="erp", carrier="DHL", tracking_number="JJD 0001/2",
                          packages=2)
    invoice = invoice_order(session, settings, order_id, actor="erp")
    return order_id, despatch.id, invoice.id


def test_invoice_page_and_pdf(acme_client, session, settings, world):
    order_id, _despatch_id, invoice_id = _shipped_and_invoiced(acme_client, session, settings)
    number = session.get(Invoice, invoice_id).number
    session.rollback()
    page = acme_client.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    assert number in page and "Download PDF" in page and "VAT breakdown" in page
    response = acme_client.get(f"/invoices/{invoice_id}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert f'filename="{number}.pdf"' in response.headers["Content-Disposition"]
    data = response.get_data()
    assert data.startswith(b"%PDF-")

    pypdf = pytest.importorskip("pypdf")
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)
    for expected in (number, "Kontor Supplies AG", "Acme Distribution", "PO-DOC-1", "WID-100", "Widget, blue",
                     "GAD-200", "VAT breakdown", "Amount due", "30 days net"):
        assert expected in text, expected
    # 12 x 9.80 + 1 x 99.00 = 216.60 net, 19% VAT 41.15, 257.75 due
    assert "216.60" in text and "41.15" in text and "257.75 EUR" in text

    if shutil.which("pdftotext"):
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        pdf_path = SCREENSHOTS / "invoice.pdf"
        pdf_path.write_bytes(data)
        layout = subprocess.run(["pdftotext", "-layout", str(pdf_path), "-"], capture_output=True, text=True,
                                check=True).stdout
        assert re.search(r"Amount due\s+257\.75 EUR", layout)
        if shutil.which("pdftoppm"):
            subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf_path),
                            str(SCREENSHOTS / "invoice")], check=True)
            assert (SCREENSHOTS / "invoice-1.png").stat().st_size > 5000


def test_an_invoice_without_a_document_has_no_pdf(acme_client, session, world):
    invoice_id = session.scalar(select(Invoice.id).where(Invoice.number == "INV-1"))
    session.rollback()
    assert acme_client.get(f"/invoices/{invoice_id}.pdf").status_code == 404
    assert acme_client.get(f"/invoices/{invoice_id}").status_code == 200


def test_delivery_note_with_packages_and_tracking_link(acme_client, session, settings, world):
    _order_id, despatch_id, _invoice_id = _shipped_and_invoiced(acme_client, session, settings)
    record = session.get(DespatchAdvice, despatch_id)
    ssccs = [p["sscc"] for p in record.document["packages"] if p.get("sscc")]
    session.rollback()
    assert len(ssccs) == 2
    page = acme_client.get(f"/deliveries/{despatch_id}").get_data(as_text=True)
    assert all(s in page for s in ssccs)
    assert "tracking-id=JJD%200001%2F2" in page  # the number, URL-encoded into DHL's pattern
    assert "pallet" in page


def test_tracking_url_patterns_are_configurable(session, world):
    assert tracking_url(session, "Schenker", "X1") is None
    load_carriers(session, {"Schenker": "https://schenker.example/track/{tracking}"})
    session.commit()
    assert tracking_url(session, "schenker", "X 1") == "https://schenker.example/track/X%201"
    assert tracking_url(session, "UPS", "1Z9") == "https://www.ups.com/track?tracknum=1Z9"
    with pytest.raises(ValueError):
        load_carriers(session, {"Bad": "http://insecure.example/{tracking}"})


def test_document_search(acme_client, session, settings, world):
    _order_id, despatch_id, invoice_id = _shipped_and_invoiced(acme_client, session, settings)
    record = session.get(DespatchAdvice, despatch_id)
    sscc = next(p["sscc"] for p in record.document["packages"] if p.get("sscc"))
    invoice_number = session.get(Invoice, invoice_id).number
    session.rollback()
    for query, expected in (("PO-DOC", "DN-PO-DOC-1-1"), ("jjd 0001", "DN-PO-DOC-1-1"), (sscc, "DN-PO-DOC-1-1"),
                            (invoice_number.lower(), invoice_number), ("PO-DOC-1", invoice_number)):
        page = acme_client.get("/documents/search", query_string={"q": query}).get_data(as_text=True)
        assert expected in page, query
    nothing = acme_client.get("/documents/search", query_string={"q": "PO-BETA"}).get_data(as_text=True)
    assert "Nothing matches" in nothing and "PO-BETA-1" not in nothing


def test_order_chain_on_one_page(acme_client, session, settings, world):
    order_id, despatch_id, invoice_id = _shipped_and_invoiced(acme_client, session, settings)
    page = acme_client.get(f"/orders/{order_id}/chain").get_data(as_text=True)
    assert "Order PO-DOC-1" in page and "Order response PO-DOC-1-R1" in page
    assert f"/deliveries/{despatch_id}" in page and f"/invoices/{invoice_id}.pdf" in page
    assert page.index("Order response") < page.index("Delivery note") < page.index("Invoice <a")
    order_page = acme_client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert f"/orders/{order_id}/chain" in order_page


# --- isolation ---------------------------------------------------------------------------

ID_ROUTES = {
    "portal_extra.approve": ("POST", "order"),
    "portal_extra.reject": ("POST", "order"),
    "portal_extra.invoice": ("GET", "invoice"),
    "portal_extra.invoice_download": ("GET", "invoice"),
    "portal_extra.delivery": ("GET", "despatch"),
    "portal_extra.order_chain": ("GET", "order"),
    "portal_extra.template_from_order": ("POST", "order"),
    "portal_extra.template": ("GET", "template"),
    "portal_extra.template_order": ("POST", "template"),
    "portal_extra.template_delete": ("POST", "template"),
    "portal_extra.user_role": ("POST", "user"),
    "portal_extra.user_remove": ("POST", "user"),
    "portal_extra.received_order": ("GET", "supplier_order"),
    "portal_extra.turnaround_document": ("GET", "supplier_order"),
}


@pytest.fixture
def beta_records(session, world):
    beta_invoice = session.scalar(select(Invoice).where(Invoice.partner_id == world.beta))
    if beta_invoice is None:
        beta_invoice = Invoice(partner_id=world.beta, order_id=world.beta_order, number="INV-B-1",
                               issue_date=dt.date(2026, 11, 22), currency="EUR", total=Decimal("10"),
                               tax_total=Decimal("1.60"), document={})
        session.add(beta_invoice)
    despatch = DespatchAdvice(partner_id=world.beta, order_id=world.beta_order, number="DN-B-1", document={})
    template = OrderTemplate(partner_id=world.beta, name="Beta weekly",
                             lines=[{"product_id": world.gadget, "sku": "GAD-200", "quantity": "1", "note": ""}])
    session.add_all([despatch, template])
    session.add(User(email="admin@acme.example", name="Acme Admin", role="admin", partner_id=world.acme,
                     password_hash=password_hash()))
    session.commit()
    beta_user = session.scalar(select(User.id).where(User.email == "buyer@beta.example"))
    from hub.portal_models import SupplierOrder

    supplier_order = SupplierOrder(partner_id=world.beta, number="KO-B-1", order_date=dt.date(2026, 11, 1),
                                   document={"document": "Order", "number": "KO-B-1", "issue_date": "2026-11-01",
                                             "lines": []})
    session.add(supplier_order)
    session.commit()
    ids = {"supplier_order": supplier_order.id, "order": world.beta_order, "invoice": beta_invoice.id, "despatch": despatch.id, "template": template.id,
           "user": beta_user}
    session.rollback()
    return ids


def test_every_new_route_with_an_id_is_covered(app):
    routes = {rule.endpoint for rule in app.url_map.iter_rules()
              if rule.endpoint.startswith("portal_extra.") and rule.arguments - {"token", "kind"}}
    assert routes == set(ID_ROUTES), "add new portal routes with ids to ID_ROUTES"


@pytest.mark.parametrize("endpoint", sorted(ID_ROUTES))
def test_other_partners_records_are_not_found(app, client, session, beta_records, endpoint):
    login(client, "admin@acme.example")
    method, kind = ID_ROUTES[endpoint]
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    path = re.sub(r"<any[^>]+>", "despatch", rule.rule)
    path = re.sub(r"<[^>]+>", str(beta_records[kind]), path)
    if method == "GET":
        response = client.get(path)
    else:
        response = post(client, path, {"role": "admin", "reason": "no", "name": "stolen"}, token_from="/")
    assert response.status_code == 404, (endpoint, path)
    # nothing changed on the other side
    assert session.scalar(select(OrderTemplate.name).where(OrderTemplate.id == beta_records["template"])) == "Beta weekly"
    user = session.get(User, beta_records["user"])
    assert user.active and user.role == "buyer"
    assert session.scalar(select(Order.status).where(Order.id == beta_records["order"])) == "confirmed"
    session.rollback()
