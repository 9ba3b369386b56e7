"""The hub-hosted SFTP mailboxes, wired to the partners' ``sftp_mailbox`` channels.

A partner logs in with the ``username`` of its mailbox channel (default: its
code in lower case) and the channel's ``password_hash`` (Argon2, as
``kontor`` hashes passwords) or one of its ``authorized_keys``. A complete
upload is stored and committed as a received message before the partner's
SFTP close succeeds; the worker delivers outbound files into its ``out/``.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters.sftp_server import MailboxAccount, MailboxServer
from hub.inbound import receive_committed
from hub.models import Channel, Partner
from hub.settings import Settings

__all__ = ["start_mailbox_server", "mailbox_root", "mailbox_account"]

log = logging.getLogger(__name__)


def mailbox_root(settings: Settings):
    return settings.var_path / "mailboxes"


def _username(channel: Channel) -> str:
    return str((channel.settings or {}).get("username") or channel.partner.code.lower())


def mailbox_account(session_factory: sessionmaker[Session], username: str) -> tuple[MailboxAccount, str] | None:
    """The account and channel name for a login name, or None."""
    with session_factory() as session:
        stmt = (
            select(Channel)
            .join(Partner)
            .where(Channel.kind == "sftp_mailbox", Channel.active.is_(True), Partner.active.is_(True))
        )
        for channel in session.scalars(stmt):
            if _username(channel) == username:
                data = channel.settings or {}
                keys = data.get("authorized_keys") or ()
                account = MailboxAccount(
                    partner_code=channel.partner.code,
                    password_hash=data.get("password_hash"),
                    authorized_keys=tuple(keys) if isinstance(keys, (list, tuple)) else (str(keys),),
                )
                return account, channel.name
    return None


def start_mailbox_server(settings: Settings, session_factory: sessionmaker[Session], *, port: int | None = None) -> MailboxServer:
    """Start the mailbox server in background threads and return it (``.stop()`` ends it)."""
    channels: dict[str, str] = {}

    def accounts(username: str) -> MailboxAccount | None:
        found = mailbox_account(session_factory, username)
        if found is None:
            return None
        account, channel_name = found
        channels[account.partner_code] = channel_name
        return account

    def on_upload(partner_code: str, filename: str, data: bytes) -> None:
        message_id = receive_committed(
            session_factory,
            partner_code=partner_code,
            channel_name=channels.get(partner_code),
            data=data,
            actor=f"sftp mailbox {partner_code}",
            filename=filename,
            receipt={"transport": "sftp mailbox", "path": f"/in/{filename}"},
        )
        log.info("mailbox %s: %s stored as message %s", partner_code, filename, message_id)

    root = mailbox_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    server = MailboxServer(
        settings.sftp_host,
        settings.sftp_port if port is None else port,
        settings.var_path / "ssh_host_ed25519_key",
        accounts,
        on_upload,
        root,
    )
    server.start()
    return server
