"""Order approval and the credit limit, for orders placed in the portal.

Approval: a portal order whose total (net, as placed) is above the partner's
``approval_threshold`` is stored in status ``pending_approval`` and is not
answered: no order response goes out until one of the partner's admins
approves it (:func:`approve`), which then answers it the way any order is
answered (:func:`hub.orders.respond`, the same path EDI orders take). A
rejection (:func:`reject`) needs a reason; the order ends ``rejected`` and
nothing is sent, since the order never left the partner. An order an admin
places is approved by placing it: the threshold guards the buyers' orders.
EDI and API orders are not held: they come from the partner's own systems,
which approve before they send. The threshold is the partner's profile value
unless one of its admins has set another in the portal (:func:`set_threshold`,
kept in ``partner.portal_settings``; a later ``kontor partners load`` does not
undo it): :func:`threshold_for` says which applies.

Credit limit: a portal or API order is refused (at checkout; by the API with 422 ``credit_limit_exceeded``) (nothing stored, a
sentence saying by how much it is over) when the partner's open exposure plus
the new order is above ``credit_limit``. The open exposure is the value of
its orders not yet invoiced (received, pending approval, confirmed, changed,
shipped in part or whole) plus its invoices not yet due (the hub does not see
payments, so an invoice counts as open until its due date). Refusing rather
than sending the order to approval is deliberate: a partner admin cannot
raise the credit the supplier grants.

Nothing here commits except :func:`approve` and :func:`reject`, each one
unit of work.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.accounts import audit
from hub.errors import HubError
from hub.models import Invoice, Order, Partner, User, utcnow
from hub.portal_models import OrderApproval
from hub.settings import Settings

__all__ = [
    "ApprovalError",
    "OPEN_ORDER_STATUSES",
    "hold_for_approval",
    "threshold_for",
    "set_threshold",
    "MAX_THRESHOLD",
    "open_exposure",
    "credit_problems",
    "pending",
    "approval_for",
    "approve",
    "reject",
    "withdraw",
]

OPEN_ORDER_STATUSES = ("received", "pending_approval", "confirmed", "changed", "partially_shipped", "shipped")
APPROVER_ROLES = ("admin",)
MAX_THRESHOLD = Decimal("1000000000")
_THRESHOLD_KEY = "approval_threshold"


class ApprovalError(HubError):
    """The decision cannot be taken (not pending, not an admin, no reason); the message says why."""


def threshold_for(partner: Partner) -> Decimal | None:
    """The approval threshold in force: the partner admins' own, else the profile's (None: no approval)."""
    own = partner.portal_settings or {}
    if _THRESHOLD_KEY in own:
        value = own[_THRESHOLD_KEY]
        return Decimal(value) if value is not None else None
    return partner.approval_threshold


def set_threshold(session: Session, user: User, amount: str) -> Decimal | None:
    """A partner admin sets the approval threshold of its company (empty: no approval needed); audited, commits.

    Raises :class:`ApprovalError` with a sentence for a user who is not an
    admin or an amount that is not a sum of money.
    """
    if user.partner_id is None or user.role not in APPROVER_ROLES:
        raise ApprovalError("only an admin of the company can change its approval threshold")
    text = amount.strip().replace(" ", "")
    value: Decimal | None = None
    if text:
        if text.count(",") == 1 and "." not in text:
            text = text.replace(",", ".")
        try:
            value = Decimal(text)
        except ArithmeticError:
            raise ApprovalError(f"approval threshold: {amount.strip()!r} is not an amount") from None
        if not value.is_finite() or value < 0:
            raise ApprovalError(f"approval threshold: {amount.strip()} must be 0 or more")
        if value > MAX_THRESHOLD:
            raise ApprovalError(f"approval threshold: {amount.strip()} is more than {MAX_THRESHOLD:,}")
        if -value.as_tuple().exponent > 2:  # type: ignore[operator]
            raise ApprovalError(f"approval threshold: {amount.strip()} has more than 2 decimals")
    partner = session.get(Partner, user.partner_id)
    assert partner is not None
    before = threshold_for(partner)
    partner.portal_settings = {**(partner.portal_settings or {}),
                               _THRESHOLD_KEY: format(value, "f") if value is not None else None}
    audit(session, user.email, "partner.approval_threshold", target=f"partner:{partner.code}", partner_id=partner.id,
          detail=f"{_money(before, partner.currency)} -> {_money(value, partner.currency)}")
    session.commit()
    return value


def _money(value: Decimal | None, currency: str) -> str:
    return "none (no approval)" if value is None else f"{value:,.2f} {currency}"


def hold_for_approval(session: Session, settings: Settings, partner: Partner, order: Order, *, source: str,
                      user: User | None) -> bool:
    """Put a new portal order over the threshold on hold; True when held (then it is not answered).

    Called by :func:`hub.orders.place_order` before it answers an order. No commit.
    """
    threshold = threshold_for(partner)
    if source != "portal" or threshold is None or order.total <= threshold:
        return False
    if user is not None and user.role in APPROVER_ROLES:
        return False
    order.status = "pending_approval"
    session.add(OrderApproval(order_id=order.id, partner_id=partner.id, status="pending", amount=order.total,
                              threshold=threshold, requested_by_id=user.id if user is not None else None))
    from hub import notifications

    notifications.approval_requested(session, settings, partner, order)
    return True


def open_exposure(session: Session, partner_id: int, *, today: dt.date | None = None,
                  exclude_order_id: int | None = None) -> Decimal:
    """Open orders not yet invoiced plus invoices not yet due, for one partner (without the order
    ``exclude_order_id``: the one being checked, already stored)."""
    today = today or dt.date.today()
    stmt = select(func.coalesce(func.sum(Order.total), 0)).where(
        Order.partner_id == partner_id, Order.status.in_(OPEN_ORDER_STATUSES)
    )
    if exclude_order_id is not None:
        stmt = stmt.where(Order.id != exclude_order_id)
    orders = session.scalar(stmt)
    invoices = session.scalar(
        select(func.coalesce(func.sum(Invoice.total), 0)).where(
            Invoice.partner_id == partner_id,
            Invoice.document_code != "381",
            func.coalesce(Invoice.due_date, Invoice.issue_date) >= today,
        )
    )
    return Decimal(orders or 0) + Decimal(invoices or 0)


def credit_problems(session: Session, partner: Partner, amount: Decimal, *, today: dt.date | None = None,
                    exclude_order_id: int | None = None) -> list[str]:
    """A sentence when ``amount`` more would take the partner over its credit limit; else nothing.

    ``exclude_order_id``: the order of ``amount`` when it is already stored (the API checks an
    order after :func:`hub.orders.place_order` priced it, before it commits).
    """
    limit = partner.credit_limit
    if limit is None:
        return []
    exposure = open_exposure(session, partner.id, today=today, exclude_order_id=exclude_order_id)
    if exposure + amount <= limit:
        return []
    room = max(limit - exposure, Decimal(0))
    currency = partner.currency
    return [
        f"This order ({amount:,.2f} {currency}) is over your credit limit: {exposure:,.2f} {currency} of"
        f" {limit:,.2f} {currency} is open in orders and unpaid invoices, so at most {room:,.2f} {currency}"
        " can be ordered now. Reduce the order or contact your account manager."
    ]


def pending(session: Session, partner_id: int) -> list[OrderApproval]:
    """The partner's orders waiting for approval, oldest first."""
    stmt = (
        select(OrderApproval)
        .where(OrderApproval.partner_id == partner_id, OrderApproval.status == "pending")
        .order_by(OrderApproval.requested_at, OrderApproval.id)
    )
    return list(session.scalars(stmt))


