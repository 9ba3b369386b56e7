"""Managing partners from the console: partners, identifiers, document preferences, channels,
certificates and channel secrets, and "test connection".

Every change is audited (``partner.*``, ``channel.*`` entries) in the same
transaction and committed once. The partner files (``kontor partners load``)
write the same rows: whichever wrote last wins; a later load of an unchanged
file puts the file's values back (the console's help text says so).

Secrets (passwords, private keys) are encrypted with :mod:`hub.secrets`
before they are stored and never come back out through this module, except
to the adapter a connection test builds.
"""

from __future__ import annotations

import socket
import tempfile
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.accounts import audit
from hub.certificates import CERTIFICATE_KEYS, fingerprint, read_certificates
from hub.errors import ProfileError
from hub.models import Channel, ControlCounter, Partner, PartnerIdentifier
from hub.partners import _CODE, CHANNEL_KINDS, IDENTIFIER_SCHEMES, _channels, _documents, _profile_json, _valid_gln
from hub.partners import preferences as stored_preferences
from hub.secrets import SECRET_SETTINGS, encrypt_settings, redact
from hub.settings import BASE_DIR, Settings

__all__ = [
    "AdminError",
    "ConnectionResult",
    "save_partner",
    "add_identifier",
    "remove_identifier",
    "save_documents",
    "save_channel",
    "upload_certificate",
    "remove_certificate",
    "channel_view",
    "certificates_of",
    "test_connection",
    "CHANNEL_SECRETS",
]

#: the write-only secret fields offered per channel kind
CHANNEL_SECRETS = {
    "sftp": ("password", "private_key", "private_key_passphrase"),
    "as2": ("local_key", "local_key_password"),
    "folder": (),
    "sftp_mailbox": (),
}


class AdminError(ValueError):
    """A console change was refused; the message says which field and why."""


def _partner(session: Session, partner_id: int) -> Partner:
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise LookupError(f"no partner {partner_id}")
    return partner


def save_partner(
    session: Session,
    actor: str,
    *,
    partner_id: int | None = None,
    code: str,
    name: str,
    country: str | None = None,
    currency: str = "EUR",
    vat_number: str | None = None,
    active: bool = True,
) -> Partner:
    """Create (no ``partner_id``) or update a partner. Commits."""
    code, name = (code or "").strip().upper(), (name or "").strip()
    country = (country or "").strip().upper() or None
    currency = (currency or "EUR").strip().upper()
    if not _CODE.match(code):
        raise AdminError("code: 2-40 upper-case letters, digits, - or _")
    if not name:
        raise AdminError("name: required")
    if country is not None and not (len(country) == 2 and country.isalpha()):
        raise AdminError("country: an ISO 3166 two-letter code")
    if not (len(currency) == 3 and currency.isalpha()):
        raise AdminError("currency: an ISO 4217 three-letter code")
    clash = session.scalar(select(Partner.id).where(Partner.code == code))
    if clash is not None and clash != partner_id:
        raise AdminError(f"code: {code} is already used")
    if partner_id is None:
        partner = Partner(code=code, name=name, profile={})
        session.add(partner)
        action = "partner.create"
    else:
        partner = _partner(session, partner_id)
        action = "partner.update"
    before = {"code": partner.code, "name": partner.name, "country": partner.country,
              "currency": partner.currency, "vat_number": partner.vat_number, "active": partner.active}
    partner.code, partner.name, partner.country, partner.currency = code, name, country, currency
    partner.vat_number = (vat_number or "").strip() or None
    partner.active = active
    session.flush()
    if session.get(ControlCounter, (partner.id, "interchange")) is None:
        session.add(ControlCounter(partner_id=partner.id, kind="interchange", value=0))
    after = {"code": code, "name": name, "country": country, "currency": currency,
             "vat_number": partner.vat_number, "active": active}
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    audit(session, actor, action, target=f"partner:{code}", partner_id=partner.id,
          detail=", ".join(f"{k}={v}" for k, v in changed.items()) or "no change")
    session.commit()
    return partner


