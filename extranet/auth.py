"""Signing in and out."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required, logout_user

from extranet.extensions import db
from extranet.forms import ActionForm, LoginForm
from extranet.security import Account
from hub.accounts import LOCKOUT, MAX_FAILED_LOGINS, audit, sign_in

__all__ = ["bp"]

bp = Blueprint("auth", __name__)

FAILED = (
    "Sign-in failed: the e-mail address or the password is wrong, or the account is locked. "
    f"After {MAX_FAILED_LOGINS} failed attempts an account is locked for {int(LOCKOUT.total_seconds() // 60)} minutes."
)


def home_for(account: Account) -> str:
    return url_for("ops.messages") if account.is_ops else url_for("portal.catalog")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        result = sign_in(db.session, form.email.data or "", form.password.data or "", address=request.remote_addr)
        if result.ok or result.needs_second_factor:
            from extranet.sso import start_session  # fresh session; asks for the TOTP code when it is on

            return start_session(result, form.next.data)
        flash(FAILED, "error")
        return render_template("auth/login.html", form=form), 401 if result.reason != "throttled" else 429
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout() -> ResponseReturnValue:
    form = ActionForm()
    if form.validate_on_submit():
        audit(db.session, current_user.email, "logout", partner_id=current_user.partner_id)
        db.session.commit()
        logout_user()
        session.clear()
        flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
