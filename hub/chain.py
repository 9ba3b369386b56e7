"""Correlation: an order and everything that followed it, as one chain.

order -> order responses -> despatch advices -> invoices, each with the
messages that carried it and the acknowledgements (CONTRL, APERAK, MDN) the
partner sent back for those messages. The ops console, the portal and the
API all read the chain from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import Message, Order

__all__ = ["ChainLink", "Chain", "chain_for_order", "chain_for_message"]


@dataclass
class ChainLink:
    kind: str  # order, order_response, despatch_advice, invoice
    number: str
    record: object
    messages: list[Message] = field(default_factory=list)
    acknowledgements: list[Message] = field(default_factory=list)


@dataclass
class Chain:
    order: Order
    links: list[ChainLink]

    def as_dict(self) -> dict:
        def message(m: Message) -> dict:
            return {"id": m.id, "direction": m.direction, "type": m.document_type, "state": m.state,
                    "interchange_ref": m.interchange_ref, "created_at": m.created_at.isoformat()}

        return {
            "order": self.order.number,
            "partner": self.order.partner.code,
            "links": [
                {"kind": link.kind, "number": link.number,
                 "messages": [message(m) for m in link.messages],
                 "acknowledgements": [message(m) for m in link.acknowledgements]}
                for link in self.links
            ],
        }


def chain_for_order(session: Session, order: Order, *, partner_id: int | None = None) -> Chain:
    """The chain of ``order``; with ``partner_id`` it refuses (LookupError) another partner's order."""
    if partner_id is not None and order.partner_id != partner_id:
        raise LookupError("no such order")
    messages = list(session.scalars(select(Message).where(Message.order_id == order.id).order_by(Message.id)))
    by_id = {m.id: m for m in messages}
    answers: dict[int, list[Message]] = {}
    if messages:
        acks = session.scalars(
            select(Message).where(Message.answers_id.in_(list(by_id)), Message.direction == "in").order_by(Message.id)
        )
        for ack in acks:
            answers.setdefault(ack.answers_id, []).append(ack)

    def link(kind: str, number: str, record, message_id: int | None, *, inbound: bool = False) -> ChainLink:
        carried = [by_id[message_id]] if message_id in by_id else []
        if inbound:
            carried = [m for m in messages if m.direction == "in" and m.document_type in ("ORDERS", None)
                       and m.answers_id is None]
        acks = [a for m in carried for a in answers.get(m.id, [])]
        return ChainLink(kind, number, record, carried, acks)

    links = [link("order", order.number, order, None, inbound=True)]
    links += [link("order_response", r.number, r, r.message_id) for r in order.responses]
    links += [link("despatch_advice", d.number, d, d.message_id) for d in order.despatches]
    links += [link("invoice", i.number, i, i.message_id) for i in order.invoices]
    return Chain(order, links)


def chain_for_message(session: Session, message: Message) -> Chain | None:
    """The chain a message belongs to (through its order, or the message it answers)."""
    current = message
    seen = set()
    while current is not None and current.order_id is None and current.answers_id and current.id not in seen:
        seen.add(current.id)
        current = session.get(Message, current.answers_id)
    if current is None or current.order_id is None:
        return None
    return chain_for_order(session, session.get(Order, current.order_id))
