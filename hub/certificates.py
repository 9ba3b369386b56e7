"""Certificates kept in channel settings (AS2 partner and own certificates): expiry."""

from __future__ import annotations

import datetime as dt
from typing import Iterator

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import Channel, Partner

__all__ = ["CERTIFICATE_KEYS", "certificate_expiry", "certificate_days_left"]

#: channel settings that may hold a PEM certificate
CERTIFICATE_KEYS = ("partner_certificate", "our_certificate", "partner_encryption_certificate",
                    "partner_signing_certificate")


def certificate_expiry(pem: str) -> dt.datetime:
    """When a PEM certificate stops being valid (UTC, naive)."""
    cert = x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
    return cert.not_valid_after_utc.replace(tzinfo=None)


def certificate_days_left(session: Session, now: dt.datetime | None = None) -> Iterator[tuple[str, str, str, float]]:
    """(partner code, channel name, settings key, days left) for every certificate in active channels."""
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    stmt = select(Channel, Partner.code).join(Partner).where(Channel.active.is_(True))
    for channel, code in session.execute(stmt):
        for key in CERTIFICATE_KEYS:
            pem = (channel.settings or {}).get(key)
            if not pem or "BEGIN CERTIFICATE" not in str(pem):
                continue
            try:
                expiry = certificate_expiry(pem)
            except ValueError:
                continue
            yield code, channel.name, key, round((expiry - now).total_seconds() / 86400, 2)
