"""Orders in the operations console, with the back office's actions:
confirm (with changed quantities), ship (a despatch advice on pallets with
SSCCs) and invoice. The same services as the ERP's REST interface and drop
folder (hub.backoffice); operators and admins act, viewers read.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from extranet.extensions import db
from extranet.security import OPS_ACTION_ROLES, operations_only, roles_required
from hub import backoffice
from hub.accounts import audit
from hub.chain import chain_for_order
from hub.models import Order, Partner

__all__ = ["bp"]

bp = Blueprint("ops_orders", __name__, url_prefix="/ops/orders")

STATUSES = ("received", "pending_approval", "confirmed", "changed", "partially_shipped", "shipped", "invoiced",
            "rejected", "cancelled")


bp.before_request(operations_only)


@bp.get("")
def orders() -> ResponseReturnValue:
    partner = request.args.get("partner") or None
    status = request.args.get("status") or None
    number = request.args.get("number") or None
    found = backoffice.list_orders(db.session, partner_code=partner, status=status, number=number)
    partners = [p.code for p in db.session.query(Partner).order_by(Partner.code)]
    return render_template("ops/orders.html", orders=found, partners=partners, statuses=STATUSES,
                           chosen={"partner": partner, "status": status, "number": number or ""})


def _order(order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None:
        abort(404)
    return order


@bp.get("/<int:order_id>")
def order(order_id: int) -> ResponseReturnValue:
    found = _order(order_id)
    return render_template("ops/order.html", order=found, chain=chain_for_order(db.session, found),
                           may_act=current_user.role in OPS_ACTION_ROLES, today=dt.date.today())


def _quantities(form) -> dict[str, Decimal] | None:
    """``qty-<line_no>`` fields; None when the form gave none (meaning: everything)."""
    found = {}
    for key, value in form.items():
        if key.startswith("qty-") and value.strip() != "":
            try:
                found[key[4:]] = Decimal(value.strip())
            except InvalidOperation:
                raise backoffice.BackofficeError(f"line {key[4:]}: {value!r} is not a quantity") from None
    return found or None


def _date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise backoffice.BackofficeError(f"{value!r} is not a date") from None


@bp.post("/<int:order_id>/<any(confirm, ship, invoice):action>")
@roles_required(*OPS_ACTION_ROLES)
def act(order_id: int, action: str) -> ResponseReturnValue:
    found = _order(order_id)
    settings = db_settings()
    form = request.form
    try:
        if action == "confirm":
            record = backoffice.confirm_order(db.session, settings, found.id, actor=current_user.email,
                                              lines=_quantities(form), delivery_date=_date(form.get("delivery_date")))
            done = f"order confirmed; order response {record.responses[-1].number} sent"
        elif action == "ship":
            packages = int(form.get("packages") or 1)
            record = backoffice.ship_order(db.session, settings, found.id, actor=current_user.email,
                                           lines=_quantities(form), carrier=form.get("carrier") or None,
                                           tracking_number=form.get("tracking_number") or None, packages=packages,
                                           expected_delivery=_date(form.get("expected_delivery")))
            done = f"despatch advice {record.number} recorded and sent"
        else:
            record = backoffice.invoice_order(db.session, settings, found.id, actor=current_user.email,
                                              payment_days=int(form.get("payment_days") or 30))
            done = f"invoice {record.number} recorded and sent"
    except (backoffice.BackofficeError, ValueError) as exc:
        db.session.rollback()
        flash(f"{action.capitalize()} refused: {exc}", "error")
        return redirect(url_for("ops_orders.order", order_id=order_id))
    audit(db.session, current_user.email, f"order.{action}", partner_id=found.partner_id,
          target=f"order:{found.id}", detail=done)
    db.session.commit()
    flash(f"{action.capitalize()}: {done}.", "success")
    return redirect(url_for("ops_orders.order", order_id=order_id))


def db_settings():
    from flask import current_app

    return current_app.config["KONTOR_SETTINGS"]
