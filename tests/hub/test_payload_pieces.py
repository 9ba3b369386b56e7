"""Large payloads on SQLite are written in pieces (incremental blob I/O) and read back whole."""

from __future__ import annotations

import hashlib
import os

from sqlalchemy import select

from hub import messages
from hub.models import Message, Payload


def test_a_large_payload_is_stored_whole_and_read_back(session, engine):
    data = os.urandom(messages.BLOB_PIECES_FROM + 123_457)  # several pieces and a short last one
    message = messages.new_message(session, direction="in", data=data, actor="test", filename="big.bin")
    assert message.payload.data is data  # the session holds the caller's bytes, not a copy
    session.commit()
    message_id, payload_id = message.id, message.payload_id
    session.expunge_all()
    stored = session.scalar(select(Payload).where(Payload.id == payload_id))
    assert stored.size == len(data) and stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.data == data
    assert messages.payload_bytes(session.get(Message, message_id)) == data


def test_a_rollback_takes_a_large_payload_back(session):
    before = session.scalar(select(Payload.id).order_by(Payload.id.desc()).limit(1))
    messages.new_message(session, direction="in", data=b"x" * messages.BLOB_PIECES_FROM, actor="test")
    session.rollback()
    assert session.scalar(select(Payload.id).order_by(Payload.id.desc()).limit(1)) == before


def test_small_payloads_take_the_ordinary_road(session):
    message = messages.new_message(session, direction="in", data=b"UNA:+.? '", actor="test")
    session.commit()
    session.expunge_all()
    assert session.get(Message, message.id).payload.data == b"UNA:+.? '"


def test_insert_message_writes_a_large_payload_in_pieces_too(session):
    data = os.urandom(messages.BLOB_PIECES_FROM + 7)
    message = messages.insert_message(session, direction="out", data=data, actor="test")
    session.commit()
    session.expunge_all()
    assert messages.payload_bytes(session.get(Message, message.id)) == data
