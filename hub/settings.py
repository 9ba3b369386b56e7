"""Settings: defaults in code, then ``config/kontor.toml``, then ``KONTOR_*`` variables.

Every setting has one name (``database_url``), one place in the TOML file
(``[database] url``) and one environment variable (``KONTOR_DATABASE_URL``).
A value of the wrong type or out of range stops start-up with a
:class:`SettingsError` naming the file (or variable) and the key.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

__all__ = ["Settings", "SettingsError", "load_settings", "BASE_DIR"]

#: The checkout (or installation) root: relative paths in settings are taken from here.
BASE_DIR = Path(os.environ.get("KONTOR_HOME", Path(__file__).resolve().parent.parent))


class SettingsError(Exception):
    """A setting has a wrong value; the message names where it came from and the key."""


def _section(name: str) -> dict[str, Any]:
    return {"section": name}


@dataclass(frozen=True)
class Settings:
    """The hub's settings, frozen once loaded."""

    # [database]
    database_url: str = field(default="", metadata=_section("database"))
    # [paths]
    var_dir: Path = field(default=Path("var"), metadata=_section("paths"))
    partners_dir: Path = field(default=Path("config/partners"), metadata=_section("paths"))
    # [web]
    web_host: str = field(default="127.0.0.1", metadata=_section("web"))
    web_port: int = field(default=8080, metadata=_section("web"))
    web_secret_key: str = field(default="", metadata=_section("web"))
    web_base_url: str = field(default="", metadata=_section("web"))
    # reverse proxies in front of the web server whose X-Forwarded-For/-Proto/-Host are trusted (0: none)
    web_proxy_hops: int = field(default=0, metadata=_section("web"))
    # [hub] our own identity in interchanges
    hub_name: str = field(default="Kontor Supplies AG", metadata=_section("hub"))
    hub_id: str = field(default="4000001000005", metadata=_section("hub"))
    hub_id_qualifier: str = field(default="14", metadata=_section("hub"))
    # our postal address and VAT identifier, as the seller on invoices (EN 16931 BG-5, BT-31)
    hub_street: str = field(default="", metadata=_section("hub"))
    hub_city: str = field(default="", metadata=_section("hub"))
    hub_postcode: str = field(default="", metadata=_section("hub"))
    hub_country: str = field(default="DE", metadata=_section("hub"))  # ISO 3166-1 alpha-2
    hub_vat_number: str = field(default="", metadata=_section("hub"))
    hub_as2_id: str = field(default="KONTOR", metadata=_section("hub"))
    hub_as2_key: str = field(default="", metadata=_section("hub"))  # PEM file; empty: var/as2/key.pem, made once
    hub_as2_cert: str = field(default="", metadata=_section("hub"))
    hub_as2_mdn_url: str = field(default="", metadata=_section("hub"))  # where partners send async MDNs
    # [worker]
    worker_poll_seconds: float = field(default=1.0, metadata=_section("worker"))
    worker_lease_seconds: int = field(default=300, metadata=_section("worker"))
    worker_max_attempts: int = field(default=8, metadata=_section("worker"))
    worker_backoff_seconds: float = field(default=30.0, metadata=_section("worker"))
    # [sftp] hub-hosted mailboxes
    sftp_host: str = field(default="127.0.0.1", metadata=_section("sftp"))
    sftp_port: int = field(default=2222, metadata=_section("sftp"))
    sftp_enabled: bool = field(default=True, metadata=_section("sftp"))
    # [backoffice]
    backoffice_token: str = field(default="", metadata=_section("backoffice"))
    # [smtp]
    smtp_host: str = field(default="", metadata=_section("smtp"))
    smtp_port: int = field(default=25, metadata=_section("smtp"))
    smtp_sender: str = field(default="kontor@localhost", metadata=_section("smtp"))
    # auto: STARTTLS when offered; starttls: required; ssl: implicit TLS (port 465); none: plain
    smtp_security: str = field(default="auto", metadata=_section("smtp"))
    smtp_username: str = field(default="", metadata=_section("smtp"))  # empty: no AUTH
    smtp_password: str = field(default="", repr=False, metadata=_section("smtp"))
    smtp_ca_file: str = field(default="", metadata=_section("smtp"))  # PEM CAs to trust (empty: the system's)
    # [alerts] where new alerts are sent (empty: console only)
    alerts_email: str = field(default="", metadata=_section("alerts"))
    alerts_webhook_url: str = field(default="", metadata=_section("alerts"))
    # an alert whose condition cleared stays open this long (a retry in progress, flapping) before it closes
    alerts_grace_minutes: float = field(default=15.0, metadata=_section("alerts"))
    # this many partners failing with the same reason make one alert (a hub-side outage), not one each
    alerts_group_partners: int = field(default=3, metadata=_section("alerts"))
    # [secrets] Fernet key for channel passwords and private keys (default: generated into var/secrets_key)
    secrets_key: str = field(default="", metadata=_section("secrets"))
    # [retention] payloads older than payload_days are archived (gzip files) or purged; 0 keeps all
    retention_payload_days: int = field(default=0, metadata=_section("retention"))
    retention_mode: str = field(default="archive", metadata=_section("retention"))
    retention_archive_dir: str = field(default="", metadata=_section("retention"))  # default: var/archive
    retention_invoice_years: int = field(default=10, metadata=_section("retention"))

    @property
    def var_path(self) -> Path:
        return self.var_dir if self.var_dir.is_absolute() else BASE_DIR / self.var_dir

    @property
    def partners_path(self) -> Path:
        return self.partners_dir if self.partners_dir.is_absolute() else BASE_DIR / self.partners_dir

    @property
    def database(self) -> str:
        """The database URL, defaulting to an SQLite file under ``var/``."""
        return self.database_url or f"sqlite:///{self.var_path / 'kontor.db'}"

    @property
    def secret_key(self) -> str:
        """The web session key: the configured one, else one kept in ``var/secret_key``."""
        if self.web_secret_key:
            return self.web_secret_key
        path = self.var_path / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


    @property
    def secrets_fernet_key(self) -> bytes:
        """The key that encrypts channel secrets: the configured one, else one kept in ``var/secrets_key``."""
        if self.secrets_key:
            return self.secrets_key.encode()
        path = self.var_path / "secrets_key"
        if not path.exists():
            from cryptography.fernet import Fernet

            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(Fernet.generate_key())
            path.chmod(0o600)
        return path.read_bytes().strip()

    @property
    def retention_archive_path(self) -> Path:
        if not self.retention_archive_dir:
            return self.var_path / "archive"
        d = Path(self.retention_archive_dir)
        return d if d.is_absolute() else BASE_DIR / d


