"""The worker's road for plain new orders: a claimed batch applied with a few statements.

Nearly everything a worker claims is a new, well-formed order from a known
partner: store the order and its lines, answer it with an ORDRSP (and a
CONTRL when the partner asks for one), mark the message processed. The
per-message pipeline (:func:`hub.pipeline.process_inbound`) spends about
twenty statements on that; :func:`apply_new_orders` does it for all of a
batch's such messages together, in the caller's transaction, with set-based
statements: one query each for earlier duplicates, known order numbers,
products and contract prices, multi-row inserts of orders, lines, payloads,
messages, trace events and responses, one counter update a partner, and one
fenced update of the messages.

It decides with the pipeline's own checks (:func:`hub.orders.header_problems`,
:func:`hub.orders.line_problems`, :func:`hub.pricing.best_price`,
:func:`hub.outbound.render_outbound`) and writes the same rows. Whatever is
not plain is left to the pipeline: a duplicate, a replacement or
cancellation, a message with an error or from an unknown sender, an order
the catalogue or the assortment refuses, an order number already known, and
every later message of a partner one of whose messages is left, so that one
partner's messages are still applied in the order they came.
tests/hub/test_batch.py runs the same messages down both roads and compares
every row they write.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import JSON, bindparam, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from edi import documents as docs
from edi.translate import Translation, contrl_for
from hub import assortment, notifications
from hub.errors import HubError
from hub.messages import BLOB_PIECES_FROM, issues_to_json, message_row, transition
from hub.models import (ControlCounter, Message, MessageEvent, Order, OrderLine, OrderResponse, Partner, Payload,
                        Price, Product, utcnow)
from hub.ops_models import MessageReference
from hub.orders import (STATUS_AFTER_RESPONSE, find_products, header_problems, line_problems, line_rows,
                        order_response_for, response_code_for, response_number)
from hub.outbound import Outbound, outbound_channel, render_outbound
from hub.partners import DocumentPreferences, preferences
from hub.pipeline import _envelope_issues, translated_fields, wants_contrl
from hub.pricing import best_price
from hub.settings import Settings
from hub.states import Event, State, next_state

__all__ = ["apply_new_orders", "LostBatchClaim"]

_M = Message.__table__
_O = Order.__table__
_P = Price.__table__

_EARLIER = (State.PROCESSED, State.REJECTED, State.RESOLVED)
_DONE_STATE = next_state(State.PROCESSING, Event.DONE)

_INSERT_ORDERS = insert(_O).returning(_O.c.id, _O.c.partner_id, _O.c.number)
_INSERT_LINES = insert(OrderLine.__table__).returning(*OrderLine.__table__.c)
_INSERT_PAYLOADS = insert(Payload.__table__).returning(Payload.__table__.c.id, Payload.__table__.c.sha256)
_INSERT_MESSAGES = insert(_M).returning(_M.c.id, _M.c.payload_id)
_INSERT_EVENTS = insert(MessageEvent.__table__)
_INSERT_RESPONSES = insert(OrderResponse.__table__)
_INSERT_REFERENCES = insert(MessageReference.__table__)
_TAKE_NUMBERS = (
    update(ControlCounter.__table__)
    .where(ControlCounter.__table__.c.partner_id == bindparam("counter_partner"),
           ControlCounter.__table__.c.kind == "interchange")
    .values(value=ControlCounter.__table__.c.value + bindparam("counter_count"))
    .returning(ControlCounter.__table__.c.value)
)
_NEW_COUNTER = insert(ControlCounter.__table__)
#: the end of every message of the batch, fenced like the pipeline's (hub.worker): still ours, still processing
_FINISH = (
    update(_M)
    .where(_M.c.id == bindparam("b_id"), _M.c.claimed_by == bindparam("b_owner"), _M.c.state == State.PROCESSING)
    .values(
        state=_DONE_STATE, claimed_by=None, lease_until=None,
        interchange_ref=bindparam("b_interchange_ref"), sender_id=bindparam("b_sender_id"),
        recipient_id=bindparam("b_recipient_id"), document_type=bindparam("b_document_type"),
        message_ref=bindparam("b_message_ref"), syntax=bindparam("b_syntax"),
        issues=bindparam("b_issues", type_=JSON), order_id=bindparam("b_order_id"),
        business_ref=bindparam("b_business_ref"), updated_at=bindparam("b_updated_at"),
    )
)


class LostBatchClaim(HubError):
    """A message of the batch is no longer claimed by this worker (its lease ran out): nothing of the
    batch may be committed; the caller rolls back and takes the pipeline road, message by message."""


@dataclass
class _Item:
    """A message that may take this road, with what its checks found."""

    message: Message
    translation: Translation
    partner: Partner
    prefs: DocumentPreferences
    orders: list[docs.Order]
    wants_contrl: bool
    resolved: list[list[tuple[docs.OrderLine, Product | None]]] = field(default_factory=list)
    outbound: list[tuple[Any, str, int | None]] = field(default_factory=list)  # (document, kind, response index)
    order_id: int | None = None  # the message's order and business reference: its last order's, as the
    business_ref: str | None = None  # pipeline leaves them


def _candidate(session: Session, settings: Settings, message: Message, translation: Translation) -> _Item | None:
    """The message as an :class:`_Item` when nothing read so far keeps it off this road."""
    partner = message.partner
    if partner is None or message.direction != "in" or not translation.ok:
        return None
    documents = [translated.document for translated in translation.messages]
    if not all(isinstance(d, docs.Order) and d.function == "9" for d in documents):
        return None
    orders: list[docs.Order] = documents  # type: ignore[assignment]
    for order in orders:
        if header_problems(partner, order) or order.number != order.number.strip():
            return None
    with session.no_autoflush:
        if _envelope_issues(session, settings, message, translation):
            return None
    prefs = preferences(partner)
    return _Item(message, translation, partner, prefs, orders, wants_contrl(translation, prefs))


def apply_new_orders(session: Session, settings: Settings, work: list[tuple[Message, Translation]], *,
                     actor: str, owner: str) -> list[int]:
    """Apply those messages of ``work`` (claimed by ``owner``, in claim order) that are plain new
    orders, in the session's transaction; returns their ids, to be committed by the caller.

    The others are left untouched for :func:`hub.pipeline.process_inbound`,
    to be run after the commit. Raises :class:`LostBatchClaim` when a message
    is no longer ours, and lets any other failure through: the caller rolls
    the transaction back and takes the pipeline road for every message.
    """
    candidates: dict[int, _Item] = {}
    for message, translation in work:
        item = _candidate(session, settings, message, translation)
        if item is not None:
            candidates[message.id] = item
    if not candidates:
        return []
    items = list(candidates.values())
    connection = session.connection()
    partner_ids = {item.partner.id for item in items}

    # -- what the database knows: earlier duplicates, order numbers, products, prices
    hashes = {item.message.content_hash for item in items}
    refs = {item.translation.header.control_ref for item in items if item.translation.header is not None}
    same = [_M.c.content_hash.in_(hashes)] + ([_M.c.interchange_ref.in_(refs)] if refs else [])
    earlier = connection.execute(
        select(_M.c.id, _M.c.partner_id, _M.c.content_hash, _M.c.interchange_ref).where(
            _M.c.direction == "in", _M.c.partner_id.in_(partner_ids), _M.c.state.in_(_EARLIER), or_(*same))
    ).all()
    numbers = {order.number for item in items for order in item.orders}
    known_numbers = {(row.partner_id, row.number) for row in connection.execute(
        select(_O.c.partner_id, _O.c.number).where(_O.c.partner_id.in_(partner_ids), _O.c.number.in_(numbers)))}
    lines = [line for item in items for order in item.orders for line in order.lines]
    with session.no_autoflush:
        products = iter(find_products(session, lines))
    for item in items:
        item.resolved = [[(line, next(products)) for line in order.lines] for order in item.orders]
    hidden: dict[int, set[int]] = {}
    for item in items:
        if item.partner.assortment_restricted and item.partner.id not in hidden:
            wanted = [p for i in items if i.partner.id == item.partner.id
                      for resolved in i.resolved for _, p in resolved if p is not None]
            hidden[item.partner.id] = assortment.outside(session, item.partner, wanted)

    # -- which go this road: in claim order, a partner's first message left to the pipeline
    # leaves all its later ones there too
    blocked: set[int | None] = set()
    seen_hashes: set[tuple[int, str | None]] = set()
    seen_refs: set[tuple[int, str]] = set()
    seen_numbers: set[tuple[int, str]] = set()
    taken: list[_Item] = []
    for message, _ in work:
        item = candidates.get(message.id)
        if item is None or message.partner_id in blocked or not _plain(item, earlier, known_numbers, hidden,
                                                                        seen_hashes, seen_refs, seen_numbers):
            blocked.add(message.partner_id)
            continue
        pid = item.partner.id
        seen_hashes.add((pid, message.content_hash))
        if item.translation.header is not None:
            seen_refs.add((pid, item.translation.header.control_ref))
        seen_numbers.update((pid, order.number) for order in item.orders)
        taken.append(item)
    if not taken:
        return []

    # -- prices, lines, statuses, then the orders and their lines
    product_ids = {p.id for item in taken for resolved in item.resolved for _, p in resolved if p is not None}
    prices: dict[tuple[int, int], list[tuple[Any, ...]]] = {}
    for row in connection.execute(
        select(_P.c.partner_id, _P.c.product_id, _P.c.min_quantity, _P.c.valid_from, _P.c.valid_to, _P.c.price)
        .where(_P.c.partner_id.in_({item.partner.id for item in taken}), _P.c.product_id.in_(product_ids))
    ):
        prices.setdefault((row.partner_id, row.product_id), []).append(tuple(row))
    today = dt.date.today()
    order_rows, line_sets = [], []
    for item in taken:
        for order, resolved in zip(item.orders, item.resolved):
            on = order.issue_date or today
            unit_prices = [
                best_price([(r[2], r[3], r[5]) for r in prices.get((item.partner.id, product.id), ())
                            if r[3] is not None and r[3] <= on and (r[4] is None or r[4] >= on)], line.quantity, product.list_price)
                for line, product in resolved if product is not None
            ]
            rows, total = line_rows(resolved, unit_prices)
            status = (STATUS_AFTER_RESPONSE[response_code_for(row["status"] for row in rows)]
                      if item.prefs.order_response else "received")
            order_rows.append({
                "partner_id": item.partner.id, "number": order.number, "source": "edi", "status": status,
                "order_date": order.issue_date, "requested_delivery": order.requested_delivery,
                "currency": item.partner.currency, "total": total, "document": docs.to_dict(order),
                "created_by_id": None,
            })
            line_sets.append(rows)
    order_ids = {(row.partner_id, row.number): row.id for row in connection.execute(_INSERT_ORDERS, order_rows)}
    all_lines = []
    for order_row, rows in zip(order_rows, line_sets):
        order_row["id"] = order_ids[(order_row["partner_id"], order_row["number"])]
        all_lines.extend({**row, "order_id": order_row["id"]} for row in rows)
    stored_lines: dict[int, list[Any]] = {}
    for row in connection.execute(_INSERT_LINES, all_lines):
        stored_lines.setdefault(row.order_id, []).append(row)
    # what order_response_for and the notification read of an order: as the pipeline has it then
    views = iter([SimpleNamespace(**row, lines=sorted(stored_lines[row["id"]], key=lambda line: line.id))
                  for row in order_rows])

    # -- the answers: an ORDRSP an order (when the profile wants them), a CONTRL a message (when asked)
    responses = []
    for item in taken:
        item.outbound = []
        for _ in item.orders:
            view = next(views)
            if item.prefs.order_response:
                number = response_number(view.number, 1)
                document = order_response_for(settings, item.partner, view, number)
                responses.append((item, view, document))
                item.outbound.append((document, "ORDRSP", len(responses) - 1))
        if item.wants_contrl:
            ack = contrl_for(item.translation, number=f"C{item.message.id}", issue_date=today)
            item.outbound.append((ack, "CONTRL", None))
        item.order_id, item.business_ref = view.id, view.number

    # -- numbers (a partner's counter once, partners in id order: two workers lock them alike),
    # rendering, then payloads, messages, their first events, and the responses
    channels = {item.partner.id: outbound_channel(session, item.partner) for item in taken}
    wanted_numbers: dict[int, int] = {}
    for item in taken:
        if channels[item.partner.id] is not None:
            wanted_numbers[item.partner.id] = wanted_numbers.get(item.partner.id, 0) + len(item.outbound)
    next_number = {pid: _take_numbers(connection, pid, count)
                   for pid, count in sorted(wanted_numbers.items()) if count}
    rendered: list[tuple[_Item, Outbound, int | None]] = []
    for item in taken:
        if channels[item.partner.id] is None:
            continue
        for document, kind, response_index in item.outbound:
            control = next_number[item.partner.id]
            next_number[item.partner.id] += 1
            order = responses[response_index][1] if response_index is not None else None
            business_ref = order.number if order is not None else item.business_ref
            order_id = order.id if order is not None else None
            rendered.append((item, render_outbound(settings, item.partner, document, control, prefs=item.prefs,
                                                   answers_id=item.message.id, order_id=order_id,
                                                   business_ref=business_ref), response_index))
    message_ids: dict[int, int] = {}
    if rendered:
        if any(len(outbound.data) >= BLOB_PIECES_FROM for _, outbound, _ in rendered):
            raise ValueError("an answer too large for the batch road")  # the pipeline stores it in pieces
        if len({outbound.content_hash for _, outbound, _ in rendered}) != len(rendered):
            raise ValueError("two answers of the batch have the same bytes")  # never: their numbers differ
        now = utcnow()
        payload_rows = [{"sha256": outbound.content_hash, "size": len(outbound.data), "created_at": now,
                         "data": outbound.data} for _, outbound, _ in rendered]
        payload_ids = {row.sha256: row.id for row in connection.execute(_INSERT_PAYLOADS, payload_rows)}
        message_rows = [message_row(direction="out", partner=item.partner, channel=channels[item.partner.id],
                                    payload_id=payload_ids[outbound.content_hash], content_hash=outbound.content_hash,
                                    size=len(outbound.data), created_at=now, updated_at=now, **outbound.fields)
                        for item, outbound, _ in rendered]
        by_payload = {row.payload_id: row.id for row in connection.execute(_INSERT_MESSAGES, message_rows)}
        events = []
        for (item, outbound, response_index), row in zip(rendered, message_rows):
            message_id = by_payload[row["payload_id"]]
            if response_index is not None:
                message_ids[response_index] = message_id
            events.append({"message_id": message_id, "event": "store", "state": State.QUEUED, "actor": actor,
                           "detail": outbound.detail, "at": now})
        connection.execute(_INSERT_EVENTS, events)
    if responses:
        connection.execute(_INSERT_RESPONSES, [{
            "order_id": view.id, "partner_id": item.partner.id, "number": document.number,
            "response_code": document.response_code, "issue_date": document.issue_date,
            "document": docs.to_dict(document), "message_id": message_ids.get(index),
        } for index, (item, view, document) in enumerate(responses)])

    # -- the interchange's other message references, the waiting released, the mails, the end
    references = [{"message_id": item.message.id, "reference": reference} for item in taken
                  if len(item.translation.messages) > 1
                  for reference in sorted({m.reference[:35] for m in item.translation.messages if m.reference})]
    if references:
        connection.execute(delete(MessageReference.__table__).where(
            MessageReference.__table__.c.message_id.in_({row["message_id"] for row in references})))
        connection.execute(_INSERT_REFERENCES, references)
    _release_waiting(session, taken, actor=actor)
    if responses:
        with session.no_autoflush:
            recipients = notifications.recipients_by_partner(session, {item.partner.id for item, _, _ in responses},
                                                             "order_response")
        for item, view, document in responses:
            if recipients.get(item.partner.id):
                notifications.order_response(session, settings, item.partner, view, document,
                                             recipients=recipients[item.partner.id])
    now = utcnow()
    connection.execute(_INSERT_EVENTS, [{
        "message_id": item.message.id, "event": Event.DONE, "state": _DONE_STATE, "actor": actor,
        "detail": f"{len(item.orders)} document(s) applied", "at": now,
    } for item in taken])
    finished = connection.execute(_FINISH, [_finish_row(item, owner, now) for item in taken])
    if finished.rowcount != len(taken):
        raise LostBatchClaim(f"{len(taken) - finished.rowcount} message(s) of the batch are no longer claimed by {owner}")
    return [item.message.id for item in taken]


def _plain(item: _Item, earlier, known_numbers, hidden, seen_hashes, seen_refs, seen_numbers) -> bool:
    """Nothing the database (or an earlier message of the batch) knows keeps ``item`` off this road."""
    message, pid = item.message, item.partner.id
    ref = item.translation.header.control_ref if item.translation.header is not None else None
    for row in earlier:
        if row.partner_id == pid and row.id < message.id and (
                row.content_hash == message.content_hash or (ref and row.interchange_ref == ref)):
            return False  # a duplicate: the pipeline records it as one
    if (pid, message.content_hash) in seen_hashes or (ref and (pid, ref) in seen_refs):
        return False
    numbers = [order.number for order in item.orders]
    if len(set(numbers)) != len(numbers):
        return False
    for order, resolved in zip(item.orders, item.resolved):
        if (pid, order.number) in known_numbers or (pid, order.number) in seen_numbers:
            return False
        if line_problems(resolved, hidden.get(pid, set())):
            return False
    return True


def _take_numbers(connection, partner_id: int, count: int) -> int:
    """Take ``count`` interchange numbers of the partner's counter; returns the first."""
    last = connection.execute(_TAKE_NUMBERS, {"counter_partner": partner_id, "counter_count": count}).scalar()
    if last is None:
        connection.execute(_NEW_COUNTER, {"partner_id": partner_id, "kind": "interchange", "value": count})
        last = count
    return int(last) - count + 1


def _release_waiting(session: Session, taken: list[_Item], *, actor: str) -> None:
    """Messages of these partners waiting for something get another go, as after the pipeline applies one."""
    first = {}
    for item in taken:
        first.setdefault(item.partner.id, item.message.id)
    with session.no_autoflush:
        waiting = session.scalars(select(Message).where(Message.partner_id.in_(first), Message.state == State.WAITING,
                                                        Message.id.not_in([item.message.id for item in taken]))).all()
    for message in waiting:
        transition(session, message, Event.RELEASE, actor=actor,
                   detail=f"message {first[message.partner_id]} was applied; trying again")


def _finish_row(item: _Item, owner: str, now: dt.datetime) -> dict[str, Any]:
    message = item.message
    fields = {"interchange_ref": message.interchange_ref, "sender_id": message.sender_id,
              "recipient_id": message.recipient_id, **translated_fields(item.translation)}
    return {
        "b_id": message.id, "b_owner": owner, **{f"b_{name}": value for name, value in fields.items()},
        "b_issues": issues_to_json(item.translation.all_issues()),
        "b_order_id": item.order_id, "b_business_ref": item.business_ref, "b_updated_at": now,
    }
