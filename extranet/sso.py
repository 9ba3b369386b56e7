"""Signing in beyond the password: single sign-on, the TOTP second factor, password reset.

* ``/login/sso/<partner>``: OpenID Connect through the partner's own identity
  provider (authlib's Flask client; the ``[oidc]`` table of the partner's
  profile). The callback signs in only an active user of *that* partner whose
  verified e-mail the provider vouched for (:func:`hub.accounts.federated_sign_in`).
* ``/login/code``: the second step for users with TOTP on, after the password
  or single sign-on; wrong codes count toward the lockout.
* ``/account/security``: turn TOTP on (QR code as SVG, made with segno) or off.
* ``/password/forgot`` and ``/password/reset/<token>``: a signed, expiring link
  by e-mail (itsdangerous, salted, carrying a fingerprint of the current
  password hash, so it works once); the page never says whether an address
  has an account.

Links in e-mails and the OIDC redirect URI are built from ``[web] base_url``
(else host and port), never from the request's Host header.
"""

from __future__ import annotations

import logging
import os
import smtplib
import threading
import time
from email.message import EmailMessage
from typing import Any

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import FlaskIntegration, FlaskOAuth2App
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required, login_user
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from requests import RequestException
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from extranet.extensions import db
from extranet.security import Account, safe_next
from hub import accounts
from hub.models import Partner, utcnow
from hub.notifications import smtp_connection
from hub.partners import oidc_partner, oidc_partners
from hub.settings import Settings

__all__ = ["bp", "account_bp", "start_session", "PENDING", "PENDING_SECONDS", "RESET_SECONDS", "SIGNED_IN_AT"]

log = logging.getLogger(__name__)

# ID-token checks raise joserfc's errors in current authlib, authlib.jose's in older ones.
try:
    from joserfc.errors import JoseError
except ImportError:  # pragma: no cover - authlib before joserfc
    from authlib.jose.errors import JoseError  # type: ignore[assignment,no-redef]
TOKEN_ERRORS: tuple[type[Exception], ...] = (OAuthError, JoseError, RequestException, ValueError, KeyError)

bp = Blueprint("sso", __name__)
account_bp = Blueprint("account", __name__)

PENDING = "pending_second_factor"
SIGNED_IN_AT = "signed_in_at"
PENDING_SECONDS = 300
RESET_SECONDS = 3600
RESET_SALT = "kontor.password-reset"
SETUP = "totp_setup_secret"
METADATA_SECONDS = 3600

GENERIC_SSO_FAILURE = ("Single sign-on did not sign you in. Your company's sign-in worked, but there is no active "
                       "Kontor account for that address, or it may not use this portal. Ask your administrator.")


# --- forms -------------------------------------------------------------------------------------


class CodeForm(FlaskForm):
    code = StringField("Code from your authenticator app", validators=[DataRequired(), Length(min=6, max=10)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})


class EmailForm(FlaskForm):
    email = EmailField("E-mail address", validators=[DataRequired(), Length(max=200)])


class NewPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(max=200)],
                             description=f"At least {accounts.MIN_PASSWORD_LENGTH} characters.",
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField("The new password again",
                            validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")],
                            render_kw={"autocomplete": "new-password"})


class SsoForm(FlaskForm):
    class Meta:
        csrf = False

    email = EmailField("Work e-mail address", validators=[DataRequired(), Length(max=200)])


# --- the session after a successful first step -------------------------------------------------


def _home(account: Account) -> str:
    return url_for("ops.messages") if account.is_ops else url_for("portal.catalog")


def start_session(result: accounts.SignIn, next_url: str | None) -> ResponseReturnValue:
    """Sign ``result.user`` in, or, when TOTP is on, remember them and ask for the code first."""
    assert result.user is not None
    session.clear()  # a fresh session (and CSRF token) either way
    if result.needs_second_factor:
        session[PENDING] = {"user": result.user.id, "at": int(time.time()), "next": next_url or ""}
        return redirect(url_for("account.second_factor"))
    session.permanent = True
    account = Account(result.user)
    login_user(account)
    # when, in UTC: a session older than the user's latest invitation ends (extranet.portal_extra)
    session[SIGNED_IN_AT] = utcnow().isoformat()
    return redirect(safe_next(next_url, _home(account)))


