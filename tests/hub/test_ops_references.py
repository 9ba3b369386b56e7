"""The console's reference filter finds an interchange of several messages by any of its UNH references."""

from __future__ import annotations

from sqlalchemy import func, select

from hub import monitor
from hub.models import Message
from hub.ops_models import MessageReference


def _two_messages(orders: bytes) -> bytes:
    head, rest = orders.split(b"UNH+1+", 1)
    body, tail = rest.split(b"UNZ+1+", 1)
    second = ("UNH+ORD-B7+" + body.decode().replace("UNT+21+1'", "UNT+21+ORD-B7'")
              .replace("PO-2026-0001", "PO-2026-0077")).encode()
    return head + b"UNH+1+" + body + second + b"UNZ+2+" + tail


def test_any_unh_reference_finds_the_interchange(hub_env, orders_bytes):
    hub_env.drop("two.edi", _two_messages(orders_bytes))
    hub_env.run()
    with hub_env.session_factory() as session:
        (message,) = session.scalars(select(Message).where(Message.direction == "in"))
        assert message.state == "processed" and message.message_ref == "1"
        for ref in ("ORD-B7", "1", "ACME000001"):
            found = monitor.list_messages(session, monitor.MessageFilter(reference=ref, direction="in"))
            assert [m.id for m in found.items] == [message.id], ref
        assert monitor.list_messages(session, monitor.MessageFilter(reference="ORD-B8")).items == []

        # a second run (reprocessing) keeps one row per reference
        from hub.pipeline import process_inbound

        message.state = "processing"
        process_inbound(session, hub_env.settings, message, actor="test")
        session.flush()
        refs = session.execute(select(MessageReference.reference, func.count())
                               .group_by(MessageReference.reference)).all()
        assert sorted(refs) == [("1", 1), ("ORD-B7", 1)]
        session.rollback()
