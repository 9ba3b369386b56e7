"""A partner switched to UBL by its profile: its UBL Order is applied like an EDIFACT one,
and its order response goes back as UBL; the domain never knows the difference."""

from __future__ import annotations

from sqlalchemy import select

from edi.documents import OrderResponse
from edi.translate import translate
from edi.ubl import render_ubl
from hub.models import Message, Order, Partner
from hub.states import State


def test_ubl_order_in_ubl_response_out(hub_env, orders_bytes):
    with hub_env.session_factory() as session:
        partner = session.scalar(select(Partner))
        partner.profile = {**partner.profile, "syntax": "ubl"}
        session.commit()
    order = translate(orders_bytes).messages[0].document
    hub_env.drop("order.xml", render_ubl(order))
    hub_env.run()
    with hub_env.session_factory() as session:
        inbound = session.scalar(select(Message).where(Message.direction == "in"))
        assert inbound.state == State.PROCESSED, inbound.error
        assert (inbound.syntax, inbound.document_type) == ("ubl", "ORDERS")
        stored = session.scalar(select(Order))
        assert stored.number == "PO-2026-0001" and len(stored.lines) == 3
        outbound = session.scalars(select(Message).where(Message.direction == "out")).all()
        assert [(m.document_type, m.syntax, m.state) for m in outbound] == [("ORDRSP", "ubl", State.DELIVERED)]
    (path,) = hub_env.outbound_files()
    assert path.suffix == ".xml"
    answer = translate(path.read_bytes())
    assert answer.syntax == "ubl" and not answer.errors, [i.format() for i in answer.errors]
    response = answer.messages[0].document
    assert isinstance(response, OrderResponse) and response.order_number == "PO-2026-0001"


def test_ubl_with_an_entity_is_rejected_not_failed(hub_env):
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Order>&e;</Order>'
    hub_env.drop("evil.xml", evil)
    hub_env.run()
    with hub_env.session_factory() as session:
        inbound = session.scalar(select(Message).where(Message.direction == "in"))
        assert inbound.state == State.REJECTED
        assert "root:" not in (inbound.error or "")
        assert session.scalar(select(Order)) is None
