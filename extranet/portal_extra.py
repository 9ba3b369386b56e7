"""More of the distributor portal: approvals, invoices (PDF), deliveries, document search,
the order chain, Excel upload, order templates, notification settings, partner users.

Same rules as :mod:`extranet.portal`: every read goes through
:func:`extranet.security.portal_scope` (or a hub service that takes the
signed-in user's partner), so another partner's record is a 404; views stay
thin and the hub services commit. The invitation page is the one page here
that needs no sign-in: its token is the credential.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required, logout_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired

from extranet.extensions import db, login_manager
from extranet.forms import UploadForm
from extranet.portal import _rows_added, fill_cart, load_cart
from extranet.portal_roles import check_write_role
from extranet.security import PARTNER_ORDER_ROLES, portal_scope, roles_required
from extranet.sso import SIGNED_IN_AT
from hub import approvals, notifications, order_templates, partner_users, portal_documents, turnaround
from hub.accounts import audit
from hub.chain import chain_for_order
from hub.errors import HubError
from hub.invoice_pdf import invoice_pdf
from hub.models import User
from hub.xlsx_upload import parse_xlsx

__all__ = ["bp", "PUBLIC_ENDPOINTS"]

bp = Blueprint("portal_extra", __name__)

PUBLIC_ENDPOINTS = {"portal_extra.invitation"}


class XlsxUploadForm(FlaskForm):
    file = FileField(
        "Excel file",
        description="First sheet: columns SKU (or GTIN), quantity and an optional note; a header row is allowed.",
        validators=[FileRequired(), FileAllowed(["xlsx"], "Upload an .xlsx workbook.")],
    )


@bp.before_app_request
def _end_sessions_an_invitation_replaced() -> ResponseReturnValue | None:
    """A partner user invited again (after being removed) starts afresh: a browser session that
    signed in before that invitation is ended, whatever page it asks for."""
    if not current_user.is_authenticated or current_user.partner_id is None:
        return None
    raw = session.get(SIGNED_IN_AT)
    try:
        signed_in_at = dt.datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        signed_in_at = None
    if not partner_users.signed_in_before_invitation(db.session, current_user.id, signed_in_at):
        return None
    logout_user()
    session.clear()
    flash("Your access was renewed. Sign in again.", "info")
    return redirect(url_for("auth.login"))


@bp.before_request
def _partners_only() -> ResponseReturnValue | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.is_ops:
        return redirect(url_for("ops.messages"))
    check_write_role()
    return None


@bp.app_template_global()
def order_approval(order_id: int):
    """The approval record of one of the signed-in partner's orders (None when it never needed one)."""
    if not current_user.is_authenticated or current_user.is_ops:
        return None
    return approvals.approval_for(db.session, current_user.partner_id, order_id)


@bp.app_template_global()
def has_received_orders() -> bool:
    """Whether the signed-in partner has purchase orders from us (then the nav shows them)."""
    if not current_user.is_authenticated or current_user.partner_id is None:
        return False
    return bool(turnaround.received_orders_exist(portal_scope()))


def _user() -> User:
    return current_user.user


# --- approvals -----------------------------------------------------------------------


@bp.get("/approvals")
@roles_required("admin")
def approvals_list() -> ResponseReturnValue:
    scope = portal_scope()
    waiting = approvals.pending(db.session, scope.partner_id)
    return render_template("portal/approvals.html", waiting=waiting, partner=scope.partner,
                           threshold=approvals.threshold_for(scope.partner))


@bp.route("/account/company", methods=["GET", "POST"])
@roles_required("admin")
def partner_settings() -> ResponseReturnValue:
    """The company's own settings, for its admins: the approval threshold (over the profile's value)."""
    partner = portal_scope().partner
    error = None
    if request.method == "POST":
        try:
            value = approvals.set_threshold(db.session, _user(), request.form.get("approval_threshold", ""))
        except approvals.ApprovalError as exc:
            db.session.rollback()
            error = str(exc)
        else:
            flash("Orders of your buyers now wait for an admin's approval above "
                  f"{value:,.2f} {partner.currency}." if value is not None else
                  "Orders of your buyers no longer wait for approval.", "success")
            return redirect(url_for("portal_extra.partner_settings"))
    return render_template("portal/partner_settings.html", partner=partner, error=error,
                           threshold=approvals.threshold_for(partner),
                           value=request.form.get("approval_threshold") if error else None), 422 if error else 200