def _key_in_section(name: str, section: str) -> str:
    return name[len(section) + 1 :] if name.startswith(section + "_") else name


def _convert(kind: Any, value: Any, where: str) -> Any:
    try:
        if kind in (bool, "bool"):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind in (int, "int"):
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if kind in (float, "float"):
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if kind in (Path, "Path"):
            if not isinstance(value, (str, Path)):
                raise ValueError(value)
            return Path(value)
        if not isinstance(value, str):
            raise ValueError(value)
        return value
    except (TypeError, ValueError):
        name = kind if isinstance(kind, str) else kind.__name__
        raise SettingsError(f"{where}: {value!r} is not a valid {name}") from None


def _check(settings: Settings, origin: Mapping[str, str]) -> None:
    def bad(name: str, why: str) -> SettingsError:
        return SettingsError(f"{origin.get(name, 'default')}: {why}")

    for name in ("web_port", "sftp_port", "smtp_port"):
        value = getattr(settings, name)
        if not 0 <= value <= 65535:
            raise bad(name, f"{value} is not a TCP port (0-65535)")
    if not 0 <= settings.web_proxy_hops <= 10:
        raise bad("web_proxy_hops", f"{settings.web_proxy_hops} is not a number of proxies (0-10)")
    if settings.smtp_security not in ("auto", "starttls", "ssl", "none"):
        raise bad("smtp_security", f"{settings.smtp_security!r} is not auto, starttls, ssl or none")
    if settings.smtp_password and not settings.smtp_username:
        raise bad("smtp_password", "is set but smtp_username is not")
    if settings.worker_poll_seconds <= 0:
        raise bad("worker_poll_seconds", "must be greater than 0")
    if settings.worker_lease_seconds < 5:
        raise bad("worker_lease_seconds", "must be at least 5 seconds")
    if settings.worker_max_attempts < 1:
        raise bad("worker_max_attempts", "must be at least 1")
    if settings.retention_payload_days < 0:
        raise bad("retention_payload_days", "must be 0 (keep all) or more days")
    if settings.retention_mode not in ("archive", "purge"):
        raise bad("retention_mode", f"{settings.retention_mode!r} is not archive or purge")
    if settings.retention_invoice_years < 0:
        raise bad("retention_invoice_years", "must be 0 or more years")
    if settings.alerts_grace_minutes < 0:
        raise bad("alerts_grace_minutes", "must be 0 (close at once) or more minutes")
    if settings.alerts_group_partners < 2:
        raise bad("alerts_group_partners", "must be 2 or more partners")
    if settings.alerts_webhook_url and not settings.alerts_webhook_url.startswith(("http://", "https://")):
        raise bad("alerts_webhook_url", "must be an http:// or https:// URL")
    url = settings.database
    if not (url.startswith("sqlite") or url.startswith("postgresql")):
        raise bad("database_url", f"{url!r}: only sqlite:/// and postgresql+psycopg:// URLs are supported")
    if url.startswith("postgresql") and not url.startswith("postgresql+psycopg"):
        raise bad("database_url", "PostgreSQL URLs must name the psycopg 3 driver: postgresql+psycopg://...")


