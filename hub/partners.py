"""Partner profiles: ``config/partners/*.toml`` into frozen, validated dataclasses.

A profile says who a partner is (identifiers), how documents are exchanged
with it (syntax, directory, subset, acknowledgements, strictness) and through
which channels. A wrong value stops ``kontor partners load`` (and start-up)
with a :class:`~hub.errors.ProfileError` naming the file and the field.

``sync_partners`` writes the profiles into the database: partners and their
identifiers and channels are created or updated; channels no longer in the
file are deactivated, never deleted, so their message history stays linked.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edi.options import Strictness
from hub.errors import ProfileError
from hub.models import Channel, ControlCounter, Partner, PartnerIdentifier

__all__ = [
    "IDENTIFIER_SCHEMES",
    "CHANNEL_KINDS",
    "Identifier",
    "DocumentPreferences",
    "ChannelProfile",
    "OidcProfile",
    "PartnerProfile",
    "load_profile",
    "load_profiles",
    "sync_partners",
    "preferences",
    "oidc_settings",
    "oidc_partners",
    "oidc_partner",
]

#: scheme -> UNB/NAD identification code qualifier
IDENTIFIER_SCHEMES = {"GLN": "14", "DUNS": "1", "ZZZ": "ZZZ", "ZZ": "ZZ", "AS2": "AS2"}
CHANNEL_KINDS = ("folder", "sftp", "sftp_mailbox", "as2")
SYNTAXES = ("edifact", "ubl")
DIRECTORIES = ("D96A", "D01B")
SUBSETS = ("EANCOM", "UN")
CHARSETS = ("UNOA", "UNOB", "UNOC", "UNOD", "UNOE", "UNOF", "UNOW", "UNOY")
ACKNOWLEDGEMENTS = ("CONTRL", "APERAK")
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,39}$")


@dataclass(frozen=True)
class Identifier:
    scheme: str
    value: str

    @property
    def qualifier(self) -> str:
        return IDENTIFIER_SCHEMES[self.scheme]


@dataclass(frozen=True)
class DocumentPreferences:
    syntax: str = "edifact"
    directory: str = "D96A"
    subset: str = "EANCOM"  # EANCOM: the GS1 subset's association code per message type; UN: none
    charset: str = "UNOC"
    syntax_version: str = "3"
    acknowledgements: tuple[str, ...] = ("CONTRL",)
    order_response: bool = True
    leniencies: tuple[str, ...] = ()
    ack_expected_hours: float = 24.0
    test: bool = False
    alert_silence_hours: float | None = None  # alert when nothing came in from the partner for this long

    @property
    def strictness(self) -> Strictness:
        return Strictness.from_names(self.leniencies)


@dataclass(frozen=True)
class ChannelProfile:
    name: str
    kind: str
    direction: str = "both"
    settings: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class OidcProfile:
    """Single sign-on through the partner's OpenID Connect provider (``[oidc]`` in its profile)."""

    issuer: str
    client_id: str
    email_domains: tuple[str, ...]
    client_secret: str | None = field(default=None, repr=False)
    client_secret_env: str | None = None  # the variable holding the secret, instead of client_secret
    metadata_url: str | None = None  # default: issuer + /.well-known/openid-configuration
    label: str | None = None  # "Sign in with <label>"
    scope: str = "openid email profile"
    create_users_role: str | None = None  # admin, buyer or accounts: create missing users; None: never
    require_verified_email: bool = True


@dataclass(frozen=True)
class PartnerProfile:
    code: str
    name: str
    source: str  # the file it came from
    country: str | None = None
    currency: str = "EUR"
    vat_number: str | None = None
    credit_limit: Decimal | None = None
    approval_threshold: Decimal | None = None
    identifiers: tuple[Identifier, ...] = ()
    documents: DocumentPreferences = DocumentPreferences()
    channels: tuple[ChannelProfile, ...] = ()
    oidc: OidcProfile | None = None


def _fail(source: str, where: str, why: str) -> ProfileError:
    return ProfileError(f"{source}: {where}: {why}")


def _text(data: dict, key: str, source: str, where: str, *, required: bool = False, default: Any = None) -> Any:
    if key not in data:
        if required:
            raise _fail(source, f"{where}{key}", "is required")
        return default
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise _fail(source, f"{where}{key}", f"{value!r} must be non-empty text")
    return value.strip()


def _amount(data: dict, key: str, source: str) -> Decimal | None:
    if key not in data:
        return None
    try:
        value = Decimal(str(data[key]))
    except InvalidOperation:
        raise _fail(source, key, f"{data[key]!r} is not an amount") from None
    if value < 0:
        raise _fail(source, key, "must not be negative")
    return value