def add_identifier(session: Session, actor: str, partner_id: int, scheme: str, value: str) -> PartnerIdentifier:
    """Add an EDI identifier (GLN, DUNS, ...) to a partner. Commits."""
    partner = _partner(session, partner_id)
    scheme, value = (scheme or "").strip().upper(), (value or "").strip()
    if scheme not in IDENTIFIER_SCHEMES:
        raise AdminError(f"scheme: one of {', '.join(IDENTIFIER_SCHEMES)}")
    if not value or len(value) > 70:
        raise AdminError("value: 1-70 characters")
    if scheme == "GLN" and not _valid_gln(value):
        raise AdminError(f"value: {value} is not a GLN (13 digits with a valid check digit)")
    qualifier = IDENTIFIER_SCHEMES[scheme]
    owner = session.scalar(select(PartnerIdentifier).where(PartnerIdentifier.qualifier == qualifier,
                                                           PartnerIdentifier.value == value))
    if owner is not None:
        raise AdminError(f"value: {scheme} {value} already belongs to partner {owner.partner.code}")
    identifier = PartnerIdentifier(partner=partner, scheme=scheme, qualifier=qualifier, value=value)
    session.add(identifier)
    audit(session, actor, "partner.identifier.add", target=f"partner:{partner.code}", partner_id=partner.id,
          detail=f"{scheme} {value}")
    session.commit()
    return identifier


def remove_identifier(session: Session, actor: str, partner_id: int, identifier_id: int) -> None:
    """Remove one of a partner's identifiers. Commits."""
    partner = _partner(session, partner_id)
    identifier = session.get(PartnerIdentifier, identifier_id)
    if identifier is None or identifier.partner_id != partner.id:
        raise LookupError(f"no identifier {identifier_id} of partner {partner.code}")
    session.delete(identifier)
    audit(session, actor, "partner.identifier.remove", target=f"partner:{partner.code}", partner_id=partner.id,
          detail=f"{identifier.scheme} {identifier.value}")
    session.commit()