@bp.post("/approvals/<int:order_id>/approve")
@roles_required("admin")
def approve(order_id: int) -> ResponseReturnValue:
    scope = portal_scope()
    order = scope.order(order_id)  # 404 for another partner's order
    try:
        approvals.approve(db.session, current_app.config["KONTOR_SETTINGS"], scope.partner_id, order.id, _user())
    except LookupError:
        abort(404)
    except approvals.ApprovalError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("portal.order", order_id=order_id))
    flash(f"Order {order.number} is approved and sent.", "success")
    return redirect(url_for("portal.order", order_id=order_id))


@bp.post("/approvals/<int:order_id>/reject")
@roles_required("admin")
def reject(order_id: int) -> ResponseReturnValue:
    scope = portal_scope()
    order = scope.order(order_id)
    try:
        approvals.reject(db.session, scope.partner_id, order.id, _user(), request.form.get("reason", ""))
    except LookupError:
        abort(404)
    except approvals.ApprovalError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("portal.order", order_id=order_id))
    flash(f"Order {order.number} is rejected.", "success")
    return redirect(url_for("portal.order", order_id=order_id))


# --- invoices, deliveries, search, chain -------------------------------------------------


@bp.get("/invoices/<int:invoice_id>")
@login_required
def invoice(invoice_id: int) -> ResponseReturnValue:
    scope = portal_scope()
    record = portal_documents.invoice(scope, invoice_id)
    order = portal_documents.order_of(scope, record.order_id)
    return render_template("portal/invoice.html", invoice=record, order=order, doc=record.document or {})


@bp.get("/invoices/<int:invoice_id>.pdf")
@login_required
def invoice_download(invoice_id: int) -> ResponseReturnValue:
    record = portal_documents.invoice(portal_scope(), invoice_id)
    try:
        data = invoice_pdf(record.document, seller_name=current_app.config["KONTOR_SETTINGS"].hub_name)
    except (ValueError, TypeError) as exc:  # a stored document that is not a complete invoice
        current_app.logger.warning("invoice %s: no PDF: %s", record.id, exc)
        abort(404)
    filename = f"{record.number}.pdf".replace('"', "")
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/deliveries/<int:despatch_id>")
@login_required
def delivery(despatch_id: int) -> ResponseReturnValue:
    scope = portal_scope()
    record = portal_documents.despatch(scope, despatch_id)
    order = portal_documents.order_of(scope, record.order_id)
    link = portal_documents.tracking_url(db.session, record.carrier, record.tracking_number)
    return render_template("portal/delivery.html", despatch=record, order=order, tracking_link=link,
                           packages=(record.document or {}).get("packages", []))


@bp.get("/documents/search")
@login_required
def document_search() -> ResponseReturnValue:
    query = request.args.get("q", "")[:100]
    found = portal_documents.search(portal_scope(), query)
    return render_template("portal/document_search.html", query=query, found=found)


@bp.get("/orders/<int:order_id>/chain")
@login_required
def order_chain(order_id: int) -> ResponseReturnValue:
    scope = portal_scope()
    order = scope.order(order_id)
    chain = chain_for_order(db.session, order, partner_id=scope.partner_id)
    links = {link.kind: [] for link in chain.links}
    for link in chain.links:
        links[link.kind].append(link)
    tracking = {d.id: portal_documents.tracking_url(db.session, d.carrier, d.tracking_number)
                for d in order.despatches}
    return render_template("portal/chain.html", order=order, chain=chain, tracking=tracking,
                           approval=approvals.approval_for(db.session, scope.partner_id, order.id))


# --- Excel upload ----------------------------------------------------------------------


@bp.route("/upload/xlsx", methods=["GET", "POST"])
@roles_required(*PARTNER_ORDER_ROLES)
def upload_xlsx() -> ResponseReturnValue:
    form = XlsxUploadForm()
    if form.validate_on_submit():
        rows, fatal = parse_xlsx(form.file.data.read(), form.file.data.filename or "")
        if fatal and not rows:
            form.file.errors.append(fatal)
            return render_template("portal/upload_xlsx.html", form=form), 422
        if fatal:
            flash(fatal, "error")
        # rows with problems go to the same fix-in-place table as the CSV upload
        return _rows_added(UploadForm(formdata=None), portal_scope().resolve_rows(rows))
    return render_template("portal/upload_xlsx.html", form=form), 422 if form.errors else 200


