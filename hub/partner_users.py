"""A partner admin manages its own users: invite, set roles, remove. Every change is audited.

Invitation: the admin names an e-mail address and a role; the hub creates the
account without a password and e-mails a set-password link through the
configured SMTP server (after the commit, see :mod:`hub.notifications`). The
link carries a random token; only its SHA-256 is stored, it works once and
expires after :data:`INVITATION_TTL`. (The stateless password-reset link of
:mod:`hub.accounts` is not reused for this: an invitation must be revocable
and record who invited whom; the password rule is the same one,
:func:`hub.accounts.password_problem`.)

Removal deactivates the account (its orders and audit trail keep their
author) and voids its open invitations. An admin cannot remove or demote
itself, so a partner always keeps at least the admin who acts.

Every function takes the acting admin and refuses (``LookupError``, a 404 on
the web) a user of another partner, exactly as if it did not exist.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub import notifications
from hub.accounts import MIN_PASSWORD_LENGTH, audit, end_other_sessions, hash_password, password_problem
from hub.errors import HubError
from hub.models import User, utcnow
from hub.portal_models import Invitation
from hub.settings import Settings

__all__ = [
    "UserAdminError",
    "PARTNER_ROLES",
    "INVITATION_TTL",
    "MIN_PASSWORD",
    "users",
    "invite",
    "set_role",
    "remove",
    "invitation_for",
    "accept_invitation",
    "signed_in_before_invitation",
]

PARTNER_ROLES = {"admin": "Admin: everything, and approves orders and manages users",
                 "buyer": "Buyer: orders", "accounts": "Accounts: reads orders, deliveries and invoices"}
INVITATION_TTL = dt.timedelta(days=7)
MIN_PASSWORD = MIN_PASSWORD_LENGTH  # the password rule of hub.accounts (shared with password reset)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


#: The answer for an address that cannot be invited (in use, here or elsewhere).
CANNOT_INVITE = ("This e-mail address cannot be invited. If the person already uses the portal for your company, "
                 "they are in the list below; otherwise ask us to look into it.")


class UserAdminError(HubError):
    """The change is refused; the message says why."""


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _require_admin(admin: User) -> int:
    if admin.partner_id is None or admin.role != "admin" or not admin.active:
        raise UserAdminError("Only an admin of your company can manage its users.")
    return admin.partner_id


def users(session: Session, admin: User) -> list[User]:
    partner_id = _require_admin(admin)
    return list(session.scalars(select(User).where(User.partner_id == partner_id).order_by(User.active.desc(), User.email)))


def _own_user(session: Session, admin: User, user_id: int) -> User:
    partner_id = _require_admin(admin)
    user = session.scalar(select(User).where(User.id == user_id, User.partner_id == partner_id))
    if user is None:
        raise LookupError(f"no user {user_id}")
    return user


def invite(
    session: Session,
    settings: Settings,
    admin: User,
    *,
    email: str,
    name: str,
    role: str,
    link_for: Callable[[str], str],
    now: dt.datetime | None = None,
) -> tuple[User, str]:
    """Create (or re-invite) a user of the admin's partner and e-mail the set-password link; commits.

    Returns the user and the token (the e-mail carries ``link_for(token)``).
    """
    partner_id = _require_admin(admin)
    now = now or utcnow()
    email = (email or "").strip().lower()
    name = " ".join((name or "").split())
    if not _EMAIL.match(email) or len(email) > 200:
        raise UserAdminError("Give a valid e-mail address.")
    if not name or len(name) > 200:
        raise UserAdminError("Give the person's name.")
    if role not in PARTNER_ROLES:
        raise UserAdminError(f"Choose a role: {', '.join(PARTNER_ROLES)}.")
    user = session.scalar(select(User).where(func.lower(User.email) == email))
    if user is not None and (user.partner_id != partner_id or user.active and user.password_hash):
        # one neutral answer whether the address is one of this partner's users or another company's:
        # an admin learns nothing about other partners' users
        audit(session, admin.email, "user.invite_refused", target=f"user:{user.id}", partner_id=partner_id,
              detail="the address has an account" + ("" if user.partner_id == partner_id else " of another partner"))
        session.commit()
        raise UserAdminError(CANNOT_INVITE)
    if user is None:
        # e-mails are opt-in: the user chooses them under E-mail settings
        user = User(partner_id=partner_id, email=email, name=name, role=role, active=True, password_hash=None,
                    notify={})
        session.add(user)
        action = "user.invited"
    else:
        # a removed (or never activated) user comes back as new: no old password, second factor,
        # lockout or e-mail choices; it signs in only after accepting this invitation
        user.name, user.role, user.active = name, role, True
        user.password_hash = None
        user.totp_secret = None
        end_other_sessions(user)
        user.failed_logins, user.locked_until = 0, None
        user.notify = {}
        action = "user.reinvited"
    session.flush()
    for old in session.scalars(select(Invitation).where(Invitation.user_id == user.id, Invitation.used_at.is_(None))):
        old.used_at = now  # a new link voids the old ones
    token = secrets.token_urlsafe(32)
    session.add(Invitation(user_id=user.id, partner_id=partner_id, token_hash=_token_hash(token),
                           invited_by_id=admin.id, created_at=now, expires_at=now + INVITATION_TTL))
    partner_name = admin.partner.name if admin.partner is not None else "your company"
    body = (f"{admin.name} invited you to the {settings.hub_name} portal for {partner_name},"
            f" as {role}.\n\nSet your password here (the link works once, for"
            f" {INVITATION_TTL.days} days):\n{link_for(token)}\n\nYour sign-in is {email}.")
    notifications.queue(session, settings, [user], f"Your access to the {settings.hub_name} portal", body)
    audit(session, admin.email, action, target=f"user:{user.id}", partner_id=partner_id, detail=f"{email} as {role}")
    session.commit()
    return user, token


def set_role(session: Session, admin: User, user_id: int, role: str) -> User:
    """Change a user's role; commits."""
    user = _own_user(session, admin, user_id)
    if role not in PARTNER_ROLES:
        raise UserAdminError(f"Choose a role: {', '.join(PARTNER_ROLES)}.")
    if user.id == admin.id and role != "admin":
        raise UserAdminError("You cannot take away your own admin role; ask another admin.")
    if user.role != role:
        audit(session, admin.email, "user.role_changed", target=f"user:{user.id}", partner_id=user.partner_id,
              detail=f"{user.email}: {user.role} -> {role}")
        user.role = role
    session.commit()
    return user


