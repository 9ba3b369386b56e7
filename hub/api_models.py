"""Tables of the partner API and of sign-in beyond the password; migration branch 0003_api off 0002.

* :class:`ApiClient`: an OAuth2 client (client-credentials grant) of one
  partner, with the scopes it may ask for; its secret is kept as a SHA-256
  hash (secrets are 256 random bits, so a slow hash adds nothing).
* :class:`ApiToken`: an issued bearer token, kept as a SHA-256 hash with its
  scope and expiry; the token itself is shown once, in the token response.
* :class:`TotpUse`: the last TOTP time step a user signed in with, so that a
  code cannot be replayed within its 30 seconds (the secret itself is
  ``User.totp_secret``).

The authlib mixin methods are here because authlib asks the model objects
themselves (``client.check_client_secret``, ``token.is_expired`` ...).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.models import Base, Partner, utcnow

__all__ = ["ApiClient", "ApiToken", "TotpUse", "SCOPES", "digest"]

#: The partner API's scopes, one per resource and access.
SCOPES = {
    "orders:read": "read the partner's orders with their lines and chain",
    "orders:write": "place orders",
    "despatches:read": "read despatch advices",
    "invoices:read": "read invoices",
    "catalog:read": "read the catalogue and the partner's contract prices",
}


def digest(secret: str) -> str:
    """The stored form of a client secret or bearer token: SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class ApiClient(Base):
    """A partner's system allowed to call the API with the client-credentials grant."""

    __tablename__ = "api_client"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(400))  # allowed scopes, space-separated
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    partner: Mapped[Partner] = relationship()

    # authlib ClientMixin ------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """All allowed scopes when none is asked for; ``None`` (invalid_scope) when one asked is not allowed."""
        allowed = self.scope.split()
        if not scope:
            return " ".join(allowed)
        wanted = scope.split()
        if any(s not in allowed for s in wanted):
            return None
        return " ".join(dict.fromkeys(wanted))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(digest(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class ApiToken(Base):
    """A bearer token issued to an API client (stored hashed)."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("api_client.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(400))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    client: Mapped[ApiClient] = relationship()

    # authlib TokenMixin -------------------------------------------------------------
    def check_client(self, client: ApiClient) -> bool:
        return client.id == self.client_pk

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.expires_at - self.issued_at).total_seconds()))

    def is_expired(self) -> bool:
        return self.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return bool(self.revoked) or not self.client.active or not self.client.partner.active

    def get_user(self) -> None:
        return None

    def get_client(self) -> ApiClient:
        return self.client


class TotpUse(Base):
    """The last accepted TOTP time step of a user (no code works twice)."""

    __tablename__ = "totp_use"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    enabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