def _documents(data: Any, source: str) -> DocumentPreferences:
    if data is None:
        return DocumentPreferences()
    if not isinstance(data, dict):
        raise _fail(source, "documents", "must be a table")
    known = {f for f in DocumentPreferences.__dataclass_fields__}
    for key in data:
        if key not in known:
            raise _fail(source, f"documents.{key}", "unknown field")
    values: dict[str, Any] = {}
    for key, allowed in (("syntax", SYNTAXES), ("directory", DIRECTORIES), ("charset", CHARSETS)):
        if key in data:
            if data[key] not in allowed:
                raise _fail(source, f"documents.{key}", f"{data[key]!r} is not one of {', '.join(allowed)}")
            values[key] = data[key]
    if "subset" in data:
        if data["subset"] not in SUBSETS:
            raise _fail(source, "documents.subset", f"{data['subset']!r} is not one of {', '.join(SUBSETS)}")
        values["subset"] = data["subset"]
    if "syntax_version" in data:
        value = str(data["syntax_version"])
        if value not in ("1", "2", "3", "4"):
            raise _fail(source, "documents.syntax_version", f"{value!r} is not 1, 2, 3 or 4")
        values["syntax_version"] = value
    if "acknowledgements" in data:
        acks = data["acknowledgements"]
        if not isinstance(acks, list) or any(a not in ACKNOWLEDGEMENTS for a in acks):
            raise _fail(source, "documents.acknowledgements", f"must be a list of {', '.join(ACKNOWLEDGEMENTS)}")
        values["acknowledgements"] = tuple(acks)
    if "leniencies" in data:
        names = data["leniencies"]
        if not isinstance(names, list):
            raise _fail(source, "documents.leniencies", "must be a list")
        try:
            Strictness.from_names(names)
        except ValueError as exc:
            raise _fail(source, "documents.leniencies", str(exc)) from None
        values["leniencies"] = tuple(names)
    for key in ("order_response", "test"):
        if key in data:
            if not isinstance(data[key], bool):
                raise _fail(source, f"documents.{key}", "must be true or false")
            values[key] = data[key]
    if "ack_expected_hours" in data:
        value = data["ack_expected_hours"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise _fail(source, "documents.ack_expected_hours", "must be a positive number")
        values["ack_expected_hours"] = float(value)
    if "alert_silence_hours" in data:
        value = data["alert_silence_hours"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise _fail(source, "documents.alert_silence_hours", "must be a positive number of hours")
        values["alert_silence_hours"] = float(value)
    return DocumentPreferences(**values)


def _url(value: str, source: str, where: str) -> str:
    parts = re.match(r"^(https?)://([^/:?#]+)", value)
    if parts is None:
        raise _fail(source, where, f"{value!r} is not an http(s) URL")
    if parts.group(1) == "http" and parts.group(2) not in ("localhost", "127.0.0.1", "[::1]"):
        raise _fail(source, where, f"{value!r} must use https (http only on this machine)")
    return value.rstrip("/")


def _oidc(data: Any, source: str) -> OidcProfile | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        raise _fail(source, "oidc", "must be a table")
    known = set(OidcProfile.__dataclass_fields__)
    for key in data:
        if key not in known:
            raise _fail(source, f"oidc.{key}", "unknown field")
    issuer = _url(_text(data, "issuer", source, "oidc.", required=True), source, "oidc.issuer")
    metadata_url = _text(data, "metadata_url", source, "oidc.")
    if metadata_url is not None:
        metadata_url = _url(metadata_url, source, "oidc.metadata_url")
    client_id = _text(data, "client_id", source, "oidc.", required=True)
    secret = _text(data, "client_secret", source, "oidc.")
    secret_env = _text(data, "client_secret_env", source, "oidc.")
    if (secret is None) == (secret_env is None):
        raise _fail(source, "oidc.client_secret", "give either client_secret or client_secret_env (a variable name)")
    domains = data.get("email_domains")
    if not isinstance(domains, list) or not domains or not all(
        isinstance(d, str) and re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+", d.lower())
        for d in domains
    ):
        raise _fail(source, "oidc.email_domains", "must be a list of one or more domains, e.g. [\"acme.example\"]")
    scope = _text(data, "scope", source, "oidc.", default="openid email profile")
    if "openid" not in scope.split() or "email" not in scope.split():
        raise _fail(source, "oidc.scope", f"{scope!r} must include openid and email")
    role = _text(data, "create_users_role", source, "oidc.")
    if role is not None and role not in ("admin", "buyer", "accounts"):
        raise _fail(source, "oidc.create_users_role", f"{role!r} is not admin, buyer or accounts")
    verified = data.get("require_verified_email", True)
    if not isinstance(verified, bool):
        raise _fail(source, "oidc.require_verified_email", "must be true or false")
    return OidcProfile(
        issuer=issuer, client_id=client_id, email_domains=tuple(d.lower() for d in domains), client_secret=secret,
        client_secret_env=secret_env, metadata_url=metadata_url, label=_text(data, "label", source, "oidc."),
        scope=scope, create_users_role=role, require_verified_email=verified,
    )


#: settings each channel kind needs, checked at load time (the adapters check the rest)
_CHANNEL_REQUIRED = {
    "folder": (),
    "sftp": ("host", "username"),
    "sftp_mailbox": (),
    "as2": ("as2_id", "url"),
}


def _channels(data: Any, source: str) -> tuple[ChannelProfile, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise _fail(source, "channels", "must be an array of tables ([[channels]])")
    result = []
    names = set()
    for i, item in enumerate(data):
        where = f"channels[{i}]."
        if not isinstance(item, dict):
            raise _fail(source, f"channels[{i}]", "must be a table")
        name = _text(item, "name", source, where, required=True)
        if name in names:
            raise _fail(source, f"{where}name", f"{name!r} is used twice")
        names.add(name)
        kind = _text(item, "kind", source, where, required=True)
        if kind not in CHANNEL_KINDS:
            raise _fail(source, f"{where}kind", f"{kind!r} is not one of {', '.join(CHANNEL_KINDS)}")
        direction = item.get("direction", "both")
        if direction not in ("in", "out", "both"):
            raise _fail(source, f"{where}direction", f"{direction!r} is not in, out or both")
        settings = {k: v for k, v in item.items() if k not in ("name", "kind", "direction")}
        for key in _CHANNEL_REQUIRED[kind]:
            if key not in settings:
                raise _fail(source, f"{where}{key}", f"is required for a {kind} channel")
        if kind == "folder":
            if direction in ("in", "both") and "inbound" not in settings:
                raise _fail(source, f"{where}inbound", "is required for a folder channel that receives")
            if direction in ("out", "both") and "outbound" not in settings:
                raise _fail(source, f"{where}outbound", "is required for a folder channel that sends")
            if "settle_seconds" in settings:
                value = settings["settle_seconds"]
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise _fail(source, f"{where}settle_seconds", "must be a number of seconds, 0 or more")
        result.append(ChannelProfile(name=name, kind=kind, direction=direction, settings=settings))
    return tuple(result)


def load_profile(path: Path) -> PartnerProfile:
    """Read and check one partner file."""
    source = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: not valid TOML: {exc}") from None
    known = {"code", "name", "country", "currency", "vat_number", "credit_limit", "approval_threshold",
             "identifiers", "documents", "channels", "oidc"}
    for key in data:
        if key not in known:
            raise _fail(source, key, "unknown field")
    code = _text(data, "code", source, "", required=True)
    if not _CODE.match(code):
        raise _fail(source, "code", f"{code!r} must be 2-40 upper-case letters, digits, - or _")
    name = _text(data, "name", source, "", required=True)
    country = _text(data, "country", source, "")
    if country is not None and not re.fullmatch(r"[A-Z]{2}", country):
        raise _fail(source, "country", f"{country!r} is not an ISO 3166 two-letter code")
    currency = _text(data, "currency", source, "", default="EUR")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise _fail(source, "currency", f"{currency!r} is not an ISO 4217 code")
    identifiers = []
    raw_ids = data.get("identifiers", [])
    if not isinstance(raw_ids, list):
        raise _fail(source, "identifiers", "must be an array of tables ([[identifiers]])")
    for i, item in enumerate(raw_ids):
        where = f"identifiers[{i}]."
        if not isinstance(item, dict):
            raise _fail(source, f"identifiers[{i}]", "must be a table")
        scheme = _text(item, "scheme", source, where, required=True)
        if scheme not in IDENTIFIER_SCHEMES:
            raise _fail(source, f"{where}scheme", f"{scheme!r} is not one of {', '.join(IDENTIFIER_SCHEMES)}")
        value = _text(item, "value", source, where, required=True)
        if scheme == "GLN" and not _valid_gln(value):
            raise _fail(source, f"{where}value", f"{value!r} is not a GLN (13 digits with a valid check digit)")
        identifiers.append(Identifier(scheme, value))
    return PartnerProfile(
        code=code,
        name=name,
        source=source,
        country=country,
        currency=currency,
        vat_number=_text(data, "vat_number", source, ""),
        credit_limit=_amount(data, "credit_limit", source),
        approval_threshold=_amount(data, "approval_threshold", source),
        identifiers=tuple(identifiers),
        documents=_documents(data.get("documents"), source),
        channels=_channels(data.get("channels"), source),
        oidc=_oidc(data.get("oidc"), source),
    )


def _valid_gln(value: str) -> bool:
    if not re.fullmatch(r"\d{13}", value):
        return False
    digits = [int(c) for c in value]
    total = sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits[:-1]))
    return (10 - total % 10) % 10 == digits[-1]


def load_profiles(directory: Path) -> list[PartnerProfile]:
    """Every ``*.toml`` in ``directory``, sorted by name; codes and identifiers must be unique."""
    profiles = [load_profile(path) for path in sorted(directory.glob("*.toml"))]
    seen_codes: dict[str, str] = {}
    seen_ids: dict[tuple[str, str], str] = {}
    for profile in profiles:
        if profile.code in seen_codes:
            raise _fail(profile.source, "code", f"{profile.code!r} is also used by {seen_codes[profile.code]}")
        seen_codes[profile.code] = profile.source
        for ident in profile.identifiers:
            key = (ident.qualifier, ident.value)
            if key in seen_ids:
                raise _fail(profile.source, "identifiers", f"{ident.scheme} {ident.value} is also used by {seen_ids[key]}")
            seen_ids[key] = profile.source
    return profiles


def _profile_json(documents: DocumentPreferences) -> dict[str, Any]:
    data = asdict(documents)
    data["acknowledgements"] = list(documents.acknowledgements)
    data["leniencies"] = list(documents.leniencies)
    return data


def oidc_settings(partner: Partner | None) -> dict[str, Any] | None:
    """The single sign-on settings stored from an active partner's ``[oidc]`` table, else None."""
    if partner is None or not partner.active:
        return None
    config = (partner.profile or {}).get("oidc")
    return config if isinstance(config, dict) and config.get("issuer") and config.get("client_id") else None


def oidc_partners(session: Session) -> list[tuple[Partner, dict[str, Any]]]:
    """Active partners with single sign-on, by name, with their settings."""
    found = []
    for partner in session.scalars(select(Partner).where(Partner.active.is_(True)).order_by(Partner.name)):
        config = oidc_settings(partner)
        if config is not None:
            found.append((partner, config))
    return found


def oidc_partner(session: Session, code: str) -> tuple[Partner, dict[str, Any]] | None:
    """The partner with ``code`` and its single sign-on settings, when it has them."""
    partner = session.scalar(select(Partner).where(Partner.code == code.upper()))
    config = oidc_settings(partner)
    return None if partner is None or config is None else (partner, config)


def preferences(partner: Partner) -> DocumentPreferences:
    """The document preferences stored with a partner (defaults where none were given)."""
    data = dict(partner.profile or {})
    for key in ("acknowledgements", "leniencies"):
        if key in data:
            data[key] = tuple(data[key])
    known = DocumentPreferences.__dataclass_fields__
    return DocumentPreferences(**{k: v for k, v in data.items() if k in known})


def sync_partners(session: Session, profiles: list[PartnerProfile]) -> list[str]:
    """Create or update partners from profiles; returns one line per change. Does not commit."""
    changes = []
    for profile in profiles:
        partner = session.scalar(select(Partner).where(Partner.code == profile.code))
        if partner is None:
            partner = Partner(code=profile.code, name=profile.name)
            session.add(partner)
            changes.append(f"{profile.code}: created")
        else:
            changes.append(f"{profile.code}: updated")
        partner.name = profile.name
        partner.country = profile.country
        partner.currency = profile.currency
        partner.vat_number = profile.vat_number
        partner.credit_limit = profile.credit_limit
        partner.approval_threshold = profile.approval_threshold
        partner.profile = _profile_json(profile.documents)
        if profile.oidc is not None:
            partner.profile["oidc"] = {**asdict(profile.oidc), "email_domains": list(profile.oidc.email_domains)}
        partner.active = True

        wanted = {(i.qualifier, i.value): i for i in profile.identifiers}
        for existing in list(partner.identifiers):
            if (existing.qualifier, existing.value) not in wanted:
                partner.identifiers.remove(existing)
        have = {(i.qualifier, i.value) for i in partner.identifiers}
        for key, ident in wanted.items():
            if key not in have:
                partner.identifiers.append(PartnerIdentifier(scheme=ident.scheme, qualifier=ident.qualifier, value=ident.value))

        by_name = {c.name: c for c in partner.channels}
        for channel_profile in profile.channels:
            channel = by_name.pop(channel_profile.name, None)
            if channel is None:
                channel = Channel(name=channel_profile.name)
                partner.channels.append(channel)
            channel.kind = channel_profile.kind
            channel.direction = channel_profile.direction
            channel.settings = dict(channel_profile.settings)
            channel.active = True
        for leftover in by_name.values():
            leftover.active = False
        session.flush()
        counter = session.get(ControlCounter, (partner.id, "interchange"))
        if counter is None:
            session.add(ControlCounter(partner_id=partner.id, kind="interchange", value=0))
    session.flush()
    return changes
