"""The operations console, continued: dashboard, alerts, bulk repairs, partner and channel management.

Same audience as :mod:`extranet.ops` (operations users only). Roles:
``ops_viewer`` reads every page; ``ops_operator`` also acknowledges alerts
and repairs messages (one or many); ``ops_admin`` also creates and edits
partners, identifiers, document preferences, channels, certificates and
secrets.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import Counter

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from extranet.extensions import db
from extranet.ids import id_arg, parse_id
from extranet.security import OPS_ACTION_ROLES, operations_only, roles_required
from hub import accounts
from hub import alerts as alert_service
from hub import messages as message_store
from hub import monitor
from hub import partner_admin
from hub.accounts import audit
from hub.certificates import CERTIFICATE_KEYS
from hub.dashboard import bar_chart, dashboard as dashboard_figures
from hub.messages import RepairError
from hub.models import Channel, Message, Partner, utcnow
from hub.ops_models import Alert
from hub.partners import ACKNOWLEDGEMENTS, CHANNEL_KINDS, CHARSETS, DIRECTORIES, IDENTIFIER_SCHEMES, SUBSETS, preferences
from hub.states import Event, TransitionError

__all__ = ["bp", "ADMIN_ROLES", "BULK_LIMIT"]

bp = Blueprint("ops_admin", __name__)

ADMIN_ROLES = ("ops_admin",)
#: UNB 0002 syntax version numbers (ISO 9735): 1 and 2 UNOA/UNOB only, 3 adds UNOC-UNOK, 4 adds UNOW-UNOY
SYNTAX_VERSIONS = ("1", "2", "3", "4")
#: the most messages one bulk action touches (the page says when the selection is larger)
BULK_LIMIT = 500

BULK_ACTIONS = {
    "reprocess": (message_store.reprocess, Event.REPROCESS, "in", "Reprocess"),
    "redeliver": (message_store.redeliver, Event.REDELIVER, "out", "Redeliver"),
    "resolve": (message_store.resolve, Event.RESOLVE, None, "Resolve"),
}


bp.before_request(operations_only)


@bp.context_processor
def _roles() -> dict:
    role = current_user.role if current_user.is_authenticated else ""
    return {"can_act": role in OPS_ACTION_ROLES, "can_admin": role in ADMIN_ROLES}


def _settings():
    return current_app.config["KONTOR_SETTINGS"]


# --- dashboard ---------------------------------------------------------------------


@bp.get("/dashboard")
def dashboard() -> ResponseReturnValue:
    days = min(max(request.args.get("days", 14, type=int), 1), 90)
    partner_id = id_arg(request.args, "partner")
    figures = dashboard_figures(db.session, days=days, partner_id=partner_id)
    labels = [d.day.strftime("%d.%m") for d in figures.days]
    charts = {
        "volume": bar_chart(
            "chart-volume", f"Messages per day, last {days} days",
            "Inbound and outbound messages per day (UTC); the table below the chart gives the numbers.",
            labels, [("inbound", [d.inbound for d in figures.days]), ("outbound", [d.outbound for d in figures.days])],
        ),
        "errors": bar_chart(
            "chart-errors", "Error rate per day",
            "Share of the day's messages that ended rejected, failed or dead, in per cent.",
            labels, [("error rate", [round(d.error_rate, 1) for d in figures.days])], unit="%",
        ),
        "latency": bar_chart(
            "chart-latency", "Order to order response, per day",
            "Median and 95th percentile of the seconds from an ORDERS received to its ORDRSP queued.",
            labels, [("median", [d.latency_p50 or 0 for d in figures.days]),
                     ("95th percentile", [d.latency_p95 or 0 for d in figures.days])], unit=" s",
        ),
        "partners": bar_chart(
            "chart-partners", f"Messages per partner, last {days} days",
            "Inbound and outbound messages per partner, busiest first (at most 15 partners).",
            [p[0] for p in figures.partners[:15]],
            [("inbound", [p[1] for p in figures.partners[:15]]), ("outbound", [p[2] for p in figures.partners[:15]])],
        ),
    }
    return render_template("ops/dashboard.html", figures=figures, charts=charts, days=days, partner_id=partner_id,
                           partners=monitor.partner_choices(db.session))


# --- alerts ------------------------------------------------------------------------


@bp.get("/alerts")
def alerts() -> ResponseReturnValue:
    state = request.args.get("state", "active")
    if state not in ("active", "open", "acknowledged", "closed", "all"):
        state = "active"
    found = alert_service.list_alerts(db.session, state="" if state == "all" else state,
                                      before=id_arg(request.args, "before"))
    settings = _settings()
    return render_template("ops/alerts.html", found=found, state=state,
                           counts=alert_service.open_alert_count(db.session), settings=settings)


@bp.get("/alerts/<int:alert_id>")
def alert(alert_id: int) -> ResponseReturnValue:
    found = db.session.get(Alert, alert_id)
    if found is None:
        abort(404)
    partner = db.session.get(Partner, found.partner_id) if found.partner_id else None
    return render_template("ops/alert.html", alert=found, partner=partner)


@bp.post("/alerts/<int:alert_id>/acknowledge")
@roles_required(*OPS_ACTION_ROLES)
def acknowledge_alert(alert_id: int) -> ResponseReturnValue:
    try:
        alert_service.acknowledge(db.session, alert_id, actor=current_user.email, comment=request.form.get("comment"))
    except LookupError:
        db.session.rollback()
        abort(404)
    except alert_service.AlertError as exc:
        db.session.rollback()
        flash(f"Acknowledge refused: {exc}.", "error")
    else:
        flash("Alert acknowledged. It closes by itself when its condition clears.", "success")
    return redirect(url_for("ops_admin.alert", alert_id=alert_id))


# --- bulk repairs ----------------------------------------------------------------------


def _filters(args) -> monitor.MessageFilter:
    def date(name: str):
        try:
            return dt.date.fromisoformat(args.get(name, ""))
        except ValueError:
            return None

    partner = args.get("partner", "")
    return monitor.MessageFilter(
        partner_id=parse_id(partner),
        direction=args.get("direction", "") if args.get("direction", "") in monitor.DIRECTIONS else "",
        document_type=args.get("document_type", ""),
        state=args.get("state", ""),
        date_from=date("date_from"),
        date_to=date("date_to"),
        reference=args.get("reference", "")[:35],
        business_ref=args.get("business_ref", "")[:35],
        text=args.get("text", "")[:100],
    )


FILTER_KEYS = ("partner", "direction", "document_type", "state", "date_from", "date_to", "reference",
               "business_ref", "text")


def _selection(filters: monitor.MessageFilter) -> tuple[list[Message], bool]:
    dialect = db.session.get_bind().dialect.name  # free text by its trigram index on PostgreSQL
    stmt = filters.apply(select(Message), dialect).order_by(Message.created_at.desc(), Message.id.desc()).limit(BULK_LIMIT + 1)
    rows = list(db.session.scalars(stmt))
    return rows[:BULK_LIMIT], len(rows) > BULK_LIMIT


def _allowed(message: Message, action: str) -> str | None:
    """Why ``action`` is refused for ``message`` (None: allowed), from the state table."""
    _fn, event, direction, _label = BULK_ACTIONS[action]
    if direction is not None and message.direction != direction:
        return f"{action} is for {'inbound' if direction == 'in' else 'outbound'} messages"
    if event not in monitor.allowed_events(message.state):
        return f"not allowed from {message.state}"
    return None


@bp.get("/messages/bulk")
def bulk() -> ResponseReturnValue:
    filters = _filters(request.args)
    rows, more = _selection(filters)
    possible = {a: sum(1 for m in rows if _allowed(m, a) is None) for a in BULK_ACTIONS}
    states = Counter(m.state for m in rows)
    args = {k: request.args.get(k, "") for k in FILTER_KEYS if request.args.get(k)}
    return render_template("ops/bulk.html", rows=rows, more=more, possible=possible, states=states, args=args,
                           limit=BULK_LIMIT, actions=BULK_ACTIONS)


@bp.post("/messages/bulk")
@roles_required(*OPS_ACTION_ROLES)
def bulk_apply() -> ResponseReturnValue:
    action = request.form.get("action", "")
    if action not in BULK_ACTIONS:
        abort(400)
    args = {k: request.form.get(k, "") for k in FILTER_KEYS if request.form.get(k)}
    comment = (request.form.get("comment") or "").strip()
    if not comment:
        flash(f"{BULK_ACTIONS[action][3]}: a comment is required, saying why; nothing was changed.", "error")
        return redirect(url_for("ops_admin.bulk", **args))
    filters = _filters(request.form)
    ids = [m.id for m in _selection(filters)[0]]
    db.session.rollback()
    function = BULK_ACTIONS[action][0]
    done, refused = 0, Counter()
    for message_id in ids:
        message = db.session.get(Message, message_id)
        why = _allowed(message, action) if message is not None else "gone"
        if why is not None:
            refused[why] += 1
            db.session.rollback()
            continue
        try:
            function(db.session, message_id, actor=current_user.email, comment=comment)
            done += 1
        except (RepairError, TransitionError, LookupError) as exc:
            db.session.rollback()
            refused[str(exc).split(":")[0]] += 1
    audit(db.session, current_user.email, f"message.bulk_{action}", target=f"{len(ids)} messages",
          detail=f"{comment} | done {done}, refused {sum(refused.values())}; filter " +
                 ", ".join(f"{k}={v}" for k, v in args.items()))
    db.session.commit()
    label = BULK_ACTIONS[action][3]
    text = f"{label}: {done} message(s) done"
    if refused:
        text += f"; refused {sum(refused.values())}: " + ", ".join(f"{n} {why}" for why, n in refused.most_common())
    flash(text + ". Each trace records your comment.", "success" if done else "error")
    return redirect(url_for("ops.messages", **args))


@bp.get("/messages/payloads.zip")
def payloads_zip() -> ResponseReturnValue:
    """The payloads of the messages of a filter (newest first, at most ZIP_LIMIT), with a manifest."""
    filters = _filters(request.args)
    dialect = db.session.get_bind().dialect.name  # free text by its trigram index on PostgreSQL
    stmt = filters.apply(select(Message), dialect).order_by(Message.created_at.desc(), Message.id.desc())
    rows = list(db.session.scalars(stmt.limit(monitor.ZIP_LIMIT + 1)))
    more = len(rows) > monitor.ZIP_LIMIT
    rows = rows[:monitor.ZIP_LIMIT]
    if not rows:
        flash("No message matches this filter: nothing to download.", "error")
        return redirect(url_for("ops.messages", **{k: v for k, v in request.args.items() if k in FILTER_KEYS}))
    out = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
    written, listed = monitor.write_payload_zip(rows, out, _settings())
    out.seek(0)
    args = {k: v for k, v in request.args.items() if k in FILTER_KEYS and v}
    audit(db.session, current_user.email, "message.download_zip", target=f"{listed} messages",
          detail=f"{written} payload(s){'; the newest ' + str(monitor.ZIP_LIMIT) + ' only' if more else ''}; filter "
                 + ", ".join(f"{k}={v}" for k, v in args.items()))
    db.session.commit()
    response = send_file(out, mimetype="application/zip", as_attachment=True,
                         download_name=f"kontor-payloads-{utcnow():%Y%m%d-%H%M%S}.zip")
    response.headers["X-Kontor-Messages"] = str(listed)
    response.headers["X-Kontor-More"] = "true" if more else "false"
    return response


# --- partners and channels ----------------------------------------------------------------


def _partner_or_404(partner_id: int) -> Partner:
    partner = db.session.get(Partner, partner_id)
    if partner is None:
        abort(404)
    return partner


@bp.route("/partners/new", methods=["GET", "POST"])
@roles_required(*ADMIN_ROLES)
def partner_new() -> ResponseReturnValue:
    if request.method == "POST":
        form = request.form
        try:
            partner = partner_admin.save_partner(
                db.session, current_user.email, code=form.get("code", ""), name=form.get("name", ""),
                country=form.get("country"), currency=form.get("currency", "EUR"), vat_number=form.get("vat_number"),
                active=True,
            )
        except partner_admin.AdminError as exc:
            db.session.rollback()
            flash(f"Not saved: {exc}.", "error")
            return render_template("ops/partner_new.html", form=form), 422
        flash(f"Partner {partner.code} created.", "success")
        return redirect(url_for("ops_admin.partner_edit", partner_id=partner.id))
    return render_template("ops/partner_new.html", form={})


@bp.get("/partners/<int:partner_id>")
def partner_edit(partner_id: int) -> ResponseReturnValue:
    partner = _partner_or_404(partner_id)
    return render_template(
        "ops/partner_edit.html", partner=partner, prefs=preferences(partner), schemes=IDENTIFIER_SCHEMES,
        directories=DIRECTORIES, subsets=SUBSETS, charsets=CHARSETS, acknowledgements=ACKNOWLEDGEMENTS,
        kinds=CHANNEL_KINDS, syntax_versions=SYNTAX_VERSIONS,
    )


@bp.post("/partners/<int:partner_id>")
@roles_required(*ADMIN_ROLES)
def partner_save(partner_id: int) -> ResponseReturnValue:
    partner = _partner_or_404(partner_id)
    form = request.form
    try:
        partner_admin.save_partner(
            db.session, current_user.email, partner_id=partner.id, code=form.get("code", ""),
            name=form.get("name", ""), country=form.get("country"), currency=form.get("currency", "EUR"),
            vat_number=form.get("vat_number"), active=form.get("active") == "on",
        )
        flash("Partner saved.", "success")
    except partner_admin.AdminError as exc:
        db.session.rollback()
        flash(f"Not saved: {exc}.", "error")
    return redirect(url_for("ops_admin.partner_edit", partner_id=partner_id))


@bp.post("/partners/<int:partner_id>/identifiers")
@roles_required(*ADMIN_ROLES)
def identifier_add(partner_id: int) -> ResponseReturnValue:
    _partner_or_404(partner_id)
    try:
        partner_admin.add_identifier(db.session, current_user.email, partner_id, request.form.get("scheme", ""),
                                     request.form.get("value", ""))
        flash("Identifier added.", "success")
    except partner_admin.AdminError as exc:
        db.session.rollback()
        flash(f"Not added: {exc}.", "error")
    return redirect(url_for("ops_admin.partner_edit", partner_id=partner_id, _anchor="identifiers"))


@bp.post("/partners/<int:partner_id>/identifiers/<int:identifier_id>/remove")
@roles_required(*ADMIN_ROLES)
def identifier_remove(partner_id: int, identifier_id: int) -> ResponseReturnValue:
    try:
        partner_admin.remove_identifier(db.session, current_user.email, partner_id, identifier_id)
    except LookupError:
        db.session.rollback()
        abort(404)
    flash("Identifier removed.", "success")
    return redirect(url_for("ops_admin.partner_edit", partner_id=partner_id, _anchor="identifiers"))


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return -1.0  # refused by the check with a message naming the field


@bp.post("/partners/<int:partner_id>/documents")
@roles_required(*ADMIN_ROLES)
def documents_save(partner_id: int) -> ResponseReturnValue:
    _partner_or_404(partner_id)
    form = request.form
    data: dict = {
        "syntax": form.get("syntax", "edifact"),
        "directory": form.get("directory", "D96A"),
        "subset": form.get("subset", "EANCOM"),
        "charset": form.get("charset", "UNOC"),
        "acknowledgements": form.getlist("acknowledgements"),
        "order_response": form.get("order_response") == "on",
        "test": form.get("test") == "on",
        "leniencies": [x.strip() for x in form.get("leniencies", "").replace(",", " ").split() if x.strip()],
    }
    if form.get("syntax_version"):
        data["syntax_version"] = form["syntax_version"]
    for key in ("ack_expected_hours", "alert_silence_hours"):
        if key in form:
            data[key] = _number(form.get(key))  # empty: back to the default (no silence alert)
    try:
        partner_admin.save_documents(db.session, current_user.email, partner_id, data)
        flash("Document preferences saved.", "success")
    except partner_admin.AdminError as exc:
        db.session.rollback()
        flash(f"Not saved: {exc}.", "error")
    return redirect(url_for("ops_admin.partner_edit", partner_id=partner_id, _anchor="documents"))


def _channel_or_404(partner_id: int, channel_id: int) -> Channel:
    channel = db.session.get(Channel, channel_id)
    if channel is None or channel.partner_id != partner_id:
        abort(404)
    return channel


@bp.get("/partners/<int:partner_id>/channels/new")
@bp.get("/partners/<int:partner_id>/channels/<int:channel_id>")
def channel_edit(partner_id: int, channel_id: int | None = None) -> ResponseReturnValue:
    partner = _partner_or_404(partner_id)
    channel = _channel_or_404(partner_id, channel_id) if channel_id else None
    text, secrets_set = partner_admin.channel_view(channel) if channel else ("", [])
    kind = channel.kind if channel else request.args.get("kind", "folder")
    return render_template(
        "ops/channel_edit.html", partner=partner, channel=channel, settings_text=text, secrets_set=secrets_set,
        kind=kind if kind in CHANNEL_KINDS else "folder", kinds=CHANNEL_KINDS, secret_fields=partner_admin.CHANNEL_SECRETS,
        certificates=partner_admin.certificates_of(channel, utcnow()) if channel else [],
        certificate_keys=CERTIFICATE_KEYS, result=None,
    )


@bp.post("/partners/<int:partner_id>/channels/new")
@bp.post("/partners/<int:partner_id>/channels/<int:channel_id>")
@roles_required(*ADMIN_ROLES)
def channel_save(partner_id: int, channel_id: int | None = None) -> ResponseReturnValue:
    _partner_or_404(partner_id)
    if channel_id:
        _channel_or_404(partner_id, channel_id)
    form = request.form
    kind = form.get("kind", "")
    try:
        values = partner_admin.parse_settings_text(form.get("settings", ""))
        channel = partner_admin.save_channel(
            db.session, _settings(), current_user.email, partner_id, channel_id=channel_id,
            name=form.get("name", ""), kind=kind, direction=form.get("direction", "both"),
            active=form.get("active") == "on", values=values,
            secrets={k: form.get(k, "") for k in partner_admin.CHANNEL_SECRETS.get(kind, ())},
            clear_secrets=tuple(form.getlist("clear")),
        )
    except partner_admin.AdminError as exc:
        db.session.rollback()
        flash(f"Not saved: {exc}.", "error")
        if channel_id:
            return redirect(url_for("ops_admin.channel_edit", partner_id=partner_id, channel_id=channel_id))
        return redirect(url_for("ops_admin.channel_edit", partner_id=partner_id, kind=kind))
    flash(f"Channel {channel.name} saved.", "success")
    return redirect(url_for("ops_admin.channel_edit", partner_id=partner_id, channel_id=channel.id))


@bp.post("/partners/<int:partner_id>/channels/<int:channel_id>/certificate")
@roles_required(*ADMIN_ROLES)
def certificate_upload(partner_id: int, channel_id: int) -> ResponseReturnValue:
    _channel_or_404(partner_id, channel_id)
    upload = request.files.get("pem")
    pem = upload.read(256 * 1024) if upload else (request.form.get("pem_text") or "").encode()
    try:
        expiry = partner_admin.upload_certificate(db.session, current_user.email, channel_id,
                                                  request.form.get("key", ""), pem)
        flash(f"Certificate stored; valid until {expiry:%Y-%m-%d}.", "success")
    except partner_admin.AdminError as exc:
        db.session.rollback()
        flash(f"Not stored: {exc}.", "error")
    return redirect(url_for("ops_admin.channel_edit", partner_id=partner_id, channel_id=channel_id,
                            _anchor="certificates"))


@bp.post("/partners/<int:partner_id>/channels/<int:channel_id>/certificate/remove")
@roles_required(*ADMIN_ROLES)
def certificate_remove(partner_id: int, channel_id: int) -> ResponseReturnValue:
    _channel_or_404(partner_id, channel_id)
    try:
        partner_admin.remove_certificate(db.session, current_user.email, channel_id, request.form.get("key", ""),
                                         request.form.get("index", -1, type=int))
    except LookupError:
        db.session.rollback()
        abort(404)
    except partner_admin.AdminError as exc:
        db.session.rollback()
        flash(f"Not removed: {exc}.", "error")
    else:
        flash("Certificate removed.", "success")
    return redirect(url_for("ops_admin.channel_edit", partner_id=partner_id, channel_id=channel_id,
                            _anchor="certificates"))


@bp.post("/partners/<int:partner_id>/channels/<int:channel_id>/test")
@roles_required(*OPS_ACTION_ROLES)
def channel_test(partner_id: int, channel_id: int) -> ResponseReturnValue:
    channel = _channel_or_404(partner_id, channel_id)
    result = partner_admin.test_connection(db.session, _settings(), channel_id)
    audit(db.session, current_user.email, "channel.test", target=f"channel:{channel.partner.code}/{channel.name}",
          partner_id=partner_id, detail=("ok: " if result.ok else "failed: ") + result.detail)
    db.session.commit()
    flash(f"Test connection {'succeeded' if result.ok else 'failed'}: {result.detail}",
          "success" if result.ok else "error")
    return redirect(url_for("ops_admin.channel_edit", partner_id=partner_id, channel_id=channel_id, _anchor="test"))



# --- operations users ----------------------------------------------------------------------

OPS_ROLE_LABELS = {"ops_viewer": "Viewer: reads every page",
                   "ops_operator": "Operator: also repairs messages and acknowledges alerts",
                   "ops_admin": "Admin: also manages partners, channels and operations users"}


@bp.get("/users")
@roles_required(*ADMIN_ROLES)
def ops_users() -> ResponseReturnValue:
    return render_template("ops/users.html", users=accounts.ops_users(db.session), roles=OPS_ROLE_LABELS)


@bp.post("/users")
@roles_required(*ADMIN_ROLES)
def ops_user_add() -> ResponseReturnValue:
    form = request.form
    try:
        user, created = accounts.save_ops_user(db.session, current_user.email, form.get("email", ""),
                                               role=form.get("role", ""), name=form.get("name"))
    except accounts.OpsUserError as exc:
        db.session.rollback()
        flash(f"Not saved: {exc}.", "error")
        return redirect(url_for("ops_admin.ops_users"))
    how = ("added; they set their password through “Forgotten your password?” on the sign-in page"
           if created and not user.password_hash else "updated")
    flash(f"{user.email} {how}.", "success")
    return redirect(url_for("ops_admin.ops_users"))


@bp.post("/users/<int:user_id>/role")
@roles_required(*ADMIN_ROLES)
def ops_user_role(user_id: int) -> ResponseReturnValue:
    try:
        user = accounts.set_ops_role(db.session, current_user.email, user_id, request.form.get("role", ""))
    except LookupError:
        db.session.rollback()
        abort(404)
    except accounts.OpsUserError as exc:
        db.session.rollback()
        flash(f"Not changed: {exc}.", "error")
    else:
        flash(f"{user.email} is now {user.role.removeprefix('ops_')}.", "success")
    return redirect(url_for("ops_admin.ops_users"))


@bp.post("/users/<int:user_id>/deactivate")
@roles_required(*ADMIN_ROLES)
def ops_user_deactivate(user_id: int) -> ResponseReturnValue:
    try:
        user = accounts.deactivate_ops_user(db.session, current_user.email, user_id)
    except LookupError:
        db.session.rollback()
        abort(404)
    except accounts.OpsUserError as exc:
        db.session.rollback()
        flash(f"Not deactivated: {exc}.", "error")
    else:
        flash(f"{user.email} deactivated.", "success")
    return redirect(url_for("ops_admin.ops_users"))
