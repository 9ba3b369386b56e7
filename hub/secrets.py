"""Channel secrets (passwords, private keys) encrypted at rest with the hub's Fernet key.

A secret setting of a channel is stored as ``enc:v1:<Fernet token>``; the
key is ``[secrets] key`` or, by default, one generated once into
``var/secrets_key`` (:attr:`hub.settings.Settings.secrets_fernet_key`).
:func:`decrypt_settings` is what :func:`hub.transport.adapter_for` calls to
build an adapter; a value without the prefix (a partner file loaded with
``kontor partners load``) is used as it is. The console never shows a
secret again once set: :func:`redact` replaces each by a marker.
"""

from __future__ import annotations

from typing import Any, Mapping

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.settings import Settings

__all__ = [
    "PREFIX",
    "SECRET_SETTINGS",
    "SecretError",
    "is_secret",
    "is_encrypted",
    "encrypt",
    "decrypt",
    "encrypt_settings",
    "decrypt_settings",
    "redact",
    "with_plain_settings",
    "seal_channel_secrets",
]

PREFIX = "enc:v1:"
#: channel settings that hold a secret: SFTP password, private key and its passphrase; AS2 own key and password
SECRET_SETTINGS = frozenset({"password", "private_key", "private_key_passphrase", "key", "key_password",
                             "local_key", "local_key_password"})
SET_MARKER = "(set)"


class SecretError(ValueError):
    """A stored secret cannot be decrypted: the secrets key is not the one it was encrypted with."""


def _fernet(settings: Settings) -> Fernet:
    try:
        return Fernet(settings.secrets_fernet_key)
    except ValueError as exc:
        raise SecretError(f"[secrets] key is not a Fernet key (32 url-safe base64 bytes): {exc}") from None


def is_secret(name: str) -> bool:
    return name in SECRET_SETTINGS


def is_encrypted(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def encrypt(settings: Settings, plaintext: str) -> str:
    """``enc:v1:`` and the Fernet token of ``plaintext``."""
    return PREFIX + _fernet(settings).encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(settings: Settings, value: str) -> str:
    """The plaintext of an encrypted value; a value without the prefix is returned as it is."""
    if not is_encrypted(value):
        return value
    try:
        return _fernet(settings).decrypt(value[len(PREFIX):].encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise SecretError("a channel secret cannot be decrypted with this hub's [secrets] key") from None


def encrypt_settings(settings: Settings, data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of channel settings with every secret value encrypted (already encrypted ones kept)."""
    return {
        k: encrypt(settings, v) if is_secret(k) and isinstance(v, str) and v and not is_encrypted(v) else v
        for k, v in data.items()
    }


def decrypt_settings(settings: Settings, data: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of channel settings with every secret in plaintext, for building an adapter (never for display)."""
    return {k: decrypt(settings, v) if is_secret(k) and isinstance(v, str) else v for k, v in (data or {}).items()}


def redact(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """Channel settings for display: each secret shown only as set."""
    return {k: SET_MARKER if is_secret(k) and v else v for k, v in (data or {}).items()}


class _PlainChannel:
    """A channel whose ``settings`` are the decrypted ones; every other attribute is the channel's."""

    def __init__(self, channel: Any, plain: dict[str, Any]):
        self._channel = channel
        self.settings = plain

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)


def with_plain_settings(channel: Any, settings: Settings) -> Any:
    """A read-only stand-in for ``channel`` with its secrets decrypted, for code that reads
    ``channel.settings`` to build an adapter (hub.as2.partner_profile). Never stored, never shown."""
    return _PlainChannel(channel, decrypt_settings(settings, channel.settings))


def seal_channel_secrets(session: Session, settings: Settings) -> int:
    """Encrypt secrets stored in plaintext (a partner file loaded by ``kontor partners load`` writes
    them as the file has them); returns how many channels changed. Commits."""
    from hub.models import Channel

    sealed = 0
    for channel in session.scalars(select(Channel)):
        data = channel.settings or {}
        if any(is_secret(k) and isinstance(v, str) and v and not is_encrypted(v) for k, v in data.items()):
            channel.settings = encrypt_settings(settings, data)
            sealed += 1
    session.commit()
    return sealed
