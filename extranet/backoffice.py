"""``/api/v1/backoffice``: the supplier's ERP confirms, ships and invoices orders.

Token-protected (``Authorization: Bearer <backoffice token from settings>``);
without a configured token the interface answers 503 rather than open up.
Errors are JSON ``{"error": {"code": ..., "message": ...}}`` with a stable code.
The views call :mod:`hub.backoffice`, which owns the transactions.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import select

from hub import backoffice as service
from hub.models import Order, Partner

bp = Blueprint("backoffice", __name__, url_prefix="/api/v1/backoffice")


def _error(status: int, code: str, message: str):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def _session():
    from extranet.extensions import db

    return db.session


@bp.before_request
def _authenticate():
    settings = current_app.config["KONTOR_SETTINGS"]
    expected = settings.backoffice_token
    if not expected:
        return _error(503, "not_configured", "the back-office interface has no token configured ([backoffice] token)")
    header = request.headers.get("Authorization", "")
    given = header[7:] if header.startswith("Bearer ") else ""
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        response = _error(401, "unauthorized", "a valid bearer token is required")
        response.headers["WWW-Authenticate"] = 'Bearer realm="kontor-backoffice"'
        return response
    g.backoffice_actor = "back office (API)"
    return None


@bp.get("/orders")
def list_orders():
    stmt = select(Order).join(Partner).order_by(Order.id.desc())
    if request.args.get("status"):
        stmt = stmt.where(Order.status == request.args["status"])
    if request.args.get("partner"):
        stmt = stmt.where(Partner.code == request.args["partner"])
    try:
        limit = min(max(int(request.args.get("limit", 100)), 1), 1000)
    except ValueError:
        return _error(400, "invalid_request", "limit must be a whole number")
    orders = _session().scalars(stmt.limit(limit)).all()
    return jsonify({"orders": [service.order_summary(o) for o in orders]})


@bp.get("/orders/<partner>/<path:number>")
def get_order(partner: str, number: str):
    try:
        order = service.find_order(_session(), partner, number)
    except service.BackofficeError as exc:
        return _error(404, "order_not_found", str(exc))
    return jsonify(service.order_summary(order))


@bp.post("/orders/<partner>/<path:number>/<any(confirm, ship, invoice):action>")
def act(partner: str, number: str, action: str):
    body = request.get_json(silent=True)
    if body is None:
        body = {} if not request.data else None
    if not isinstance(body, dict):
        return _error(400, "invalid_request", "the body must be a JSON object")
    session = _session()
    settings = current_app.config["KONTOR_SETTINGS"]
    try:
        order = service.find_order(session, partner, number)
    except service.BackofficeError as exc:
        return _error(404, "order_not_found", str(exc))
    try:
        record = service.perform(session, settings, action, order, body, actor=g.backoffice_actor)
    except service.BackofficeError as exc:
        session.rollback()
        return _error(409, "not_possible", str(exc))
    return jsonify({"action": action, "number": getattr(record, "number", None),
                    "order": service.order_summary(order)}), 201
