"""Accounts: password hashing (Argon2id), signing in with lockout, the audit log;
the TOTP second factor, password reset and single sign-on, which share the lockout."""

from __future__ import annotations

import datetime as _dt
import re
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
    "account_usable",
    "end_other_sessions",
    "audit",
    "new_totp_secret",
    "totp_uri",
    "verify_second_factor",
    "enable_totp",
    "disable_totp",
    "password_fingerprint",
    "password_problem",
    "reset_password",
    "reset_link_user",
    "user_for_reset",
    "federated_sign_in",
    "OPS_ROLES",
    "OpsUserError",
    "ops_role",
    "ops_users",
    "save_ops_user",
    "set_ops_role",
    "deactivate_ops_user",
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
    reason: str  # ok, second_factor, unknown, wrong_password, wrong_code, locked, inactive, throttled, refused

    @property
    def ok(self) -> bool:
        """Signed in: the password (or the IdP) and, where enabled, the second factor were right."""
        return self.user is not None and self.reason == "ok"

    @property
    def needs_second_factor(self) -> bool:
        """The password was right; the user has TOTP on and must give a code (:func:`verify_second_factor`)."""
        return self.user is not None and self.reason == "second_factor"


def account_usable(user: User) -> bool:
    """True when ``user`` may sign in and act: the account is active, and so is its partner
    (operations staff have none). A deactivated partner's users are refused everywhere."""
    return bool(user.active) and (user.partner_id is None or bool(user.partner.active))


def end_other_sessions(user: User) -> None:
    """Move ``user``'s session epoch on: every session signed in before ends at its next request
    (the one making the change is carried over by :mod:`extranet.security`). The caller commits."""
    user.session_epoch = (user.session_epoch or 0) + 1


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
        _count_failure(session, user, "wrong password", where, now)
        session.commit()
        return SignIn(None, "wrong_password")

    if not account_usable(user):
        audit(session, email, "login.failed", target=where, partner_id=user.partner_id,
              detail="account inactive" if not user.active else "partner inactive")
        session.commit()
        return SignIn(None, "inactive")

    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if user.totp_secret:
        # The failure count stays until the code is right too: a known password
        # must not buy fresh guesses at the code.
        audit(session, email, "login.password_ok", target=where, partner_id=user.partner_id,
              detail="second factor required")
        session.commit()
        return SignIn(user, "second_factor")
    _signed_in(session, user, where, now)
    session.commit()
    return SignIn(user, "ok")


def _count_failure(session: Session, user: User, what: str, where: str, now: _dt.datetime) -> None:
    """One more failed sign-in for ``user``; locks the account at MAX_FAILED_LOGINS. No commit."""
    user.failed_logins = (user.failed_logins or 0) + 1
    detail = f"{what} ({user.failed_logins} in a row)"
    if user.failed_logins >= MAX_FAILED_LOGINS:
        user.locked_until = now + LOCKOUT
        user.failed_logins = 0
        detail += f"; account locked until {user.locked_until:%Y-%m-%d %H:%M} UTC"
        audit(session, user.email, "account.locked", target=f"user:{user.id}", partner_id=user.partner_id,
              detail=f"{MAX_FAILED_LOGINS} failed sign-ins")
    audit(session, user.email, "login.failed", target=where, partner_id=user.partner_id, detail=detail)


def _signed_in(session: Session, user: User, where: str, now: _dt.datetime, detail: str | None = None) -> None:
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit(session, user.email, "login", target=where, partner_id=user.partner_id, detail=detail)


# --- the second factor (TOTP, RFC 6238) --------------------------------------------------

#: Codes of the step before and after the current one are accepted too (clock drift).
TOTP_DRIFT_STEPS = 1


def new_totp_secret() -> str:
    """A fresh base32 TOTP secret (160 bits)."""
    import pyotp

    return pyotp.random_base32(32)


