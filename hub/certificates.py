"""Certificates in use: AS2 partner certificates and our own, with their expiry.

Read from the channels' settings (``cert``/``certs``: PEM text, a PEM or DER
file path, or a list of those; ``local_cert``: our own for that partner) and
from the hub's AS2 identity (``[hub] as2_cert``, else ``var/as2/cert.pem``,
made at start). The console shows the days left, ``/metrics`` exports them
and the alerting warns at 30, 14 and 7 days. Several certificates under one
key (a rollover) are told apart by their SHA-256 fingerprint.

Nothing here raises for a bad value: an entry that cannot be read comes back
as a :class:`CertificateRecord` with ``problem`` set, so one broken setting
never takes a page down.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import Channel, Partner
from hub.settings import BASE_DIR, Settings

__all__ = [
    "CERTIFICATE_KEYS",
    "HUB_CHANNEL",
    "CertificateRecord",
    "certificate_expiry",
    "fingerprint",
    "read_certificates",
    "hub_certificate_path",
    "certificate_records",
    "certificates",
    "certificate_days_left",
]

#: channel settings that hold certificates
CERTIFICATE_KEYS = ("cert", "certs", "local_cert")
#: the channel name under which the hub's own AS2 certificate is reported (partner code empty)
HUB_CHANNEL = "hub"


def certificate_expiry(pem: str | bytes) -> dt.datetime:
    """When a PEM certificate stops being valid (UTC, naive). ValueError when it is not one."""
    cert = x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
    return cert.not_valid_after_utc.replace(tzinfo=None)


def fingerprint(cert: x509.Certificate) -> str:
    """The SHA-256 fingerprint of the certificate's DER encoding, lower-case hex."""
    return cert.fingerprint(hashes.SHA256()).hex()


@dataclass(frozen=True)
class CertificateRecord:
    """One certificate found in a setting, or one entry of it that could not be read."""

    partner: str  # partner code; "" for the hub's own identity
    channel: str  # channel name; HUB_CHANNEL for the hub's own identity
    key: str  # settings key: cert, certs, local_cert, as2_cert
    source: str  # "PEM text" or the file path it was read from
    index: int  # position of the entry in the setting (0 when the setting is a single value)
    cert: x509.Certificate | None = None
    problem: str | None = None  # why the entry could not be read

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert) if self.cert is not None else ""

    @property
    def subject(self) -> str:
        return self.cert.subject.rfc4514_string() if self.cert is not None else ""

    @property
    def expiry(self) -> dt.datetime | None:
        return self.cert.not_valid_after_utc.replace(tzinfo=None) if self.cert is not None else None

    def days_left(self, now: dt.datetime) -> float | None:
        """Days until expiry from ``now`` (naive UTC), negative once expired; None when unreadable."""
        expiry = self.expiry
        return None if expiry is None else round((expiry - now).total_seconds() / 86400, 2)


def _path(value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else BASE_DIR / path


def _parse(data: bytes) -> list[x509.Certificate]:
    if b"-----BEGIN" in data:
        return list(x509.load_pem_x509_certificates(data))
    return [x509.load_der_x509_certificate(data)]


def read_certificates(value: Any) -> list[tuple[int, str, x509.Certificate | None, str | None]]:
    """(index, source, certificate or None, problem) for each certificate a setting holds.

    ``value`` is PEM text, a file path (PEM or DER, relative to the install
    directory), or a list of those; a PEM bundle gives one row per certificate.
    """
    if value is None or value == "" or value == []:
        return []
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    rows: list[tuple[int, str, x509.Certificate | None, str | None]] = []
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            rows.append((index, "?", None, f"entry {index + 1} is {type(item).__name__}, not PEM text or a path"))
            continue
        if "-----BEGIN" in item:
            source, data = "PEM text", item.encode("ascii", "replace")
        else:
            path = _path(item.strip())
            source = str(path)
            try:
                data = path.read_bytes()
            except OSError as exc:
                rows.append((index, source, None, f"cannot read {path}: {exc.strerror or exc}"))
                continue
        try:
            certs = _parse(data)
        except ValueError as exc:
            rows.append((index, source, None, f"not a certificate: {exc}"))
            continue
        if not certs:
            rows.append((index, source, None, "no certificate in it"))
        rows.extend((index, source, cert, None) for cert in certs)
    return rows


def hub_certificate_path(settings: Settings) -> Path | None:
    """The hub's own AS2 certificate file: ``[hub] as2_cert``, else ``var/as2/cert.pem`` when it was made."""
    if settings.hub_as2_cert:
        return _path(settings.hub_as2_cert)
    made = settings.var_path / "as2" / "cert.pem"
    return made if made.exists() else None


def certificate_records(session: Session, settings: Settings | None = None) -> Iterator[CertificateRecord]:
    """Every certificate of active channels (by partner and channel), then the hub's own when ``settings``
    are given. Unreadable entries come back with ``problem`` set."""
    stmt = (select(Channel, Partner.code).join(Partner)
            .where(Channel.active.is_(True)).order_by(Partner.code, Channel.name))
    for channel, code in session.execute(stmt):
        for key in CERTIFICATE_KEYS:
            for index, source, cert, problem in read_certificates((channel.settings or {}).get(key)):
                yield CertificateRecord(code, channel.name, key, source, index, cert, problem)
    if settings is not None:
        path = hub_certificate_path(settings)
        if path is not None:
            for index, source, cert, problem in read_certificates(str(path)):
                yield CertificateRecord("", HUB_CHANNEL, "as2_cert", source, index, cert, problem)


def certificates(session: Session, settings: Settings | None = None
                 ) -> Iterator[tuple[str, str, str, x509.Certificate]]:
    """(partner code, channel name, settings key, certificate) for every readable certificate."""
    for record in certificate_records(session, settings):
        if record.cert is not None:
            yield record.partner, record.channel, record.key, record.cert


def certificate_days_left(session: Session, now: dt.datetime | None = None, settings: Settings | None = None
                          ) -> Iterator[tuple[str, str, str, float]]:
    """(partner code, channel name, settings key, days left); negative once expired."""
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    for record in certificate_records(session, settings):
        days = record.days_left(now)
        if days is not None:
            yield record.partner, record.channel, record.key, days
