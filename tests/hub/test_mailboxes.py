"""A partner uploads an ORDERS to its hub-hosted SFTP mailbox and downloads the ORDRSP."""

from __future__ import annotations

import io

import paramiko
import pytest
from sqlalchemy import select

from edi.translate import translate
from hub.accounts import hash_password
from hub.mailboxes import start_mailbox_server
from hub.models import Message, Order
from hub.partners import load_profiles, sync_partners
from hub.demo import load_demo
from hub.states import State
from hub.worker import Worker

PROFILE = """
code = "ACME"
name = "Acme Distribution GmbH"
[[identifiers]]
scheme = "GLN"
value = "4012345000009"
[documents]
acknowledgements = []
[[channels]]
name = "mailbox"
kind = "sftp_mailbox"
username = "acme-edi"
password_hash = "{hash}"
"""


@pytest.fixture
def mailbox(settings, session_factory):
    settings.partners_path.mkdir(parents=True)
    (settings.partners_path / "acme.toml").write_text(PROFILE.format(hash=hash_password("s3cret-pass")))
    with session_factory() as session:
        sync_partners(session, load_profiles(settings.partners_path))
        load_demo(session, settings)
        session.commit()
    server = start_mailbox_server(settings, session_factory, port=0)
    yield server
    server.stop()


def connect(server, password="s3cret-pass"):
    transport = paramiko.Transport(("127.0.0.1", server.port))
    transport.connect(username="acme-edi", password=password)
    return transport, paramiko.SFTPClient.from_transport(transport)


def test_upload_is_stored_processed_and_answered_in_out(mailbox, settings, session_factory, orders_bytes):
    transport, sftp = connect(mailbox)
    try:
        sftp.putfo(io.BytesIO(orders_bytes), "/in/order-1.edi")
        with session_factory() as session:  # stored before the close returned
            message = session.scalar(select(Message))
            assert message.filename == "order-1.edi" and message.state == State.RECEIVED
            assert message.channel.name == "mailbox"
        Worker(settings, session_factory, name="t").drain()
        names = sftp.listdir("/out")
        assert len(names) == 2, names  # ORDRSP, and the CONTRL the UNB asked for
        responses = [n for n in names if n.startswith("ORDRSP")]
        data = sftp.open(f"/out/{responses[0]}").read()
        assert translate(data).messages[0].document.order_number == "PO-2026-0001"
        sftp.remove(f"/out/{responses[0]}")
        assert responses[0] not in sftp.listdir("/out")
    finally:
        transport.close()
    with session_factory() as session:
        assert session.scalar(select(Order)).number == "PO-2026-0001"


def test_wrong_password_is_refused(mailbox):
    with pytest.raises(paramiko.AuthenticationException):
        connect(mailbox, password="guess")