@account_bp.route("/login/code", methods=["GET", "POST"])
def second_factor() -> ResponseReturnValue:
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        session.pop(PENDING, None)
        flash("Please sign in again.", "info")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        result = accounts.verify_second_factor(db.session, pending["user"], form.code.data or "",
                                               address=request.remote_addr)
        if result.ok:
            return start_session(result, pending.get("next"))
        if result.reason in ("locked", "inactive", "refused"):
            session.pop(PENDING, None)
            flash("Sign-in failed: the account is locked or inactive. Try again later.", "error")
            return redirect(url_for("auth.login"))
        flash("That code is wrong or was used already. Wait for the next code and try again.", "error")
        return render_template("auth/second_factor.html", form=form), 401
    return render_template("auth/second_factor.html", form=form)


# --- single sign-on ----------------------------------------------------------------------------


def _base_url(settings: Settings) -> str:
    return (settings.web_base_url or f"http://{settings.web_host}:{settings.web_port}").rstrip("/")


def _external(endpoint: str, **values: Any) -> str:
    return _base_url(current_app.config["KONTOR_SETTINGS"]) + url_for(endpoint, **values)


def _client(partner: Partner, config: dict[str, Any]) -> FlaskOAuth2App:
    """The partner's OIDC client, kept per application for an hour (its provider metadata with it)."""
    secret = config.get("client_secret")
    if not secret and config.get("client_secret_env"):
        secret = os.environ.get(config["client_secret_env"], "")
    key = (partner.code, tuple(sorted((k, str(v)) for k, v in config.items())), secret)
    cache: dict[Any, tuple[float, FlaskOAuth2App]] = current_app.extensions.setdefault("kontor_sso_clients", {})
    found = cache.get(key)
    if found is not None and time.time() - found[0] < METADATA_SECONDS:
        return found[1]
    name = f"kontor_{partner.code.lower()}"
    client = FlaskOAuth2App(
        FlaskIntegration(name),
        name,
        client_id=config["client_id"],
        client_secret=secret,
        server_metadata_url=config.get("metadata_url")
        or config["issuer"].rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": config.get("scope") or "openid email profile", "code_challenge_method": "S256",
                       "default_timeout": 10},
    )
    cache[key] = (time.time(), client)
    return client


def _partner(code: str) -> tuple[Partner, dict[str, Any]]:
    found = oidc_partner(db.session, code)
    if found is None:
        abort(404)
    return found


@bp.app_context_processor
def _sso_form() -> dict[str, Any]:
    if request.endpoint != "auth.login" or not oidc_partners(db.session):
        return {}
    return {"sso_form": SsoForm(formdata=None, prefix="sso")}


@bp.get("/login/sso")
def sso_by_email() -> ResponseReturnValue:
    """Find the partner whose identity provider serves the address's domain, and go there."""
    email = (request.args.get("sso-email") or request.args.get("email") or "").strip().lower()[:200]
    next_url = safe_next(request.args.get("next"), "") or None
    domain = email.rsplit("@", 1)[1] if "@" in email else ""
    for partner, config in oidc_partners(db.session):
        if domain and domain in [d.lower() for d in config.get("email_domains", [])]:
            return redirect(url_for("sso.start", code=partner.code, next=next_url, login_hint=email))
    flash("There is no single sign-on for that address; sign in with your password.", "error")
    return redirect(url_for("auth.login", next=next_url))


