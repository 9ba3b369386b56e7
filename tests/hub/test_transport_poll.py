"""Polling inbound channels: one broken channel is recorded on itself and never stops the others."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from hub.models import Channel, Message
from hub.transport import poll_all


def _channels(env):
    """The partner's folder channel made broken (it is polled first), and a good folder channel after it."""
    with env.session_factory() as session:
        broken = session.scalar(select(Channel).where(Channel.name == "drop"))
        good = Channel(partner_id=broken.partner_id, name="drop2", kind="folder", direction="in",
                       settings={**broken.settings})
        session.add(good)
        session.commit()
        assert broken.id < good.id
        return broken.id, good.id


def _break(env, channel_id, **changes):
    with env.session_factory() as session:
        channel = session.get(Channel, channel_id)
        for key, value in changes.items():
            setattr(channel, key, value)
        session.commit()


@pytest.mark.parametrize("how", ["sftp without host_keys", "unreadable key file", "bad folder setting"])
def test_a_misconfigured_channel_is_recorded_and_the_next_is_polled(hub_env, orders_bytes, caplog, how):
    broken_id, good_id = _channels(hub_env)
    sftp = {"host": "127.0.0.1", "username": "acme", "inbound_dir": "/in"}
    if how == "sftp without host_keys":
        _break(hub_env, broken_id, kind="sftp", settings=sftp)
        expected = "host_keys is required"
    elif how == "unreadable key file":
        _break(hub_env, broken_id, kind="sftp", settings={
            **sftp, "host_keys": ["127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"],
            "private_key": str(hub_env.inbound / "no-such-key")})
        expected = "no-such-key"
    else:
        _break(hub_env, broken_id, settings={"inbound": str(hub_env.inbound), "settle_seconds": "soon"})
        expected = "settle_seconds"
    hub_env.drop("ORDERS_1.edi", orders_bytes)
    # the broken channel cannot take the file, so only the good channel can
    with caplog.at_level(logging.WARNING, logger="hub.transport"):
        assert poll_all(hub_env.session_factory, hub_env.settings, actor="test") == 1
    with hub_env.session_factory() as session:
        broken, good = session.get(Channel, broken_id), session.get(Channel, good_id)
        assert broken.last_error and expected in broken.last_error, broken.last_error
        assert broken.last_poll_at is not None, "the failed poll is recorded too"
        assert good.last_error is None and good.last_poll_at is not None
        assert session.scalar(select(func.count()).select_from(Message)) == 1
    assert any(expected in r.getMessage() for r in caplog.records), "and logged"


def test_a_file_that_cannot_be_archived_stays_stored_and_the_error_is_recorded(hub_env, orders_bytes, tmp_path):
    broken_id, good_id = _channels(hub_env)
    blocked = tmp_path / "archive-is-a-file"
    blocked.write_text("not a folder")
    first_in = tmp_path / "first-in"
    first_in.mkdir()
    (first_in / "ORDERS_A.edi").write_bytes(orders_bytes)
    with hub_env.session_factory() as session:
        channel = session.get(Channel, broken_id)
        settings = {**channel.settings, "inbound": str(first_in), "archive": str(blocked)}
    _break(hub_env, broken_id, settings=settings)
    hub_env.drop("ORDERS_B.edi", orders_bytes.replace(b"ACME000001", b"ACME000002"))

    assert poll_all(hub_env.session_factory, hub_env.settings, actor="test") == 2
    with hub_env.session_factory() as session:
        broken, good = session.get(Channel, broken_id), session.get(Channel, good_id)
        assert "ORDERS_A.edi is stored as message" in broken.last_error
        assert "could not be removed or archived" in broken.last_error
        assert good.last_error is None
        names = sorted(session.scalars(select(Message.filename)))
        assert names == ["ORDERS_A.edi", "ORDERS_B.edi"], "the stored file is kept, the next channel was polled"
    assert (first_in / "ORDERS_A.edi").exists(), "left at the source, to be archived by a later poll"
    assert not (hub_env.inbound / "ORDERS_B.edi").exists()

    # later polls retry the archiving only: the file is not stored again, the error stays
    for _ in range(2):
        assert poll_all(hub_env.session_factory, hub_env.settings, actor="test") == 0
        with hub_env.session_factory() as session:
            assert session.scalar(select(func.count()).select_from(Message)) == 2
            assert "ORDERS_A.edi is stored as message" in session.get(Channel, broken_id).last_error
    assert (first_in / "ORDERS_A.edi").exists()

    # the archive is fixed: the next poll archives the file, stores nothing new and clears the error
    blocked.unlink()
    assert poll_all(hub_env.session_factory, hub_env.settings, actor="test") == 0
    with hub_env.session_factory() as session:
        assert session.get(Channel, broken_id).last_error is None
        assert session.scalar(select(func.count()).select_from(Message)) == 2
        stored = session.scalar(select(Message).where(Message.filename == "ORDERS_A.edi"))
        assert stored.receipt["source_confirmed"] is True
    assert not (first_in / "ORDERS_A.edi").exists()
    assert (blocked / "ORDERS_A.edi").read_bytes() == orders_bytes

    # the same file sent again after it was archived is a new delivery: stored (the pipeline judges duplicates)
    (first_in / "ORDERS_A.edi").write_bytes(orders_bytes)
    assert poll_all(hub_env.session_factory, hub_env.settings, actor="test") == 1


def test_an_unreadable_file_is_a_channel_error_and_the_others_are_stored(hub_env, orders_bytes, monkeypatch):
    from pathlib import Path

    _break(hub_env, _channels(hub_env)[1], active=False)  # only the partner's own drop folder
    hub_env.drop("ORDERS_A.edi", orders_bytes)
    hub_env.drop("ORDERS_B.edi", orders_bytes.replace(b"ACME000001", b"ACME000002"))
    hub_env.drop("ORDERS_C.edi", orders_bytes.replace(b"ACME000001", b"ACME000003"))
    real_read = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name == "ORDERS_B.edi":  # (as root, chmod 000 does not stop a read)
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    for _ in range(2):
        poll_all(hub_env.session_factory, hub_env.settings, actor="test")
        with hub_env.session_factory() as session:
            channel = session.scalar(select(Channel).where(Channel.name == "drop"))
            assert "ORDERS_B.edi" in channel.last_error and "Permission denied" in channel.last_error
            assert sorted(session.scalars(select(Message.filename))) == ["ORDERS_A.edi", "ORDERS_C.edi"]
    assert (hub_env.inbound / "ORDERS_B.edi").exists()
    monkeypatch.undo()
    assert poll_all(hub_env.session_factory, hub_env.settings, actor="test") == 1
    with hub_env.session_factory() as session:
        assert session.scalar(select(Channel).where(Channel.name == "drop")).last_error is None


def test_a_folder_channel_with_a_schedule_is_polled(hub_env, orders_bytes):
    broken_id, good_id = _channels(hub_env)
    _break(hub_env, good_id, active=False)
    with hub_env.session_factory() as session:
        settings = {**session.get(Channel, broken_id).settings, "schedule_seconds": 0}
    _break(hub_env, broken_id, settings=settings)  # the hub's key, not the folder adapter's
    hub_env.drop("ORDERS_A.edi", orders_bytes)
    assert poll_all(hub_env.session_factory, hub_env.settings, actor="test") == 1
    with hub_env.session_factory() as session:
        assert session.get(Channel, broken_id).last_error is None
