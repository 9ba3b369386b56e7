"""The portal: catalogue with contract prices, cart, quick order, CSV upload, checkout, orders."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from sqlalchemy import select

from hub.models import AuditEntry, Order, OrderLine
from tests.extranet.conftest import login, post, rows


def test_catalog_shows_the_partners_contract_price(acme_client):
    page = acme_client.get("/").get_data(as_text=True)
    assert "Widget, blue" in page and "Gadget deluxe" in page
    assert "9.80 EUR" in page  # Acme's contract price, not the list price 12.50
    assert "from 100: 8.90" in page  # the quantity break
    assert "11.11" not in page  # Beta's price
    assert "Retired thing" not in page
    assert "low stock" in page and "in stock" in page


def test_other_partner_sees_its_own_price(client, world):
    login(client, "buyer@beta.example")
    page = client.get("/").get_data(as_text=True)
    assert "11.11 EUR" in page and "9.80" not in page


@pytest.mark.parametrize("query", ["WID-100", "wid", "4012345000016", "blue"])
def test_catalog_search(acme_client, query):
    page = acme_client.get("/", query_string={"q": query}).get_data(as_text=True)
    assert "Widget, blue" in page and "Gadget deluxe" not in page


def test_catalog_category_filter(acme_client):
    page = acme_client.get("/", query_string={"category": "Gadgets"}).get_data(as_text=True)
    assert "Gadget deluxe" in page and "Widget, blue" not in page


def test_cart_add_update_remove(acme_client, world):
    response = post(acme_client, "/cart/add", {"sku": "WID-100", "quantity": "2"}, token_from="/")
    assert response.status_code == 302
    page = acme_client.get("/cart").get_data(as_text=True)
    assert "Widget, blue" in page and "19.60" in page
    post(acme_client, "/cart/update", {f"quantity-{world.widget}": "100"})
    page = acme_client.get("/cart").get_data(as_text=True)
    assert "890.00" in page  # the quantity break applies
    post(acme_client, f"/cart/remove/{world.widget}")
    assert "The cart is empty" in acme_client.get("/cart").get_data(as_text=True)


def test_quick_order_keeps_bad_lines_to_fix(acme_client):
    response = post(acme_client, "/quick-order", {"lines": "WID-100 5\nNOPE-1 2\nGAD-200 abc\n04012345000016 1"},
                    token_from="/quick-order")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Line 2" in page and "NOPE-1" in page and "no product with SKU or GTIN" in page
    assert "Line 3" in page and "not a number" in page
    cart = acme_client.get("/cart").get_data(as_text=True)
    assert "Widget, blue" in cart and 'value="6"' in cart  # 5 + 1 by GTIN, summed
    assert "Gadget deluxe" not in cart
    response = post(acme_client, "/quick-order", {"lines": "GAD-200 2"}, token_from="/quick-order")
    assert response.status_code == 302
    assert "Gadget deluxe" in acme_client.get("/cart").get_data(as_text=True)


def test_csv_upload_with_an_error_row_then_fixed(acme_client):
    data = b"sku,quantity,note\nWID-100,10,for Leipzig\nGAD-2OO,1,typo\nGAD-200,-3,\n"
    response = post(acme_client, "/upload", {"file": (io.BytesIO(data), "order.csv")},
                    token_from="/upload", content_type="multipart/form-data")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'value="GAD-2OO"' in page  # the row as given, editable
    assert "greater than zero" in page
    assert "Widget, blue" in acme_client.get("/cart").get_data(as_text=True)
    fixed = post(acme_client, "/upload/fix", {"row": ["3", "4"], "sku-3": "GAD-200", "quantity-3": "1",
                                              "note-3": "typo", "sku-4": "GAD-200", "quantity-4": "3",
                                              "skip-4": "1"}, token_from="/upload")
    assert fixed.status_code == 302
    cart = acme_client.get("/cart").get_data(as_text=True)
    assert "Gadget deluxe" in cart and "Note: typo" in cart and "Note: for Leipzig" in cart


def test_csv_upload_semicolons_and_unreadable_files(acme_client):
    response = post(acme_client, "/upload", {"file": (io.BytesIO(b"WID-100;1,5\n"), "o.csv")},
                    token_from="/upload", content_type="multipart/form-data")
    assert response.status_code == 302
    assert 'value="1.5"' in acme_client.get("/cart").get_data(as_text=True)
    empty = post(acme_client, "/upload", {"file": (io.BytesIO(b""), "o.csv")},
                 token_from="/upload", content_type="multipart/form-data")
    assert empty.status_code == 422


def test_checkout_creates_the_order(acme_client, session, world):
    pytest.importorskip("hub.orders")
    post(acme_client, "/cart/add", {"sku": "WID-100", "quantity": "100"}, token_from="/")
    post(acme_client, "/cart/add", {"sku": "GAD-200", "quantity": "1"}, token_from="/")
    response = post(acme_client, "/checkout", {"number": "PO-NEW-7", "note": "ring twice"}, token_from="/checkout")
    assert response.status_code == 302, response.get_data(as_text=True)
    page = acme_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Order PO-NEW-7" in page and "order PO-NEW-7 is placed" in page
    [(order_id, partner_id, source, total)] = rows(
        session, select(Order.id, Order.partner_id, Order.source, Order.total).where(Order.number == "PO-NEW-7"))
    assert partner_id == world.acme and source == "portal"
    assert total == Decimal("989.00")  # 100 at the break price 8.90, 1 at the list price 99
    assert len(rows(session, select(OrderLine.id).where(OrderLine.order_id == order_id))) == 2
    assert rows(session, select(AuditEntry.id).where(AuditEntry.action == "order.placed"))
    assert "The cart is empty" in acme_client.get("/cart").get_data(as_text=True)
    # The same number again is refused with a sentence, nothing stored.
    post(acme_client, "/cart/add", {"sku": "WID-100", "quantity": "1"}, token_from="/")
    again = post(acme_client, "/checkout", {"number": "PO-NEW-7"}, token_from="/checkout")
    assert again.status_code == 422 and "already have an order numbered PO-NEW-7" in again.get_data(as_text=True)


def test_checkout_of_an_empty_cart_is_refused(acme_client):
    response = post(acme_client, "/checkout", {}, token_from="/checkout")
    assert response.status_code == 422 and "The cart is empty." in response.get_data(as_text=True)


def test_accounts_role_reads_but_does_not_order(client, world):
    login(client, "accounts@acme.example")
    assert client.get("/orders").status_code == 200
    assert client.get("/quick-order").status_code == 403
    assert post(client, "/cart/add", {"sku": "WID-100", "quantity": "1"}, token_from="/").status_code == 403


def test_orders_list_and_search(acme_client):
    page = acme_client.get("/orders").get_data(as_text=True)
    assert "PO-ACME-1" in page and "PO-BETA-1" not in page
    assert "PO-ACME-1" not in acme_client.get("/orders", query_string={"q": "zzz"}).get_data(as_text=True)
    assert "PO-ACME-1" in acme_client.get("/orders", query_string={"status": "confirmed"}).get_data(as_text=True)
    assert "PO-ACME-1" not in acme_client.get("/orders", query_string={"status": "shipped"}).get_data(as_text=True)


def test_order_detail_shows_the_chain(acme_client, world):
    page = acme_client.get(f"/orders/{world.acme_order}").get_data(as_text=True)
    for text in ("Order response OR-1", "accepted", "Despatch advice DN-1", "TRACK123", "340123450000000017",
                 "Invoice INV-1", "34.99 EUR"):
        assert text in page, text


def test_reorder_fills_the_cart(acme_client, world):
    response = post(acme_client, f"/orders/{world.acme_order}/reorder", token_from="/orders")
    assert response.status_code == 302
    cart = acme_client.get("/cart").get_data(as_text=True)
    assert "Widget, blue" in cart and 'value="3"' in cart


def test_partner_message_flow(acme_client, world):
    page = acme_client.get("/messages").get_data(as_text=True)
    assert "IC0002" in page or "PO-ACME-1" in page
    assert "IC0003" not in page and "PO-BETA-1" not in page
    detail = acme_client.get(f"/messages/{world.error_message}").get_data(as_text=True)
    assert "rejected" in detail


def test_deliveries_and_invoices(client, acme_client, world):
    invoices = acme_client.get("/documents").get_data(as_text=True)
    assert "INV-1" in invoices and "34.99 EUR" in invoices and "PO-ACME-1" in invoices
    deliveries = acme_client.get("/documents", query_string={"kind": "despatches"}).get_data(as_text=True)
    assert "DN-1" in deliveries and "TRACK123" in deliveries
    post(acme_client, "/logout", token_from="/")
    login(client, "buyer@beta.example")
    assert "INV-1" not in client.get("/documents").get_data(as_text=True)
    assert "DN-1" not in client.get("/documents?kind=despatches").get_data(as_text=True)


def test_a_huge_upload_stops_when_the_cart_is_full(acme_client, session, world):
    from hub.models import Product

    session.add_all(Product(sku=f"BULK-{n:04d}", name=f"Bulk item {n}", unit="PCE", list_price=Decimal(1))
                    for n in range(300))
    session.commit()
    data = "".join(f"BULK-{n:04d},{n + 1},a note that takes some room in the cookie {n}\n" for n in range(300))
    response = post(acme_client, "/upload", {"file": (io.BytesIO(data.encode()), "big.csv")},
                    token_from="/upload", content_type="multipart/form-data")
    assert response.status_code == 302
    cookie = response.headers.get("Set-Cookie", "")
    assert len(cookie) < 4096
    cart = acme_client.get("/cart").get_data(as_text=True)
    assert "The cart is full" in cart or "at most 200 lines" in cart
    assert "Bulk item 0" in cart


def test_checkout_for_a_partner_with_an_edi_channel_queues_an_ordrsp(acme_client, app, session, world):
    """A portal order takes the EDI order's road: ACME (SFTP channel) gets its ORDRSP queued, in EDIFACT,
    linked to the order; BETA (no channel) gets the order response in the portal only."""
    from hub.models import Channel, Message, OrderResponse, Payload

    post(acme_client, "/cart/add", {"sku": "WID-100", "quantity": "3"}, token_from="/")
    assert post(acme_client, "/checkout", {"number": "PO-EDI-ANSWER"}, token_from="/checkout").status_code == 302
    [(order_id, status)] = rows(session, select(Order.id, Order.status).where(Order.number == "PO-EDI-ANSWER"))
    assert status == "confirmed"
    [(message_id, direction, doc_type, state, channel, ref, response_message)] = rows(session, select(
        Message.id, Message.direction, Message.document_type, Message.state, Channel.name, Message.business_ref,
        OrderResponse.message_id,
    ).join(Channel, Channel.id == Message.channel_id).join(OrderResponse, OrderResponse.order_id == Message.order_id)
        .where(Message.order_id == order_id))
    assert (direction, doc_type, channel, ref) == ("out", "ORDRSP", "acme-sftp", "PO-EDI-ANSWER")
    assert state == "queued" and response_message == message_id
    [(data,)] = rows(session, select(Payload.data).join(Message, Message.payload_id == Payload.id)
                     .where(Message.id == message_id))
    assert b"UNH+" in data and b"ORDRSP" in data and b"PO-EDI-ANSWER" in data

    beta = app.test_client()
    login(beta, "buyer@beta.example")
    post(beta, "/cart/add", {"sku": "WID-100", "quantity": "1"}, token_from="/")
    assert post(beta, "/checkout", {"number": "PO-NO-EDI"}, token_from="/checkout").status_code == 302
    [(beta_order,)] = rows(session, select(Order.id).where(Order.number == "PO-NO-EDI"))
    assert rows(session, select(Message.id).where(Message.order_id == beta_order)) == []
    assert rows(session, select(OrderResponse.message_id).where(OrderResponse.order_id == beta_order)) == [(None,)]


def test_a_row_note_longer_than_a_cart_line_keeps_is_a_row_error(acme_client):
    """The cart lives in the session cookie: a line keeps 70 characters of note, and a longer one in an
    upload is sent back with its row instead of being cut without a word."""
    response = post(acme_client, "/upload", {"file": (io.BytesIO(("WID-100,2," + "n" * 71 + "\nGAD-200,1,short\n")
                                                                  .encode()), "o.csv")},
                    token_from="/upload", content_type="multipart/form-data")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "the note is 71 characters long; a cart line keeps at most 70" in page
    cart = acme_client.get("/cart").get_data(as_text=True)
    assert "Gadget deluxe" in cart and "Note: short" in cart, "the good row went in"
    assert "Widget, blue" not in cart