def totp_uri(secret: str, email: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (from a QR code)."""
    import pyotp

    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=issuer)


def _totp_step(secret: str, code: str, now: _dt.datetime, after: int) -> int | None:
    """The time step ``code`` belongs to (within the drift, later than ``after``), else None."""
    import hmac

    import pyotp

    code = "".join(code.split())
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now.replace(tzinfo=_dt.timezone.utc))
    for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
        if step > after and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _totp_use(session: Session, user: User):
    from hub.api_models import TotpUse

    use = session.get(TotpUse, user.id)
    if use is None:
        use = TotpUse(user_id=user.id, last_step=0)
        session.add(use)
    return use


def verify_second_factor(
    session: Session,
    user_id: int,
    code: str,
    *,
    address: str | None = None,
    now: _dt.datetime | None = None,
    detail: str | None = None,
) -> SignIn:
    """Finish a sign-in with a TOTP code; a wrong (or replayed) code is a failed sign-in. Commits."""
    now = now or utcnow()
    where = f"ip:{address or 'unknown'}"
    user = session.get(User, user_id)
    if user is None or not user.totp_secret:
        return SignIn(None, "refused")
    if user.locked_until is not None and user.locked_until > now:
        audit(session, user.email, "login.failed", target=where, partner_id=user.partner_id,
              detail=f"account locked until {user.locked_until:%Y-%m-%d %H:%M} UTC")
        session.commit()
        return SignIn(None, "locked")
    if not account_usable(user):
        return SignIn(None, "inactive")
    use = _totp_use(session, user)
    step = _totp_step(user.totp_secret, code, now, use.last_step or 0)
    if step is None:
        _count_failure(session, user, "wrong second-factor code", where, now)
        session.commit()
        locked = user.locked_until is not None and user.locked_until > now
        return SignIn(None, "locked" if locked else "wrong_code")
    use.last_step = step
    _signed_in(session, user, where, now, detail)
    session.commit()
    return SignIn(user, "ok")


def enable_totp(session: Session, user: User, secret: str, code: str, *, now: _dt.datetime | None = None) -> bool:
    """Turn TOTP on with ``secret`` once ``code`` proves the app has it; commits. False for a wrong code."""
    now = now or utcnow()
    step = _totp_step(secret, code, now, 0)
    if step is None:
        return False
    user.totp_secret = secret
    end_other_sessions(user)
    use = _totp_use(session, user)
    use.last_step = step
    use.enabled_at = now
    audit(session, user.email, "totp.enabled", target=f"user:{user.id}", partner_id=user.partner_id)
    session.commit()
    return True


def disable_totp(session: Session, user: User, code: str, *, now: _dt.datetime | None = None) -> bool:
    """Turn TOTP off when ``code`` is a current one; commits. A wrong code counts as a failed sign-in."""
    now = now or utcnow()
    if not user.totp_secret:
        return True
    use = _totp_use(session, user)
    if _totp_step(user.totp_secret, code, now, use.last_step or 0) is None:
        _count_failure(session, user, "wrong second-factor code (turning TOTP off)", f"user:{user.id}", now)
        session.commit()
        return False
    user.totp_secret = None
    end_other_sessions(user)
    use.enabled_at = None
    audit(session, user.email, "totp.disabled", target=f"user:{user.id}", partner_id=user.partner_id)
    session.commit()
    return True


# --- password reset ----------------------------------------------------------------------

MIN_PASSWORD_LENGTH = 10


def password_fingerprint(user: User) -> str:
    """Changes whenever the password does: a reset link signed with it works once."""
    import hashlib

    return hashlib.sha256(f"{user.id}:{user.password_hash or ''}".encode()).hexdigest()[:24]


def password_problem(user: User, password: str) -> str | None:
    """Why ``password`` will not do for ``user``, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"The password needs at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > 200:
        return "The password may have at most 200 characters."
    if password.strip().lower() == user.email.lower():
        return "The password must not be the e-mail address."
    return None


def reset_link_user(session: Session, user_id: int, fingerprint: str) -> User | None:
    """The active user a reset link was made for, while their password is the one it was signed with."""
    import hmac

    user = session.get(User, user_id)
    if user is None or not account_usable(user) or not hmac.compare_digest(password_fingerprint(user), fingerprint):
        return None
    return user


def reset_password(session: Session, user_id: int, fingerprint: str, password: str, *,
                   address: str | None = None) -> SignIn:
    """Set a new password from a reset link; commits. Refused when the password changed since the link."""
    user = reset_link_user(session, user_id, fingerprint)
    if user is None:
        return SignIn(None, "refused")
    user.password_hash = hash_password(password)
    end_other_sessions(user)
    user.failed_logins = 0
    user.locked_until = None  # the link proves the mailbox: the lock has done its job
    audit(session, user.email, "password.reset", target=f"user:{user.id}", partner_id=user.partner_id,
          detail=f"from ip:{address or 'unknown'}")
    session.commit()
    return SignIn(user, "ok")


def user_for_reset(session: Session, email: str, *, address: str | None = None,
                   now: _dt.datetime | None = None) -> User | None:
    """The active user a reset link may be sent to (None: send nothing); audits the request. Commits.

    At most IP_MAX_FAILURES requests per address in IP_WINDOW get a link.
    """
    now = now or utcnow()
    where = f"ip:{address or 'unknown'}"
    email = email.strip().lower()
    recent = session.scalar(
        select(func.count(AuditEntry.id)).where(
            AuditEntry.action == "password.reset_requested", AuditEntry.target == where,
            AuditEntry.at >= now - IP_WINDOW,
        )
    ) or 0
    user = session.scalar(select(User).where(func.lower(User.email) == email))
    found = user is not None and account_usable(user) and recent < IP_MAX_FAILURES
    audit(session, email[:200], "password.reset_requested", target=where,
          partner_id=user.partner_id if user is not None else None,
          detail="link sent" if found else ("throttled" if recent >= IP_MAX_FAILURES else "no active account"))
    session.commit()
    return user if found else None


# --- single sign-on ----------------------------------------------------------------------

PARTNER_ROLES = ("admin", "buyer", "accounts")


def federated_sign_in(
    session: Session,
    partner_id: int,
    email: str,
    *,
    issuer: str,
    email_verified: bool,
    domains: tuple[str, ...] = (),
    create_role: str | None = None,
    address: str | None = None,
    now: _dt.datetime | None = None,
) -> SignIn:
    """Sign in the user of partner ``partner_id`` whose e-mail its identity provider vouched for. Commits.

    Only a user of *that* partner is ever signed in: an address held by another
    partner's user (or by operations staff) is refused, as is one outside the
    partner's e-mail domains or not verified by the provider. A missing user is
    created only when the partner's profile names ``create_role``. Locks and
    deactivation apply; TOTP, when on, is still asked for.
    """
    now = now or utcnow()
    where = f"ip:{address or 'unknown'}"
    email = (email or "").strip().lower()

    def refuse(reason: str, why: str) -> SignIn:
        audit(session, email[:200] or "?", "login.failed", target=where, partner_id=partner_id,
              detail=f"single sign-on via {issuer}: {why}")
        session.commit()
        return SignIn(None, reason)

    if not email or "@" not in email:
        return refuse("refused", "the identity provider gave no e-mail address")
    if not email_verified:
        return refuse("refused", "the identity provider did not verify the e-mail address")
    domain = email.rsplit("@", 1)[1]
    if domains and domain not in domains:
        return refuse("refused", f"{domain} is not one of the partner's e-mail domains")
    user = session.scalar(select(User).where(func.lower(User.email) == email))
    if user is not None and user.partner_id != partner_id:
        return refuse("refused", "the address belongs to a user of another partner or of operations")
    if user is None:
        if create_role not in PARTNER_ROLES:
            return refuse("unknown", "no user with this address (users are not created by single sign-on)")
        user = User(partner_id=partner_id, email=email, name=email.split("@", 1)[0], role=create_role,
                    password_hash=None, active=True, failed_logins=0)
        session.add(user)
        session.flush()
        audit(session, email, "user.created", target=f"user:{user.id}", partner_id=partner_id,
              detail=f"by single sign-on via {issuer}, role {create_role}")
    if user.locked_until is not None and user.locked_until > now:
        return refuse("locked", f"account locked until {user.locked_until:%Y-%m-%d %H:%M} UTC")
    if not account_usable(user):
        return refuse("inactive", "account inactive" if not user.active else "partner inactive")
    if user.totp_secret:
        audit(session, email, "login.password_ok", target=where, partner_id=partner_id,
              detail=f"single sign-on via {issuer}; second factor required")
        session.commit()
        return SignIn(user, "second_factor")
    _signed_in(session, user, where, now, f"single sign-on via {issuer}")
    session.commit()
    return SignIn(user, "ok")


# --- operations users ---------------------------------------------------------------------

#: the roles of operations staff, weakest first: viewers read, operators repair, admins manage
OPS_ROLES = ("ops_viewer", "ops_operator", "ops_admin")
_OPS_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class OpsUserError(ValueError):
    """A change to an operations user was refused; the message names the field and why."""


def ops_role(name: str) -> str:
    """``viewer``/``operator``/``admin`` (or the full ``ops_...`` name) as the stored role."""
    role = (name or "").strip().lower()
    role = role if role.startswith("ops_") else f"ops_{role}"
    if role not in OPS_ROLES:
        raise OpsUserError(f"role: {name!r} is not one of viewer, operator, admin")
    return role


def ops_users(session: Session) -> list[User]:
    """Operations users (no partner), active first, by e-mail."""
    return list(session.scalars(select(User).where(User.partner_id.is_(None))
                                .order_by(User.active.desc(), User.email)))


def save_ops_user(
    session: Session,
    actor: str,
    email: str,
    *,
    role: str,
    name: str | None = None,
    password: str | None = None,
) -> tuple[User, bool]:
    """Create an operations user, or update one (role, name, password; reactivates it). Commits.

    Returns the user and whether it was created. Without a password a new user
    sets one through the password-reset link of the sign-in page. An address
    that belongs to a partner's user is refused.
    """
    email = (email or "").strip().lower()
    if not _OPS_EMAIL.match(email) or len(email) > 200:
        raise OpsUserError(f"email: {email!r} is not an e-mail address")
    role = ops_role(role)
    name = " ".join((name or "").split())
    if len(name) > 200:
        raise OpsUserError("name: at most 200 characters")
    user = session.scalar(select(User).where(func.lower(User.email) == email))
    if user is not None and user.partner_id is not None:
        raise OpsUserError(f"email: {email} belongs to a user of partner {user.partner.code}")
    created = user is None
    if user is None:
        user = User(email=email, name=name or email.split("@", 1)[0], role=role, active=True, failed_logins=0,
                    password_hash=None, notify={})
        session.add(user)
    if password is not None:
        problem = password_problem(user, password)
        if problem is not None:
            raise OpsUserError(f"password: {problem}")
    changes = []
    if not created:
        if user.role != role and _last_admin(session, user):
            raise OpsUserError(f"role: {email} is the last active ops admin; make another admin first")
        if user.role != role:
            changes.append(f"role {user.role} -> {role}")
        if name and user.name != name:
            changes.append("name changed")
        if not user.active:
            changes.append("reactivated")
    user.role, user.active = role, True
    if name:
        user.name = name
    if password is not None:
        user.password_hash = hash_password(password)
        end_other_sessions(user)
        user.failed_logins, user.locked_until = 0, None
        changes.append("password set")
    session.flush()
    if created:
        detail = f"{email} as {role}" + ("; password set" if password is not None else "")
    else:
        detail = f"{email}: " + (", ".join(changes) or "no change")
    audit(session, actor, "ops_user.created" if created else "ops_user.updated", target=f"user:{user.id}",
          detail=detail)
    session.commit()
    return user, created


def _ops_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.partner_id is not None:
        raise LookupError(f"no operations user {user_id}")
    return user


def _last_admin(session: Session, user: User) -> bool:
    """True when ``user`` is the only active ops admin (taking it away would lock everyone out)."""
    others = session.scalar(select(func.count(User.id)).where(
        User.partner_id.is_(None), User.role == "ops_admin", User.active.is_(True), User.id != user.id))
    return user.role == "ops_admin" and user.active and not others


def set_ops_role(session: Session, actor: str, user_id: int, role: str) -> User:
    """Change an operations user's role; the last active admin keeps its role. Commits."""
    user = _ops_user(session, user_id)
    role = ops_role(role)
    if role != user.role and _last_admin(session, user):
        raise OpsUserError(f"role: {user.email} is the last active ops admin; make another admin first")
    if role != user.role:
        audit(session, actor, "ops_user.role_changed", target=f"user:{user.id}",
              detail=f"{user.email}: {user.role} -> {role}")
        user.role = role
    session.commit()
    return user


def deactivate_ops_user(session: Session, actor: str, user_id: int) -> User:
    """Deactivate an operations user (its trail keeps its name); not the last active admin. Commits."""
    user = _ops_user(session, user_id)
    if _last_admin(session, user):
        raise OpsUserError(f"{user.email} is the last active ops admin; make another admin first")
    if user.active:
        user.active = False
        audit(session, actor, "ops_user.deactivated", target=f"user:{user.id}", detail=user.email)
    session.commit()
    return user
