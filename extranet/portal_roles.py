"""Who may change what in the distributor portal: one table of state-changing routes and their roles.

Every POST (or other unsafe method) to the portal's blueprints is checked
against :data:`WRITE_ROLES` before the view runs; an endpoint missing from the
table is refused (403), so a new form cannot go live open to every role. The
views keep their own ``roles_required`` as well: two locks, one table to read.

Roles of a partner's users: ``admin`` (everything, users and settings),
``buyer`` (orders, and answers received orders), ``accounts`` (reads
orders, deliveries and invoices; changes only its own e-mail settings).
"""

from __future__ import annotations

from types import MappingProxyType

from flask import abort, request
from flask_login import current_user

__all__ = ["WRITE_ROLES", "ORDERING", "ADMIN", "EVERYONE", "PUBLIC", "SAFE_METHODS", "check_write_role"]

ORDERING = ("admin", "buyer")
ADMIN = ("admin",)
EVERYONE = ("admin", "buyer", "accounts")
PUBLIC = ("*",)  # no sign-in: the URL's token is the credential
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

WRITE_ROLES = MappingProxyType({
    # the cart and ordering
    "portal.cart_add": ORDERING,
    "portal.cart_update": ORDERING,
    "portal.cart_remove": ORDERING,
    "portal.cart_clear": ORDERING,
    "portal.quick_order": ORDERING,
    "portal.upload": ORDERING,
    "portal.upload_fix": ORDERING,
    "portal_extra.upload_xlsx": ORDERING,
    "portal.checkout": ORDERING,
    "portal.reorder": ORDERING,
    "portal_extra.template_save": ORDERING,
    "portal_extra.template_from_order": ORDERING,
    "portal_extra.template_order": ORDERING,
    "portal_extra.template_delete": ORDERING,
    # answering a purchase order received from the hub's owner (despatch advice, invoice)
    "portal_extra.turnaround_document": ORDERING,
    # the partner's own administration
    "portal_extra.approve": ADMIN,
    "portal_extra.reject": ADMIN,
    "portal_extra.user_invite": ADMIN,
    "portal_extra.user_role": ADMIN,
    "portal_extra.user_remove": ADMIN,
    "portal_extra.partner_settings": ADMIN,
    # one's own e-mail choices
    "portal_extra.notification_settings": EVERYONE,
    # accepting an invitation sets the invited user's password
    "portal_extra.invitation": PUBLIC,
})


def check_write_role() -> None:
    """Before a portal view: 403 for a state-changing request the signed-in user's role may not make."""
    if request.method in SAFE_METHODS:
        return
    allowed = WRITE_ROLES.get(request.endpoint or "")
    if allowed is None:
        abort(403)
    if allowed == PUBLIC:
        return
    if not current_user.is_authenticated or current_user.role not in allowed:
        abort(403)
