"""Accounts: password hashing (Argon2id), signing in with lockout, and the audit log."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.models import AuditEntry, User, utcnow

__all__ = [
    "hash_password",
    "verify_password",
    "needs_rehash",
    "MAX_FAILED_LOGINS",
    "LOCKOUT",
    "IP_WINDOW",
    "IP_MAX_FAILURES",
    "SignIn",
    "sign_in",
    "audit",
]

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` with the library's current parameters."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; never raises for a wrong or malformed hash."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


# --- signing in -------------------------------------------------------------

#: Failed sign-ins in a row that lock an account, and for how long.
MAX_FAILED_LOGINS = 5
LOCKOUT = _dt.timedelta(minutes=15)
#: Failed sign-ins from one address (any account) in IP_WINDOW that throttle that address.
IP_WINDOW = _dt.timedelta(minutes=15)
IP_MAX_FAILURES = 30

_dummy_hash: str | None = None


def _burn_time(password: str) -> None:
    """Verify against a throwaway hash so an unknown e-mail costs as long as a known one."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password("not a password anyone has")
    verify_password(_dummy_hash, password)


def audit(
    session: Session,
    actor: str,
    action: str,
    *,
    target: str | None = None,
    detail: str | None = None,
    partner_id: int | None = None,
) -> AuditEntry:
    """Add an audit entry to the session (the caller's transaction commits it)."""
    entry = AuditEntry(actor=actor, action=action, target=target, detail=detail, partner_id=partner_id)
    session.add(entry)
    return entry


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in: the user when it succeeded, else why not (never shown verbatim)."""

    user: User | None
    reason: str  # ok, unknown, wrong_password, locked, inactive, throttled

    @property
    def ok(self) -> bool:
        return self.user is not None


def sign_in(
    session: Session,
    email: str,
    password: str,
    *,
    address: str | None = None,
    now: _dt.datetime | None = None,
) -> SignIn:
    """Check an e-mail and password, count failures, lock after MAX_FAILED_LOGINS, audit; commits.

    A locked account is refused even with the right password until the lock
    runs out; addresses with too many recent failures are refused outright.
    """
    now = now or utcnow()
    email = email.strip().lower()
    where = f"ip:{address or 'unknown'}"
    recent = session.scalar(
        select(func.count(AuditEntry.id)).where(
            AuditEntry.action == "login.failed",
            AuditEntry.target == where,
            AuditEntry.at >= now - IP_WINDOW,
        )
    )
    if (recent or 0) >= IP_MAX_FAILURES:
        _burn_time(password)
        audit(session, email, "login.failed", target=where, detail="throttled: too many failures from this address")
        session.commit()
        return SignIn(None, "throttled")

    user = session.scalar(select(User).where(func.lower(User.email) == email))
    if user is None:
        _burn_time(password)
        audit(session, email, "login.failed", target=where, detail="unknown e-mail address")
        session.commit()
        return SignIn(None, "unknown")

    if user.locked_until is not None and user.locked_until > now:
        _burn_time(password)
        audit(session, email, "login.failed", target=where, partner_id=user.partner_id,
              detail=f"account locked until {user.locked_until:%Y-%m-%d %H:%M} UTC")
        session.commit()
        return SignIn(None, "locked")

    if not verify_password(user.password_hash, password):
        user.failed_logins = (user.failed_logins or 0) + 1
        detail = f"wrong password ({user.failed_logins} in a row)"
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
            detail += f"; account locked until {user.locked_until:%Y-%m-%d %H:%M} UTC"
            audit(session, email, "account.locked", target=f"user:{user.id}", partner_id=user.partner_id,
                  detail=f"{MAX_FAILED_LOGINS} failed sign-ins")
        audit(session, email, "login.failed", target=where, partner_id=user.partner_id, detail=detail)
        session.commit()
        return SignIn(None, "wrong_password")

    if not user.active:
        audit(session, email, "login.failed", target=where, partner_id=user.partner_id, detail="account inactive")
        session.commit()
        return SignIn(None, "inactive")

    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    audit(session, email, "login", target=where, partner_id=user.partner_id)
    session.commit()
    return SignIn(user, "ok")
