"""The hub polling a partner's own SFTP server (real OpenSSH on loopback) through an
``sftp`` channel: stored and committed before the remote file is archived; answers uploaded."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from edi.translate import translate
from hub import messages as store
from hub.demo import load_demo
from hub.models import Channel, Message, Order
from hub.partners import load_profiles, sync_partners
from hub.states import State
from hub.worker import Worker

ORDERS = (Path(__file__).resolve().parents[1] / "data" / "orders_acme_d96a.edi").read_bytes()


def profile(sshd, keys) -> str:
    key_path = keys["ed25519"].path
    return f"""
code = "ACME"
name = "Acme"
[[identifiers]]
scheme = "GLN"
value = "4012345000009"
[documents]
acknowledgements = []
[[channels]]
name = "their-sftp"
kind = "sftp"
host = "127.0.0.1"
port = {sshd.port}
username = "{sshd.user}"
private_key = "{key_path}"
host_keys = ["[127.0.0.1]:{sshd.port} {keys['host_ed25519'].public_line}"]
inbound_dir = "{sshd.root / 'in'}"
outbound_dir = "{sshd.root / 'out'}"
archive_dir = "{sshd.root / 'archive'}"
completeness = "rename"
schedule_seconds = 0
timeout = 10
"""


def test_poll_partner_sftp_store_then_archive_then_answer(sshd, ssh_keys, settings, session_factory):
    settings.partners_path.mkdir(parents=True)
    (settings.partners_path / "acme.toml").write_text(profile(sshd, ssh_keys))
    with session_factory() as session:
        sync_partners(session, load_profiles(settings.partners_path))
        load_demo(session, settings)
        session.commit()
    (sshd.root / "in" / "po.edi").write_bytes(ORDERS)
    (sshd.root / "in" / "half.edi.part").write_bytes(ORDERS[:100])  # still being uploaded

    worker = Worker(settings, session_factory, name="t")
    worker.tick(force=True)
    assert (sshd.root / "archive" / "po.edi").read_bytes() == ORDERS, "archived at the partner after the commit"
    assert (sshd.root / "in" / "half.edi.part").exists(), "an incomplete upload is left alone"
    worker.drain()
    with session_factory() as session:
        inbound = session.scalar(select(Message).where(Message.direction == "in"))
        assert inbound.filename == "po.edi" and inbound.state == State.PROCESSED
        assert session.scalar(select(Order)).number == "PO-2026-0001"
        answers = session.scalars(select(Message).where(Message.direction == "out")).all()
        assert all(m.state == State.DELIVERED for m in answers)
        assert any("sftp://" in m.receipt.get("delivery", "") for m in answers)
    uploaded = sorted(p.name for p in (sshd.root / "out").iterdir())
    assert any(name.startswith("ORDRSP_ACME_") for name in uploaded)
    response = [p for p in (sshd.root / "out").iterdir() if p.name.startswith("ORDRSP")][0]
    assert translate(response.read_bytes()).messages[0].document.order_number == "PO-2026-0001"


def test_a_refused_host_key_is_a_stored_channel_error(sshd, ssh_keys, settings, session_factory):
    text = profile(sshd, ssh_keys).replace(ssh_keys["host_ed25519"].public_line, ssh_keys["other_host"].public_line)
    settings.partners_path.mkdir(parents=True)
    (settings.partners_path / "acme.toml").write_text(text)
    with session_factory() as session:
        sync_partners(session, load_profiles(settings.partners_path))
        session.commit()
    (sshd.root / "in" / "po.edi").write_bytes(ORDERS)
    Worker(settings, session_factory, name="t").tick(force=True)
    with session_factory() as session:
        channel = session.scalar(select(Channel))
        assert "host key" in (channel.last_error or "").lower()
        assert session.scalar(select(Message)) is None
    assert (sshd.root / "in" / "po.edi").exists(), "nothing taken from a server we do not trust"


@pytest.fixture
def tiny_remote_disk(sshd):
    """The partner's out/ on a 1 MiB tmpfs (needs root and mount(8); skipped otherwise)."""
    out = sshd.root / "out"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0777", "tmpfs", str(out)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 1 MiB tmpfs for the full-disk test: {done.stderr.strip() or done.returncode}")
    try:
        yield out
    finally:
        subprocess.run(["umount", "-l", str(out)], check=False)


def _fill(folder: Path) -> Path:
    filler = folder / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def test_a_full_remote_disk_is_a_stored_error_and_the_retry_delivers(sshd, ssh_keys, settings, session_factory,
                                                                     tiny_remote_disk):
    settings.partners_path.mkdir(parents=True)
    (settings.partners_path / "acme.toml").write_text(profile(sshd, ssh_keys))
    with session_factory() as session:
        sync_partners(session, load_profiles(settings.partners_path))
        load_demo(session, settings)
        session.commit()
    filler = _fill(tiny_remote_disk)
    (sshd.root / "in" / "po.edi").write_bytes(ORDERS)
    worker = Worker(settings, session_factory, name="t")
    worker.tick(force=True)
    worker.drain()
    with session_factory() as session:
        answers = session.scalars(select(Message).where(Message.direction == "out")).all()
        assert answers and all(m.state == State.FAILED for m in answers)
        for m in answers:
            assert f"uploading {sshd.root / 'out' / m.filename}" in m.error
            assert "disk full" in m.error
        ids = [m.id for m in answers]
    assert sorted(p.name for p in tiny_remote_disk.iterdir()) == ["filler.bin"], \
        "nothing under the final name, and no temporary file left taking space"

    filler.unlink()  # the partner frees space
    with session_factory() as session:
        for message_id in ids:
            session.get(Message, message_id).next_attempt_at = None
        session.commit()
    worker.drain()
    with session_factory() as session:
        for message_id in ids:
            message = session.get(Message, message_id)
            assert message.state == State.DELIVERED, message.error
            assert (tiny_remote_disk / message.filename).read_bytes() == store.payload_bytes(message)
    assert not any(p.name.endswith(".part") for p in tiny_remote_disk.iterdir())


def test_a_file_over_the_size_limit_is_a_channel_error_while_it_is_there(sshd, ssh_keys, settings, session_factory):
    from hub.transport import poll_all

    settings.partners_path.mkdir(parents=True)
    (settings.partners_path / "acme.toml").write_text(profile(sshd, ssh_keys) + "max_file_bytes = 100000\n")
    with session_factory() as session:
        sync_partners(session, load_profiles(settings.partners_path))
        session.commit()
    huge = sshd.root / "in" / "huge.edi"
    huge.write_bytes(b"x" * 300_000)
    (sshd.root / "in" / "po.edi").write_bytes(ORDERS)
    for _ in range(2):  # the next poll (nothing new to store) does not clear it
        poll_all(session_factory, settings, actor="test")
        with session_factory() as session:
            error = session.scalar(select(Channel)).last_error or ""
            assert str(huge) in error and "300000 bytes" in error and "100000 bytes" in error, error
            assert [m.filename for m in session.scalars(select(Message))] == ["po.edi"], "the other file is taken"
    assert huge.exists()
    huge.unlink()  # the partner takes it away (or it is fetched by hand)
    poll_all(session_factory, settings, actor="test")
    with session_factory() as session:
        assert session.scalar(select(Channel)).last_error is None
