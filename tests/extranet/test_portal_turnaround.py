"""Turnaround: a supplier partner turns our purchase order into a despatch advice or an invoice, prefilled."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from edi import documents as docs
from hub.models import AuditEntry, Partner
from hub.portal_models import SupplierDocument, SupplierOrder
from hub.turnaround import create_supplier_order
from tests.extranet.conftest import login, post


@pytest.fixture
def purchase_order(session, settings, world) -> int:
    partner = session.get(Partner, world.acme)
    order = create_supplier_order(session, settings, partner, number="KO-PO-77", lines=[
        docs.OrderLine(line_no="1", supplier_sku="ACME-OIL-5", description="Base oil, drum", quantity=Decimal(10),
                       unit="PCE", net_price=Decimal("120.00")),
        docs.OrderLine(line_no="2", supplier_sku="ACME-PAIL", description="Pail, 20 l", quantity=Decimal(40),
                       unit="PCE", net_price=Decimal("3.35")),
    ])
    session.commit()
    return order.id


def test_received_orders_listed_and_prefilled(acme_client, purchase_order):
    assert "Received orders" in acme_client.get("/").get_data(as_text=True)
    assert "KO-PO-77" in acme_client.get("/received-orders").get_data(as_text=True)
    form = acme_client.get(f"/received-orders/{purchase_order}/despatch").get_data(as_text=True)
    assert 'name="quantity-1"' in form and 'value="10"' in form and 'value="40"' in form


def test_despatch_in_two_parts_never_more_than_ordered(acme_client, session, purchase_order):
    too_much = post(acme_client, f"/received-orders/{purchase_order}/despatch",
                    {"number": "LS-1", "quantity-1": "11", "quantity-2": "40"}, token_from="/")
    assert too_much.status_code == 422
    assert "line 1: 11 is more than the 10 ordered and not yet despatched" in too_much.get_data(as_text=True)
    first = post(acme_client, f"/received-orders/{purchase_order}/despatch",
                 {"number": "LS-1", "quantity-1": "6", "quantity-2": "0", "carrier": "DHL",
                  "tracking_number": "JJD1"}, token_from="/")
    assert first.status_code == 302
    assert session.scalar(select(SupplierOrder.status).where(SupplierOrder.id == purchase_order)) == \
        "partially_despatched"
    session.rollback()
    form = acme_client.get(f"/received-orders/{purchase_order}/despatch").get_data(as_text=True)
    assert 'id="quantity-1" name="quantity-1" class="qty" inputmode="decimal" value="4"' in form
    again = post(acme_client, f"/received-orders/{purchase_order}/despatch",
                 {"number": "LS-1", "quantity-1": "4", "quantity-2": "40"}, token_from="/")
    assert "already used the number LS-1" in again.get_data(as_text=True)
    post(acme_client, f"/received-orders/{purchase_order}/despatch",
         {"number": "LS-2", "quantity-1": "4", "quantity-2": "40"}, token_from="/")
    record = session.scalar(select(SupplierDocument).where(SupplierDocument.number == "LS-2"))
    document = docs.from_dict(record.document)
    assert isinstance(document, docs.DespatchAdvice)
    assert [(l.order_line_no, l.quantity) for l in document.all_lines()] == [("1", 4), ("2", 40)]
    assert session.scalar(select(SupplierOrder.status).where(SupplierOrder.id == purchase_order)) == "despatched"
    session.rollback()


def test_invoice_totals_are_computed(acme_client, session, purchase_order):
    response = post(acme_client, f"/received-orders/{purchase_order}/invoice",
                    {"number": "RE-2026-1", "quantity-1": "10", "quantity-2": "40", "payment_days": "14"},
                    token_from="/")
    assert response.status_code == 302
    record = session.scalar(select(SupplierDocument).where(SupplierDocument.kind == "invoice"))
    invoice = docs.from_dict(record.document)
    session.rollback()
    assert isinstance(invoice, docs.Invoice) and invoice.arithmetic_errors() == []
    assert invoice.line_total == Decimal("1334.00")  # 10 x 120 + 40 x 3.35
    assert invoice.tax_total == Decimal("253.46") and invoice.total == Decimal("1587.46")
    assert invoice.payment_terms.days == 14
    assert invoice.party(docs.PartyRole.BUYER).name == "Kontor Supplies AG"
    more = post(acme_client, f"/received-orders/{purchase_order}/invoice",
                {"number": "RE-2026-2", "quantity-1": "1"}, token_from="/")
    assert "1 is more than the 0 ordered and not yet invoiced" in more.get_data(as_text=True)
    assert session.scalar(select(AuditEntry.detail).where(AuditEntry.action == "supplier.invoice")) == \
        "RE-2026-1: 1587.46 EUR"
    session.rollback()


def test_other_partners_see_nothing(client, purchase_order, world):
    login(client, "buyer@beta.example")
    assert "Received orders" not in client.get("/").get_data(as_text=True)
    assert "KO-PO-77" not in client.get("/received-orders").get_data(as_text=True)
    assert client.get(f"/received-orders/{purchase_order}").status_code == 404
    for kind in ("despatch", "invoice"):
        assert client.get(f"/received-orders/{purchase_order}/{kind}").status_code == 404
        assert post(client, f"/received-orders/{purchase_order}/{kind}",
                    {"number": "X", "quantity-1": "1"}, token_from="/").status_code == 404
