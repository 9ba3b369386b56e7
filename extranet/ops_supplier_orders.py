"""Our purchase orders to supplier partners in the operations console (turnaround, hub.turnaround).

Each order lists the despatch advices and invoices the partner made from it
in the portal, each with the inbound DESADV/INVOIC message it was recorded as.
Operations users only; reading only (the partner makes the documents).
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask.typing import ResponseReturnValue

from extranet.extensions import db
from extranet.security import operations_only
from hub import turnaround
from hub.models import Partner

__all__ = ["bp"]

bp = Blueprint("ops_supplier_orders", __name__, url_prefix="/ops/supplier-orders")


bp.before_request(operations_only)


@bp.get("")
def supplier_orders() -> ResponseReturnValue:
    code = request.args.get("partner") or None
    partner = db.session.query(Partner).filter(Partner.code == code).one_or_none() if code else None
    found = turnaround.supplier_orders(db.session, partner_id=partner.id if partner else None) \
        if partner or not code else []
    partners = {p.id: p.code for p in db.session.query(Partner).order_by(Partner.code)}
    return render_template("ops/supplier_orders.html", orders=found, partners=partners, chosen=code or "")


@bp.get("/<int:order_id>")
def supplier_order(order_id: int) -> ResponseReturnValue:
    order = turnaround.supplier_order(db.session, order_id)
    if order is None:
        abort(404)
    return render_template("ops/supplier_order.html", order=order, partner=db.session.get(Partner, order.partner_id),
                           doc=order.document, left_despatch=turnaround.remaining(order, "despatch_advice"),
                           left_invoice=turnaround.remaining(order, "invoice"))
