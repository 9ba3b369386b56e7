"""E-mail notifications through a real SMTP server on loopback (aiosmtpd), sent only after commit."""

from __future__ import annotations

import dataclasses
import email
import socket
import time
from email import policy

import pytest
from sqlalchemy import select

from hub import notifications
from hub.backoffice import confirm_order, invoice_order, ship_order
from hub.models import Order, User
from tests.extranet.conftest import login, post

aiosmtpd = pytest.importorskip("aiosmtpd.controller")


class Inbox:
    """What the SMTP server received: parsed e-mails with their envelope recipients."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.port = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        parsed = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for rcpt, m in self.messages if address in rcpt]

    def wait(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    inbox.port = _free_port()
    controller = aiosmtpd.Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    yield inbox
    controller.stop()


@pytest.fixture
def settings(settings, smtp):
    """The test settings, with e-mail going to the loopback SMTP server."""
    return dataclasses.replace(settings, smtp_host="127.0.0.1", smtp_port=smtp.port,
                               smtp_sender="portal@kontor.example", web_base_url="http://portal.kontor.example")


def _opt_in(session, email_address: str, **kinds: bool) -> None:
    user = session.scalar(select(User).where(User.email == email_address))
    user.notify = kinds
    session.commit()


def test_confirmation_shipment_and_invoice_mails_go_to_users_who_opted_in(acme_client, session, settings, smtp, world):
    _opt_in(session, "buyer@acme.example", order_response=True, despatch=True, invoice=False)
    _opt_in(session, "accounts@acme.example", invoice=True)
    _opt_in(session, "buyer@beta.example", order_response=True, despatch=True, invoice=True)
    post(acme_client, "/cart/add", {"sku": "WID-100", "quantity": "4"}, token_from="/")
    assert post(acme_client, "/checkout", {"number": "PO-MAIL-1"}, token_from="/checkout").status_code == 302
    smtp.wait(1)
    confirmed = smtp.to("buyer@acme.example")
    assert [m["Subject"] for m in confirmed] == ["Order PO-MAIL-1 confirmed"]
    body = confirmed[0].get_content()
    assert "WID-100" in body and "4 of 4" in body and "http://portal.kontor.example/orders/" in body
    assert confirmed[0]["From"] == "Kontor Supplies AG <portal@kontor.example>"

    order_id = session.scalar(select(Order.id).where(Order.number == "PO-MAIL-1"))
    session.rollback()
    ship_order(session, settings, order_id, actor="erp", carrier="DHL", tracking_number="JJD000123")
    invoice_order(session, settings, order_id, actor="erp")
    smtp.wait(3)
    subjects = sorted(m["Subject"] for _, m in smtp.messages)
    assert subjects[0] == "Invoice INV-%s-000001 (order PO-MAIL-1)" % subjects[0].split("-")[1]
    shipped = [m for m in smtp.to("buyer@acme.example") if "shipped" in m["Subject"]]
    assert len(shipped) == 1
    text = shipped[0].get_content()
    assert "JJD000123" in text and "https://www.dhl.com/" in text and "tracking-id=JJD000123" in text
    assert [m["Subject"] for m in smtp.to("accounts@acme.example")][0].startswith("Invoice INV-")
    assert "/invoices/" in smtp.to("accounts@acme.example")[0].get_content()
    assert smtp.to("buyer@beta.example") == []  # another partner's user hears nothing
    assert len(smtp.messages) == 3


def test_nothing_is_sent_when_the_transaction_rolls_back(session, settings, smtp, world):
    _opt_in(session, "buyer@acme.example", order_response=True)
    order = session.get(Order, world.acme_order)
    from hub.orders import respond

    respond(session, settings, order.partner, order, actor="test")
    assert len(notifications.pending_mail(session)) == 1
    session.rollback()
    assert notifications.pending_mail(session) == []
    session.commit()
    time.sleep(0.3)
    assert smtp.messages == []
    # the same, committed, is sent
    order = session.get(Order, world.acme_order)
    confirm_order(session, settings, order.id, actor="erp")
    smtp.wait(1)
    assert [m["Subject"] for _, m in smtp.messages] == ["Order PO-ACME-1 confirmed"]


def test_an_unreachable_smtp_server_loses_the_mail_not_the_document(session, settings, world):
    _opt_in(session, "buyer@acme.example", order_response=True)
    closed = dataclasses.replace(settings, smtp_port=_free_port())
    order = confirm_order(session, closed, world.acme_order, actor="erp")
    assert order.status == "confirmed" and len(order.responses) == 2


def test_settings_page_opts_in_and_out(acme_client, session, smtp):
    page = acme_client.get("/account/notifications").get_data(as_text=True)
    assert "Order confirmations" in page and "Invoices" in page
    assert "waiting for my approval" not in page  # admins only
    response = post(acme_client, "/account/notifications", {"order_response": "1", "invoice": "1"},
                    token_from="/account/notifications")
    assert response.status_code == 302
    notify = session.scalar(select(User.notify).where(User.email == "buyer@acme.example"))
    session.rollback()
    assert notify == {"order_response": True, "despatch": False, "invoice": True}
    post(acme_client, "/account/notifications", {}, token_from="/account/notifications")
    notify = session.scalar(select(User.notify).where(User.email == "buyer@acme.example"))
    session.rollback()
    assert notify == {"order_response": False, "despatch": False, "invoice": False}


def test_settings_page_needs_a_sign_in(client, world):
    assert client.get("/account/notifications").status_code == 302


def test_admins_hear_of_orders_waiting_for_their_approval(acme_client, session, smtp, world):
    from decimal import Decimal

    from hub.models import Partner
    from tests.extranet.conftest import password_hash

    session.get(Partner, world.acme).approval_threshold = Decimal("100")
    session.add(User(email="admin@acme.example", name="Arno Admin", role="admin", partner_id=world.acme,
                     password_hash=password_hash(), notify={"approval": True}))
    session.commit()
    _opt_in(session, "buyer@acme.example", approval=True, order_response=True)  # not an admin: no approval mail
    post(acme_client, "/cart/add", {"sku": "WID-100", "quantity": "20"}, token_from="/")
    post(acme_client, "/checkout", {"number": "PO-WAIT-1"}, token_from="/checkout")
    smtp.wait(1)
    time.sleep(0.2)
    assert [(rcpt, m["Subject"]) for rcpt, m in smtp.messages] == [
        (["admin@acme.example"], "Order PO-WAIT-1 waits for your approval")]
    assert "http://portal.kontor.example/approvals" in smtp.messages[0][1].get_content()