def approval_for(session: Session, partner_id: int, order_id: int) -> OrderApproval | None:
    return session.scalar(
        select(OrderApproval).where(OrderApproval.partner_id == partner_id, OrderApproval.order_id == order_id)
    )


def _pending_for(session: Session, partner_id: int, order_id: int, user: User) -> tuple[OrderApproval, Order]:
    if user.partner_id != partner_id or user.role not in APPROVER_ROLES:
        raise ApprovalError("Only an admin of your company can approve or reject orders.")
    approval = approval_for(session, partner_id, order_id)
    order = session.scalar(select(Order).where(Order.id == order_id, Order.partner_id == partner_id).with_for_update())
    if approval is None or order is None:
        raise LookupError(f"no approval for order {order_id}")
    if approval.status != "pending" or order.status != "pending_approval":
        raise ApprovalError(f"Order {order.number} is not waiting for approval (it is {order.status.replace('_', ' ')}).")
    return approval, order


def approve(session: Session, settings: Settings, partner_id: int, order_id: int, user: User) -> Order:
    """Approve a held order and answer it as any order is answered; commits."""
    from hub.orders import respond
    from hub.partners import preferences

    approval, order = _pending_for(session, partner_id, order_id, user)
    approval.status = "approved"
    approval.decided_by_id = user.id
    approval.decided_at = utcnow()
    order.status = "received"
    partner = order.partner
    if preferences(partner).order_response:
        respond(session, settings, partner, order, actor=user.email)
    audit(session, user.email, "order.approved", target=f"order:{order.number}", partner_id=partner_id,
          detail=f"{order.total:,.2f} {order.currency} over the threshold {approval.threshold:,.2f}")
    session.commit()
    return order


def reject(session: Session, partner_id: int, order_id: int, user: User, reason: str) -> Order:
    """Reject a held order with a reason; nothing is sent (the order never left the partner). Commits."""
    reason = (reason or "").strip()
    approval, order = _pending_for(session, partner_id, order_id, user)
    if not reason:
        raise ApprovalError("Give a reason for the rejection; the buyer sees it.")
    approval.status = "rejected"
    approval.decided_by_id = user.id
    approval.decided_at = utcnow()
    approval.reason = reason[:2000]
    order.status = "rejected"
    for line in order.lines:
        line.status = "rejected"
        line.confirmed_quantity = Decimal(0)
    audit(session, user.email, "order.approval_rejected", target=f"order:{order.number}", partner_id=partner_id,
          detail=reason[:2000])
    session.commit()
    return order


def withdraw(session: Session, order: Order, *, actor: str) -> bool:
    """Close the pending approval of ``order`` when the buyer cancels it (status ``cancelled``, the
    actor as reason); True when there was one. The caller commits."""
    approval = session.scalar(select(OrderApproval).where(OrderApproval.order_id == order.id,
                                                          OrderApproval.status == "pending"))
    if approval is None:
        return False
    approval.status = "cancelled"
    approval.decided_at = utcnow()
    approval.reason = f"the order was cancelled by {actor}"[:2000]
    return True