def save_documents(session: Session, actor: str, partner_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Change a partner's document preferences, checked as a partner file's ``[documents]`` is. Commits.

    ``data`` is merged over the stored preferences: a preference it leaves out keeps its stored value,
    one given as None goes back to its default. Everything else in the profile (the ``oidc`` table of
    single sign-on, keys other writers keep there) is left as it was. Returns the new profile.
    """
    partner = _partner(session, partner_id)
    before = dict(partner.profile or {})
    wanted = {k: v for k, v in _profile_json(stored_preferences(partner)).items() if v is not None}
    for key, value in data.items():
        if value is None:
            wanted.pop(key, None)
        else:
            wanted[key] = value
    try:
        documents = _documents(wanted, "console")
    except ProfileError as exc:
        raise AdminError(str(exc).removeprefix("console: ")) from None
    profile = {**before, **_profile_json(documents)}
    partner.profile = profile
    changed = {k: v for k, v in profile.items() if before.get(k) != v}
    audit(session, actor, "partner.documents", target=f"partner:{partner.code}", partner_id=partner.id,
          detail=", ".join(f"{k}={v}" for k, v in changed.items()) or "no change")
    session.commit()
    return profile


def parse_settings_text(text: str) -> dict[str, Any]:
    """Channel settings as TOML ``key = value`` lines (the partner file's syntax)."""
    try:
        data = tomllib.loads(text or "")
    except tomllib.TOMLDecodeError as exc:
        raise AdminError(f"settings: not valid TOML: {exc}") from None
    secret = sorted(set(data) & SECRET_SETTINGS)
    if secret:
        raise AdminError(f"settings: {secret[0]} is a secret: use its write-only field")
    bad = sorted(k for k in data if k in CERTIFICATE_KEYS)
    if bad:
        raise AdminError(f"settings: {bad[0]} is a certificate: upload it as PEM")
    return data


def save_channel(
    session: Session,
    settings: Settings,
    actor: str,
    partner_id: int,
    *,
    channel_id: int | None = None,
    name: str,
    kind: str,
    direction: str = "both",
    active: bool = True,
    values: dict[str, Any] | None = None,
    secrets: dict[str, str] | None = None,
    clear_secrets: tuple[str, ...] = (),
) -> Channel:
    """Create or update a channel. ``values`` replace the plain settings (certificates are kept);
    a non-empty entry of ``secrets`` sets or replaces that secret, encrypted; ``clear_secrets`` removes
    secrets. Checked as a partner file's channel is. Commits."""
    partner = _partner(session, partner_id)
    name = (name or "").strip()
    if kind not in CHANNEL_KINDS:
        raise AdminError(f"kind: one of {', '.join(CHANNEL_KINDS)}")
    if channel_id is None:
        if session.scalar(select(Channel.id).where(Channel.partner_id == partner.id, Channel.name == name)):
            raise AdminError(f"name: {partner.code} already has a channel {name!r}")
        channel = Channel(partner=partner, name=name, kind=kind, settings={})
        session.add(channel)
        action = "channel.create"
    else:
        channel = session.get(Channel, channel_id)
        if channel is None or channel.partner_id != partner.id:
            raise LookupError(f"no channel {channel_id} of partner {partner.code}")
        action = "channel.update"
    old = dict(channel.settings or {})
    kept = {k: v for k, v in old.items() if k in CERTIFICATE_KEYS or k in SECRET_SETTINGS}
    new = {**kept, **(values or {})}
    for key in clear_secrets:
        new.pop(key, None)
    given = {k: v for k, v in (secrets or {}).items() if v}
    unknown = sorted(set(given) - set(CHANNEL_SECRETS.get(kind, ())))
    if unknown:
        raise AdminError(f"{unknown[0]}: not a secret of a {kind} channel")
    new.update(given)
    try:
        _channels([{"name": name, "kind": kind, "direction": direction, **new}], "console")
    except ProfileError as exc:
        raise AdminError(str(exc).removeprefix("console: ").removeprefix("channels[0].")) from None
    channel.name, channel.kind, channel.direction, channel.active = name, kind, direction, active
    channel.settings = encrypt_settings(settings, new)
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k not in given)
    detail = [f"{kind}, {direction}, {'active' if active else 'off'}"]
    if changed:
        detail.append("changed: " + ", ".join(changed))
    if given:
        detail.append("secrets set: " + ", ".join(sorted(given)))  # which ones, never their values
    if clear_secrets:
        detail.append("secrets removed: " + ", ".join(sorted(clear_secrets)))
    audit(session, actor, action, target=f"channel:{partner.code}/{name}", partner_id=partner.id,
          detail="; ".join(detail))
    session.commit()
    return channel


#: the keys that hold the partner's certificates (verification accepts any; AS2 encryption uses the first)
PARTNER_CERTIFICATE_KEYS = ("cert", "certs")


def _pem_entries(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def upload_certificate(session: Session, actor: str, channel_id: int, key: str, pem: str | bytes) -> Any:
    """Add a PEM certificate to a channel; returns its expiry. Commits.

    A partner certificate (``cert``/``certs``) is added beside the ones already
    stored, so a rollover keeps the old certificate until it is removed
    (:func:`remove_certificate`); once there are several they are kept as the
    ``certs`` list, oldest first (AS2 encrypts to the first). Our own
    ``local_cert`` is one certificate (it pairs with ``local_key``): an upload
    replaces it. The same certificate twice is refused.
    """
    if key not in CERTIFICATE_KEYS:
        raise AdminError(f"certificate: one of {', '.join(CERTIFICATE_KEYS)}")
    text = pem.decode("ascii", "replace") if isinstance(pem, bytes) else pem
    if "BEGIN CERTIFICATE" not in text:
        raise AdminError("certificate: not a PEM certificate (-----BEGIN CERTIFICATE-----)")
    if "PRIVATE KEY" in text:
        raise AdminError("certificate: the file holds a private key; upload it in the channel's key field")
    rows = read_certificates(text)
    bad = [problem for _i, _s, _c, problem in rows if problem]
    if bad or len(rows) != 1:
        raise AdminError(f"certificate: cannot be read: {bad[0] if bad else 'upload one certificate per file'}")
    cert = rows[0][2]
    assert cert is not None
    expiry = cert.not_valid_after_utc.replace(tzinfo=None)
    new_print = fingerprint(cert)
    channel = session.get(Channel, channel_id)
    if channel is None:
        raise LookupError(f"no channel {channel_id}")
    stored = dict(channel.settings or {})
    text = text.strip() + "\n"
    if key == "local_cert":
        stored["local_cert"] = text
        what = "local_cert replaced"
    else:
        existing = [*_pem_entries(stored.get("cert")), *_pem_entries(stored.get("certs"))]
        for _index, _source, old, _problem in read_certificates(existing):
            if old is not None and fingerprint(old) == new_print:
                raise AdminError(f"certificate: already stored (SHA-256 {new_print[:16]}…)")
        if not existing:
            stored[key] = text if key == "cert" else [text]
        else:
            stored.pop("cert", None)
            stored["certs"] = [*existing, text]
        what = f"partner certificate added ({len(existing) + 1} stored)"
    channel.settings = stored
    audit(session, actor, "channel.certificate", target=f"channel:{channel.partner.code}/{channel.name}",
          partner_id=channel.partner_id,
          detail=f"{what}: {cert.subject.rfc4514_string()}, SHA-256 {new_print[:16]}, valid until {expiry:%Y-%m-%d}")
    session.commit()
    return expiry


def remove_certificate(session: Session, actor: str, channel_id: int, key: str, index: int) -> None:
    """Remove entry ``index`` of a channel's certificate setting ``key`` (as :func:`certificates_of` lists them).

    The last partner certificate of an AS2 channel stays: the channel cannot work without one (upload the new
    one first). Commits.
    """
    channel = session.get(Channel, channel_id)
    if channel is None:
        raise LookupError(f"no channel {channel_id}")
    if key not in CERTIFICATE_KEYS:
        raise AdminError(f"certificate: one of {', '.join(CERTIFICATE_KEYS)}")
    stored = dict(channel.settings or {})
    entries = _pem_entries(stored.get(key))
    if not 0 <= index < len(entries):
        raise LookupError(f"no certificate {key}[{index}] in channel {channel.name}")
    partner_count = sum(len(_pem_entries(stored.get(k))) for k in PARTNER_CERTIFICATE_KEYS)
    if channel.kind == "as2" and key in PARTNER_CERTIFICATE_KEYS and partner_count <= 1:
        raise AdminError("certificate: the channel's only partner certificate; upload the new one first")
    described = [f"{c.subject.rfc4514_string()}, SHA-256 {fingerprint(c)[:16]}" if c is not None else (problem or "?")
                 for i, _source, c, problem in read_certificates(entries) if i == index]
    del entries[index]
    if isinstance(stored.get(key), (list, tuple)):
        stored[key] = entries
    elif entries:
        stored[key] = entries[0]
    if not entries:
        stored.pop(key, None)
    channel.settings = stored
    audit(session, actor, "channel.certificate_removed", target=f"channel:{channel.partner.code}/{channel.name}",
          partner_id=channel.partner_id, detail=f"{key}: " + "; ".join(described))
    session.commit()


@dataclass
class CertificateInfo:
    key: str
    index: int  # the entry of the setting (what remove_certificate takes)
    source: str  # "PEM text" or the file path
    expiry: Any  # datetime or None when unreadable
    days_left: float | None
    subject: str = ""
    fingerprint: str = ""
    problem: str | None = None  # why it could not be read


def certificates_of(channel: Channel, now) -> list[CertificateInfo]:
    """Every certificate of a channel, readable or not, in settings order. Never raises for a bad setting."""
    found = []
    for key in CERTIFICATE_KEYS:
        for index, source, cert, problem in read_certificates((channel.settings or {}).get(key)):
            if cert is None:
                found.append(CertificateInfo(key, index, source, None, None, problem=problem))
                continue
            expiry = cert.not_valid_after_utc.replace(tzinfo=None)
            found.append(CertificateInfo(key, index, source, expiry,
                                         round((expiry - now).total_seconds() / 86400, 1),
                                         cert.subject.rfc4514_string(), fingerprint(cert)))
    return found


def channel_view(channel: Channel) -> tuple[str, list[str]]:
    """(plain settings as TOML text, names of the secrets that are set) for the edit form."""
    shown = redact(channel.settings)
    plain = {k: v for k, v in shown.items() if k not in SECRET_SETTINGS and k not in CERTIFICATE_KEYS}
    secrets = sorted(k for k, v in shown.items() if k in SECRET_SETTINGS and v)
    return _toml(plain), secrets


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def _toml(data: dict[str, Any]) -> str:
    return "".join(f"{k} = {_toml_value(v)}\n" for k, v in data.items())


# --- test connection ------------------------------------------------------------------


@dataclass
class ConnectionResult:
    ok: bool
    detail: str


def test_connection(session: Session, settings: Settings, channel_id: int, *, timeout: float = 10.0) -> ConnectionResult:
    """Try a channel without moving any file: folders exist and are writable; SFTP connects and lists;
    the AS2 partner URL answers."""
    channel = session.get(Channel, channel_id)
    if channel is None:
        raise LookupError(f"no channel {channel_id}")
    if channel.kind == "folder":
        return _test_folder(channel)
    if channel.kind == "sftp":
        return _test_sftp(channel, settings)
    if channel.kind == "as2":
        return _test_as2(channel, timeout)
    if channel.kind == "sftp_mailbox":
        root = settings.var_path / "mailboxes" / channel.partner.code
        return ConnectionResult(root.is_dir(), f"mailbox folder {root} {'exists' if root.is_dir() else 'is missing'}")
    return ConnectionResult(False, f"no test for a {channel.kind} channel")


def _test_folder(channel: Channel) -> ConnectionResult:
    notes, ok = [], True
    for key in ("inbound", "outbound"):
        value = (channel.settings or {}).get(key)
        if not value:
            continue
        path = Path(value) if Path(value).is_absolute() else BASE_DIR / value
        if not path.is_dir():
            ok = False
            notes.append(f"{key} {path}: missing")
            continue
        try:
            with tempfile.NamedTemporaryFile(dir=path, prefix=".kontor-test-", suffix=".tmp"):
                pass
            notes.append(f"{key} {path}: writable")
        except OSError as exc:
            ok = False
            notes.append(f"{key} {path}: not writable ({exc.strerror or exc})")
    return ConnectionResult(ok and bool(notes), "; ".join(notes) or "no folders configured")


def _test_sftp(channel: Channel, settings: Settings) -> ConnectionResult:
    import paramiko

    from adapters.base import TransportError
    from hub.transport import adapter_for

    try:
        adapter = adapter_for(channel, settings)
    except ValueError as exc:
        return ConnectionResult(False, f"settings: {exc}")
    directory = (channel.settings or {}).get("inbound_dir") or (channel.settings or {}).get("outbound_dir") or "."
    try:
        with adapter:
            names = adapter._client().listdir(directory)  # noqa: SLF001 - a connection test lists, nothing more
    except (TransportError, paramiko.SSHException, OSError, EOFError) as exc:
        return ConnectionResult(False, f"{type(exc).__name__}: {exc}")
    return ConnectionResult(True, f"connected; {directory} lists {len(names)} entr{'y' if len(names) == 1 else 'ies'}")


def _test_as2(channel: Channel, timeout: float) -> ConnectionResult:
    url = (channel.settings or {}).get("url")
    if not url or not str(url).startswith(("http://", "https://")):
        return ConnectionResult(False, "no http(s) url in the channel settings")
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "Kontor AS2 connection test"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked
            return ConnectionResult(True, f"{url} answered {response.status}")
    except urllib.error.HTTPError as exc:  # an answer, if not a happy one: the server is there
        return ConnectionResult(True, f"{url} answered {exc.code} {exc.reason}")
    except (urllib.error.URLError, OSError, socket.timeout) as exc:
        reason = getattr(exc, "reason", exc)
        return ConnectionResult(False, f"{url} does not answer: {reason}")

