"""Our own texts go out in the partner's charset: a catalogue name UNOC cannot carry is folded, not fatal."""

from __future__ import annotations

from sqlalchemy import select

from hub.models import Message, Order, OrderLine
from hub.orders import respond
from hub.portal_models import OrderApproval
from hub.states import State


def test_an_order_response_with_names_outside_unoc_is_queued_folded(hub_env, orders_bytes):
    hub_env.drop("po.edi", orders_bytes)
    hub_env.run()
    with hub_env.session_factory() as session:
        order = session.scalar(select(Order))
        line = session.scalar(select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.line_no))
        line.description = "Motoröl – Łódź 5 l „Premium“ €"  # en dash, Ł, curly quotes, euro: none in Latin-1
        respond(session, hub_env.settings, order.partner, order, actor="test")
        session.commit()
        answer = session.scalar(select(Message).where(Message.document_type == "ORDRSP").order_by(Message.id.desc()))
        assert answer.state == State.QUEUED
        text = answer.payload.data.decode("latin-1")
        assert "UNB+UNOC" in text
        assert 'Motoröl - Lódz 5 l "Premium" EUR' in text  # ö and ó are in UNOC (Latin-1); the rest folded


def test_an_edi_cancellation_closes_a_pending_approval(hub_env, orders_bytes):
    hub_env.drop("po.edi", orders_bytes)
    hub_env.run()
    with hub_env.session_factory() as session:
        order = session.scalar(select(Order))
        order.status = "pending_approval"
        session.add(OrderApproval(order_id=order.id, partner_id=order.partner_id, status="pending",
                                  amount=order.total, threshold=order.total))
        session.commit()
    cancellation = orders_bytes.replace(b"BGM+220+PO-2026-0001+9", b"BGM+220+PO-2026-0001+1")
    assert cancellation != orders_bytes
    cancellation = cancellation.replace(b"+ACME000001", b"+ACME000002")
    hub_env.drop("cancel.edi", cancellation)
    hub_env.run()
    with hub_env.session_factory() as session:
        order = session.scalar(select(Order))
        assert order.status == "cancelled"
        approval = session.scalar(select(OrderApproval).where(OrderApproval.order_id == order.id))
        assert approval.status == "cancelled" and "cancelled by" in approval.reason