def load_settings(
    config_file: str | Path | None | bool = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings from defaults, the TOML file, the environment and ``overrides``.

    ``config_file`` defaults to ``$KONTOR_CONFIG`` or ``config/kontor.toml``; a
    missing default file is fine, a missing named file is an error; ``False``
    reads no file at all.
    """
    env = os.environ if environ is None else environ
    if config_file is False:
        path = Path("/nonexistent/kontor.toml")
        explicit = False
    else:
        explicit = config_file is not None or "KONTOR_CONFIG" in env
        path = Path(config_file or env.get("KONTOR_CONFIG") or BASE_DIR / "config" / "kontor.toml")
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    by_name = {f.name: f for f in fields(Settings)}

    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: not valid TOML: {exc}") from None
        known_sections = {f.metadata["section"] for f in fields(Settings)}
        for section, table in data.items():
            if section not in known_sections or not isinstance(table, dict):
                raise SettingsError(f"{path}: unknown section [{section}]")
            for key, value in table.items():
                name = f"{section}_{key}" if f"{section}_{key}" in by_name else key
                f = by_name.get(name)
                if f is None or f.metadata["section"] != section:
                    raise SettingsError(f"{path}: [{section}] {key}: unknown setting")
                where = f"{path}: [{section}] {key}"
                values[name] = _convert(f.type, value, where)
                origin[name] = where
    elif explicit:
        raise SettingsError(f"{path}: configuration file not found")

    for name, f in by_name.items():
        var = f"KONTOR_{name.upper()}"
        if var in env:
            values[name] = _convert(f.type, env[var], f"environment variable {var}")
            origin[name] = f"environment variable {var}"

    for name, value in overrides.items():
        if name not in by_name:
            raise SettingsError(f"override {name}: unknown setting")
        values[name] = value
        origin[name] = f"override {name}"

    settings = Settings(**values)
    _check(settings, origin)
    return settings
