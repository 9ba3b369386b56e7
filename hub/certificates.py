"""Certificates in use: AS2 partner certificates and our own, with their expiry.

Read from the ``as2`` channels' settings (``cert``/``certs``: PEM text or a
file path, or a list; ``local_cert``: our own for that partner) and from the
hub's AS2 identity. The console shows the days left, ``/metrics`` exports
them and the alerting warns at 30, 14 and 7 days.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Iterator

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import Channel, Partner
from hub.settings import BASE_DIR

__all__ = ["CERTIFICATE_KEYS", "certificate_expiry", "certificates", "certificate_days_left"]

#: channel settings that hold certificates
CERTIFICATE_KEYS = ("cert", "certs", "local_cert")


def certificate_expiry(pem: str | bytes) -> dt.datetime:
    """When a PEM certificate stops being valid (UTC, naive)."""
    cert = x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
    return cert.not_valid_after_utc.replace(tzinfo=None)


def _load(value) -> list[x509.Certificate]:
    items = value if isinstance(value, (list, tuple)) else [value]
    found: list[x509.Certificate] = []
    for item in items:
        if not isinstance(item, str) or not item:
            continue
        if "-----BEGIN" in item:
            data = item.encode()
        else:
            path = Path(item)
            path = path if path.is_absolute() else BASE_DIR / path
            try:
                data = path.read_bytes()
            except OSError:
                continue
        try:
            found.extend(x509.load_pem_x509_certificates(data))
        except ValueError:
            continue
    return found


def certificates(session: Session) -> Iterator[tuple[str, str, str, x509.Certificate]]:
    """(partner code, channel name, settings key, certificate) for every certificate of active channels."""
    stmt = select(Channel, Partner.code).join(Partner).where(Channel.active.is_(True)).order_by(Partner.code)
    for channel, code in session.execute(stmt):
        for key in CERTIFICATE_KEYS:
            for cert in _load((channel.settings or {}).get(key)):
                yield code, channel.name, key, cert


def certificate_days_left(session: Session, now: dt.datetime | None = None) -> Iterator[tuple[str, str, str, float]]:
    """(partner code, channel name, settings key, days left); negative once expired."""
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    for code, channel, key, cert in certificates(session):
        expiry = cert.not_valid_after_utc.replace(tzinfo=None)
        yield code, channel, key, round((expiry - now).total_seconds() / 86400, 2)