def remove(session: Session, admin: User, user_id: int, *, now: dt.datetime | None = None) -> User:
    """Deactivate a user of the admin's partner and void its invitations; commits."""
    user = _own_user(session, admin, user_id)
    if user.id == admin.id:
        raise UserAdminError("You cannot remove yourself; ask another admin.")
    user.active = False
    for invitation in session.scalars(select(Invitation).where(Invitation.user_id == user.id,
                                                               Invitation.used_at.is_(None))):
        invitation.used_at = now or utcnow()
    audit(session, admin.email, "user.removed", target=f"user:{user.id}", partner_id=user.partner_id,
          detail=user.email)
    session.commit()
    return user


def signed_in_before_invitation(session: Session, user_id: int, signed_in_at: dt.datetime | None) -> bool:
    """True when the user was invited (again) after this browser session signed in: the session
    belongs to the access the invitation replaced (a removed user's old cookie) and must end."""
    latest = session.scalar(select(func.max(Invitation.created_at)).where(Invitation.user_id == user_id))
    return latest is not None and (signed_in_at is None or signed_in_at < latest)


def invitation_for(session: Session, token: str, *, now: dt.datetime | None = None) -> Invitation | None:
    """The open, unexpired invitation for ``token``, else None (used, expired and unknown look the same)."""
    if not token or len(token) > 200:
        return None
    now = now or utcnow()
    invitation = session.scalar(select(Invitation).where(Invitation.token_hash == _token_hash(token)))
    if invitation is None or invitation.used_at is not None or invitation.expires_at < now:
        return None
    if not invitation.user.active or invitation.user.partner_id != invitation.partner_id:
        return None
    return invitation


def accept_invitation(session: Session, token: str, password: str, *, now: dt.datetime | None = None) -> User:
    """Set the invited user's password and use up the token; commits."""
    now = now or utcnow()
    invitation = invitation_for(session, token, now=now)
    if invitation is None:
        raise UserAdminError("This link has expired or was already used. Ask your admin for a new invitation.")
    user = invitation.user
    problem = password_problem(user, password or "")
    if problem is not None:
        raise UserAdminError(problem)
    user.password_hash = hash_password(password)
    end_other_sessions(user)
    user.failed_logins = 0
    user.locked_until = None
    invitation.used_at = now
    audit(session, user.email, "user.password_set", target=f"user:{user.id}", partner_id=user.partner_id,
          detail="from an invitation")
    session.commit()
    return user
