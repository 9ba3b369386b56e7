"""The worker's batch road (hub.batch) against the pipeline's, message by message.

The same messages go down both roads on the same database (emptied of
messages and orders in between) and every row they write is compared, ids
and clocks aside: the batch road is an optimisation, never another
behaviour. Then what happens when the batch road breaks down halfway.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import delete, func, select, update

from hub import batch
from hub.models import ControlCounter, Message, MessageEvent, Order, OrderLine, OrderResponse, Payload
from hub.ops_models import MessageReference
from hub.states import State

from .test_worker import receive_orders
from .test_worker_batch import orders_numbered, trace


def two_orders_in_one(orders_bytes: bytes, number: int) -> bytes:
    """An interchange of two ORDERS messages (order numbers PO-BATCH-<number> and <number + 1>)."""
    text = orders_numbered(orders_bytes, number).decode()
    head, rest = text.split("UNH+", 1)
    body, tail = ("UNH+" + rest).split("UNZ+", 1)
    second = body.replace("UNH+1+", "UNH+2+").replace("UNT+21+1", "UNT+21+2").replace(
        f"PO-BATCH-{number:04d}", f"PO-BATCH-{number + 1:04d}")
    return (head + body + second + "UNZ+2" + tail[1:]).encode()


def messages(orders_bytes: bytes) -> list[tuple[str, bytes]]:
    """In claim order: three that may go together, then what the pipeline must take."""
    unknown = orders_numbered(orders_bytes, 5).replace(b"4000000000075", b"4000000009999")
    replacement = orders_numbered(orders_bytes, 1).replace(b"+9'", b"+5'", 1).replace(b"ACMEB00001", b"ACMER00001")
    return [
        ("1.edi", orders_numbered(orders_bytes, 1)),     # line 1's price is not the contract price: changed
        ("2.edi", orders_numbered(orders_bytes, 2).replace(b"PRI+AAA:4.91'\n", b"").replace(b"UNT+21", b"UNT+20")),
        ("3.edi", two_orders_in_one(orders_bytes, 3)),   # orders 3 and 4 in one interchange
        ("dup.edi", orders_numbered(orders_bytes, 1)),   # the same bytes as 1.edi: a duplicate
        ("5.edi", unknown),                              # an unknown item: rejected, answered with an APERAK
        ("6.edi", orders_numbered(orders_bytes, 6)),     # plain, but after the partner's refused one
        ("replace.edi", replacement),                    # replaces order 1
    ]


UNB_CLOCK = re.compile(rb"(UNB\+[^']*?\+[^']*?\+[^']*?\+)\d{6}:\d{4}")
STAMP = re.compile(r"_\d{14}\.")


def story(session) -> dict:
    """Everything the roads write, with ids replaced by what they point at and clocks left out."""
    inbound = session.scalars(select(Message).where(Message.direction == "in").order_by(Message.filename)).all()
    names = {m.id: m.filename for m in inbound}
    orders = {o.id: o.number for o in session.scalars(select(Order))}
    outbound_ids = session.scalars(select(Message.id).where(Message.direction == "out").order_by(Message.id)).all()
    out_names = {message_id: f"out{i}" for i, message_id in enumerate(outbound_ids)}

    def events(message_id):
        return [(e.event, e.state, e.actor, e.detail) for e in session.scalars(
            select(MessageEvent).where(MessageEvent.message_id == message_id).order_by(MessageEvent.id))]

    def outbound(message):
        data = session.get(Payload, message.payload_id).data
        size_right = message.size == len(data)
        detail_of = lambda detail: detail  # noqa: E731
        business_ref = message.business_ref
        if message.document_type in ("CONTRL", "APERAK"):
            # an acknowledgement's number is C/A<the id of the message it answers>: ids differ from road to road
            own = f"([CA]){message.answers_id}"
            data = re.sub(rb"\b" + own.encode() + rb"\b", rb"\1#", data)
            business_ref = re.sub(rf"\b{own}\b", r"\1#", business_ref or "")
            detail_of = lambda detail: re.sub(rf"\b{own}\b", r"\1#", detail or "")  # noqa: E731
        return {
            "name": out_names[message.id], "type": message.document_type, "syntax": message.syntax,
            "refs": (message.interchange_ref, message.message_ref, business_ref),
            "parties": (message.sender_id, message.recipient_id, message.partner_id, message.channel_id),
            "state": message.state, "receipt": message.receipt, "issues": message.issues,
            "order": orders.get(message.order_id), "answers": names.get(message.answers_id),
            "filename": STAMP.sub("_STAMP.", message.filename), "size_right": size_right,
            "data": UNB_CLOCK.sub(rb"\1YYMMDD:HHMM", data),
            "trace": [(event, state, actor, detail_of(detail)) for event, state, actor, detail in events(message.id)],
            "attempts": message.attempts,
        }

    def named(detail):  # "message 12" as "message 1.edi"
        return re.sub(r"message (\d+)", lambda m: f"message {names.get(int(m.group(1)), m.group(1))}", detail or "")

    story = {"inbound": [], "orders": [], "counters": sorted(
        (c.partner_id, c.kind, c.value) for c in session.scalars(select(ControlCounter)))}
    for message in inbound:
        answers = session.scalars(select(Message).where(Message.answers_id == message.id).order_by(Message.id))
        story["inbound"].append({
            "name": message.filename, "state": message.state, "type": message.document_type, "syntax": message.syntax,
            "refs": (message.interchange_ref, message.message_ref, message.business_ref),
            "parties": (message.sender_id, message.recipient_id, message.partner_id),
            "issues": message.issues, "error": message.error, "order": orders.get(message.order_id),
            "duplicate_of": names.get(message.duplicate_of_id), "claimed": (message.claimed_by, message.lease_until),
            "trace": [(event, state, named(detail)) for event, state, _, detail in events(message.id)],
            "answers": [outbound(answer) for answer in answers],
            "references": session.scalars(select(MessageReference.reference).where(
                MessageReference.message_id == message.id).order_by(MessageReference.reference)).all(),
        })
    for order in session.scalars(select(Order).order_by(Order.number)):
        story["orders"].append({
            "order": (order.partner_id, order.number, order.source, order.status, order.order_date,
                      order.requested_delivery, order.currency, order.total, order.document, order.created_by_id),
            "lines": [(line.line_no, line.product_id, line.sku, line.gtin, line.description, line.quantity, line.unit,
                       line.unit_price, line.line_amount, line.confirmed_quantity, line.status) for line in order.lines],
            "responses": [(r.partner_id, r.number, r.response_code, r.issue_date, r.document,
                           out_names.get(r.message_id)) for r in order.responses],
        })
    return story


def differences(a, b, path="") -> list[str]:
    """Where two stories differ, as paths (for a readable failure)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for key in sorted(set(a) | set(b), key=str) for d in differences(a.get(key), b.get(key), f"{path}.{key}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def assert_same(pipeline: dict, batched: dict) -> None:
    found = differences(pipeline, batched)
    assert not found, "the roads differ:\n" + "\n".join(found)


def empty(session_factory) -> None:
    """Take away what the messages made; partners, catalogue and prices stay."""
    with session_factory() as session:
        session.execute(update(Message).values(duplicate_of_id=None, answers_id=None, order_id=None))
        for model in (MessageReference, MessageEvent, OrderResponse, OrderLine, Message, Order, Payload,
                      ControlCounter):
            session.execute(delete(model))
        session.commit()


def run_both_roads(env, monkeypatch, rounds: list[list[tuple[str, bytes]]]) -> tuple[dict, dict, list[int]]:
    """The stories of ``rounds`` (each received, then claimed as one batch) on the pipeline road and
    on the batch road, and how many messages the batch road took together."""
    taken: list[int] = []
    real = batch.apply_new_orders

    def counting(*args, **kwargs):
        done = real(*args, **kwargs)
        taken.append(len(done))
        return done

    monkeypatch.setattr("hub.worker.apply_new_orders", counting)
    stories = []
    for road in (False, True):
        empty(env.session_factory)
        for messages_of_round in rounds:
            for name, data in messages_of_round:
                receive_orders(env, data, name=name)
            assert env.worker(batch_road=road).run_batch(8) == len(messages_of_round)
            with env.session_factory() as session:  # the answers stay queued: the next batch is inbound only
                session.execute(update(Message).where(Message.direction == "out")
                                .values(next_attempt_at=dt.datetime(2999, 1, 1)))
                session.commit()
        with env.session_factory() as session:
            stories.append(story(session))
    return stories[0], stories[1], taken


def test_the_batch_road_writes_what_the_pipeline_writes(hub_env, orders_bytes, monkeypatch):
    # the second round: order 1's number again under a new interchange reference (a known number)
    again = orders_numbered(orders_bytes, 1).replace(b"ACMEB00001", b"ACMEA00001")
    pipeline, batched, taken = run_both_roads(hub_env, monkeypatch, [messages(orders_bytes), [("again.edi", again)]])

    assert taken == [3, 0], "1, 2 and 3 together; the rest, and the known number, by the pipeline"
    assert_same(pipeline, batched)
    # and the story is the right one
    by_name = {m["name"]: m for m in batched["inbound"]}
    assert [by_name[n]["state"] for n in ("1.edi", "2.edi", "3.edi", "6.edi", "replace.edi")] == [State.PROCESSED] * 5
    assert by_name["dup.edi"]["state"] == State.DUPLICATE and by_name["dup.edi"]["duplicate_of"] == "1.edi"
    assert by_name["5.edi"]["state"] == by_name["again.edi"]["state"] == State.REJECTED
    assert [a["type"] for a in by_name["1.edi"]["answers"]] == ["ORDRSP", "CONTRL"]
    assert [a["type"] for a in by_name["3.edi"]["answers"]] == ["ORDRSP", "ORDRSP", "CONTRL"]
    assert by_name["3.edi"]["references"] == ["1", "2"] and by_name["3.edi"]["order"] == "PO-BATCH-0004"
    statuses = {o["order"][1]: o["order"][3] for o in batched["orders"]}
    assert statuses["PO-BATCH-0002"] == "confirmed" and statuses["PO-BATCH-0003"] == "changed"
    refs = sorted(int(a["refs"][0]) for m in batched["inbound"] for a in m["answers"])
    assert refs == list(range(1, len(refs) + 1)), "one counter, no gaps, no number twice"


def test_partners_that_want_no_answers_or_have_no_channel(hub_env, orders_bytes, monkeypatch):
    from hub.models import Channel, Partner

    with hub_env.session_factory() as session:
        partner = session.scalar(select(Partner))
        partner.profile = {**partner.profile, "order_response": False, "acknowledgements": []}
        session.commit()
    rounds = [[(f"{n}.edi", orders_numbered(orders_bytes, n)) for n in (1, 2)]]
    pipeline, batched, taken = run_both_roads(hub_env, monkeypatch, rounds)
    assert taken == [2]
    assert_same(pipeline, batched)
    assert [o["order"][3] for o in batched["orders"]] == ["received", "received"], "not answered: received"
    assert [[a["type"] for a in m["answers"]] for m in batched["inbound"]] == [["CONTRL"]] * 2, \
        "the interchange asks for a CONTRL itself (UNB 0031)"

    with hub_env.session_factory() as session:
        partner = session.scalar(select(Partner))
        partner.profile = {**partner.profile, "order_response": True, "acknowledgements": ["CONTRL"]}
        for channel in session.scalars(select(Channel)):
            channel.direction = "in"  # nothing sends to the partner: it follows its orders in the portal
        session.commit()
    taken.clear()
    pipeline, batched, taken = run_both_roads(hub_env, monkeypatch, rounds)
    assert taken == [2]
    assert_same(pipeline, batched)
    assert all(m["answers"] == [] for m in batched["inbound"])
    assert [len(o["responses"]) for o in batched["orders"]] == [1, 1], "answered, not sent"
    assert [o["order"][3] for o in batched["orders"]] == ["changed", "changed"]


@pytest.fixture
def three(hub_env, orders_bytes) -> list[int]:
    return [receive_orders(hub_env, orders_numbered(orders_bytes, n), name=f"{n}.edi") for n in range(1, 4)]


def test_a_claim_lost_during_the_batch_discards_that_message_only(hub_env, three, monkeypatch):
    stolen = three[1]
    real = batch._candidate

    def thief_first(session, settings, message, translation):
        # as the batch begins, the second's lease runs out and another worker takes it (on SQLite,
        # before the batch's first statement: one writer at a time)
        with hub_env.session_factory() as other:
            other.execute(update(Message).where(Message.id == stolen, Message.claimed_by == "batcher")
                          .values(claimed_by="thief"))
            other.commit()
        return real(session, settings, message, translation)

    monkeypatch.setattr(batch, "_candidate", thief_first)
    assert hub_env.worker("batcher").run_batch(8) == 3

    with hub_env.session_factory() as session:
        assert sorted(session.scalars(select(Order.number))) == ["PO-BATCH-0001", "PO-BATCH-0003"]
        message = session.get(Message, stolen)
        assert message.state == State.PROCESSING and message.claimed_by == "thief"
        assert trace(session, stolen) == [("store", State.RECEIVED), ("claim", State.PROCESSING)]
        assert session.scalar(select(func.count()).select_from(Message).where(Message.answers_id == stolen)) == 0
        for message_id in (three[0], three[2]):
            assert session.get(Message, message_id).state == State.PROCESSED
            assert trace(session, message_id)[-1] == ("done", State.PROCESSED)
        refs = sorted(int(r) for r in session.scalars(select(Message.interchange_ref).where(Message.direction == "out")))
        assert refs == [1, 2, 3, 4], "the batch's numbers were given back with the rest of it"


def test_a_failure_in_the_batch_keeps_nothing_of_it(hub_env, three, monkeypatch):
    calls = []
    real = batch.order_response_for

    def broken_second(settings, partner, order, number):
        calls.append(order.number)
        if order.number == "PO-BATCH-0002":
            raise RuntimeError("the disk is full")
        return real(settings, partner, order, number)

    monkeypatch.setattr(batch, "order_response_for", broken_second)
    assert hub_env.worker().run_batch(8) == 3
    assert calls == ["PO-BATCH-0001", "PO-BATCH-0002"], "the batch stopped at the failure"

    with hub_env.session_factory() as session:
        # the pipeline road (which does not go through hub.batch) then applied each once
        assert session.scalars(select(Order.number).order_by(Order.number)).all() == [
            "PO-BATCH-0001", "PO-BATCH-0002", "PO-BATCH-0003"]
        assert session.scalar(select(func.count()).select_from(OrderLine)) == 9
        assert session.scalar(select(func.count()).select_from(OrderResponse)) == 3
        for message_id in three:
            assert trace(session, message_id) == [("store", State.RECEIVED), ("claim", State.PROCESSING),
                                                  ("done", State.PROCESSED)]
        refs = sorted(int(r) for r in session.scalars(select(Message.interchange_ref).where(Message.direction == "out")))
        assert refs == list(range(1, 7))


def test_waiting_messages_are_released_by_the_batch(hub_env, orders_bytes):
    """A cancellation that came before its order waits; the order, applied on the batch road, releases it."""
    cancel = orders_numbered(orders_bytes, 1).replace(b"+9'", b"+1'", 1).replace(b"ACMEB00001", b"ACMEC00001")
    waiting_id = receive_orders(hub_env, cancel, name="cancel.edi")
    worker = hub_env.worker()
    assert worker.run_batch(8) == 1
    with hub_env.session_factory() as session:
        assert session.get(Message, waiting_id).state == State.WAITING
    receive_orders(hub_env, orders_numbered(orders_bytes, 1), name="1.edi")
    assert worker.run_batch(8) == 1
    with hub_env.session_factory() as session:
        assert session.get(Message, waiting_id).state == State.RECEIVED
        released = session.get(Message, waiting_id).events[-1]
        assert released.event == "release" and "was applied; trying again" in released.detail
    assert worker.run_batch(8) == 3, "the cancellation, and the order's ORDRSP and CONTRL to deliver"
    with hub_env.session_factory() as session:
        assert session.get(Message, waiting_id).state == State.PROCESSED
        assert session.scalar(select(Order.status)) == "cancelled"


def test_an_order_with_a_mail_for_the_partner(hub_env, orders_bytes, monkeypatch):
    """A user who asked for order mails gets the same mail from either road."""
    from hub import notifications
    from hub.models import Partner, User

    sent = []
    monkeypatch.setattr(notifications, "queue", lambda session, settings, recipients, subject, body: sent.append(
        ([u.email for u in recipients], subject, body)) or len(recipients))
    with hub_env.session_factory() as session:
        partner = session.scalar(select(Partner))
        session.add(User(partner_id=partner.id, email="mails@acme.example", name="Mail Reader", role="buyer",
                         password_hash="x", active=True, notify={"order_response": True}))
        session.commit()
    pipeline, batched, taken = run_both_roads(hub_env, monkeypatch, [[("1.edi", orders_numbered(orders_bytes, 1))]])
    assert taken == [1]
    assert_same(pipeline, batched)
    assert len(sent) == 2
    same = [(to, subject, re.sub(r"/orders/\d+", "/orders/N", body)) for to, subject, body in sent]
    assert same[0] == same[1], "the same mail from both roads"
    assert "/orders/N" in same[0][2]
    assert "mails@acme.example" in sent[0][0] and "PO-BATCH-0001" in sent[0][1]


def test_ubl_orders_take_the_batch_road_too(hub_env, orders_bytes, monkeypatch):
    from edi.translate import translate
    from edi.ubl import render_ubl
    from hub.models import Partner

    with hub_env.session_factory() as session:
        partner = session.scalar(select(Partner))
        partner.profile = {**partner.profile, "syntax": "ubl"}
        session.commit()
    xml = {n: render_ubl(translate(orders_numbered(orders_bytes, n)).messages[0].document) for n in (1, 2)}
    rounds = [[("1.xml", xml[1]), ("2.xml", xml[2]), ("dup.xml", xml[1])]]
    pipeline, batched, taken = run_both_roads(hub_env, monkeypatch, rounds)
    assert taken == [2], "the duplicate by the pipeline"
    assert_same(pipeline, batched)
    by_name = {m["name"]: m for m in batched["inbound"]}
    assert [by_name[n]["state"] for n in ("1.xml", "2.xml", "dup.xml")] == [
        State.PROCESSED, State.PROCESSED, State.DUPLICATE]
    assert [(a["type"], a["syntax"]) for a in by_name["1.xml"]["answers"]] == [("ORDRSP", "ubl")]


def test_a_restricted_assortment_is_checked_on_the_batch_road(hub_env, orders_bytes, monkeypatch):
    """Orders of a partner with its own assortment: within it, together; outside it, refused by the pipeline."""
    from hub.models import AssortmentItem, Partner, Product

    with hub_env.session_factory() as session:
        partner = session.scalar(select(Partner))
        partner.assortment_restricted = True
        for gtin in ("4000000000013", "4000000000020", "4000000000075"):  # the three items of the test order
            product = session.scalar(select(Product).where(Product.gtin == gtin))
            session.add(AssortmentItem(partner_id=partner.id, product_id=product.id))
        session.commit()
    outside = orders_numbered(orders_bytes, 3).replace(b"4000000000075", b"4000000000082")
    with hub_env.session_factory() as session:
        assert session.scalar(select(Product).where(Product.gtin == "4000000000082")) is not None
    rounds = [[("1.edi", orders_numbered(orders_bytes, 1)), ("2.edi", orders_numbered(orders_bytes, 2)),
               ("3.edi", outside)]]
    pipeline, batched, taken = run_both_roads(hub_env, monkeypatch, rounds)
    assert taken == [2]
    assert_same(pipeline, batched)
    by_name = {m["name"]: m for m in batched["inbound"]}
    assert by_name["3.edi"]["state"] == State.REJECTED and "is not in your assortment" in by_name["3.edi"]["error"]
