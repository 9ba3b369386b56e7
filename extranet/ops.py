"""The operations console: every message with its trace and payload, repair actions, partners.

Operations users only (users without a partner); partner users get 403.
Viewers read; operators and admins may reprocess, redeliver and resolve.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.utils import secure_filename

from extranet.extensions import db
from extranet.forms import MessageFilterForm, RepairForm, options
from extranet.ids import id_arg, parse_id
from extranet.security import OPS_ACTION_ROLES, operations_only, roles_required
from hub import messages as message_store
from hub import monitor
from hub.accounts import audit
from hub.chain import chain_for_message
from hub.messages import RepairError
from hub.states import DESCRIPTIONS, Event, TransitionError

__all__ = ["bp"]

bp = Blueprint("ops", __name__)

ACTIONS = {
    "reprocess": (message_store.reprocess, Event.REPROCESS, "Reprocess", "run the pipeline again on the stored payload"),
    "redeliver": (message_store.redeliver, Event.REDELIVER, "Redeliver", "send the same bytes again"),
    "resolve": (message_store.resolve, Event.RESOLVE, "Resolve", "close the problem by hand"),
}


def _settings():
    return current_app.config["KONTOR_SETTINGS"]


bp.before_request(operations_only)


@bp.get("/")
def index() -> ResponseReturnValue:
    return redirect(url_for("ops.messages"))


@bp.get("/messages")
def messages() -> ResponseReturnValue:
    session = db.session
    form = MessageFilterForm(request.args)
    form.partner.choices = options([("", "Any partner"), *monitor.partner_choices(session)])
    form.document_type.choices = options([("", "Any type")] + [(t, monitor.DOCUMENT_TYPE_LABELS.get(t, t))
                                                                for t in monitor.DOCUMENT_TYPES])
    form.state.choices = options([("", "Any state"), ("problem", "Any problem")] + [(s, s) for s in DESCRIPTIONS])
    form.validate()
    filters = monitor.MessageFilter(
        partner_id=parse_id(form.partner.data),
        direction=form.direction.data or "",
        document_type=form.document_type.data or "",
        state=form.state.data or "",
        date_from=form.date_from.data if not form.date_from.errors else None,
        date_to=form.date_to.data if not form.date_to.errors else None,
        reference=form.reference.data or "",
        business_ref=form.business_ref.data or "",
        text=form.text.data or "",
    )
    found = monitor.list_messages(session, filters, before=id_arg(request.args, "before"))
    return render_template(
        "ops/messages.html", form=form, found=found, counts=monitor.state_counts(session),
        zip_limit=monitor.ZIP_LIMIT,
    )


@bp.get("/messages/<int:message_id>")
def message(message_id: int) -> ResponseReturnValue:
    session = db.session
    found = monitor.message_detail(session, message_id)
    if found is None:
        abort(404)
    allowed = monitor.allowed_events(found.state)
    actions = [
        (name, label, why)
        for name, (_fn, event, label, why) in ACTIONS.items()
        if event in allowed
        and not (name == "reprocess" and found.direction != "in")
        and not (name == "redeliver" and found.direction != "out")
    ]
    return render_template(
        "ops/message.html",
        message=found,
        view=monitor.message_payload_view(found, _settings()),
        documents=monitor.parsed_documents(found, _settings()),
        related=monitor.related_messages(session, found),
        chain=chain_for_message(session, found),
        actions=actions,
        can_act=current_user.role in OPS_ACTION_ROLES,
        form=RepairForm(),
    )


@bp.get("/messages/<int:message_id>/payload")
def payload(message_id: int) -> ResponseReturnValue:
    """The raw bytes, as received or sent, for download."""
    found = monitor.message_detail(db.session, message_id)
    data = monitor.message_payload(found, _settings()) if found is not None else None
    if found is None or data is None:
        abort(404)
    suffix = {"edifact": "edi", "ubl": "xml", "json": "json"}.get(found.syntax, "bin")
    name = secure_filename(found.filename or "") or f"message-{found.id}.{suffix}"
    return Response(
        data,
        mimetype="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/messages/<int:message_id>/document.json")
def document_json(message_id: int) -> ResponseReturnValue:
    """The parsed canonical document(s) of a message as a JSON file (404 when nothing can be parsed)."""
    found = monitor.message_detail(db.session, message_id)
    documents = monitor.parsed_documents(found, _settings()) if found is not None else None
    if found is None or not documents:
        abort(404)
    body = json.dumps(documents[0] if len(documents) == 1 else documents, indent=2, ensure_ascii=False)
    return Response(
        body + "\n",
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="message-{found.id}-document.json"'},
    )


@bp.post("/messages/<int:message_id>/<action>")
@roles_required(*OPS_ACTION_ROLES)
def repair(message_id: int, action: str) -> ResponseReturnValue:
    if action not in ACTIONS:
        abort(404)
    form = RepairForm()
    if not form.validate_on_submit():
        flash(f"{ACTIONS[action][2]}: a comment is required, saying why.", "error")
        return redirect(url_for("ops.message", message_id=message_id, _anchor="actions"))
    function = ACTIONS[action][0]
    # The audit entry joins the action's own transaction: both are committed, or neither.
    audit(db.session, current_user.email, f"message.{action}", target=f"message:{message_id}", detail=form.comment.data)
    try:
        function(db.session, message_id, actor=current_user.email, comment=form.comment.data)
    except LookupError:
        db.session.rollback()
        abort(404)
    except (RepairError, TransitionError) as exc:
        db.session.rollback()
        flash(f"{ACTIONS[action][2]} refused: {exc}.", "error")
    else:
        flash(f"{ACTIONS[action][2]}: done. The message's trace records your comment.", "success")
    return redirect(url_for("ops.message", message_id=message_id))


@bp.get("/partners")
def partners() -> ResponseReturnValue:
    session = db.session
    return render_template(
        "ops/partners.html", partners=monitor.list_partners(session), problems=monitor.problem_counts(session)
    )


@bp.get("/audit")
def audit_log() -> ResponseReturnValue:
    text = request.args.get("q", "")[:100]
    found = monitor.audit_entries(db.session, text=text, before=id_arg(request.args, "before"))
    return render_template("ops/audit.html", found=found, q=text)