# --- order templates ---------------------------------------------------------------------


@bp.get("/templates")
@login_required
def templates() -> ResponseReturnValue:
    return render_template("portal/templates.html", templates=order_templates.templates(portal_scope()),
                           cart_lines=len(load_cart()))


@bp.post("/templates")
@roles_required(*PARTNER_ORDER_ROLES)
def template_save() -> ResponseReturnValue:
    try:
        saved = order_templates.save(portal_scope(), _user(), request.form.get("name", ""), load_cart())
    except order_templates.TemplateError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("portal_extra.templates"))
    flash(f"The cart is saved as template “{saved.name}”.", "success")
    return redirect(url_for("portal_extra.template", template_id=saved.id))


@bp.post("/orders/<int:order_id>/template")
@roles_required(*PARTNER_ORDER_ROLES)
def template_from_order(order_id: int) -> ResponseReturnValue:
    scope = portal_scope()
    order = scope.order(order_id)
    try:
        saved = order_templates.save_from_order(scope, _user(), request.form.get("name") or order.number, order.id)
    except order_templates.TemplateError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("portal.order", order_id=order_id))
    flash(f"Order {order.number} is saved as template “{saved.name}”.", "success")
    return redirect(url_for("portal_extra.template", template_id=saved.id))


@bp.get("/templates/<int:template_id>")
@login_required
def template(template_id: int) -> ResponseReturnValue:
    return render_template("portal/template.html", template=order_templates.template(portal_scope(), template_id))


@bp.post("/templates/<int:template_id>/order")
@roles_required(*PARTNER_ORDER_ROLES)
def template_order(template_id: int) -> ResponseReturnValue:
    items, skipped = order_templates.items_for(portal_scope(), template_id)
    return fill_cart(items, skipped, "the template")


@bp.post("/templates/<int:template_id>/delete")
@roles_required(*PARTNER_ORDER_ROLES)
def template_delete(template_id: int) -> ResponseReturnValue:
    name = order_templates.delete(portal_scope(), _user(), template_id)
    flash(f"Template “{name}” is deleted.", "success")
    return redirect(url_for("portal_extra.templates"))


# --- the user's own notification settings ------------------------------------------------


@bp.route("/account/notifications", methods=["GET", "POST"])
@login_required
def notification_settings() -> ResponseReturnValue:
    user = db.session.get(User, current_user.id)
    kinds = {k: v for k, v in notifications.KINDS.items() if k != "approval" or user.role == "admin"}
    if request.method == "POST":
        chosen = {kind: request.form.get(kind) == "1" for kind in kinds}
        user.notify = {**(user.notify or {}), **chosen}
        audit(db.session, user.email, "user.notifications", target=f"user:{user.id}", partner_id=user.partner_id,
              detail=", ".join(k for k, v in chosen.items() if v) or "none")
        db.session.commit()
        flash("Your e-mail settings are saved.", "success")
        return redirect(url_for("portal_extra.notification_settings"))
    return render_template("portal/notifications.html", kinds=kinds, notify=user.notify or {}, user=user)


# --- partner users (admins) ----------------------------------------------------------------


@bp.get("/users")
@roles_required("admin")
def users() -> ResponseReturnValue:
    return render_template("portal/users.html", users=partner_users.users(db.session, _user()),
                           roles=partner_users.PARTNER_ROLES)


@bp.post("/users/invite")
@roles_required("admin")
def user_invite() -> ResponseReturnValue:
    settings = current_app.config["KONTOR_SETTINGS"]
    try:
        user, _token = partner_users.invite(
            db.session, settings, _user(),
            email=request.form.get("email", ""), name=request.form.get("name", ""),
            role=request.form.get("role", "buyer"),
            link_for=lambda token: url_for("portal_extra.invitation", token=token, _external=True),
        )
    except partner_users.UserAdminError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("portal_extra.users"))
    flash(f"{user.email} is invited; the e-mail with the link is on its way.", "success")
    return redirect(url_for("portal_extra.users"))