@bp.get("/login/sso/<code>")
def start(code: str) -> ResponseReturnValue:
    """Send the browser to the partner's identity provider."""
    partner, config = _partner(code)
    client = _client(partner, config)
    extra = {}
    hint = request.args.get("login_hint", "")
    if hint and len(hint) <= 200:
        extra["login_hint"] = hint
    try:
        metadata = client.load_server_metadata()
        if metadata.get("issuer", "").rstrip("/") != config["issuer"].rstrip("/"):
            raise OAuthError(description=f"the provider calls itself {metadata.get('issuer')!r}")
        response = client.authorize_redirect(_external("sso.callback", code=partner.code), **extra)
    except (OAuthError, RequestException, ValueError, KeyError) as exc:
        log.warning("single sign-on for %s: provider unavailable: %s", partner.code, exc)
        flash("Your company's sign-in cannot be reached just now. Try again later, or sign in with your password.",
              "error")
        return redirect(url_for("auth.login"))
    session["sso_next"] = safe_next(request.args.get("next"), "")
    return response


@bp.get("/login/sso/<code>/callback")
def callback(code: str) -> ResponseReturnValue:
    """The provider sends the browser back: check the ID token, then sign in that partner's user."""
    partner, config = _partner(code)
    client = _client(partner, config)
    next_url = session.pop("sso_next", "")
    try:
        token = client.authorize_access_token()
    except TOKEN_ERRORS as exc:
        log.warning("single sign-on for %s failed: %s", partner.code, exc)
        accounts.audit(db.session, "?", "login.failed", target=f"ip:{request.remote_addr or 'unknown'}",
                       partner_id=partner.id, detail=f"single sign-on via {config['issuer']}: {exc}"[:2000])
        db.session.commit()
        flash(GENERIC_SSO_FAILURE, "error")
        return redirect(url_for("auth.login"))
    claims = token.get("userinfo") or {}
    verified = claims.get("email_verified") is True or not config.get("require_verified_email", True)
    result = accounts.federated_sign_in(
        db.session,
        partner.id,
        str(claims.get("email") or ""),
        issuer=config["issuer"],
        email_verified=verified,
        domains=tuple(d.lower() for d in config.get("email_domains", [])),
        create_role=config.get("create_users_role"),
        address=request.remote_addr,
    )
    if result.user is None:
        flash(GENERIC_SSO_FAILURE, "error")
        return redirect(url_for("auth.login"))
    return start_session(result, next_url)


# --- TOTP on the account page ------------------------------------------------------------------


def _qr_svg(uri: str) -> str | None:
    try:
        import segno
    except ImportError:  # the secret and the URI are shown as text then
        return None
    return segno.make(uri, error="m").svg_data_uri(scale=4, border=2)


@account_bp.get("/account/security")
@login_required
def security() -> ResponseReturnValue:
    return render_template("auth/account_security.html", enabled=bool(current_user.user.totp_secret),
                           form=CodeForm(), setup=None)


@account_bp.post("/account/totp/setup")
@login_required
def totp_setup() -> ResponseReturnValue:
    user = current_user.user
    if user.totp_secret:
        return redirect(url_for("account.security"))
    secret = session.get(SETUP) or accounts.new_totp_secret()
    session[SETUP] = secret
    settings: Settings = current_app.config["KONTOR_SETTINGS"]
    uri = accounts.totp_uri(secret, user.email, f"Kontor ({settings.hub_name})")
    setup = {"secret": secret, "uri": uri, "qr": _qr_svg(uri)}
    return render_template("auth/account_security.html", enabled=False, form=CodeForm(formdata=None), setup=setup)


@account_bp.post("/account/totp/enable")
@login_required
def totp_enable() -> ResponseReturnValue:
    form = CodeForm()
    secret = session.get(SETUP)
    if not secret:
        flash("Start again: the set-up had expired.", "error")
        return redirect(url_for("account.security"))
    if form.validate_on_submit() and accounts.enable_totp(db.session, current_user.user, secret, form.code.data or ""):
        session.pop(SETUP, None)
        flash("Two-step sign-in is on: from now on you give a code after your password.", "success")
        return redirect(url_for("account.security"))
    settings: Settings = current_app.config["KONTOR_SETTINGS"]
    uri = accounts.totp_uri(secret, current_user.email, f"Kontor ({settings.hub_name})")
    flash("That code is wrong. Check the time on your phone and type the code it shows now.", "error")
    setup = {"secret": secret, "uri": uri, "qr": _qr_svg(uri)}
    return render_template("auth/account_security.html", enabled=False, form=form, setup=setup), 422


