"""Who may see what: the signed-in account, partner scoping, roles and response headers.

Partner scoping happens here and only here: :func:`portal_scope` builds the
:class:`hub.portal.PartnerScope` of the signed-in user's partner, and every
portal view reads through it.
"""

from __future__ import annotations

from functools import wraps
from typing import Any, Callable
from urllib.parse import urlsplit

from flask import Flask, Response, abort, g, request, session
from flask_login import UserMixin, current_user

from sqlalchemy.orm import joinedload

from extranet.extensions import db, login_manager
from hub.accounts import account_usable
from hub.models import User
from hub.portal import PartnerScope

__all__ = [
    "Account",
    "current_partner_id",
    "portal_scope",
    "roles_required",
    "safe_next",
    "init_security",
    "PARTNER_ORDER_ROLES",
    "OPS_ACTION_ROLES",
]

#: Views that end the user's other sessions (hub.accounts.end_other_sessions) but keep their own.
EPOCH_KEEPING_ENDPOINTS = frozenset({"account.totp_enable", "account.totp_disable"})

PARTNER_ORDER_ROLES = ("admin", "buyer")
OPS_ACTION_ROLES = ("ops_operator", "ops_admin")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


class Account(UserMixin):
    """The signed-in user as Flask-Login sees it: a thin wrapper around :class:`hub.models.User`."""

    def __init__(self, user: User):
        self.user = user
        self.id = user.id

    def get_id(self) -> str:
        """``id:epoch``, kept in the session and the remember-me cookie: a session signed in under an
        older :attr:`User.session_epoch` no longer loads (:func:`hub.accounts.end_other_sessions`)."""
        return f"{self.user.id}:{self.user.session_epoch or 0}"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.user, name)

    @property
    def is_active(self) -> bool:
        return account_usable(self.user)

    @property
    def is_ops(self) -> bool:
        """Operations staff: no partner and an ops role (a partner-less user without one gets nowhere)."""
        return self.user.is_ops


@login_manager.user_loader
def _load_account(session_id: str) -> Account | None:
    user_id, _, epoch = session_id.partition(":")  # sessions from before epochs carry the id alone: epoch 0
    if not user_id.isdigit() or len(user_id) > 18 or (epoch and (not epoch.isdigit() or len(epoch) > 18)):
        return None
    user = db.session.get(User, int(user_id), options=[joinedload(User.partner)])
    if user is None or not account_usable(user):  # a deactivated partner ends its users' sessions
        return None
    if int(epoch or 0) != (user.session_epoch or 0):  # the password or second factor changed since
        return None
    return Account(user)


def current_partner_id() -> int:
    """The signed-in user's partner; 403 for operations users and anonymous requests."""
    if not current_user.is_authenticated or current_user.partner_id is None:
        abort(403)
    return current_user.partner_id


def portal_scope() -> PartnerScope:
    """The one way a portal view reaches partner data."""
    return PartnerScope(db.session, current_partner_id())


def roles_required(*roles: str) -> Callable:
    """403 unless the signed-in user has one of ``roles``."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated or current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def operations_only() -> Response | None:
    """``before_request`` of every ops blueprint: signed in, and with an ops role (else 403)."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not current_user.is_ops:
        abort(403)
    return None


def safe_next(target: str | None, default: str) -> str:
    """``target`` when it is a path on this site, else ``default`` (no open redirects)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def init_security(app: Flask) -> None:
    @app.after_request
    def _carry_session_over(response: Response) -> Response:
        """The request that moved its own user's epoch on (TOTP turned on or off) keeps its session:
        the stored id takes the new epoch; the user's other sessions end."""
        account = getattr(g, "_login_user", None)
        if request.method == "POST" and request.endpoint in EPOCH_KEEPING_ENDPOINTS and isinstance(account, Account):
            user = db.session.get(User, account.id)
            if user is not None and account_usable(user) and "_user_id" in session:
                session["_user_id"] = Account(user).get_id()
        return response

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if not request.path.startswith("/static/"):
            headers.setdefault("Cache-Control", "no-store")
        return response