@bp.post("/users/<int:user_id>/role")
@roles_required("admin")
def user_role(user_id: int) -> ResponseReturnValue:
    try:
        user = partner_users.set_role(db.session, _user(), user_id, request.form.get("role", ""))
    except LookupError:
        abort(404)
    except partner_users.UserAdminError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("portal_extra.users"))
    flash(f"{user.email} is now {user.role}.", "success")
    return redirect(url_for("portal_extra.users"))


@bp.post("/users/<int:user_id>/remove")
@roles_required("admin")
def user_remove(user_id: int) -> ResponseReturnValue:
    try:
        user = partner_users.remove(db.session, _user(), user_id)
    except LookupError:
        abort(404)
    except partner_users.UserAdminError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("portal_extra.users"))
    flash(f"{user.email} can no longer sign in.", "success")
    return redirect(url_for("portal_extra.users"))


# --- turnaround: a supplier partner answers our purchase order --------------------------------


@bp.get("/received-orders")
@login_required
def received_orders() -> ResponseReturnValue:
    return render_template("portal/received_orders.html", orders=turnaround.received_orders(portal_scope()))


@bp.get("/received-orders/<int:order_id>")
@login_required
def received_order(order_id: int) -> ResponseReturnValue:
    order = turnaround.received_order(portal_scope(), order_id)
    return render_template("portal/received_order.html", order=order, doc=order.document,
                           left_despatch=turnaround.remaining(order, "despatch_advice"),
                           left_invoice=turnaround.remaining(order, "invoice"))


@bp.route("/received-orders/<int:order_id>/<any(despatch, invoice):kind>", methods=["GET", "POST"])
@roles_required(*PARTNER_ORDER_ROLES)
def turnaround_document(order_id: int, kind: str) -> ResponseReturnValue:
    scope = portal_scope()
    order = turnaround.received_order(scope, order_id)
    key = "despatch_advice" if kind == "despatch" else "invoice"
    left = turnaround.remaining(order, key)
    error = None
    if request.method == "POST":
        quantities = {line_no: request.form.get(f"quantity-{line_no}", "") for line_no in left}
        try:
            if kind == "despatch":
                record = turnaround.create_despatch(
                    scope, _user(), order.id, number=request.form.get("number", ""), quantities=quantities,
                    carrier=request.form.get("carrier", ""), tracking_number=request.form.get("tracking_number", ""))
            else:
                days = request.form.get("payment_days", "30")
                record = turnaround.create_invoice(
                    scope, _user(), order.id, number=request.form.get("number", ""), quantities=quantities,
                    payment_days=int(days) if days.isdigit() else -1,
                    tax_rates={line_no: request.form.get(f"vat-{line_no}", "") for line_no in left})
        except turnaround.TurnaroundError as exc:
            db.session.rollback()
            error = str(exc)
            order = turnaround.received_order(scope, order_id)
        else:
            flash(f"{'Despatch advice' if kind == 'despatch' else 'Invoice'} {record.number} is saved with this order"
                  f" and recorded as your {'DESADV' if kind == 'despatch' else 'INVOIC'} message to"
                  f" {current_app.config['KONTOR_SETTINGS'].hub_name}, whose operations staff see it with the"
                  " order; you find it under Messages.", "success")
            return redirect(url_for("portal_extra.received_order", order_id=order_id))
    rates = turnaround.catalogue_rates(db.session, order) if kind == "invoice" else {}
    return render_template("portal/turnaround.html", order=order, doc=order.document, kind=kind, left=left,
                           rates=rates, error=error, form=request.form), 422 if error else 200


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def invitation(token: str) -> ResponseReturnValue:
    invitation = partner_users.invitation_for(db.session, token)
    if invitation is None:
        return render_template("portal/invitation.html", invitation=None), 404
    error = None
    if request.method == "POST":
        password = request.form.get("password", "")
        if password != request.form.get("confirm", ""):
            error = "The two passwords differ."
        else:
            try:
                user = partner_users.accept_invitation(db.session, token, password)
            except HubError as exc:
                db.session.rollback()
                error = str(exc)
            else:
                flash(f"Your password is set. Sign in as {user.email}.", "success")
                return redirect(url_for("auth.login"))
    return render_template("portal/invitation.html", invitation=invitation, error=error,
                           min_length=partner_users.MIN_PASSWORD), 422 if error else 200