@account_bp.post("/account/totp/disable")
@login_required
def totp_disable() -> ResponseReturnValue:
    form = CodeForm()
    if form.validate_on_submit() and accounts.disable_totp(db.session, current_user.user, form.code.data or ""):
        flash("Two-step sign-in is off.", "success")
        return redirect(url_for("account.security"))
    flash("That code is wrong; two-step sign-in stays on.", "error")
    return render_template("auth/account_security.html", enabled=True, form=form, setup=None), 422


# --- password reset ----------------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=RESET_SALT)


def _send(settings: Settings, to: str, subject: str, text: str) -> None:
    """Send one e-mail through ``[smtp]``; failures are logged, never shown (the page says the same anyway)."""
    if not settings.smtp_host:
        log.warning("password reset for a user not sent: no [smtp] host is configured")
        return
    message = EmailMessage()
    message["From"] = settings.smtp_sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    try:
        with smtp_connection(settings, timeout=15) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.error("password reset e-mail to a user failed: %s", exc)


FORGOT_DONE = ("If an active account has that address, an e-mail with a link to choose a new password is on its "
               f"way. The link works once, for {RESET_SECONDS // 60} minutes.")


@account_bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password() -> ResponseReturnValue:
    form = EmailForm()
    if form.validate_on_submit():
        settings: Settings = current_app.config["KONTOR_SETTINGS"]
        user = accounts.user_for_reset(db.session, form.email.data or "", address=request.remote_addr)
        if user is not None:
            token = _serializer().dumps({"u": user.id, "f": accounts.password_fingerprint(user)})
            link = _external("account.reset_password", token=token)
            text = (
                f"Hello {user.name},\n\nsomeone (we hope you) asked to choose a new password for {user.email} "
                f"at Kontor.\nOpen this link within {RESET_SECONDS // 60} minutes to do so; it works once:\n\n"
                f"{link}\n\nIf you did not ask, ignore this e-mail: your password stays as it is.\n"
            )
            # Sent in the background, so that the answer takes as long whether or not the address exists.
            threading.Thread(target=_send, args=(settings, user.email, "Kontor: choose a new password", text),
                             name="password-reset-mail", daemon=True).start()
        flash(FORGOT_DONE, "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/password_forgot.html", form=form), 422 if form.errors else 200


@account_bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> ResponseReturnValue:
    try:
        data = _serializer().loads(token, max_age=RESET_SECONDS)
        user_id, fingerprint = int(data["u"]), str(data["f"])
    except SignatureExpired:
        return _reset_refused("This link has expired.")
    except (BadSignature, KeyError, TypeError, ValueError):
        return _reset_refused("This link is not valid.")
    user = accounts.reset_link_user(db.session, user_id, fingerprint)
    if user is None:
        return _reset_refused("This link was used already, or the password was changed since it was sent.")
    form = NewPasswordForm()
    if form.validate_on_submit():
        problem = accounts.password_problem(user, form.password.data or "")
        if problem:
            form.password.errors = [problem]
        else:
            result = accounts.reset_password(db.session, user_id, fingerprint, form.password.data or "",
                                             address=request.remote_addr)
            if result.ok:
                session.clear()
                flash("Your new password is set. Sign in with it.", "success")
                return redirect(url_for("auth.login"))
            return _reset_refused("This link was used already, or the password was changed since it was sent.")
    return render_template("auth/password_reset.html", form=form, token=token), 422 if form.errors else 200


def _reset_refused(why: str) -> ResponseReturnValue:
    flash(f"{why} Ask for a new link below.", "error")
    return render_template("auth/password_forgot.html", form=EmailForm(formdata=None)), 400
