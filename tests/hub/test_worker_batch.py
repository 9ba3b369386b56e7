"""Claims in batches and the hot path's direct inserts: each message still applied once, in order.

The tests that break the pipeline from inside (hub.worker.process_inbound replaced) run the worker
with ``batch_road=False``: the batch road (hub.batch) is tested for the same in tests/hub/test_batch.py."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from hub.models import Message, Order, OrderLine, OrderResponse, utcnow
from hub.states import State

from .conftest import make_env
from .test_worker import quiet_env, receive_orders  # noqa: F401 - quiet_env is a fixture


def orders_numbered(orders_bytes: bytes, number: int) -> bytes:
    """The test ORDERS with its own order number and interchange reference (no duplicate of the others)."""
    return (orders_bytes.replace(b"PO-2026-0001", f"PO-BATCH-{number:04d}".encode())
            .replace(b"ACME000001", f"ACMEB{number:05d}".encode()))


def trace(session, message_id: int) -> list[tuple[str, str]]:
    return [(e.event, e.state) for e in session.get(Message, message_id).events]


def test_a_batch_is_claimed_together_and_each_message_applied_once(hub_env, orders_bytes):
    ids = [receive_orders(hub_env, orders_numbered(orders_bytes, n), name=f"{n}.edi") for n in range(1, 4)]
    worker = hub_env.worker()

    assert worker.run_batch(8) == 3, "the three due ORDERS, claimed in one transaction"

    with hub_env.session_factory() as session:
        for message_id in ids:
            message = session.get(Message, message_id)
            assert message.state == State.PROCESSED, message.error
            assert message.claimed_by is None and message.lease_until is None
            assert trace(session, message_id) == [("store", State.RECEIVED), ("claim", State.PROCESSING),
                                                  ("done", State.PROCESSED)]
        orders = session.scalars(select(Order).order_by(Order.id)).all()
        assert [o.number for o in orders] == ["PO-BATCH-0001", "PO-BATCH-0002", "PO-BATCH-0003"]
        assert [len(o.lines) for o in orders] == [3, 3, 3]
        answers = session.scalars(select(Message).where(Message.direction == "out", Message.document_type == "ORDRSP")
                                  .order_by(Message.id)).all()
        assert [a.answers_id for a in answers] == ids
        outbound = session.scalars(select(Message).where(Message.direction == "out").order_by(Message.id)).all()
        assert [m.document_type for m in outbound] == ["CONTRL", "ORDRSP"] * 3 or \
            [m.document_type for m in outbound] == ["ORDRSP", "CONTRL"] * 3
        assert [int(m.interchange_ref) for m in outbound] == [1, 2, 3, 4, 5, 6], "numbered without gaps, in order"
        assert [m.state for m in outbound] == [State.QUEUED] * 6
        assert [trace(session, m.id) for m in outbound] == [[("store", State.QUEUED)]] * 6
        responses = session.scalars(select(OrderResponse).order_by(OrderResponse.id)).all()
        assert [r.message_id for r in responses] == [a.id for a in answers]

    assert worker.run_batch(8) == 6, "then the six answers are delivered"
    assert len(hub_env.outbound_files()) == 6
    assert worker.run_batch(8) == 0


def test_a_claim_lost_inside_a_batch_discards_only_that_message(quiet_env, orders_bytes, monkeypatch):
    ids = [receive_orders(quiet_env, orders_numbered(orders_bytes, n), name=f"{n}.edi") for n in range(1, 4)]
    real = __import__("hub.pipeline", fromlist=["process_inbound"]).process_inbound
    stolen = ids[1]

    def thief_first(session, settings, message, *, actor, translation=None):
        if message.id == ids[0]:  # while the first is worked on, the second's lease goes to another worker
            with quiet_env.session_factory() as other:
                other.execute(update(Message).where(Message.id == stolen).values(claimed_by="thief"))
                other.commit()
        return real(session, settings, message, actor=actor, translation=translation)

    monkeypatch.setattr("hub.worker.process_inbound", thief_first)
    assert quiet_env.worker("batcher", batch_road=False).run_batch(8) == 3

    with quiet_env.session_factory() as session:
        numbers = sorted(session.scalars(select(Order.number)))
        assert numbers == ["PO-BATCH-0001", "PO-BATCH-0003"], "the stolen message's order was rolled back"
        message = session.get(Message, stolen)
        assert message.state == State.PROCESSING and message.claimed_by == "thief"
        assert trace(session, stolen) == [("store", State.RECEIVED), ("claim", State.PROCESSING)]
        assert session.scalar(select(func.count()).select_from(OrderLine)) == 6
        for message_id in (ids[0], ids[2]):
            assert session.get(Message, message_id).state == State.PROCESSED


def test_a_failure_inside_a_batch_is_stored_and_the_rest_go_on(quiet_env, orders_bytes, monkeypatch):
    ids = [receive_orders(quiet_env, orders_numbered(orders_bytes, n), name=f"{n}.edi") for n in range(1, 4)]
    real = __import__("hub.pipeline", fromlist=["process_inbound"]).process_inbound

    def broken_second(session, settings, message, *, actor, translation=None):
        result = real(session, settings, message, actor=actor, translation=translation)
        if message.id == ids[1]:
            raise RuntimeError("the database went away")  # after the work, before the commit
        return result

    monkeypatch.setattr("hub.worker.process_inbound", broken_second)
    assert quiet_env.worker(batch_road=False).run_batch(8) == 3

    with quiet_env.session_factory() as session:
        assert sorted(session.scalars(select(Order.number))) == ["PO-BATCH-0001", "PO-BATCH-0003"]
        failed = session.get(Message, ids[1])
        assert failed.state == State.FAILED and "the database went away" in failed.error
        assert failed.claimed_by is None and failed.next_attempt_at is not None
        assert [e for e, _ in trace(session, ids[1])] == ["store", "claim", "fail"]
        assert session.get(Message, ids[2]).state == State.PROCESSED


def test_the_heartbeat_keeps_every_message_of_a_batch_leased(settings, session_factory, orders_bytes, monkeypatch):
    if not settings.database.startswith("postgresql"):
        pytest.skip("SQLite runs one worker, in `kontor run`; leases are extended on PostgreSQL")
    env = make_env(replace(settings, worker_lease_seconds=6), session_factory, acks="[]")
    ids = [receive_orders(env, orders_numbered(orders_bytes, n), name=f"{n}.edi") for n in range(1, 3)]
    real = __import__("hub.pipeline", fromlist=["process_inbound"]).process_inbound
    seen = {}

    def slow_first(session, settings, message, *, actor, translation=None):
        if message.id == ids[0]:
            time.sleep(4.5)
            with env.session_factory() as other:
                seen["waiting"] = other.get(Message, ids[1]).lease_until
        return real(session, settings, message, actor=actor, translation=translation)

    monkeypatch.setattr("hub.worker.process_inbound", slow_first)
    started = utcnow()
    assert env.worker(batch_road=False).run_batch(8) == 2
    assert seen["waiting"] > started + timedelta(seconds=7), "the second message's lease was extended too"
    with env.session_factory() as session:
        assert [session.get(Message, i).state for i in ids] == [State.PROCESSED, State.PROCESSED]


def test_a_placed_order_reads_back_as_written(hub_env, orders_bytes):
    """The lines and the response are written by direct inserts: the objects the caller holds are
    complete and persistent, and a fresh session reads the same."""
    from edi.translate import translate
    from hub.models import Partner
    from hub.orders import place_order

    document = translate(orders_bytes).messages[0].document
    with hub_env.session_factory() as session:
        partner = session.scalar(select(Partner))
        order = place_order(session, hub_env.settings, partner, document, source="api", actor="test")
        held = [(line.id, line.line_no, line.sku, line.quantity, line.status) for line in order.lines]
        assert all(line.id is not None and line.order is order for line in order.lines)
        assert [line.line_no for line in order.lines] == ["1", "2", "3"]
        assert len(order.responses) == 1 and order.responses[0].order is order
        response_id, outbound_id = order.responses[0].id, order.responses[0].message_id
        assert order.status == "changed", "line 1's price differs from the contract price"
        session.commit()
        order_id = order.id

    with hub_env.session_factory() as session:
        order = session.get(Order, order_id)
        assert [(line.id, line.line_no, line.sku, line.quantity, line.status) for line in order.lines] == held
        assert [r.id for r in order.responses] == [response_id]
        assert order.status == "changed"
        outbound = session.get(Message, outbound_id)
        assert outbound.order_id == order_id
        assert outbound.payload.data.startswith((b"UNA", b"UNB")) and b"ORDRSP" in outbound.payload.data
        assert outbound.partner.code == "ACME" and outbound.channel.name == "drop"
        assert outbound.receipt == {"ack_expected": True}, "the profile exchanges CONTRL"


def test_a_refused_order_is_applied_again_in_a_savepoint_and_keeps_nothing(hub_env, orders_bytes, monkeypatch):
    """The worker applies without a savepoint a document; a refusal after the order was written
    (here: a forced one, as the order is answered) starts over, so the refused order's rows go."""
    from hub import orders
    from hub.errors import OrderRejected

    refused_id = receive_orders(hub_env, orders_numbered(orders_bytes, 1), name="1.edi")
    fine_id = receive_orders(hub_env, orders_numbered(orders_bytes, 2), name="2.edi")
    real_respond = orders.respond
    calls = []

    def respond_refusing_the_first(session, settings, partner, order, **kwargs):
        calls.append(order.number)
        if order.number == "PO-BATCH-0001":
            raise OrderRejected(["refused after the order and its lines were written"])
        return real_respond(session, settings, partner, order, **kwargs)

    monkeypatch.setattr(orders, "respond", respond_refusing_the_first)
    assert hub_env.worker(batch_road=False).run_batch(8) == 2
    assert calls == ["PO-BATCH-0001", "PO-BATCH-0001", "PO-BATCH-0002"], "the refused one ran twice"

    with hub_env.session_factory() as session:
        assert session.scalars(select(Order.number)).all() == ["PO-BATCH-0002"]
        assert session.scalar(select(func.count()).select_from(OrderLine)) == 3, "only the applied order's lines"
        refused = session.get(Message, refused_id)
        assert refused.state == State.REJECTED and "refused after the order" in refused.error
        assert refused.order_id is None
        assert [e for e, _ in trace(session, refused_id)] == ["store", "claim", "reject"]
        answers = session.scalars(select(Message.document_type).where(Message.answers_id == refused_id)
                                  .order_by(Message.id)).all()
        assert sorted(answers) == ["APERAK", "CONTRL"], "answered once each, not once per run"
        assert session.get(Message, fine_id).state == State.PROCESSED
        refs = sorted(int(r) for r in session.scalars(select(Message.interchange_ref)
                                                      .where(Message.direction == "out")))
        assert refs == list(range(1, len(refs) + 1)), "the first run's numbers were given back"


def test_an_unknown_item_is_rejected_by_the_worker_with_nothing_applied(hub_env, orders_bytes):
    bad = orders_numbered(orders_bytes, 1).replace(b"LIN+3++4000000000075:SRV", b"LIN+3++4000000009999:SRV")
    message_id = receive_orders(hub_env, bad)
    assert hub_env.worker().run_once()
    with hub_env.session_factory() as session:
        message = session.get(Message, message_id)
        assert message.state == State.REJECTED and "unknown item" in message.error
        assert session.scalar(select(func.count()).select_from(Order)) == 0
        assert session.scalar(select(func.count()).select_from(OrderLine)) == 0
        assert [e for e, _ in trace(session, message_id)] == ["store", "claim", "reject"]
