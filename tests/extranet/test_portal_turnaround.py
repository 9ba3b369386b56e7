"""Turnaround: a supplier partner turns our purchase order into a despatch advice or an invoice, prefilled."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import select

from edi import documents as docs
from hub.models import AuditEntry, Message, Partner
from hub.portal_models import SupplierDocument, SupplierOrder
from hub.turnaround import create_supplier_order
from tests.extranet.conftest import login, post, rows


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
                    {"number": "RE-2026-1", "quantity-1": "10", "quantity-2": "40", "payment_days": "14",
                     "vat-1": "19", "vat-2": "19 %"},
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


def test_invoice_vat_rates_come_from_the_products_and_the_supplier(acme_client, session, settings, world):
    from hub.models import Product

    session.get(Product, world.gadget).tax_rate = Decimal("7")
    order = create_supplier_order(session, settings, session.get(Partner, world.acme), number="KO-PO-88", lines=[
        docs.OrderLine(line_no="1", buyer_sku="GAD-200", supplier_sku="ACME-G", description="Gadget",
                       quantity=Decimal(10), unit="PCE", net_price=Decimal("50.00")),   # our SKU: 7 %
        docs.OrderLine(line_no="2", gtin="04012345000016", supplier_sku="ACME-W", description="Widget",
                       quantity=Decimal(4), unit="PCE", net_price=Decimal("10.00")),    # our GTIN: 19 %
        docs.OrderLine(line_no="3", supplier_sku="ACME-BOOK", description="Manual", quantity=Decimal(1),
                       unit="PCE", net_price=Decimal("20.00")),                         # unknown to us
    ])
    session.commit()
    order_id = order.id
    form = acme_client.get(f"/received-orders/{order_id}/invoice").get_data(as_text=True)
    assert 'name="vat-1" class="qty" inputmode="decimal" value="7"' in form
    assert 'name="vat-2" class="qty" inputmode="decimal" value="19"' in form
    assert 'name="vat-3" class="qty" inputmode="decimal" value=""' in form
    missing = post(acme_client, f"/received-orders/{order_id}/invoice",
                   {"number": "RE-88", "quantity-1": "10", "quantity-2": "4", "quantity-3": "1"}, token_from="/")
    assert missing.status_code == 422
    assert "line 3: give the VAT rate (percent; 0 for zero-rated)" in missing.get_data(as_text=True)
    bad = post(acme_client, f"/received-orders/{order_id}/invoice",
               {"number": "RE-88", "quantity-1": "10", "quantity-2": "4", "quantity-3": "1", "vat-3": "120"},
               token_from="/")
    assert "line 3: the VAT rate 120 must be a percentage from 0 to 100" in bad.get_data(as_text=True)
    done = post(acme_client, f"/received-orders/{order_id}/invoice",
                {"number": "RE-88", "quantity-1": "10", "quantity-2": "4", "quantity-3": "1", "vat-3": "0"},
                token_from="/", follow_redirects=True)
    page = done.get_data(as_text=True)
    assert "Invoice RE-88 is saved with this order and recorded as your INVOIC message to" in page
    assert "you find it under Messages" in page and "not sent" not in page
    record = session.scalar(select(SupplierDocument).where(SupplierDocument.number == "RE-88"))
    invoice = docs.from_dict(record.document)
    session.rollback()
    assert [(l.line_no, l.tax_rate, l.tax_category) for l in invoice.lines] == [
        ("1", Decimal(7), "S"), ("2", Decimal(19), "S"), ("3", Decimal(0), "Z")]
    assert [(t.rate, t.taxable_amount, t.tax_amount) for t in invoice.tax_subtotals] == [
        (Decimal(7), Decimal("500.00"), Decimal("35.00")), (Decimal(19), Decimal("40.00"), Decimal("7.60")),
        (Decimal(0), Decimal("20.00"), Decimal("0.00"))]  # by category (S, then Z) and rate
    assert invoice.tax_total == Decimal("42.60") and invoice.total == Decimal("602.60")
    assert invoice.arithmetic_errors() == []


def test_a_despatch_advice_says_where_it_went(acme_client, purchase_order):
    done = post(acme_client, f"/received-orders/{purchase_order}/despatch",
                {"number": "LS-9", "quantity-1": "10", "quantity-2": "40"}, token_from="/", follow_redirects=True)
    page = done.get_data(as_text=True)
    assert "Despatch advice LS-9 is saved with this order and recorded as your DESADV message to" in page
    assert "audit log" not in page and "your DESADV message</a>" in page


# --------------------------------------------------------------------------- the documents are messages of the hub's flow


def _message_of(session, number: str) -> Message:
    record = session.scalar(select(SupplierDocument).where(SupplierDocument.number == number))
    assert record is not None and record.message_id is not None
    return session.get(Message, record.message_id)


def test_a_despatch_advice_is_an_inbound_desadv_message_with_its_trace(acme_client, session, settings, purchase_order,
                                                                      world):
    done = post(acme_client, f"/received-orders/{purchase_order}/despatch",
                {"number": "LS-9", "quantity-1": "6", "quantity-2": "40", "carrier": "DHL"}, token_from="/")
    assert done.status_code == 302
    message = _message_of(session, "LS-9")
    record = session.scalar(select(SupplierDocument).where(SupplierDocument.number == "LS-9"))
    assert (message.direction, message.partner_id, message.document_type, message.syntax, message.state) == (
        "in", world.acme, "DESADV", "json", "processed")
    assert (message.business_ref, message.receipt, message.channel_id) == ("KO-PO-77", {"source": "portal"}, None)
    assert (message.sender_id, message.recipient_id) == ("4012345000009", settings.hub_id)  # Acme's GLN, ours
    assert settings.hub_id
    payload = docs.from_dict(json.loads(message.payload.data))
    assert payload == docs.from_dict(record.document)
    assert isinstance(payload, docs.DespatchAdvice)
    assert [(l.order_line_no, l.quantity) for l in payload.all_lines()] == [("1", 6), ("2", 40)]
    trace = [(e.event, e.state, e.actor) for e in message.events]
    assert trace == [("store", "received", "buyer@acme.example"), ("claim", "processing", "portal"),
                     ("done", "processed", "portal")]
    assert message.events[-1].detail == "despatch advice LS-9 recorded for purchase order KO-PO-77: 2 line(s)"
    session.rollback()


def test_an_invoice_is_an_inbound_invoic_message(acme_client, session, purchase_order):
    post(acme_client, f"/received-orders/{purchase_order}/invoice",
         {"number": "RE-7", "quantity-1": "10", "quantity-2": "40", "vat-1": "19", "vat-2": "19"}, token_from="/")
    message = _message_of(session, "RE-7")
    assert (message.document_type, message.state, message.business_ref) == ("INVOIC", "processed", "KO-PO-77")
    invoice = docs.from_dict(json.loads(message.payload.data))
    assert isinstance(invoice, docs.Invoice) and invoice.total == Decimal("1587.46")
    assert invoice.arithmetic_errors() == []
    assert message.events[-1].detail.endswith("2 line(s), 1587.46 EUR with VAT")
    session.rollback()


def test_refused_documents_leave_no_message(acme_client, session, purchase_order):
    before = rows(session, select(Message.id))
    refused = post(acme_client, f"/received-orders/{purchase_order}/despatch",
                   {"number": "LS-1", "quantity-1": "11", "quantity-2": "40"}, token_from="/")
    assert refused.status_code == 422
    wrong = post(acme_client, f"/received-orders/{purchase_order}/invoice",
                 {"number": "RE-1", "quantity-1": "10", "quantity-2": "40", "vat-1": "19", "vat-2": "abc"},
                 token_from="/")
    assert wrong.status_code == 422
    assert "line 2: the VAT rate &#39;abc&#39; is not a number" in wrong.get_data(as_text=True)
    assert rows(session, select(Message.id)) == before
    assert rows(session, select(SupplierDocument.id)) == []


def test_operations_see_the_message_in_the_list_and_on_the_purchase_order(app, acme_client, session, purchase_order):
    post(acme_client, f"/received-orders/{purchase_order}/despatch",
         {"number": "LS-9", "quantity-1": "10", "quantity-2": "40"}, token_from="/")
    message_id = _message_of(session, "LS-9").id
    session.rollback()
    ops = app.test_client()
    assert login(ops, "ops@kontor.example").status_code == 302
    listing = ops.get("/ops/messages?document_type=DESADV&direction=in").get_data(as_text=True)
    assert f"/ops/messages/{message_id}" in listing and "KO-PO-77" in listing
    detail = ops.get(f"/ops/messages/{message_id}")
    assert detail.status_code == 200
    page = detail.get_data(as_text=True)
    assert "despatch advice LS-9 recorded for purchase order KO-PO-77" in page and "LS-9" in page
    orders = ops.get("/ops/supplier-orders").get_data(as_text=True)
    assert "KO-PO-77" in orders and f"/ops/supplier-orders/{purchase_order}" in orders
    order = ops.get(f"/ops/supplier-orders/{purchase_order}").get_data(as_text=True)
    assert "LS-9" in order and f'href="/ops/messages/{message_id}">DESADV message {message_id}</a>' in order
    assert ops.get("/ops/supplier-orders/999999").status_code == 404
    assert acme_client.get("/ops/supplier-orders").status_code == 403


def test_the_partner_sees_its_message_and_another_partner_does_not(app, acme_client, session, purchase_order):
    post(acme_client, f"/received-orders/{purchase_order}/despatch",
         {"number": "LS-9", "quantity-1": "10", "quantity-2": "40"}, token_from="/")
    message_id = _message_of(session, "LS-9").id
    session.rollback()
    listing = acme_client.get("/messages").get_data(as_text=True)
    assert f'href="/messages/{message_id}"' in listing and "DESADV" in listing
    own = acme_client.get(f"/messages/{message_id}")
    assert own.status_code == 200 and "KO-PO-77" in own.get_data(as_text=True)
    order = acme_client.get(f"/received-orders/{purchase_order}").get_data(as_text=True)
    assert f'href="/messages/{message_id}">your DESADV message</a>' in order
    beta = app.test_client()
    assert login(beta, "buyer@beta.example").status_code == 302
    assert f'href="/messages/{message_id}"' not in beta.get("/messages").get_data(as_text=True)
    assert beta.get(f"/messages/{message_id}").status_code == 404


def test_two_documents_at_once_cannot_both_take_what_is_left(session, session_factory, settings, purchase_order,
                                                             world):
    """While one user's despatch advice is being made, another's for the same order waits for it, then
    counts it: never more despatched than ordered.

    PostgreSQL only: there web processes write side by side (SQLite has one writer at a time)."""
    import threading

    from hub.models import User
    from hub.portal import PartnerScope
    from hub.turnaround import TurnaroundError, _locked_order, create_despatch

    if not settings.database.startswith("postgresql"):
        pytest.skip("two writers at once happen on PostgreSQL; SQLite serialises them")
    scope = PartnerScope(session, world.acme)
    user = session.scalar(select(User).where(User.email == "buyer@acme.example"))
    _locked_order(scope, purchase_order)  # the first document is being made: the order row is locked
    outcome: list[object] = []

    def colleague() -> None:
        with session_factory() as other:
            accounts = other.scalar(select(User).where(User.email == "accounts@acme.example"))
            try:
                create_despatch(PartnerScope(other, world.acme), accounts, purchase_order, number="LS-B",
                                quantities={"1": "10", "2": "40"})
            except TurnaroundError as exc:
                outcome.append(exc)
            else:
                outcome.append("made")

    thread = threading.Thread(target=colleague)
    thread.start()
    thread.join(1.5)
    assert thread.is_alive() and outcome == []  # waits for the lock
    create_despatch(scope, user, purchase_order, number="LS-A", quantities={"1": "10", "2": "40"})  # commits
    thread.join(10)
    assert not thread.is_alive()
    assert [str(o) for o in outcome] == ["line 1: 10 is more than the 0 ordered and not yet despatched;"
                                         " line 2: 40 is more than the 0 ordered and not yet despatched"]
    assert rows(session, select(SupplierDocument.number)) == [("LS-A",)]
    assert len(rows(session, select(Message.id).where(Message.document_type == "DESADV"))) == 1


def test_a_portal_message_is_not_reprocessed(app, acme_client, session, purchase_order):
    """Applied by the portal, not the pipeline: the console's reprocess is refused and nothing changes."""
    post(acme_client, f"/received-orders/{purchase_order}/despatch",
         {"number": "LS-9", "quantity-1": "10", "quantity-2": "40"}, token_from="/")
    message_id = _message_of(session, "LS-9").id
    session.rollback()
    ops = app.test_client()
    assert login(ops, "ops@kontor.example").status_code == 302
    refused = post(ops, f"/ops/messages/{message_id}/reprocess", {"comment": "try again"},
                   token_from=f"/ops/messages/{message_id}", follow_redirects=True)
    assert "Reprocess refused: made and applied in the portal, not by the pipeline" in refused.get_data(as_text=True)
    message = session.get(Message, message_id)
    assert (message.state, message.syntax, len(message.events)) == ("processed", "json", 3)
    session.rollback()
