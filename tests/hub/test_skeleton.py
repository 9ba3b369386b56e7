"""The walking skeleton: an ORDERS file dropped in a partner's folder becomes an
order, is answered with an ORDRSP (and a CONTRL) in the partner's outbound
folder, and every step is in the message's trace."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from edi.documents import Acknowledgement, OrderResponse
from edi.translate import translate
from hub.models import Message, Order
from hub.states import State


def test_orders_file_becomes_order_and_is_answered(hub_env, orders_bytes):
    hub_env.drop("PO-2026-0001.edi", orders_bytes)
    assert hub_env.run() >= 3  # the inbound ORDERS, the ORDRSP and the CONTRL

    assert not (hub_env.inbound / "PO-2026-0001.edi").exists(), "taken from the inbound folder"
    assert (hub_env.inbound / "archive" / "PO-2026-0001.edi").read_bytes() == orders_bytes

    with hub_env.session_factory() as session:
        order = session.scalar(select(Order))
        assert order.number == "PO-2026-0001"
        assert order.partner.code == "ACME"
        assert order.source == "edi"
        assert [(line.line_no, line.sku, line.quantity) for line in order.lines] == [
            ("1", "KS-00001", Decimal("24")),
            ("2", "KS-00002", Decimal("10")),
            ("3", "KS-00007", Decimal("3")),
        ]
        # contract prices: 0.88 x list price for ACME where a contract price exists
        assert order.lines[0].unit_price == Decimal("5.02")  # 5.70 list x 0.88
        assert order.total == sum(line.line_amount for line in order.lines)
        assert order.status in ("confirmed", "changed")

        inbound = session.scalar(select(Message).where(Message.direction == "in"))
        assert inbound.state == State.PROCESSED
        assert inbound.document_type == "ORDERS"
        assert inbound.interchange_ref == "ACME000001"
        assert inbound.order_id == order.id
        assert [e.state for e in inbound.events] == ["received", "processing", "processed"]

        outbound = session.scalars(select(Message).where(Message.direction == "out").order_by(Message.id)).all()
        assert sorted(m.document_type for m in outbound) == ["CONTRL", "ORDRSP"]
        assert all(m.state == State.DELIVERED for m in outbound)
        assert sorted(m.interchange_ref for m in outbound) == ["1", "2"], "numbered without gaps"

    files = hub_env.outbound_files()
    assert len(files) == 2
    documents = {}
    for path in files:
        translation = translate(path.read_bytes())
        assert not translation.errors, [i.format(path.name) for i in translation.all_issues()]
        documents[translation.messages[0].message_type] = translation.messages[0].document
    response = documents["ORDRSP"]
    assert isinstance(response, OrderResponse)
    assert response.order_number == "PO-2026-0001"
    # line 1 came with a price of 4.91, not the contract price: confirmed with ours (action 3 = changed)
    assert [(line.line_no, line.action) for line in response.lines] == [("1", "3"), ("2", "5"), ("3", "5")]
    assert response.response_code == "4"
    contrl = documents["CONTRL"]
    assert isinstance(contrl, Acknowledgement)
    assert contrl.interchange_ref == "ACME000001"
    assert contrl.action == "7"


def test_same_file_twice_is_a_duplicate_not_applied(hub_env, orders_bytes):
    hub_env.drop("a.edi", orders_bytes)
    hub_env.run()
    hub_env.drop("b.edi", orders_bytes)
    hub_env.run()
    with hub_env.session_factory() as session:
        assert len(session.scalars(select(Order)).all()) == 1
        second = session.scalar(select(Message).where(Message.filename == "b.edi"))
        first = session.scalar(select(Message).where(Message.filename == "a.edi"))
        assert second.state == State.DUPLICATE
        assert second.duplicate_of_id == first.id
        assert "not applied" in second.events[-1].detail


def test_same_interchange_reference_with_other_bytes_is_a_duplicate(hub_env, orders_bytes):
    hub_env.drop("a.edi", orders_bytes)
    hub_env.run()
    hub_env.drop("b.edi", orders_bytes.replace(b"PO-2026-0001", b"PO-2026-0002"))
    hub_env.run()
    with hub_env.session_factory() as session:
        second = session.scalar(select(Message).where(Message.filename == "b.edi"))
        assert second.state == State.DUPLICATE
        assert "interchange reference" in second.events[-1].detail
        assert session.scalar(select(Order).where(Order.number == "PO-2026-0002")) is None


def test_unknown_item_rejects_the_order_with_an_aperak(hub_env, orders_bytes):
    hub_env.drop("bad.edi", orders_bytes.replace(b"4000000000075:SRV", b"4000000099999:SRV"))
    hub_env.run()
    with hub_env.session_factory() as session:
        inbound = session.scalar(select(Message).where(Message.direction == "in"))
        assert inbound.state == State.REJECTED
        assert "line 3 (4000000099999): unknown item" in inbound.error
        assert session.scalar(select(Order)) is None, "nothing half-applied"
        kinds = sorted(m.document_type for m in session.scalars(select(Message).where(Message.direction == "out")))
        assert kinds == ["APERAK", "CONTRL"]
    aperak = [p for p in hub_env.outbound_files() if p.name.startswith("APERAK")][0]
    document = translate(aperak.read_bytes()).messages[0].document
    assert isinstance(document, Acknowledgement)
    assert document.action == "4"
    assert any("unknown item" in e.text for e in document.errors)


def test_syntax_error_is_rejected_with_a_located_contrl(hub_env, orders_bytes):
    broken = orders_bytes.replace(b"UNT+21+1'", b"UNT+25+1'")
    hub_env.drop("count.edi", broken)
    hub_env.run()
    with hub_env.session_factory() as session:
        inbound = session.scalar(select(Message).where(Message.direction == "in"))
        assert inbound.state == State.REJECTED
        assert session.scalar(select(Order)) is None
        located = [i for i in inbound.issues if i.get("tag") == "UNT"]
        assert located and located[0]["segment"] == 22 and located[0]["code"] == "29"
    contrl_file = [p for p in hub_env.outbound_files() if p.name.startswith("CONTRL")][0]
    contrl = translate(contrl_file.read_bytes()).messages[0].document
    assert contrl.action == "4" or any(m.action == "4" for m in contrl.messages)


def test_sender_not_the_channels_partner_is_rejected(hub_env, orders_bytes):
    hub_env.drop("spoof.edi", orders_bytes.replace(b"UNB+UNOC:3+4012345000009:14", b"UNB+UNOC:3+7023456000007:14"))
    hub_env.run()
    with hub_env.session_factory() as session:
        inbound = session.scalar(select(Message).where(Message.direction == "in"))
        assert inbound.state == State.REJECTED
        assert "interchange sender 7023456000007" in inbound.error
        assert session.scalar(select(Order)) is None


def test_a_cancellation_before_its_order_waits_then_applies(hub_env, orders_bytes):
    cancel = orders_bytes.replace(b"BGM+220+PO-2026-0001+9'", b"BGM+220+PO-2026-0001+1'").replace(
        b"ACME000001", b"ACME000002")
    hub_env.drop("1-cancel.edi", cancel)
    hub_env.run()
    with hub_env.session_factory() as session:
        waiting = session.scalar(select(Message).where(Message.filename == "1-cancel.edi"))
        assert waiting.state == State.WAITING
        assert waiting.events[-1].detail == "waiting for order PO-2026-0001, which this cancellation refers to"
    hub_env.drop("2-order.edi", orders_bytes)
    hub_env.run()
    with hub_env.session_factory() as session:
        cancelled = session.scalar(select(Message).where(Message.filename == "1-cancel.edi"))
        assert cancelled.state == State.PROCESSED
        assert session.scalar(select(Order)).status == "cancelled"
        assert [e.event for e in cancelled.events].count("release") == 1
